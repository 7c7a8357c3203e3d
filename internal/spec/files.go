package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a file put in each instance's working dir: a config file of the app's
// (From, read by the server at deploy and part of the revision) or a secret's value
// (Secret, mode 0400).
type File struct {
	// Path is where it goes, relative to the working dir.
	Path   string `json:"path"`
	From   string `json:"from,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Content is From's content as the server read it at deploy time (not YAML).
	Content string `json:"content,omitempty"`
}

// MaxFileSize bounds a config file (files: from) and a rule file; MaxFilesSize bounds
// all of a revision's config files together, as they are kept with it (and fit a
// Kubernetes ConfigMap).
const (
	MaxFileSize  = 1 << 20
	MaxFilesSize = 1 << 20
)

func (d *decoder) files(n *yaml.Node, field string) []File {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list like [{path: config/production.yaml, from: ./config/production.yaml}], got %s", kindName(n))
		return nil
	}
	out := make([]File, 0, len(n.Content))
	for i, item := range n.Content {
		var f File
		d.fields(item, fmt.Sprintf("%s[%d]", field, i), map[string]func(*yaml.Node, string){
			"path":   func(v *yaml.Node, f2 string) { f.Path = d.str(v, f2) },
			"from":   func(v *yaml.Node, f2 string) { f.From = d.str(v, f2) },
			"secret": func(v *yaml.Node, f2 string) { f.Secret = d.str(v, f2) },
		}, nil)
		out = append(out, f)
	}
	return out
}

// validateFiles checks that each file has a place in the working dir and one source.
func (d *decoder) validateFiles(a *App) {
	seen := map[string]bool{}
	for i, f := range a.Files {
		clean := filepath.Clean(f.Path)
		switch {
		case f.Path == "":
			d.at([]any{"files", i, "path"}, "required field is missing: where the file goes, relative to the instance's working dir")
		case !filepath.IsLocal(f.Path) || strings.HasPrefix(f.Path, "/"):
			d.at([]any{"files", i, "path"}, "%q is not inside the instance's working dir: give a relative path like config/production.yaml", f.Path)
		case seen[clean]:
			d.at([]any{"files", i, "path"}, "%s appears twice; keep one", f.Path)
		}
		seen[clean] = true
		switch {
		case (f.From == "") == (f.Secret == ""):
			d.at([]any{"files", i}, "want exactly one of from (a file of the app's) or secret (a secret's value)")
		case f.Secret != "":
			if err := CheckSecretName(f.Secret); err != nil {
				d.at([]any{"files", i, "secret"}, "%v", err)
			}
		}
	}
}

// ReadFiles reads the content of each config file (files: from, relative to the spec's
// directory unless absolute) into the spec, as it is now.
func (a *App) ReadFiles() error {
	total := 0
	for i := range a.Files {
		f := &a.Files[i]
		f.Content = ""
		if f.From == "" {
			continue
		}
		field := fmt.Sprintf("files[%d].from", i)
		path := a.Path(f.From)
		fi, err := os.Stat(path)
		if err != nil {
			return a.FieldError(field, "%v", err)
		}
		if !fi.Mode().IsRegular() || fi.Size() > MaxFileSize {
			return a.FieldError(field, "want a regular file of at most %d bytes, got %s (%d bytes)", MaxFileSize, fi.Mode().Type(), fi.Size())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return a.FieldError(field, "%v", err)
		}
		f.Content = string(b)
		total += len(b)
		if total > MaxFilesSize {
			return a.FieldError(field, "the config files come to more than %d bytes together, more than a revision keeps (and a Kubernetes ConfigMap holds): give the instances less, or have them read it from elsewhere", MaxFilesSize)
		}
	}
	return nil
}
