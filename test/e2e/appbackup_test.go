package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	v1 "github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
)

// versitygwVersion is the version tools/s3/build.sh builds.
const versitygwVersion = "v1.8.0"

// startS3 runs versitygw (tools/s3/build.sh) with its posix backend in a temporary
// directory on a free loopback port, makes bucket, and returns its endpoint and the
// directory the bucket's objects are files in.
func startS3(t *testing.T, bucket string) (endpoint, bucketDir string) {
	t.Helper()
	bin := os.Getenv("TEND_VERSITYGW")
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(cache, "tend", "versitygw", versitygwVersion, "versitygw")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("versitygw is not built (bash tools/s3/build.sh builds it; .ci/run does): %v", err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	startProgram(t, "versitygw", exec.Command(bin, "--access", "tendtest", "--secret", "tendtestsecret", "--port", addr, "posix", root))
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4("tendtest", "tendtestsecret", ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "versitygw to make the bucket", func() error {
		return c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{})
	})
	return "http://" + addr, filepath.Join(root, bucket)
}

// startPostgres runs Debian's PostgreSQL in a temporary directory on a loopback port.
func startPostgres(t *testing.T) *harness.Postgres {
	t.Helper()
	if harness.PostgresBin() == "" {
		t.Skip("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
	}
	dir, err := os.MkdirTemp("", "tpg-") // a short path: the server's socket is in it
	if err != nil {
		t.Fatal(err)
	}
	pg, err := harness.StartPostgres(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Stop()
		os.RemoveAll(dir)
	})
	return pg
}

// backupList is `tend backup list APP -o json`'s backup name, and whether it has one.
func backupList(t *testing.T, s *server, app, name string) (v1.Backup, bool) {
	t.Helper()
	var list []v1.Backup
	out := s.mustTend("backup", "list", app, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tend backup list -o json: %v\n%s", err, out)
	}
	for _, b := range list {
		if b.Name == name {
			return b, true
		}
	}
	return v1.Backup{}, false
}

