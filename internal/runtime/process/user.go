package process

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tendhq/tend/internal/store"
)

// UserMode says whom instances run as.
type UserMode int

const (
	// AsTend runs instances as tend's own user (the only choice when tend is not root).
	AsTend UserMode = iota
	// PerApp gives every app a uid of its own, allocated in the store the first time one
	// of its instances starts, with a group of the same number and no other groups.
	PerApp
	// Fixed runs every instance as one given user.
	Fixed
)

// User is whom instances run as: --instance-user.
type User struct {
	Mode     UserMode
	UID, GID uint32 // for Fixed
	Name     string // as given, for messages
	// Auto is set when the mode was chosen by default: a data dir instances cannot
	// reach then runs them as tend, with a warning, instead of refusing to start.
	Auto bool
}

// appUIDs is the range per-app uids are taken from: far above the ranges Debian gives
// to users (1000–59999), systemd's dynamic users (61184–65519) and /etc/subuid
// (100000 and up, 65536 per user), and below 2^31 for tools that read uids as signed.
const (
	appUIDBase = 1_500_000_000
	appUIDSpan = 1 << 24
)

// ParseUser reads --instance-user:
//   - "auto": a uid per app when tend runs as root, else tend's own user;
//   - "app": a uid per app (tend must run as root);
//   - a user name or UID[:GID]: every instance as that user (tend must run as root
//     unless it is tend's own).
func ParseUser(s string) (User, error) {
	euid := os.Geteuid()
	switch s {
	case "", "auto":
		if euid == 0 {
			return User{Mode: PerApp, Name: "auto", Auto: true}, nil
		}
		return User{Mode: AsTend, Name: "auto"}, nil
	case "app":
		if euid != 0 {
			return User{}, fmt.Errorf("--instance-user app: giving each app a user of its own needs tend to run as root (it runs as uid %d); leave --instance-user at auto to run instances as tend's user", euid)
		}
		return User{Mode: PerApp, Name: s}, nil
	}
	uid, gid, err := lookupUser(s)
	if err != nil {
		return User{}, fmt.Errorf("--instance-user %s: %w", s, err)
	}
	if int(uid) == euid {
		return User{Mode: AsTend, Name: s}, nil
	}
	if euid != 0 {
		return User{}, fmt.Errorf("--instance-user %s: running instances as uid %d needs tend to run as root (it runs as uid %d)", s, uid, euid)
	}
	return User{Mode: Fixed, UID: uid, GID: gid, Name: s}, nil
}

// lookupUser reads a user name or UID[:GID]; a bare uid gets its passwd group, or the
// group of the same number when it has no passwd entry.
func lookupUser(s string) (uid, gid uint32, err error) {
	num := func(v string) (uint32, error) {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n >= 1<<31 {
			return 0, fmt.Errorf("%q is not a uid or gid (want a number below 2147483648)", v)
		}
		return uint32(n), nil
	}
	name, group, hasGroup := strings.Cut(s, ":")
	if name == "" {
		return 0, 0, errors.New("want a user name or UID[:GID]")
	}
	if name[0] >= '0' && name[0] <= '9' {
		if uid, err = num(name); err != nil {
			return 0, 0, err
		}
		gid = uid
		if u, err := user.LookupId(name); err == nil {
			if g, err := num(u.Gid); err == nil {
				gid = g
			}
		}
	} else {
		if hasGroup {
			return 0, 0, errors.New("a group can only follow a numeric uid (UID:GID)")
		}
		u, err := user.Lookup(name)
		if err != nil {
			return 0, 0, fmt.Errorf("no such user: %w (create it, or give UID[:GID])", err)
		}
		if uid, err = num(u.Uid); err != nil {
			return 0, 0, err
		}
		if gid, err = num(u.Gid); err != nil {
			return 0, 0, err
		}
	}
	if hasGroup {
		if gid, err = num(group); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// separate reports whether instances run as a user other than tend's.
func (u User) separate() bool { return u.Mode != AsTend }

// appUser is the stored allocation of an app's uid.
type appUser struct {
	App string `json:"app"`
	UID uint32 `json:"uid"`
}

// Credential is whom app's instances run as (nil: as tend): what tend does for an app
// besides running it (its backups) runs as that user too, so that it reaches no more
// than the app's own instances do.
func (s *Supervisor) Credential(ctx context.Context, app string) (*syscall.Credential, error) {
	switch s.o.User.Mode {
	case Fixed:
		return &syscall.Credential{Uid: s.o.User.UID, Gid: s.o.User.GID, Groups: []uint32{}}, nil
	case PerApp:
		uid, err := s.appUID(ctx, app)
		if err != nil {
			return nil, err
		}
		return &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}, nil
	}
	return nil, nil
}

// appUID returns app's uid, allocating one on first use: it starts from a hash of the
// name, skips uids that have a passwd entry, and claims the uid and the app together in
// one transaction, so that two apps never share one.
func (s *Supervisor) appUID(ctx context.Context, app string) (uint32, error) {
	s.uidMu.Lock()
	defer s.uidMu.Unlock()
	if uid, ok := s.uids[app]; ok {
		return uid, nil
	}
	var rec appUser
	err := s.o.Store.Get(ctx, store.InstanceUserKey(app), &rec)
	if err == nil {
		s.uids[app] = rec.UID
		return rec.UID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("read the uid of %s: %w", app, err)
	}
	h := fnv.New32a()
	h.Write([]byte(s.owner + "/" + app)) // same-named apps of two data dirs get different uids
	start := h.Sum32() % appUIDSpan
	for i := uint32(0); i < 256; i++ {
		uid := appUIDBase + (start+i)%appUIDSpan
		if _, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
			continue
		}
		rec = appUser{App: app, UID: uid}
		ok, err := s.o.Store.Commit(ctx,
			store.Op{Key: store.InstanceUserKey(app), Value: rec, IfAbsent: true},
			store.Op{Key: store.InstanceUIDKey(uid), Value: rec, IfAbsent: true})
		if err != nil {
			return 0, fmt.Errorf("allocate a uid for %s: %w", app, err)
		}
		if ok {
			s.log.Info("app's instances run as a uid of their own", "app", app, "uid", uid)
			s.uids[app] = uid
			return uid, nil
		}
		if err := s.o.Store.Get(ctx, store.InstanceUserKey(app), &rec); err == nil {
			s.uids[app] = rec.UID
			return rec.UID, nil
		}
	}
	return 0, fmt.Errorf("allocate a uid for %s: 256 candidates from %d were taken", app, appUIDBase+start)
}

