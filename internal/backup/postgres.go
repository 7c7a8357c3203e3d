package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Postgres dumps and restores a PostgreSQL database with the client programs of
// Debian's postgresql-client (pg_dump, pg_restore, psql), which a server of any
// supported version accepts; tend speaks no PostgreSQL protocol itself.
type Postgres struct {
	// URL is the database's postgres:// URL; its password goes to the programs in
	// PGPASSWORD, never on their command line (where ps shows it).
	URL string
	// Bin is the directory of the programs ("": PATH).
	Bin string
	// Cred is whom the programs run as (nil: as tend): the app's user.
	Cred *syscall.Credential
}

// conn is the URL without its password, and the environment that carries it.
func (p Postgres) conn(rawURL string) (string, []string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("the database URL is not a postgres:// URL (check the secret or the spec's postgres.url)")
	}
	// no ~/.pgpass of tend's user: the URL (or its secret) is the only credential
	env := append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PGPASSFILE=/dev/null")
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	return u.String(), env, nil
}

func (p Postgres) program(name string) string {
	if p.Bin != "" {
		return p.Bin + "/" + name
	}
	return name
}

// run runs a program with stdin and stdout, and makes its failure an error that
// quotes its stderr.
func (p Postgres) run(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, p.program(name), args...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Dir = env, stdin, stdout, "/"
	if p.Cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.Cred}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 8 << 10}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s is not installed: apt-get install postgresql-client (%w)", name, err)
		}
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Dump streams the database in pg_dump's custom format (compressed, restorable table
// by table) to w.
func (p Postgres) Dump(ctx context.Context, w io.Writer) error {
	u, env, err := p.conn(p.URL)
	if err != nil {
		return err
	}
	return p.run(ctx, env, nil, w, "pg_dump", "--format=custom", "--dbname="+u)
}

// Restore restores a dump read from r into the database at to ("": the backup's own),
// dropping the objects the dump has first, in one transaction: a restore that fails
// changes nothing. Objects are owned by the URL's user; the dump's grants are kept,
// unless noGrants (a scratch copy, whose grants do not matter and whose roles may not
// exist).
func (p Postgres) Restore(ctx context.Context, r io.Reader, to string, noGrants bool) error {
	if to == "" {
		to = p.URL
	}
	u, env, err := p.conn(to)
	if err != nil {
		return err
	}
	args := []string{"--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname=" + u}
	if noGrants {
		args = append(args, "--no-privileges")
	}
	return p.run(ctx, env, r, io.Discard, "pg_restore", args...)
}

// Query runs query in the database at dbURL and returns the first column of its first
// row.
func (p Postgres) Query(ctx context.Context, dbURL, query string) (string, error) {
	u, env, err := p.conn(dbURL)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := p.run(ctx, env, nil, &limited{w: &out, n: 1 << 20}, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query, "--dbname="+u); err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	v, _, _ := strings.Cut(first, "|")
	return v, nil
}

// Scratch makes a new empty database beside the backup's, on the same server, and
// returns its URL and a func that drops it.
func (p Postgres) Scratch(ctx context.Context) (string, func(context.Context) error, error) {
	raw := make([]byte, 4)
	_, _ = rand.Read(raw)
	name := "tend_verify_" + hex.EncodeToString(raw)
	u, err := url.Parse(p.URL)
	if err != nil {
		return "", nil, err
	}
	if _, err := p.Query(ctx, p.URL, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("make a scratch database for the drill (the backup's user needs CREATEDB): %w", err)
	}
	u.Path = "/" + name
	drop := func(ctx context.Context) error {
		_, err := p.Query(ctx, p.URL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	return u.String(), drop, nil
}

// AtLeast says whether v, a query's answer, is a number of at least min.
func AtLeast(v string, min float64) (bool, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return false, fmt.Errorf("the check query answered %q, not a number", v)
	}
	return f >= min, nil
}

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
