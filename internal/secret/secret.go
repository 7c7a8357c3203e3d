// Package secret keeps apps' secrets: values sealed with XChaCha20-Poly1305 under a key
// of the server's own, numbered versions in the store, opened only to start an instance.
package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// rotateBatch (default rotateBatch) and afterBatch let a test interrupt a rotation.
	rotateBatch int
	afterBatch  func() error
}

// New is a vault over st with keys.
func New(st *store.Store, keys *Keys) *Vault {
	return &Vault{store: st, keys: keys, now: time.Now}
}

// Open is a vault over st with the keys of LoadKeys(dataDir, file). Keys that do not
// load, or no key while sealed values are stored, leave a vault that says why at each
// use of a value (Err), so that a server with a damaged or forgotten key file still
// starts and serves what runs, and never seals new values with a key of its own.
func Open(ctx context.Context, st *store.Store, dataDir, file string) *Vault {
	keys, err := LoadKeys(dataDir, file)
	v := New(st, keys)
	v.keysErr = err
	if err == nil && !keys.has() {
		stored, err := store.Newest[sealed](ctx, st, store.SecretsPrefix, 1)
		switch {
		case err != nil:
			v.keysErr = fmt.Errorf("look for stored secrets: %w", err)
		case len(stored) > 0:
			v.keysErr = fmt.Errorf("secrets are stored, sealed with key %s, and there is no key at %s: put the key file back (from a copy of the data dir), or start tend server with the --secrets-key-file it ran with", stored[0].Key, keys.Path())
		}
	}
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

// open opens the version of app's secret name that s holds. The associated data is
// the identity asked for, not the record's fields: a record copied under another key
// does not open.
func (v *Vault) open(app, name string, version int, s sealed) ([]byte, error) {
	redo := fmt.Sprintf("remove it (tend secret rm %s %s) or set it again", app, name)
	if s.App != app || s.Name != name || s.Version != version {
		return nil, fmt.Errorf("secret %s v%d of %s: the stored record is another secret's (%s v%d of %s): it was altered in the store; %s", name, version, app, s.Name, s.Version, s.App, redo)
	}
	k, err := v.keys.byID(s.Key)
	if err != nil {
		return nil, fmt.Errorf("secret %s v%d: %w", name, version, err)
	}
	aead, err := chacha20poly1305.NewX(k.raw)
	if err != nil {
		return nil, fmt.Errorf("secret %s v%d: %w", name, version, err)
	}
	if len(s.Box) < aead.NonceSize() {
		return nil, fmt.Errorf("secret %s v%d is damaged in the store: %s", name, version, redo)
	}
	value, err := aead.Open(nil, s.Box[:aead.NonceSize()], s.Box[aead.NonceSize():], additional(app, name, version))
	if err != nil {
		return nil, fmt.Errorf("secret %s v%d does not open with key %s (%s): it was altered in the store; %s", name, version, k.id, k.path, redo)
	}
	return value, nil
}

// ErrInvalid marks a name or a value that cannot be a secret's (errors.Is); the
// error's text is the reason alone.
var ErrInvalid = errors.New("invalid secret")

// invalid is an error that is ErrInvalid and says only its reason.
type invalid struct{ reason error }

func (e invalid) Error() string        { return e.reason.Error() }
func (e invalid) Is(target error) bool { return target == ErrInvalid }
func (e invalid) Unwrap() error        { return e.reason }

func checkIdentity(app, name string) error {
	if err := spec.CheckAppName(app); err != nil {
		return invalid{err}
	}
	if err := spec.CheckSecretName(name); err != nil {
		return invalid{err}
	}
	return nil
}

// counter is the last version number given to a secret, kept when the secret is
// removed, so that a number is never given to two values: a revision's version always
// means the value it was deployed with.
type counter struct {
	Last int `json:"last"`
}

// Set stores value as the next version of app's secret name and returns that version.
func (v *Vault) Set(ctx context.Context, app, name string, value []byte) (int, error) {
	if err := checkIdentity(app, name); err != nil {
		return 0, err
	}
	if len(value) > MaxSize {
		return 0, invalid{fmt.Errorf("secret %s is %d bytes; the limit is %d", name, len(value), MaxSize)}
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
	var c counter
	if err := v.store.Get(ctx, store.SecretCounterKey(app, name), &c); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	versions, err := v.versions(ctx, app, name)
	if err != nil {
		return 0, err
	}
	next := c.Last + 1
	if len(versions) > 0 {
		next = max(next, versions[len(versions)-1].Version+1)
	}
	// a number is taken only if its key is free: one held by a record that is not what
	// its key says (skipped by versions) is passed over, a bounded number of times
	for range 100 {
		s, err := seal(k, app, name, next, value)
		if err != nil {
			return 0, err
		}
		s.CreatedAt = v.now().UTC()
		ok, err := v.store.Commit(ctx, store.Op{Key: store.SecretKey(app, name, next), Value: s, IfAbsent: true},
			store.Op{Key: store.SecretCounterKey(app, name), Value: counter{Last: next}})
		if err != nil {
			return 0, err
		}
		if ok {
			return next, nil
		}
		next++
	}
	return 0, fmt.Errorf("secret %s of %s: no free version number after v%d: the store holds records there that are not this secret's; remove them (tend secret rm %s %s)", name, app, next, app, name)
}

// records is every stored version under prefix whose record is what its key says
// (app, name and version): one that is not is skipped, never opened for another secret.
func (v *Vault) records(ctx context.Context, app, prefix string) ([]sealed, error) {
	kvs, err := v.store.Records(ctx, prefix)
	if err != nil {
		return nil, err
	}
	base := store.SecretsPrefixOf(app)
	out := make([]sealed, 0, len(kvs))
	for _, kv := range kvs {
		name, num, ok := strings.Cut(strings.TrimPrefix(kv.Key, base), "/")
		ver, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		var s sealed
		if store.Decode(kv.Key, kv.Value, &s) != nil || s.App != app || s.Name != name || s.Version != ver {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func (v *Vault) versions(ctx context.Context, app, name string) ([]sealed, error) {
	return v.records(ctx, app, store.SecretVersionsPrefix(app, name))
}

// List is every secret of app, by name.
func (v *Vault) List(ctx context.Context, app string) ([]Info, error) {
	if err := spec.CheckAppName(app); err != nil {
		return nil, invalid{err}
	}
	all, err := v.records(ctx, app, store.SecretsPrefixOf(app))
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
	if v.keysErr != nil {
		return nil, v.keysErr // a revision whose instances could not start
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
		} else if !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingError{App: app, Names: missing}
	}
	return out, nil
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
				return nil, &GoneError{App: app, Name: name, Version: ver}
			}
			return nil, fmt.Errorf("read secret %s v%d: %w", name, ver, err)
		}
		value, err := v.open(app, name, ver, s)
		if err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, nil
}

// GoneError is a version a revision uses that is no longer stored.
type GoneError struct {
	App, Name string
	Version   int
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("secret %s v%d of %s is gone (removed, or pruned as no kept revision used it): set it (tend secret set %s %s) and deploy",
		e.Name, e.Version, e.App, e.App, e.Name)
}

// Check says whether every given version (name → version) of app's secrets is stored:
// a *GoneError for the first that is not.
func (v *Vault) Check(ctx context.Context, app string, versions map[string]int) error {
	for _, name := range slices.Sorted(maps.Keys(versions)) {
		var s sealed
		err := v.store.Get(ctx, store.SecretKey(app, name, versions[name]), &s)
		if errors.Is(err, store.ErrNotFound) {
			return &GoneError{App: app, Name: name, Version: versions[name]}
		}
		if err != nil {
			return fmt.Errorf("read secret %s v%d: %w", name, versions[name], err)
		}
	}
	return nil
}

// Remove deletes every version of app's secret name (its numbers are not given again);
// false when there was none.
func (v *Vault) Remove(ctx context.Context, app, name string) (bool, error) {
	if err := checkIdentity(app, name); err != nil {
		return false, err
	}
	v.mu.Lock() // a rotation in progress does not write it back
	defer v.mu.Unlock()
	n, err := v.store.DeletePrefix(ctx, store.SecretVersionsPrefix(app, name))
	return n > 0, err
}

// RemoveAll deletes every secret of app, their version counters included (`tend delete
// APP --purge`), and says how many versions there were.
func (v *Vault) RemoveAll(ctx context.Context, app string) (int, error) {
	if err := spec.CheckAppName(app); err != nil {
		return 0, invalid{err}
	}
	v.mu.Lock() // a rotation in progress does not write them back
	defer v.mu.Unlock()
	n, err := v.store.DeletePrefix(ctx, store.SecretsPrefixOf(app))
	if err != nil {
		return int(n), err
	}
	_, err = v.store.DeletePrefix(ctx, store.SecretCountersPrefix+app+"/")
	return int(n), err
}

// Prune deletes the versions of app's secrets that are neither the newest of their
// secret nor in keep (name → versions still used by a kept revision).
func (v *Vault) Prune(ctx context.Context, app string, keep map[string]map[int]bool) error {
	v.mu.Lock() // a rotation in progress does not write back what is pruned
	defer v.mu.Unlock()
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
	next, err := v.keys.startRotation()
	if err != nil {
		return 0, err
	}
	kvs, err := v.store.Records(ctx, store.SecretsPrefix)
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
		if v.afterBatch != nil {
			return v.afterBatch()
		}
		return nil
	}
	for _, kv := range kvs {
		parts := strings.Split(strings.TrimPrefix(kv.Key, store.SecretsPrefix), "/")
		if len(parts) != 3 {
			continue
		}
		app, name := parts[0], parts[1]
		ver, err := strconv.Atoi(parts[2])
		if err != nil {
			continue
		}
		var s sealed
		if err := store.Decode(kv.Key, kv.Value, &s); err != nil {
			return resealed, fmt.Errorf("re-seal %s: %w", kv.Key, err)
		}
		if s.Key == next.id {
			continue
		}
		value, err := v.open(app, name, ver, s)
		if err != nil {
			return resealed, err
		}
		again, err := seal(next, app, name, ver, value)
		if err != nil {
			return resealed, err
		}
		again.CreatedAt = s.CreatedAt
		ops = append(ops, store.Op{Key: kv.Key, Value: again})
		if len(ops) == v.batch() {
			if err := flush(); err != nil {
				return resealed, err
			}
		}
	}
	if err := flush(); err != nil {
		return resealed, err
	}
	return resealed, v.keys.finishRotation()
}

func (v *Vault) batch() int {
	if v.rotateBatch > 0 {
		return v.rotateBatch
	}
	return rotateBatch
}

// minMasked is the shortest value Mask replaces: a shorter one would mask ordinary text.
const minMasked = 4

// Mask replaces in text every stored value of app's secrets (of at least minMasked
// bytes) by "[secret NAME]", for output that tend shows (a runbook command's). A value
// that does not open leaves text as it is for that value; without keys, text is kept.
func (v *Vault) Mask(ctx context.Context, app, text string) string {
	if v.keysErr != nil || text == "" || spec.CheckAppName(app) != nil {
		return text
	}
	all, err := v.records(ctx, app, store.SecretsPrefixOf(app))
	if err != nil {
		return text
	}
	// the longest values first, so that one that contains another is masked whole
	type found struct{ name, value string }
	var values []found
	for _, s := range all {
		if value, err := v.open(app, s.Name, s.Version, s); err == nil && len(value) >= minMasked {
			values = append(values, found{s.Name, string(value)})
		}
	}
	sort.Slice(values, func(i, j int) bool { return len(values[i].value) > len(values[j].value) })
	for _, f := range values {
		text = strings.ReplaceAll(text, f.value, "[secret "+f.name+"]")
	}
	return text
}
