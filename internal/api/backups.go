package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/backup"
	"github.com/tendhq/tend/internal/store"
)

// Backups is what the API asks of the server's backups.
type Backups interface {
	// WriteState writes an archive of tend's state to w.
	WriteState(ctx context.Context, w io.Writer, includeKey bool) (*backup.Manifest, error)
	// List is every backup (app ""), or app's, with its archives.
	List(ctx context.Context, app string) ([]v1.Backup, error)
	// Run runs app's backup name now.
	Run(ctx context.Context, app, name string) (backup.Object, error)
	// Restore restores app's backup name from archive ("": the newest) into to ("":
	// the backup's own database or directory).
	Restore(ctx context.Context, app, name, archive, to string) (backup.Restored, error)
	// Verify runs app's backup name's restore drill now.
	Verify(ctx context.Context, app, name, archive string) (store.BackupVerify, error)
}

// ErrNoBackup is the error of a backup that no spec (nor tend) has.
var ErrNoBackup = errors.New("no such backup")

func (s *server) routeBackups(r *router) {
	r.handle("POST /v1/backups/state", s.backupState, op{summary: "an archive of tend's state (etcd snapshot, revision artifacts, silences, manifest with checksums), streamed; the manifest is its last member, so a cut stream is refused at restore",
		params:   []param{{name: "includeKey", desc: "1: archive the secrets key too (anyone with the archive can then read the secrets)", value: onOff}},
		response: raw("application/zstd")})
	r.handle("GET /v1/backups", s.listBackups, op{summary: "the backups (tend's state's and the apps') with their archives, oldest first",
		params: []param{{name: "app", desc: "only this app's backups", value: ""}}, response: jsonOf([]v1.Backup{})})
	r.handle("POST /v1/backups/run", s.runBackup, op{summary: "run a backup now: the archive it wrote", request: jsonOf(v1.BackupRun{}), response: jsonOf(v1.BackupArchive{})})
	r.handle("POST /v1/backups/restore", s.restoreBackup, op{summary: "restore an app's database or directory from an archive (checked against its sha256 first; a database in one transaction)",
		request: jsonOf(v1.BackupRestore{}), response: jsonOf(v1.BackupRestored{})})
	r.handle("POST /v1/backups/verify", s.verifyBackup, op{summary: "run a backup's restore drill now: the archive restored into a scratch database and checked; ok false when it fails",
		request: jsonOf(v1.BackupVerifyRequest{}), response: jsonOf(v1.BackupVerify{})})
}

func (s *server) restoreBackup(w http.ResponseWriter, r *http.Request) {
	var req v1.BackupRestore
	if err := decode(r.Body, 1<<20, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the body is not a restore ({\"app\": \"APP\", \"name\": \"NAME\"}): %w", err))
		return
	}
	if c, ok := callOf(r); ok {
		c.app = req.App
	}
	res, err := s.o.Backups.Restore(r.Context(), req.App, req.Name, req.Archive, req.To)
	if err != nil {
		writeError(w, backupStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v1.BackupRestored{Archive: res.Archive, Into: res.Into, Kept: res.Kept, Seconds: res.Took.Seconds()})
}

func (s *server) verifyBackup(w http.ResponseWriter, r *http.Request) {
	var req v1.BackupVerifyRequest
	if err := decode(r.Body, 1<<20, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the body is not a drill to run ({\"app\": \"APP\", \"name\": \"NAME\"}): %w", err))
		return
	}
	if c, ok := callOf(r); ok {
		c.app = req.App
	}
	v, err := s.o.Backups.Verify(r.Context(), req.App, req.Name, req.Archive)
	out := v1.BackupVerify{Archive: v.Archive, Time: v.Time, OK: v.OK, Message: v.Message}
	switch {
	case errors.Is(err, ErrNoBackup):
		writeError(w, http.StatusNotFound, err)
	case err != nil && !v.Time.IsZero():
		writeJSON(w, http.StatusOK, out) // the drill ran, and failed: its outcome says why
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// backupStatus is the answer's status for a backup's error.
func backupStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoBackup), errors.Is(err, backup.ErrNoArchive):
		return http.StatusNotFound
	}
	return statusOf(err)
}

func (s *server) backupState(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/zstd")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="tend-state-%s.tar.zst"`, time.Now().UTC().Format("20060102T150405Z")))
	sw := &startedWriter{w: w}
	_, err := s.o.Backups.WriteState(r.Context(), sw, r.URL.Query().Get("includeKey") == "1")
	if err == nil {
		return
	}
	if !sw.started {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	// the archive has no manifest: a restore refuses it; the client sees the stream cut
	streamFailed(r, http.StatusInternalServerError, err)
	s.log.Error("backup of tend's state failed while it was sent", "err", err)
	panic(http.ErrAbortHandler)
}

func (s *server) listBackups(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if c, ok := callOf(r); ok && app != "" {
		c.app = app
	}
	out, err := s.o.Backups.List(r.Context(), app)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if c, ok := callOf(r); ok {
		out = filterBackups(out, c)
	}
	writeJSON(w, http.StatusOK, out)
}

// filterBackups keeps the backups of the apps the call's token may read: a token
// limited to apps does not see tend's own.
func filterBackups(in []v1.Backup, c *call) []v1.Backup {
	out := []v1.Backup{}
	for _, b := range in {
		if (b.App == "" && len(c.who.Apps) == 0) || (b.App != "" && c.who.MayTouch(b.App)) {
			out = append(out, b)
		}
	}
	return out
}

func (s *server) runBackup(w http.ResponseWriter, r *http.Request) {
	var req v1.BackupRun
	if err := decode(r.Body, 1<<20, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the body is not a backup to run ({\"app\": \"APP\", \"name\": \"NAME\"}): %w", err))
		return
	}
	if c, ok := callOf(r); ok {
		c.app = req.App
	}
	o, err := s.o.Backups.Run(r.Context(), req.App, req.Name)
	switch {
	case err != nil:
		writeError(w, backupStatus(err), err)
	default:
		writeJSON(w, http.StatusOK, v1.BackupArchive{Name: o.Name, Time: o.Time, Size: o.Size, SHA256: o.SHA256, Seconds: o.Took.Seconds()})
	}
}

// startedWriter remembers whether anything was written: until then an error can still
// be an answer of its own.
type startedWriter struct {
	w       io.Writer
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}
