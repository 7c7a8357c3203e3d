package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// keyHeader starts a key file: a name and a format, so that a file given by mistake
// (a TLS key, a token) is refused rather than used.
const keyHeader = "tend-secrets-key-1:"

// key is one sealing key and its id (the first 4 bytes of its SHA-256, in hex), which
// every sealed value names so that opening with another key says so instead of failing
// as a forgery.
type key struct {
	id   string
	raw  []byte
	path string
}

func newKey(raw []byte, path string) key {
	sum := sha256.Sum256(raw)
	return key{id: hex.EncodeToString(sum[:4]), raw: raw, path: path}
}

// generateKey makes a random key.
func generateKey() []byte {
	raw := make([]byte, chacha20poly1305.KeySize)
	_, _ = rand.Read(raw) // crypto/rand.Read does not fail
	return raw
}

// encodeKey is the content of a key file.
func encodeKey(raw []byte) []byte {
	return []byte(keyHeader + base64.StdEncoding.EncodeToString(raw) + "\n")
}

// readKey reads a key file, refusing one that others than its owner can read.
func readKey(path string) (key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return key{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return key{}, fmt.Errorf("secrets key %s can be read by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return key{}, err
	}
	text := strings.TrimSpace(string(b))
	if !strings.HasPrefix(text, keyHeader) {
		return key{}, fmt.Errorf("%s is not a tend secrets key (it does not start with %q): give the file tend wrote, or move it away to start without secrets", path, keyHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(text, keyHeader))
	if err != nil || len(raw) != chacha20poly1305.KeySize {
		return key{}, fmt.Errorf("%s: the key is damaged (want %d bytes in base64): restore it from a copy; without it the stored secrets cannot be read", path, chacha20poly1305.KeySize)
	}
	return newKey(raw, path), nil
}

// writeKeyFile writes a key to path (0600) through a temporary file, synced, so that a
// crash leaves either no file or the whole key.
func writeKeyFile(path string, raw []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-key-*")
	if err != nil {
		return fmt.Errorf("write secrets key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets key: %w", err)
	}
	if _, err := tmp.Write(encodeKey(raw)); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write secrets key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write secrets key: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Keys are the sealing keys of a server: the current one, and during a key rotation
// that did not finish, the next one as well.
type Keys struct {
	path     string // where the current key is (or will be, on first use)
	external bool   // the key came from --secrets-key-file: tend never writes it
	// mu guards current and next: instances open values while a set or a rotation
	// changes them.
	mu      sync.RWMutex
	current *key
	next    *key // DATA/secrets.key.next of an unfinished rotation
}

// LoadKeys reads the secrets key: from file when it is set (it must exist), otherwise
// from dataDir/secrets.key, created on the first use of a secret. A damaged key file is
// an error that names it; a missing one in the data dir is not.
func LoadKeys(dataDir, file string) (*Keys, error) {
	k := &Keys{path: filepath.Join(dataDir, "secrets.key")}
	if file != "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
		key, err := readKey(abs)
		if err != nil {
			return nil, fmt.Errorf("read --secrets-key-file: %w", err)
		}
		k.path, k.external, k.current = abs, true, &key
		return k, nil
	}
	switch key, err := readKey(k.path); {
	case err == nil:
		k.current = &key
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	switch key, err := readKey(k.nextPath()); {
	case err == nil:
		k.next = &key
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return k, nil
}

// Path is the file of the current key.
func (k *Keys) Path() string { return k.path }

func (k *Keys) nextPath() string { return k.path + ".next" }

// Unfinished says whether a key rotation was interrupted (the next key is on disk).
func (k *Keys) Unfinished() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.next != nil
}

// has says whether there is a current key (none before the first secret).
func (k *Keys) has() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current != nil
}

// sealing is the key new values are sealed with, created on first use.
func (k *Keys) sealing() (key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil {
		return *k.current, nil
	}
	raw := generateKey()
	if err := writeKeyFile(k.path, raw); err != nil {
		return key{}, err
	}
	key := newKey(raw, k.path)
	k.current = &key
	return key, nil
}

// byID finds the key a value was sealed with.
func (k *Keys) byID(id string) (key, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, c := range []*key{k.current, k.next} {
		if c != nil && c.id == id {
			return *c, nil
		}
	}
	if k.current == nil {
		return key{}, fmt.Errorf("a secret was sealed with key %s, and there is no key at %s: put the key file back (from a copy of the data dir) or start tend server with --secrets-key-file", id, k.path)
	}
	return key{}, fmt.Errorf("a secret was sealed with key %s, and %s holds key %s: start tend server with the key it was sealed with (--secrets-key-file), or set the secret again", id, k.path, k.current.id)
}

// startRotation is the next key of a rotation: the one on disk of an interrupted
// rotation, or a new one written to DATA/secrets.key.next.
func (k *Keys) startRotation() (key, error) {
	if k.external {
		return key{}, fmt.Errorf("the secrets key comes from --secrets-key-file %s, which tend does not write: to rotate it, stop tend server, copy the file to DATA/secrets.key (0600), start tend server without --secrets-key-file, then run tend secret rotate-key", k.path)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.next != nil {
		return *k.next, nil
	}
	raw := generateKey()
	if err := writeKeyFile(k.nextPath(), raw); err != nil {
		return key{}, err
	}
	next := newKey(raw, k.nextPath())
	k.next = &next
	return next, nil
}

// finishRotation makes the next key the current one, once every value is sealed with it.
func (k *Keys) finishRotation() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := os.Rename(k.nextPath(), k.path); err != nil {
		return fmt.Errorf("make the new secrets key current (every value is sealed with it; %s holds it): %w", k.nextPath(), err)
	}
	if err := syncDir(filepath.Dir(k.path)); err != nil {
		return err
	}
	next := *k.next
	next.path = k.path
	k.current, k.next = &next, nil
	return nil
}

// NewKeyFile writes a new random key to path (0600) for tend server
// --secrets-key-file; it never replaces a file that exists.
func NewKeyFile(path string) error {
	tmp := path + ".new"
	if err := writeKeyFile(tmp, generateKey()); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil { // fails if path exists, unlike a rename
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: a key that seals secrets is never overwritten; choose another path", path)
		}
		return fmt.Errorf("write secrets key: %w", err)
	}
	return nil
}
