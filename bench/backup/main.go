// Command backup measures tend's backups as users run them: `tend server` with an app
// deployed by `tend deploy` whose spec backs up a PostgreSQL database of -size (Debian's
// server, started in a temp dir) and a directory of -files files, each to a local
// directory; `tend backup run`, `tend backup restore` and `tend backup verify` time
// them. Then the disaster: `tend backup create` of the server's state, the server
// stopped and its data dir deleted, `tend backup restore` onto a new one, and the time
// until a new server serves the app again (the RTO).
//
//	go run ./bench/backup
//	go run ./bench/backup -size 64Mi -files 500    # shorter, for CI
//
// It prints Markdown; bench/run.sh puts it in docs/BENCHMARKS.md. The exit code is 1
// when a backup, a restore or the drill failed, or a restore lost rows or files.
package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
)

func main() {
	size := flag.String("size", "1Gi", "the database's size on disk (Mi or Gi)")
	files := flag.Int("files", 10000, "the files of the directory backup")
	fileSize := flag.Int("file-size", 16<<10, "each file's size in bytes (random: it does not compress)")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	bytes, err := parseSize(*size)
	if err != nil {
		log.Error("backup bench", "err", err)
		os.Exit(2)
	}
	bad, err := run(os.Stdout, log, *root, bytes, *files, *fileSize)
	if err != nil {
		log.Error("backup bench", "err", err)
		os.Exit(2)
	}
	if bad != "" {
		log.Error("backup bench", "failed", bad)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	for suffix, mult := range map[string]int64{"Gi": 1 << 30, "Mi": 1 << 20} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * mult, err
		}
	}
	return 0, fmt.Errorf("-size %q: want a size like 1Gi or 64Mi", s)
}

const spec = `app: shop
build: {main: %s}
instances: 2
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
backups:
- name: db
  postgres: {url: {secret: db-url}}
  schedule: "@yearly"
  verify: {query: "select count(*) from items", min: %d}
  to: {dir: %s}
- name: uploads
  files: {path: %s}
  schedule: "@yearly"
  to: {dir: %s}
`

// row is one measured operation.
type row struct {
	what    string
	bytes   int64 // what it moved: the database or the directory's size
	archive int64
	took    time.Duration
}