// openDataDir makes the data dir enterable by instances that run as other users: DATA
// and DATA/instances become 0711 (enter, not list), so an instance reaches its working
// dir and its artifact by path and nothing else; what tend keeps there stays 0700 or
// 0600, and what an older tend left more open is closed. Every ancestor must let others
// enter too, which tend does not change: without, it refuses, or with --instance-user
// auto runs instances as tend and says so. It returns whom instances run as.
func openDataDir(dataDir string, u User, log *slog.Logger) (User, error) {
	if !u.separate() {
		return u, nil
	}
	for d := filepath.Dir(dataDir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return u, fmt.Errorf("instances run as their own users and must reach %s: %w", dataDir, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			err := fmt.Errorf("instances run as their own users (--instance-user %s) and cannot reach the data dir %s: %s is mode %04o, which others may not enter. "+
				"Use a data dir they can reach (--data /var/lib/tend), let others enter it (chmod o+x %s), or run instances as tend's user (--instance-user root)",
				u.Name, dataDir, d, fi.Mode().Perm(), d)
			if !u.Auto {
				return u, err
			}
			log.Warn("instances run as tend's user, and can read its data dir and API token: "+err.Error(), "dataDir", dataDir)
			return User{Mode: AsTend, Name: "auto"}, nil
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	modes := []struct {
		path  string
		mode  os.FileMode
		isNew bool // created when missing
	}{
		{dataDir, 0o711, true}, {filepath.Join(dataDir, "instances"), 0o711, true},
		// instance logs are tend's to read: an instance writes its own through the
		// descriptor tend opens for it
		{filepath.Join(dataDir, "logs"), 0o700, false},
		// an instance reaches its executable by a path it is given, and lists nothing
		{filepath.Join(dataDir, "artifacts"), 0o711, false}, {filepath.Join(dataDir, "artifacts", "sources"), 0o700, false},
	}
	for _, m := range modes {
		if m.isNew {
			if err := os.MkdirAll(m.path, m.mode); err != nil {
				return u, fmt.Errorf("create %s: %w", m.path, err)
			}
		}
		if err := os.Chmod(m.path, m.mode); err != nil && !errors.Is(err, os.ErrNotExist) {
			return u, fmt.Errorf("set the mode of %s for instances of their own users: %w", m.path, err)
		}
	}
	// working dirs an older tend made 0755
	wds, _ := os.ReadDir(filepath.Join(dataDir, "instances"))
	for _, wd := range wds {
		if wd.IsDir() {
			_ = os.Chmod(filepath.Join(dataDir, "instances", wd.Name()), 0o700)
		}
	}
	return u, nil
}
