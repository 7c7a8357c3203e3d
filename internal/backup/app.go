package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// Secrets reads the current values of an app's secrets.
type Secrets func(ctx context.Context, app string, names []string) (map[string]string, error)

// AppBackup is one backup of an app's spec, ready to run, restore and verify.
type AppBackup struct {
	App     string
	Spec    spec.Backup
	Target  Target
	Secrets Secrets
	// FilesPath is a files backup's directory (the spec's path, resolved).
	FilesPath string
	// TmpDir holds an archive while its checksum is checked, before it is restored.
	TmpDir string
	PgBin  string
	// Cred is whom the dump and the database programs run as: the app's instances' user
	// (nil: as tend). A files backup reads the directory through Exe (tend's own
	// executable, run as Cred), so that it reads no more than the app could.
	Cred *syscall.Credential
	Exe  string
}

// NewTarget is where the spec's backup of app is kept: its s3, its dir, or
// dataDir/backups/APP/NAME.
func NewTarget(ctx context.Context, app string, b spec.Backup, dataDir string, secrets Secrets) (Target, error) {
	if s := b.To.S3; s != nil {
		names := []string{s.SecretKeySecret}
		if s.AccessKeySecret != "" {
			names = append(names, s.AccessKeySecret)
		}
		v, err := secrets(ctx, app, names)
		if err != nil {
			return nil, err
		}
		access := s.AccessKey
		if s.AccessKeySecret != "" {
			access = v[s.AccessKeySecret]
		}
		return NewS3(s.Endpoint, s.Bucket, s.Prefix, s.Region, access, v[s.SecretKeySecret])
	}
	if b.To.Dir != "" {
		return Dir{Path: b.To.Dir}, nil
	}
	return Dir{Path: filepath.Join(dataDir, "backups", app, b.Name)}, nil
}

// Ext is the archives' name ending.
func (b AppBackup) Ext() string {
	ext := ".tar.zst"
	if b.Spec.Postgres != nil {
		ext = ".pgdump"
	}
	if b.Spec.Encrypt != nil {
		ext += ".age"
	}
	return ext
}

// Prefix starts the archives' names.
func (b AppBackup) Prefix() string { return b.App + "-" + b.Spec.Name + "-" }

// Job is the backup as the scheduler runs it.
func (b AppBackup) Job() (Job, error) {
	sch, every, err := ParseSchedule(b.Spec.Schedule)
	if err != nil {
		return Job{}, err
	}
	kind := "files"
	if b.Spec.Postgres != nil {
		kind = "postgres"
	}
	r := b.Spec.Retain
	j := Job{App: b.App, Name: b.Spec.Name, Kind: kind, ScheduleText: b.Spec.Schedule, Schedule: sch, Every: every, Target: b.Target,
		Prefix: b.Prefix(), Ext: b.Ext(), Retain: Retention{Last: r.Last, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly}, Write: b.write}
	if v := b.Spec.Verify; v != nil {
		if j.VerifySchedule, _, err = ParseSchedule(v.Schedule); err != nil {
			return Job{}, err
		}
		j.VerifyText, j.Verify = v.Schedule, b.Verify
	}
	return j, nil
}

func (b AppBackup) postgres(ctx context.Context) (Postgres, error) {
	p := b.Spec.Postgres
	pg := Postgres{URL: p.URL, Bin: b.PgBin, Cred: b.Cred}
	if p.URLSecret != "" {
		v, err := b.Secrets(ctx, b.App, []string{p.URLSecret})
		if err != nil {
			return Postgres{}, err
		}
		pg.URL = v[p.URLSecret]
	}
	return pg, nil
}

func (b AppBackup) identity(ctx context.Context) (string, error) {
	e := b.Spec.Encrypt
	if e == nil {
		return "", nil
	}
	if e.IdentitySecret == "" {
		return "", fmt.Errorf("backup %s of %s is encrypted and its spec names no encrypt.identity secret to decrypt it with", b.Spec.Name, b.App)
	}
	v, err := b.Secrets(ctx, b.App, []string{e.IdentitySecret})
	if err != nil {
		return "", err
	}
	return v[e.IdentitySecret], nil
}

// write writes one archive: the dump, or the directory, encrypted when the spec says.
func (b AppBackup) write(ctx context.Context, w io.Writer) error {
	var dump func(io.Writer) error
	if b.Spec.Postgres != nil {
		pg, err := b.postgres(ctx)
		if err != nil {
			return err
		}
		dump = func(w io.Writer) error { return pg.Dump(ctx, w) }
	} else {
		dump = func(w io.Writer) error { return Files{Path: b.FilesPath, Cred: b.Cred, Exe: b.Exe}.Dump(ctx, w) }
	}
	var recipients []string
	if b.Spec.Encrypt != nil {
		recipients = b.Spec.Encrypt.Age
	}
	enc, err := Encrypting(recipients, dump)
	if err != nil {
		return err
	}
	return enc(w)
}

