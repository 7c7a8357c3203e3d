package v1

import "time"

// The bodies of /v1/backups. tend's own state is the backup of app "" named "state".

// Backup is one backup job with its archives, oldest first.
type Backup struct {
	// App is the app whose spec has the backup; absent: tend's own state.
	App  string `json:"app,omitempty"`
	Name string `json:"name"`
	// Kind is what it copies: "state" (tend's), "postgres" or "files".
	Kind     string `json:"kind"`
	Schedule string `json:"schedule,omitempty"`
	// Target is where the archives are: a directory, or s3://bucket/prefix.
	Target      string    `json:"target"`
	Next        time.Time `json:"next,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	// LastError is the last run's error, when it failed.
	LastError string          `json:"lastError,omitempty"`
	Archives  []BackupArchive `json:"archives"`
	// VerifySchedule is when the restore drill runs (absent: it has none).
	VerifySchedule string        `json:"verifySchedule,omitempty"`
	NextVerify     time.Time     `json:"nextVerify,omitzero"`
	LastVerify     *BackupVerify `json:"lastVerify,omitempty"`
}

// BackupVerify is a restore drill's outcome: the archive restored into a scratch
// database and the check query's answer, or why it failed.
type BackupVerify struct {
	Archive string    `json:"archive"`
	Time    time.Time `json:"time"`
	OK      bool      `json:"ok"`
	Message string    `json:"message"`
}

// BackupRestore is the body of POST /v1/backups/restore: which archive goes where.
type BackupRestore struct {
	App  string `json:"app"`
	Name string `json:"name"`
	// Archive is the archive's name (absent: the newest).
	Archive string `json:"archive,omitempty"`
	// To is another database's URL, or another directory, to restore into (absent:
	// the backup's own, replaced).
	To string `json:"to,omitempty"`
}

// BackupRestored answers POST /v1/backups/restore.
type BackupRestored struct {
	Archive string `json:"archive"`
	// Into is the database (without its password) or the directory restored into.
	Into string `json:"into"`
	// Kept is where the directory that was there was set aside (files).
	Kept    string  `json:"kept,omitempty"`
	Seconds float64 `json:"seconds"`
}

// BackupVerifyRequest is the body of POST /v1/backups/verify: the drill to run now.
type BackupVerifyRequest struct {
	App  string `json:"app"`
	Name string `json:"name"`
	// Archive is the archive to drill (absent: the newest).
	Archive string `json:"archive,omitempty"`
}

// BackupArchive is one archive a backup wrote.
type BackupArchive struct {
	Name   string    `json:"name"`
	Time   time.Time `json:"time"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	// Seconds is how long it took to write (0: not recorded).
	Seconds float64 `json:"seconds,omitempty"`
	// Verified is the last restore drill's outcome on it: passed or failed (absent:
	// none ran on it).
	Verified string `json:"verified,omitempty"`
}

// BackupRun is the body of POST /v1/backups/run: the backup to run now.
type BackupRun struct {
	// App is the app whose backup it is; absent: tend's own state.
	App  string `json:"app,omitempty"`
	Name string `json:"name"`
}
