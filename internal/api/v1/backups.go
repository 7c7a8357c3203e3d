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
}

// BackupArchive is one archive a backup wrote.
type BackupArchive struct {
	Name   string    `json:"name"`
	Time   time.Time `json:"time"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	// Seconds is how long it took to write (0: not recorded).
	Seconds float64 `json:"seconds,omitempty"`
}

// BackupRun is the body of POST /v1/backups/run: the backup to run now.
type BackupRun struct {
	// App is the app whose backup it is; absent: tend's own state.
	App  string `json:"app,omitempty"`
	Name string `json:"name"`
}
