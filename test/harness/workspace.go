package harness

import (
	"fmt"
	"os"
	"path/filepath"
)

// Workspace is a temporary directory holding a tend built from a repository, and the path
// of that repository's examples/hello.
type Workspace struct {
	Dir   string
	Bin   string
	Hello string
}

// NewWorkspace builds tend from the repository at root into a new temporary directory.
func NewWorkspace(root string) (*Workspace, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tend-bench-")
	if err != nil {
		return nil, fmt.Errorf("create a workspace: %w", err)
	}
	bin, err := Build(root, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Workspace{Dir: dir, Bin: bin, Hello: filepath.Join(root, "examples", "hello")}, nil
}

// Close removes the workspace.
func (w *Workspace) Close() { os.RemoveAll(w.Dir) }
