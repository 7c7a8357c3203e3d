// Package secret keeps apps' secrets: values sealed with XChaCha20-Poly1305 under a key
// of the server's own, numbered versions in the store, opened only to start an instance.
package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// MaxSize bounds a secret's value (a password, a key, a small certificate bundle).
const MaxSize = 256 << 10

// sealed is a stored version of a secret: never the value, only its sealed box.
type sealed struct {
	App     string `json:"app"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Key is the id of the key that sealed Box (nonce, then ciphertext and tag).
	Key       string    `json:"key"`
	Box       []byte    `json:"box"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
}

// Info is what may be shown of a secret: its name and versions, never its value.
type Info struct {
	App       string
	Name      string
	Version   int // the newest
	Versions  []int
	Size      int // of the newest, in bytes
	UpdatedAt time.Time
}

// Vault seals, stores and opens secrets.
type Vault struct {
	// mu keeps a set from sealing with a key that a rotation is replacing.
	mu    sync.Mutex
	store *store.Store
	keys  *Keys
	// keysErr is why the keys did not load: names and versions are still listed, and
	// deploys recorded, but no value is sealed or opened.
	keysErr error
	now     func() time.Time
}

// New is a vault over st with keys.
func New(st *store.Store, keys *Keys) *Vault {
	return &Vault{store: st, keys: keys, now: time.Now}
}

// Open is a vault over st with the keys of LoadKeys(dataDir, file). Keys that do not
// load leave a vault that says why at each use of a value (Err), so that a server with a
// damaged key file still starts and serves what runs.
func Open(st *store.Store, dataDir, file string) *Vault {
	keys, err := LoadKeys(dataDir, file)
	v := New(st, keys)
	v.keysErr = err
	return v
}

// Err is why the keys did not load (nil when they did).
func (v *Vault) Err() error { return v.keysErr }

// Keys is the vault's keys (nil when they did not load).
func (v *Vault) Keys() *Keys { return v.keys }

// additional binds a box to its app, name and version, so that a box copied to another
// record does not open.
func additional(app, name string, version int) []byte {
	return []byte("tend-secret\x00" + app + "\x00" + name + "\x00" + strconv.Itoa(version))
}

