package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// untar extracts a .tar.gz into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, h.Name)
		if !strings.HasPrefix(path, filepath.Clean(dir)+string(filepath.Separator)) {
			t.Fatalf("%s: entry %q leaves the dir", archive, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, os.FileMode(h.Mode).Perm())
		case tar.TypeReg:
			var out *os.File
			if out, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm()); err == nil {
				_, err = io.Copy(out, tr)
				out.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A data dir written by the tend before record formats (testdata/datadir-format1, made
// on another path) opens here, serves its app from its own artifacts, and keeps its
// revisions, incident and silence.
func TestADataDirOfRecordFormat1OpensWhereverItIs(t *testing.T) {
	if _, err := os.Stat("/usr/bin/perl"); err != nil {
		t.Fatalf("the fixture's app is a Perl script: install perl-base (%v)", err)
	}
	place := filepath.Join(t.TempDir(), "elsewhere")
	untar(t, filepath.Join("testdata", "datadir-format1", "data.tar.gz"), place)
	data := filepath.Join(place, "data")
	s := startServer(t, data)

	waitFor(t, 60*time.Second, "the fixture's app to serve revision 2 with 2 instances", func() error {
		st, err := s.Status("fixture")
		if err != nil {
			return err
		}
		ready := 0
		for _, in := range st.Running {
			if in.State == "ready" {
				ready++
			}
		}
		if st.Rollout.Stable != 2 || ready != 2 {
			return fmt.Errorf("stable %d, %d ready: %+v", st.Rollout.Stable, ready, st.Running)
		}
		return nil
	})
	if st := s.status("fixture"); st.Current == nil || !strings.HasPrefix(st.Current.Path, "artifacts/") {
		t.Errorf("revision 2's artifact: %+v, want a path in the data dir (artifacts/...)", st.Current)
	}
	code, _, body, err := s.get(http.DefaultClient, "/")
	if err != nil || code != 200 || body != "fixture 2\n" {
		t.Errorf("GET /: %d %q %v, want 200 \"fixture 2\"", code, body, err)
	}

	var h struct {
		Revisions []struct{ Number int } `json:"revisions"`
	}
	if err := json.Unmarshal([]byte(s.mustTend("history", "fixture", "-o", "json")), &h); err != nil || len(h.Revisions) != 2 {
		t.Errorf("history: %+v %v, want revisions 2 and 1", h, err)
	}
	var incidents []struct {
		ID     int    `json:"id"`
		Title  string `json:"title"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(s.mustTend("incidents", "--all", "-o", "json")), &incidents); err != nil {
		t.Fatal(err)
	}
	if len(incidents) == 0 || incidents[len(incidents)-1].ID != 1 || incidents[len(incidents)-1].Title != "the fixture's incident" || incidents[len(incidents)-1].Status != "acknowledged" {
		t.Errorf("incidents: %+v, want incident 1, acknowledged, as the fixture left it", incidents)
	}

	if code, body := s.apiGet("/alertmanager/api/v2/silences"); code != 200 || !strings.Contains(body, "kept across the format upgrade") {
		t.Errorf("silences: %d %s, want the fixture's silence", code, body)
	}

	// a new deploy on the upgraded data dir goes on from revision 2
	dir := t.TempDir()
	spec, err := os.ReadFile(filepath.Join("testdata", "datadir-format1", "tend.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	app, err := filepath.Abs(filepath.Join("testdata", "datadir-format1", "app.pl"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(strings.Replace(string(spec), "app.pl", app, 1), `RELEASE: "2"`, `RELEASE: "3"`, 1)
	s.mustTend("deploy", "-f", writeSpec(t, dir, y))
	if code, _, body, err := s.get(http.DefaultClient, "/"); err != nil || code != 200 || body != "fixture 3\n" {
		t.Errorf("after a deploy: %d %q %v, want \"fixture 3\"", code, body, err)
	}
	if st := s.status("fixture"); st.Rollout.Stable != 3 {
		t.Errorf("the new deploy is revision %d, want 3", st.Rollout.Stable)
	}
}
