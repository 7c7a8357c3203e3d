package build

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A damaged or missing artifact is found before an instance starts from it, with an
// error that names the file and the way out; the way out, deploying the same source
// again, puts the same artifact back in place.
func TestADamagedArtifactIsFoundBeforeItRunsAndADeployRepairsIt(t *testing.T) {
	src := module(t, "hi")
	b := &Builder{Dir: t.TempDir()}
	a, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(a.Path); err != nil {
		t.Fatalf("Verify of a healthy artifact: %v", err)
	}
	for _, d := range []struct {
		name   string
		damage func(t *testing.T, f string)
		what   string
	}{
		{"cut in half", func(t *testing.T, f string) {
			st, _ := os.Stat(f)
			if err := os.Truncate(f, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "is damaged"},
		{"a byte changed", func(t *testing.T, f string) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)/2] ^= 0xff
			if err := os.WriteFile(f, raw, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is damaged"},
		{"removed", func(t *testing.T, f string) { os.Remove(f) }, "is missing"},
	} {
		t.Run(d.name, func(t *testing.T) {
			if err := os.Chmod(a.Path, 0o755); err != nil {
				t.Fatal(err)
			}
			d.damage(t, a.Path)
			start := time.Now()
			err := Verify(a.Path)
			var ae *ArtifactError
			if !errors.As(err, &ae) || ae.Path != a.Path || !strings.Contains(err.Error(), d.what) {
				t.Fatalf("Verify: %v, want an ArtifactError saying %s %q", err, a.Path, d.what)
			}
			for _, want := range []string{"Deploy tiny again", "tend deploy", "tend rollback tiny"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			t.Logf("%v (in %s)", err, time.Since(start).Round(time.Microsecond))
			again, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if again.Reused || again.Digest != a.Digest || again.Path != a.Path {
				t.Fatalf("deploying the same source again: %+v, want the artifact %s built again in place", again, a.Digest)
			}
			if err := Verify(a.Path); err != nil {
				t.Fatalf("Verify after the deploy: %v", err)
			}
			if got := run(t, a.Path); got != "hi v1 unknown" {
				t.Fatalf("the repaired artifact printed %q", got)
			}
		})
	}
}

// An executable not stored by digest (a path the runtime was given) is only checked to
// be there.
func TestVerifyOfAnExecutableNotStoredByDigest(t *testing.T) {
	f := filepath.Join(t.TempDir(), "svc")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Verify(f); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	os.Remove(f)
	if err := Verify(f); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("Verify of a removed executable: %v", err)
	}
}
