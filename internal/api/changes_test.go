package api

import (
	"reflect"
	"testing"

	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

func TestRevisionChangesNameWhatDiffersButNoSecretValue(t *testing.T) {
	a := store.Revision{Artifact: "sha256:0d5f6c9e2b7a11", Secrets: map[string]int{"db-url": 2},
		Spec: spec.App{Env: map[string]string{"LOG_LEVEL": "info", "OLD": "x"}, SecretEnv: map[string]string{"DATABASE_URL": "db-url"}}}
	b := store.Revision{Artifact: "sha256:0d5f6c9e2b7a11", Secrets: map[string]int{"db-url": 3, "API_KEY": 1},
		Spec: spec.App{Env: map[string]string{"LOG_LEVEL": "debug"}, SecretEnv: map[string]string{"DATABASE_URL": "db-url"}, Secrets: []string{"API_KEY"}}}
	want := []string{`env LOG_LEVEL: "info" → "debug"`, "env OLD removed", "env API_KEY: secret API_KEY v1 added", "secret db-url v2 → v3"}
	if got := revisionChanges(a, b); !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n got %q\nwant %q", got, want)
	}
	if got := revisionChanges(a, a); len(got) != 0 {
		t.Errorf("a revision against itself: %q", got)
	}
}
