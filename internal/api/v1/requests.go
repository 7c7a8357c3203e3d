package v1

import "time"

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// DeployRequest is the body of POST /v1/deploy.
type DeployRequest struct {
	// File is the spec's absolute path (on the client, with an upload): relative paths
	// in the spec resolve against its directory.
	File   string `json:"file"`
	Source string `json:"source"`
	// Upload is the digest of the upload (PUT /v1/uploads/{digest}) that holds the
	// spec's files under their client paths; the server builds from it. Without it the
	// spec's paths are on the server's disk.
	Upload string `json:"upload,omitempty"`
	// Commit and Describe are the client's git commit and `git describe` of the source.
	Commit   string `json:"commit,omitempty"`
	Describe string `json:"describe,omitempty"`
	// Binary, with an upload, is the client path of an executable in it that the client
	// built (tend deploy --build local): the revision's artifact, instead of a build of
	// build.main.
	Binary string `json:"binary,omitempty"`
	// DryRun checks and builds as a deploy does and answers what it would change,
	// recording nothing (tend diff, tend deploy --dry-run).
	DryRun bool `json:"dryRun,omitempty"`
}

// StreamLine is one line of a streamed answer (deploy output, logs): exactly one field is set.
type StreamLine struct {
	Log    string        `json:"log,omitempty"`
	Result *DeployResult `json:"result,omitempty"`
	Error  string        `json:"error,omitempty"`
	// Code is the HTTP status the error would have had, so that the client can exit accordingly.
	Code int `json:"code,omitempty"`
}

// ActionRequest is the body of POST /v1/apps/{app}/{action}.
type ActionRequest struct {
	Full      bool `json:"full,omitempty"`      // promote: skip the remaining canary steps
	To        int  `json:"to,omitempty"`        // rollback: the revision (0: the previous one)
	Instances *int `json:"instances,omitempty"` // scale: 0 stops every instance
	// maintenance: On puts the app in maintenance with Message and a Retry-After of
	// RetryAfterSeconds; without On it ends
	On                bool   `json:"on,omitempty"`
	Message           string `json:"message,omitempty"`
	RetryAfterSeconds int    `json:"retryAfterSeconds,omitempty"`
}

// ActionResult answers an action.
type ActionResult struct {
	Message  string `json:"message"`
	Revision int    `json:"revision,omitempty"`
}

// DeleteResult answers DELETE /v1/apps/{app}.
type DeleteResult struct {
	App     string `json:"app"`
	Message string `json:"message"`
	// Stopped is how many instances were stopped.
	Stopped int `json:"stopped"`
	// RevisionsKept is how many revisions `tend history` still shows (0 when purged).
	RevisionsKept int `json:"revisionsKept"`
	// Purged is true when the revisions, events and secrets were removed too.
	Purged bool `json:"purged"`
}

// LogLine is one line of an instance's log (GET /v1/apps/{app}/logs).
type LogLine struct {
	// App is the app of the instance, in listings across apps (a trace's lines).
	App      string `json:"app,omitempty"`
	Instance string `json:"instance"`
	// Revision is the instance's revision, as its id tells (0: unknown).
	Revision int    `json:"revision,omitempty"`
	Text     string `json:"text"`
	// At is the line's "time" field when it is slog JSON, else when tend read it (for
	// lines already in a file: the file's modification time).
	At time.Time `json:"at"`
}

// Upload is what the server has of one upload (GET and PUT /v1/uploads/{digest}).
type Upload struct {
	Digest string `json:"digest"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
}