// fetch copies the archive name ("": the newest) to a temporary file, checking its
// sha256 against the one recorded when it was written: a damaged archive is refused
// before anything is restored from it. It returns the archive's name with the file,
// which the caller removes.
func (b AppBackup) fetch(ctx context.Context, name string) (string, *os.File, error) {
	objs, err := b.Target.List(ctx, b.Prefix())
	if err != nil {
		return "", nil, err
	}
	var want *Object
	for i := range objs {
		if objs[i].Name == name || (name == "" && i == len(objs)-1) {
			want = &objs[i]
		}
	}
	switch {
	case want == nil && name == "":
		return "", nil, fmt.Errorf("%w: backup %s of %s has no archive in %s yet (tend backup run %s %s)", ErrNoArchive, b.Spec.Name, b.App, b.Target, b.App, b.Spec.Name)
	case want == nil:
		return "", nil, fmt.Errorf("%w: %s has no archive %s (tend backup list %s)", ErrNoArchive, b.Target, name, b.App)
	}
	name = want.Name
	r, err := b.Target.Open(ctx, name)
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	if err := os.MkdirAll(b.TmpDir, 0o700); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(b.TmpDir, ".restore-*")
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", nil, fmt.Errorf("read %s from %s: %w", name, b.Target, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); want.SHA256 != "" && got != want.SHA256 {
		f.Close()
		os.Remove(f.Name())
		return "", nil, fmt.Errorf("archive %s in %s is damaged: its sha256 is %s, %s when it was written; nothing was restored from it (restore an older one with --id)", name, b.Target, got, want.SHA256)
	}
	return name, f, nil
}

// ErrNoArchive is a restore of an archive the target does not have.
var ErrNoArchive = errors.New("no such archive")

// Restored says what a restore did.
type Restored struct {
	Archive string `json:"archive"`
	Into    string `json:"into"`
	// Kept is where a files restore set the directory that was there aside.
	Kept string        `json:"kept,omitempty"`
	Took time.Duration `json:"took"`
}

// Restore restores archive name ("": the newest) into the database or directory to
// ("": the backup's own).
func (b AppBackup) Restore(ctx context.Context, name, to string) (Restored, error) {
	start := time.Now()
	name, f, err := b.fetch(ctx, name)
	if err != nil {
		return Restored{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	id, err := b.identity(ctx)
	if err != nil {
		return Restored{}, err
	}
	r, err := Decrypting(f, id)
	if err != nil {
		return Restored{}, err
	}
	res := Restored{Archive: name}
	if b.Spec.Postgres != nil {
		pg, err := b.postgres(ctx)
		if err != nil {
			return Restored{}, err
		}
		if err := pg.Restore(ctx, r, to, false); err != nil {
			return Restored{}, fmt.Errorf("restore %s: %w (the restore runs in one transaction: the database is as it was)", name, err)
		}
		res.Into = redact(to, pg.URL)
	} else {
		if to == "" {
			to = b.FilesPath
		}
		if res.Kept, err = (Files{Path: b.FilesPath}).Restore(ctx, r, to); err != nil {
			return Restored{}, err
		}
		res.Into = to
	}
	res.Took = time.Since(start)
	return res, nil
}

// Verify is the restore drill: the archive name restored into a scratch database on
// the backup's server, the check query run there, the scratch database dropped.
func (b AppBackup) Verify(ctx context.Context, name string) (string, error) {
	v := b.Spec.Verify
	pg, err := b.postgres(ctx)
	if err != nil {
		return "", err
	}
	name, f, err := b.fetch(ctx, name)
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	id, err := b.identity(ctx)
	if err != nil {
		return "", err
	}
	r, err := Decrypting(f, id)
	if err != nil {
		return "", err
	}
	scratch, drop, err := pg.Scratch(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = drop(context.WithoutCancel(ctx)) }()
	if err := pg.Restore(ctx, r, scratch, true); err != nil {
		return "", fmt.Errorf("restore %s into a scratch database: %w", name, err)
	}
	got, err := pg.Query(ctx, scratch, v.Query)
	if err != nil {
		return "", fmt.Errorf("the check query on the restored copy: %w", err)
	}
	ok, err := AtLeast(got, v.Min)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("the check query %q answered %s on the restored copy of %s, under its min %g", v.Query, got, name, v.Min)
	}
	return fmt.Sprintf("%s restored into a scratch database; %q answered %s (min %g)", name, v.Query, got, v.Min), nil
}

// redact is the URL to, or the backup's own, without a password.
func redact(to, own string) string {
	if to == "" {
		to = own
	}
	if u, _, err := (Postgres{}).conn(to); err == nil {
		return u
	}
	return "the database"
}
