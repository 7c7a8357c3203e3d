package backup

import (
	"context"
	"io"
	"time"
)

// Target is where archives are kept: a local directory, or an S3-compatible bucket.
// Put writes an archive whole or not at all: a reader never sees part of one.
type Target interface {
	// Put stores what write writes as name, and says its size and sha256.
	Put(ctx context.Context, name string, write func(io.Writer) error) (Object, error)
	// List is every archive whose name starts with prefix, oldest first.
	List(ctx context.Context, prefix string) ([]Object, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Remove(ctx context.Context, name string) error
	// String says where the target is, for messages.
	String() string
}

// Object is one archive in a target.
type Object struct {
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	Time   time.Time `json:"time"`
	SHA256 string    `json:"sha256"`
	// Took is how long the backup took to write, when the target recorded it.
	Took time.Duration `json:"took,omitempty"`
}
