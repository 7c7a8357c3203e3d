package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tendhq/tend/internal/api/v1"
)

// BackupState writes an archive of tend's state, as the server streams it, to w.
func (c *Client) BackupState(ctx context.Context, w io.Writer, includeKey bool) (int64, error) {
	path := "/v1/backups/state"
	if includeKey {
		path += "?includeKey=1"
	}
	resp, err := c.do(ctx, http.MethodPost, path, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("the server's archive broke off after %d bytes: %w (see the server's log)", n, err)
	}
	return n, nil
}

// Backups lists the backups (app ""), or app's, with their archives.
func (c *Client) Backups(ctx context.Context, app string) ([]v1.Backup, error) {
	path := "/v1/backups"
	if app != "" {
		path += "?app=" + url.QueryEscape(app)
	}
	var v []v1.Backup
	return v, c.getJSON(ctx, http.MethodGet, path, nil, &v)
}

// RunBackup runs app's backup name now (app "": tend's state).
func (c *Client) RunBackup(ctx context.Context, app, name string) (v1.BackupArchive, error) {
	var v v1.BackupArchive
	return v, c.getJSON(ctx, http.MethodPost, "/v1/backups/run", v1.BackupRun{App: app, Name: name}, &v)
}

// RestoreBackup restores app's backup name from archive ("": the newest) into to ("":
// its own database or directory).
func (c *Client) RestoreBackup(ctx context.Context, req v1.BackupRestore) (v1.BackupRestored, error) {
	var v v1.BackupRestored
	return v, c.getJSON(ctx, http.MethodPost, "/v1/backups/restore", req, &v)
}

// VerifyBackup runs app's backup name's restore drill now and returns its outcome.
func (c *Client) VerifyBackup(ctx context.Context, req v1.BackupVerifyRequest) (v1.BackupVerify, error) {
	var v v1.BackupVerify
	return v, c.getJSON(ctx, http.MethodPost, "/v1/backups/verify", req, &v)
}