// TestAPostgresBackupToS3RestoresADroppedTableAndItsDrillCatchesCorruption: a database
// of 100k rows is backed up on its schedule to a real S3 server; after a table is
// dropped, tend backup restore brings every row back; the restore drill passes, and
// once the archive's object is altered in the bucket, it fails and BackupVerifyFailed
// fires.
func TestAPostgresBackupToS3RestoresADroppedTableAndItsDrillCatchesCorruption(t *testing.T) {
	endpoint, bucketDir := startS3(t, "backups")
	pg := startPostgres(t)
	if _, err := pg.SQL("postgres", "CREATE DATABASE shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.SQL("shop", "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL); INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 100000) g"); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "--rule-interval", "1s")
	s.setSecret("shop", "db-url", pg.DB("shop"))
	s.setSecret("shop", "s3-key", "tendtestsecret")
	spec := strings.Replace(specWith("1", rolling), "app: hello", "app: shop", 1) + fmt.Sprintf(`route: {hosts: [shop.test]}
backups:
- name: db
  postgres: {url: {secret: db-url}}
  schedule: "@every 4s"
  retain: {last: 50}
  verify: {query: "select count(*) from users", min: 100000, schedule: "@every 1h"}
  to:
    s3: {endpoint: "%s", bucket: backups, prefix: shop/, accessKey: tendtest, secretKey: {secret: s3-key}}
`, endpoint)
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), spec))

	var b v1.Backup
	waitFor(t, 60*time.Second, "a scheduled backup in the bucket", func() error {
		var ok bool
		if b, ok = backupList(t, s, "shop", "db"); !ok || len(b.Archives) == 0 {
			return fmt.Errorf("no archive yet (listed %v, last error %q)", ok, b.LastError)
		}
		return nil
	})
	a := b.Archives[len(b.Archives)-1]
	if b.Kind != "postgres" || b.Target != "s3://backups/shop/" || a.Size < 100_000 || len(a.SHA256) != 64 || !strings.HasSuffix(a.Name, ".pgdump") {
		t.Fatalf("the backup and its archive: %+v", b)
	}
	if _, err := os.Stat(filepath.Join(bucketDir, "shop", a.Name)); err != nil {
		t.Fatalf("the archive is not an object of the bucket: %v", err)
	}
	if out := s.mustTend("backup", "list", "shop"); !strings.Contains(out, a.Name) || !strings.Contains(out, "@every 4s to s3://backups/shop/") {
		t.Fatalf("tend backup list shop:\n%s", out)
	}

	if _, err := pg.SQL("shop", "DROP TABLE users"); err != nil {
		t.Fatal(err)
	}
	out := s.mustTend("backup", "restore", "shop", "db", "--id", a.Name, "--yes")
	if !strings.Contains(out, "restored "+a.Name) || strings.Contains(out, "password") {
		t.Fatalf("tend backup restore:\n%s", out)
	}
	if n, err := pg.SQL("shop", "SELECT count(*) FROM users"); err != nil || n != "100000" {
		t.Fatalf("rows after the restore: %q %v, want 100000", n, err)
	}

	out = s.mustTend("backup", "verify", "shop", "db", "--id", a.Name)
	if !strings.Contains(out, "drill passed") || !strings.Contains(out, "answered 100000") {
		t.Fatalf("tend backup verify:\n%s", out)
	}
	if dbs, _ := pg.SQL("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'tend_verify_%'"); dbs != "0" {
		t.Fatalf("the drill left %s scratch databases", dbs)
	}
	// the object altered in place, its size kept: only its sha256 can tell
	obj := filepath.Join(bucketDir, "shop", a.Name)
	body, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(body) / 2; i < len(body)/2+64; i++ {
		body[i] ^= 0xff
	}
	if err := os.WriteFile(obj, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = s.tend("backup", "verify", "shop", "db", "--id", a.Name)
	if exitCode(err) != 1 || !strings.Contains(out, "drill FAILED") || !strings.Contains(out, "is damaged: its sha256 is") {
		t.Fatalf("tend backup verify of an altered archive: exit %d, want 1:\n%s", exitCode(err), out)
	}
	if b, _ := backupList(t, s, "shop", "db"); b.LastVerify == nil || b.LastVerify.OK || b.LastVerify.Archive != a.Name {
		t.Fatalf("the last drill after the alteration: %+v", b.LastVerify)
	}
	waitFor(t, 60*time.Second, "BackupVerifyFailed to fire", func() error {
		out := s.mustTend("alerts")
		if !strings.Contains(out, "BackupVerifyFailed") {
			return fmt.Errorf("not yet:\n%s", out)
		}
		return nil
	})
	if out := s.mustTend("query", `tend_backup_last_verify_success{app="shop",name="db"}`, "-o", "json"); !strings.Contains(out, `"value": 0,`) {
		t.Fatalf("tend_backup_last_verify_success after the failed drill:\n%s", out)
	}

	t.Run("dashboard", func(t *testing.T) {
		tab := browser(t)
		step(t, tab, 15*time.Second, "open the dashboard", chromedp.Navigate(strings.TrimSpace(s.mustTend("dashboard"))))
		row := step(t, tab, 20*time.Second, "the backup's row", chromedp.Poll[string](`(() => {
			const r = document.querySelector('#backups tr[data-backup="shop/db"]');
			return r ? r.textContent : null;
		})()`, chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
		for _, want := range []string{"postgres", "FAILED", "is damaged", "@every 4s → s3://backups/shop/"} {
			if !strings.Contains(row, want) {
				t.Errorf("the dashboard's row of shop/db lacks %q: %q", want, row)
			}
		}
	})
}

// TestAFilesBackupReadsAsTheAppsUser: a files backup reads its directory as the app's
// instances would (as root, tend gives each app a user of its own): a directory the
// app may read is archived and restored; one only root may read fails with a message
// that says why, and leaves no archive.
func TestAFilesBackupReadsAsTheAppsUser(t *testing.T) {
	base := t.TempDir()
	uploads, private := filepath.Join(base, "uploads"), filepath.Join(base, "private")
	for i := range 20 {
		p := filepath.Join(uploads, fmt.Sprintf("u%02d", i%4), fmt.Sprintf("f%02d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprint(i), 100)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(private, "key"), []byte("only root"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := harness.Enterable(uploads); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir())
	spec := strings.Replace(specWith("1", rolling), "app: hello", "app: shop", 1) + fmt.Sprintf(`route: {hosts: [shop.test]}
backups:
- {name: uploads, files: {path: %s}, schedule: "@yearly"}
- {name: private, files: {path: %s}, schedule: "@yearly"}
`, uploads, private)
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), spec))
	waitFor(t, 30*time.Second, "both backups scheduled", func() error {
		if _, ok := backupList(t, s, "shop", "private"); !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	out := s.mustTend("backup", "run", "shop", "uploads")
	if !strings.Contains(out, "wrote shop-uploads-") {
		t.Fatalf("tend backup run shop uploads:\n%s", out)
	}
	if err := os.RemoveAll(filepath.Join(uploads, "u01")); err != nil {
		t.Fatal(err)
	}
	out = s.mustTend("backup", "restore", "shop", "uploads", "--yes")
	if !strings.Contains(out, "restored shop-uploads-") || !strings.Contains(out, "what was there is kept in "+uploads+".before-restore-") {
		t.Fatalf("tend backup restore shop uploads:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(uploads, "u01", "f05.txt")); err != nil || string(b) != strings.Repeat("5", 100) {
		t.Fatalf("a removed file after the restore: %q %v", b, err)
	}
	if os.Geteuid() != 0 {
		return // instances run as tend's own user: it reads what tend reads
	}
	out, err := s.tend("backup", "run", "shop", "private")
	if exitCode(err) != 1 || !strings.Contains(out, "permission denied") || !strings.Contains(out, "read as the app's user") {
		t.Fatalf("a backup of a directory the app may not read: exit %d, want 1:\n%s", exitCode(err), out)
	}
	if b, _ := backupList(t, s, "shop", "private"); len(b.Archives) != 0 || !strings.Contains(b.LastError, "permission denied") {
		t.Fatalf("the failed backup: %+v", b)
	}
}