func run(w io.Writer, log *slog.Logger, root string, dbBytes int64, nFiles, fileSize int) (string, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return "", err
	}
	defer ws.Close()
	pg, err := harness.StartPostgres(filepath.Join(ws.Dir, "pg"))
	if err != nil {
		return "", err
	}
	defer pg.Stop()

	// the database: rows of md5 text, which compresses about as real text does; a row
	// takes 140 bytes on disk with its index
	rows := dbBytes / 140
	log.Info("filling the database", "rows", rows)
	start := time.Now()
	if _, err := pg.SQL("postgres", "CREATE DATABASE shop"); err != nil {
		return "", err
	}
	if _, err := pg.SQL("shop", fmt.Sprintf(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, note text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, md5(g::text) || md5((g * 31)::text) FROM generate_series(1, %d) g`, rows)); err != nil {
		return "", err
	}
	size, err := pg.SQL("shop", "SELECT pg_database_size('shop')")
	if err != nil {
		return "", err
	}
	dbSize, _ := strconv.ParseInt(size, 10, 64)
	log.Info("database filled", "bytes", dbSize, "took", time.Since(start))

	uploads := filepath.Join(ws.Dir, "uploads")
	buf := make([]byte, fileSize)
	for i := range nFiles {
		p := filepath.Join(uploads, fmt.Sprintf("%02d", i%100), fmt.Sprintf("f%05d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		_, _ = rand.Read(buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return "", err
		}
	}
	filesBytes := int64(nFiles) * int64(fileSize)

	data := filepath.Join(ws.Dir, "d")
	s, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: data})
	if err != nil {
		return "", err
	}
	defer func() {
		if s != nil {
			s.Stop()
		}
	}()
	if _, err := s.SetSecret("shop", "db-url", pg.DB("shop")); err != nil {
		return "", err
	}
	file := filepath.Join(ws.Dir, "tend.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, spec, ws.Hello, rows, filepath.Join(ws.Dir, "archives"), uploads, filepath.Join(ws.Dir, "archives")), 0o644); err != nil {
		return "", err
	}
	if out, err := s.Tend("deploy", "-f", file); err != nil {
		return "", fmt.Errorf("deploy: %w\n%s", err, out)
	}
	// the server reads specs for their backups every 5s
	if err := waitListed(s, "shop", 2, time.Minute); err != nil {
		return "", err
	}

	var out []row
	var bad []string
	measure := func(what string, moved int64, args ...string) (map[string]any, error) {
		start := time.Now()
		o, err := s.Tend(append(args, "-o", "json")...)
		took := time.Since(start)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v %s", what, err, o))
			return nil, err
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(o), &res); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", what, err, o)
		}
		r := row{what: what, bytes: moved, took: took}
		if n, ok := res["size"].(float64); ok {
			r.archive = int64(n)
		}
		out = append(out, r)
		log.Info("measured", "what", what, "took", took)
		return res, nil
	}

	// the same dump without tend, for what tend adds (streaming, sha256, the sidecar)
	start = time.Now()
	dump := exec.Command("pg_dump", "--format=custom", "--file="+filepath.Join(ws.Dir, "plain.pgdump"), "--dbname="+pg.DB("shop"))
	if o, err := dump.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pg_dump: %w\n%s", err, o)
	}
	plain := row{what: "database: pg_dump --format=custom to a file, without tend (reference)", bytes: dbSize, took: time.Since(start)}
	if st, err := os.Stat(filepath.Join(ws.Dir, "plain.pgdump")); err == nil {
		plain.archive = st.Size()
	}
	_ = os.Remove(filepath.Join(ws.Dir, "plain.pgdump"))
	out = append(out, plain)

	if _, err := measure("database: tend backup run", dbSize, "backup", "run", "shop", "db"); err == nil {
		if _, err := pg.SQL("shop", "DROP TABLE items"); err != nil {
			return "", err
		}
		if _, err := measure("database: tend backup restore (into the dropped table's database)", dbSize, "backup", "restore", "shop", "db", "--yes"); err == nil {
			if n, err := pg.SQL("shop", "SELECT count(*) FROM items"); err != nil || n != strconv.FormatInt(rows, 10) {
				bad = append(bad, fmt.Sprintf("rows after the restore: %s (%v), want %d", n, err, rows))
			}
		}
		if res, err := measure("database: tend backup verify (restore into a scratch database, count)", dbSize, "backup", "verify", "shop", "db"); err == nil && res["ok"] != true {
			bad = append(bad, fmt.Sprintf("the drill failed: %v", res["message"]))
		}
	}
	if _, err := measure("directory: tend backup run", filesBytes, "backup", "run", "shop", "uploads"); err == nil {
		if _, err := measure("directory: tend backup restore", filesBytes, "backup", "restore", "shop", "uploads", "--yes"); err == nil {
			if n := countFiles(uploads); n != nFiles {
				bad = append(bad, fmt.Sprintf("files after the restore: %d, want %d", n, nFiles))
			}
		}
	}
	for i, r := range out {
		if strings.HasPrefix(r.what, "database: tend backup restore") || strings.HasPrefix(r.what, "database: tend backup verify") {
			out[i].archive = out[1].archive
		}
	}

	rto, stateSize, err := disaster(s, ws, data, log)
	if err != nil {
		bad = append(bad, "disaster: "+err.Error())
	}
	s = nil

	fmt.Fprintf(w, "The app's database: %d rows, %s on disk (pg_database_size); its directory: %d files of %s (random bytes: incompressible), %s. Archives in a local directory on the same disk; PostgreSQL %s from Debian, fsync off.\n\n",
		rows, human(dbSize), nFiles, human(int64(fileSize)), human(filesBytes), pgVersion(pg))
	fmt.Fprintln(w, "| operation | data | archive | time | throughput |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, r := range out {
		arch := "-"
		if r.archive > 0 {
			arch = human(r.archive)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.1f s | %.0f MiB/s |\n", r.what, human(r.bytes), arch, r.took.Seconds(), float64(r.bytes)/(1<<20)/r.took.Seconds())
	}
	if rto > 0 {
		fmt.Fprintf(w, "\nDisaster recovery of tend's own state (2 instances of one app, its revision's artifact, the database backup's records): `tend backup create` wrote %s; from `tend backup restore FILE --data NEWDIR` to the app answering through a new server's gateway: **%.1f s** (the RTO; the RPO is the age of the newest archive: a day at most with the default daily schedule).\n",
			human(stateSize), rto.Seconds())
	}
	return strings.Join(bad, "; "), nil
}

// disaster backs the server's state up, stops it, deletes its data dir, restores the
// archive onto a new data dir and starts a server there: how long from the restore to
// the app serving, and the archive's size.
func disaster(s *harness.Server, ws *harness.Workspace, data string, log *slog.Logger) (time.Duration, int64, error) {
	archive := filepath.Join(ws.Dir, "state.tar.zst")
	if out, err := s.Tend("backup", "create", "-o", archive); err != nil {
		return 0, 0, fmt.Errorf("backup create: %w\n%s", err, out)
	}
	st, err := os.Stat(archive)
	if err != nil {
		return 0, 0, err
	}
	s.Stop()
	if err := os.RemoveAll(data); err != nil {
		return 0, 0, err
	}
	fresh := filepath.Join(ws.Dir, "r")
	start := time.Now()
	if out, err := s.Tend("backup", "restore", archive, "--data", fresh); err != nil {
		return 0, 0, fmt.Errorf("backup restore: %w\n%s", err, out)
	}
	r, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: fresh})
	if err != nil {
		return 0, 0, err
	}
	defer r.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Since(start) < 2*time.Minute {
		if code, _, _, err := r.Get(client, "/"); err == nil && code == 200 {
			took := time.Since(start)
			log.Info("disaster recovered", "rto", took)
			return took, st.Size(), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("the app did not serve within 2 minutes of the restore")
}

func waitListed(s *harness.Server, app string, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := s.Tend("backup", "list", app, "-o", "json")
		var list []v1.Backup
		if err == nil && json.Unmarshal([]byte(out), &list) == nil && len(list) == n {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("%s's %d backups were not scheduled within %s", app, n, within)
}

func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func pgVersion(pg *harness.Postgres) string {
	v, err := pg.SQL("postgres", "SHOW server_version")
	if err != nil {
		return "?"
	}
	return strings.Fields(v)[0]
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