func seal(k key, app, name string, version int, value []byte) (sealed, error) {
	aead, err := chacha20poly1305.NewX(k.raw)
	if err != nil {
		return sealed{}, fmt.Errorf("seal secret: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(value)+aead.Overhead())
	_, _ = rand.Read(nonce)
	box := aead.Seal(nonce, nonce, value, additional(app, name, version))
	return sealed{App: app, Name: name, Version: version, Key: k.id, Box: box, Size: len(value)}, nil
}

func (v *Vault) open(s sealed) ([]byte, error) {
	k, err := v.keys.byID(s.Key)
	if err != nil {
		return nil, fmt.Errorf("secret %s v%d: %w", s.Name, s.Version, err)
	}
	aead, err := chacha20poly1305.NewX(k.raw)
	if err != nil {
		return nil, fmt.Errorf("secret %s v%d: %w", s.Name, s.Version, err)
	}
	if len(s.Box) < aead.NonceSize() {
		return nil, fmt.Errorf("secret %s v%d is damaged in the store: set it again (tend secret set %s %s)", s.Name, s.Version, s.App, s.Name)
	}
	value, err := aead.Open(nil, s.Box[:aead.NonceSize()], s.Box[aead.NonceSize():], additional(s.App, s.Name, s.Version))
	if err != nil {
		return nil, fmt.Errorf("secret %s v%d does not open with key %s (%s): it was altered in the store; set it again (tend secret set %s %s)", s.Name, s.Version, k.id, k.path, s.App, s.Name)
	}
	return value, nil
}

// Set stores value as the next version of app's secret name and returns that version.
func (v *Vault) Set(ctx context.Context, app, name string, value []byte) (int, error) {
	if err := spec.CheckSecretName(name); err != nil {
		return 0, err
	}
	if len(value) > MaxSize {
		return 0, fmt.Errorf("secret %s is %d bytes; the limit is %d", name, len(value), MaxSize)
	}
	if v.keysErr != nil {
		return 0, v.keysErr
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	k, err := v.keys.sealing()
	if err != nil {
		return 0, err
	}
	for {
		versions, err := v.versions(ctx, app, name)
		if err != nil {
			return 0, err
		}
		next := 1
		if len(versions) > 0 {
			next = versions[len(versions)-1].Version + 1
		}
		s, err := seal(k, app, name, next, value)
		if err != nil {
			return 0, err
		}
		s.CreatedAt = v.now().UTC()
		ok, err := v.store.Commit(ctx, store.Op{Key: store.SecretKey(app, name, next), Value: s, IfAbsent: true})
		if err != nil {
			return 0, err
		}
		if ok {
			return next, nil
		}
		// another set took that number: take the next
	}
}

func (v *Vault) versions(ctx context.Context, app, name string) ([]sealed, error) {
	return store.List[sealed](ctx, v.store, store.SecretVersionsPrefix(app, name))
}

// List is every secret of app, by name.
func (v *Vault) List(ctx context.Context, app string) ([]Info, error) {
	all, err := store.List[sealed](ctx, v.store, store.SecretsPrefixOf(app))
	if err != nil {
		return nil, err
	}
	by := map[string]*Info{}
	var out []Info
	for _, s := range all {
		in := by[s.Name]
		if in == nil {
			in = &Info{App: app, Name: s.Name}
			by[s.Name] = in
		}
		in.Versions = append(in.Versions, s.Version)
		if s.Version > in.Version {
			in.Version, in.Size, in.UpdatedAt = s.Version, s.Size, s.CreatedAt
		}
	}
	for _, in := range by {
		sort.Ints(in.Versions)
		out = append(out, *in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// MissingError names the secrets a spec uses that are not set.
type MissingError struct {
	App   string
	Names []string
}

func (e *MissingError) Error() string {
	cmds := make([]string, len(e.Names))
	for i, n := range e.Names {
		cmds[i] = "tend secret set " + e.App + " " + n
	}
	return fmt.Sprintf("secret %s of %s is not set: run %s (it reads the value from stdin)",
		strings.Join(e.Names, ", "), e.App, strings.Join(cmds, "; "))
}

// Current is the newest version of each of app's secrets in names; a name that is not
// set is a *MissingError.
func (v *Vault) Current(ctx context.Context, app string, names []string) (map[string]int, error) {
	if len(names) == 0 {
		return nil, nil
	}
	infos, err := v.List(ctx, app)
	if err != nil {
		return nil, err
	}
	have := map[string]int{}
	for _, in := range infos {
		have[in.Name] = in.Version
	}
	out := map[string]int{}
	var missing []string
	for _, n := range names {
		if ver, ok := have[n]; ok {
			out[n] = ver
		} else if !contains(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingError{App: app, Names: missing}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Values opens the given versions (name → version) of app's secrets.
func (v *Vault) Values(ctx context.Context, app string, versions map[string]int) (map[string][]byte, error) {
	if v.keysErr != nil {
		return nil, v.keysErr
	}
	out := make(map[string][]byte, len(versions))
	for name, ver := range versions {
		var s sealed
		if err := v.store.Get(ctx, store.SecretKey(app, name, ver), &s); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("secret %s v%d of %s is gone (removed, or pruned as no kept revision used it): set it (tend secret set %s %s) and deploy", name, ver, app, app, name)
			}
			return nil, fmt.Errorf("read secret %s v%d: %w", name, ver, err)
		}
		value, err := v.open(s)
		if err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, nil
}

// Remove deletes every version of app's secret name; false when there was none.
func (v *Vault) Remove(ctx context.Context, app, name string) (bool, error) {
	n, err := v.store.DeletePrefix(ctx, store.SecretVersionsPrefix(app, name))
	return n > 0, err
}

// Prune deletes the versions of app's secrets that are neither the newest of their
// secret nor in keep (name → versions still used by a kept revision).
func (v *Vault) Prune(ctx context.Context, app string, keep map[string]map[int]bool) error {
	infos, err := v.List(ctx, app)
	if err != nil {
		return err
	}
	for _, in := range infos {
		for _, ver := range in.Versions {
			if ver != in.Version && !keep[in.Name][ver] {
				if err := v.store.Delete(ctx, store.SecretKey(app, in.Name, ver)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// rotateBatch bounds the records re-sealed in one transaction (etcd refuses more than
// 128 operations in one).
const rotateBatch = 100

// RotateKey seals every stored value again with a new key and makes it the current
// one. An interrupted rotation is finished by the next: the new key is written first
// (DATA/secrets.key.next), and values open with either key until the end.
func (v *Vault) RotateKey(ctx context.Context) (resealed int, err error) {
	if v.keysErr != nil {
		return 0, v.keysErr
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	k := v.keys
	if k.external {
		return 0, fmt.Errorf("the secrets key comes from --secrets-key-file %s, which tend does not write: rotate it by starting tend without --secrets-key-file after copying it to DATA/secrets.key, then run tend secret rotate-key", k.path)
	}
	if k.next == nil {
		raw := generateKey()
		if err := writeKeyFile(k.nextPath(), raw); err != nil {
			return 0, err
		}
		next := newKey(raw, k.nextPath())
		k.next = &next
	}
	all, err := store.List[sealed](ctx, v.store, store.SecretsPrefix)
	if err != nil {
		return 0, err
	}
	var ops []store.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := v.store.Commit(ctx, ops...); err != nil {
			return err
		}
		resealed += len(ops)
		ops = ops[:0]
		return nil
	}
	for _, s := range all {
		if s.Key == k.next.id {
			continue
		}
		value, err := v.open(s)
		if err != nil {
			return resealed, err
		}
		again, err := seal(*k.next, s.App, s.Name, s.Version, value)
		if err != nil {
			return resealed, err
		}
		again.CreatedAt = s.CreatedAt
		ops = append(ops, store.Op{Key: store.SecretKey(s.App, s.Name, s.Version), Value: again})
		if len(ops) == rotateBatch {
			if err := flush(); err != nil {
				return resealed, err
			}
		}
	}
	if err := flush(); err != nil {
		return resealed, err
	}
	if err := os.Rename(k.nextPath(), k.path); err != nil {
		return resealed, fmt.Errorf("make the new secrets key current (every value is sealed with it; %s holds it): %w", k.nextPath(), err)
	}
	if err := syncDir(filepath.Dir(k.path)); err != nil {
		return resealed, err
	}
	next := *k.next
	next.path = k.path
	k.current, k.next = &next, nil
	return resealed, nil
}
