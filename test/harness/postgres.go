package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postgres is a PostgreSQL server of Debian's packages, started in a directory of its
// own on a loopback port: initdb, then pg_ctl.
type Postgres struct {
	Dir  string
	Port int
	// URL is the postgres:// URL of database postgres as the superuser tend.
	URL  string
	bin  string
	cred *syscall.Credential
}

// PostgresBin is the directory of Debian's PostgreSQL server programs, or "" when
// none is installed (apt-get install postgresql).
func PostgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// StartPostgres runs initdb in dir and starts the server on a free loopback port. As
// root (which PostgreSQL refuses to run as) the server runs as the postgres user, or
// nobody.
func StartPostgres(dir string) (*Postgres, error) {
	bin := PostgresBin()
	if bin == "" {
		return nil, fmt.Errorf("no PostgreSQL server: apt-get install postgresql (.ci/run does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &Postgres{Dir: dir, Port: port, bin: bin, URL: fmt.Sprintf("postgres://tend@127.0.0.1:%d/postgres?sslmode=disable", port)}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{dir, data} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
		if err := Enterable(dir); err != nil {
			return nil, err
		}
	}
	if out, err := p.run("initdb", "-D", data, "-U", "tend", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='%s' -c fsync=off -c max_wal_size=2GB", port, dir)
	if out, err := p.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return p, nil
}

func (p *Postgres) run(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.Dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// DB is the URL of database name on the server.
func (p *Postgres) DB(name string) string {
	return strings.Replace(p.URL, "/postgres?", "/"+name+"?", 1)
}

// SQL runs sql with psql on database db and returns its unaligned output.
func (p *Postgres) SQL(db, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(p.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, "--dbname="+p.DB(db))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("psql %q: %w\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Stop stops the server (fast shutdown) within a minute.
func (p *Postgres) Stop() {
	done := make(chan struct{})
	go func() {
		_, _ = p.run("pg_ctl", "-D", filepath.Join(p.Dir, "data"), "-m", "fast", "-w", "-t", "60", "stop")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(70 * time.Second):
	}
}
