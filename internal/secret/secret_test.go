package secret

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/store"
)

func open(t *testing.T) (*Vault, *store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := LoadKeys(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return New(st, keys), st, dir
}

// grep says whether any file under dir holds s.
func grep(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

func TestSetOpensTheVersionAskedForAndStoresNoPlaintext(t *testing.T) {
	v, st, dir := open(t)
	ctx := context.Background()
	if _, err := os.Stat(filepath.Join(dir, "secrets.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a key exists before any secret: %v", err)
	}
	const one, two = "postgres://app:s3cr3t-one@db/app", "postgres://app:s3cr3t-two@db/app"
	if n, err := v.Set(ctx, "shop", "db-url", []byte(one)); err != nil || n != 1 {
		t.Fatalf("first set: v%d, %v", n, err)
	}
	if n, err := v.Set(ctx, "shop", "db-url", []byte(two)); err != nil || n != 2 {
		t.Fatalf("second set: v%d, %v", n, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key after the first set: %v, %v", fi, err)
	}
	got, err := v.Values(ctx, "shop", map[string]int{"db-url": 1})
	if err != nil || string(got["db-url"]) != one {
		t.Fatalf("v1 opened as %q, %v", got["db-url"], err)
	}
	cur, err := v.Current(ctx, "shop", []string{"db-url"})
	if err != nil || cur["db-url"] != 2 {
		t.Fatalf("current: %v, %v", cur, err)
	}
	list, err := v.List(ctx, "shop")
	if err != nil || len(list) != 1 || list[0].Version != 2 || len(list[0].Versions) != 2 || list[0].Size != len(two) {
		t.Fatalf("list: %+v, %v", list, err)
	}
	st.Close() // flush etcd's files before reading them
	if hits := grep(t, dir, store.SecretKey("shop", "db-url", 2)); len(hits) == 0 {
		t.Fatal("the secret's key is in no file: the grep below would prove nothing")
	}
	for _, s := range []string{one, two, "s3cr3t"} {
		if hits := grep(t, dir, s); len(hits) > 0 {
			t.Errorf("%q is in plain text in %v", s, hits)
		}
	}
}

func TestMissingSecretsAreNamedWithTheCommandToRun(t *testing.T) {
	v, _, _ := open(t)
	ctx := context.Background()
	if _, err := v.Set(ctx, "shop", "api-key", []byte("k")); err != nil {
		t.Fatal(err)
	}
	_, err := v.Current(ctx, "shop", []string{"db-url", "api-key", "db-url"})
	var me *MissingError
	if !errors.As(err, &me) || len(me.Names) != 1 || !strings.Contains(err.Error(), "tend secret set shop db-url") {
		t.Fatalf("got %v", err)
	}
}

func TestARecordCopiedToAnotherSecretOrAlteredDoesNotOpen(t *testing.T) {
	v, st, _ := open(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if _, err := v.Set(ctx, "shop", n, []byte("value of "+n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Set(ctx, "blog", "token", []byte("blog's token")); err != nil {
		t.Fatal(err)
	}
	var token sealed
	if err := st.Get(ctx, store.SecretKey("blog", "token", 1), &token); err != nil {
		t.Fatal(err)
	}
	// the whole record, unchanged, under shop's key: shop must not get blog's token
	if err := st.Put(ctx, store.SecretKey("shop", "b", 1), token); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Values(ctx, "shop", map[string]int{"b": 1}); err == nil || !strings.Contains(err.Error(), "another secret's") {
		t.Fatalf("blog's record under shop's b: %q, %v", got["b"], err)
	}
	// its fields changed to match the key: the box is bound to blog's token
	token.App, token.Name = "shop", "b"
	if err := st.Put(ctx, store.SecretKey("shop", "b", 1), token); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Values(ctx, "shop", map[string]int{"b": 1}); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Fatalf("blog's box relabelled as shop's b: %v", err)
	}
	var a sealed
	if err := st.Get(ctx, store.SecretKey("shop", "a", 1), &a); err != nil {
		t.Fatal(err)
	}
	a.Box[len(a.Box)-1] ^= 1
	if err := st.Put(ctx, store.SecretKey("shop", "a", 1), a); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Values(ctx, "shop", map[string]int{"a": 1}); err == nil || !strings.Contains(err.Error(), "tend secret rm shop a") {
		t.Fatalf("a flipped bit: %v", err)
	}
}

func TestAppNamesCannotReachIntoAnotherAppsSecrets(t *testing.T) {
	v, _, _ := open(t)
	ctx := context.Background()
	if _, err := v.Set(ctx, "shop", "prod", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"shop/prod", "../shop", "Shop", ""} {
		if _, err := v.Set(ctx, app, "db-url", []byte("y")); !errors.Is(err, ErrInvalid) {
			t.Errorf("set for app %q: %v, want ErrInvalid", app, err)
		}
		if _, err := v.Remove(ctx, app, "db-url"); !errors.Is(err, ErrInvalid) {
			t.Errorf("remove for app %q: %v, want ErrInvalid", app, err)
		}
	}
	list, err := v.List(ctx, "shop")
	if err != nil || len(list) != 1 || list[0].Name != "prod" {
		t.Errorf("shop's secrets: %+v %v", list, err)
	}
}

func TestARemovedSecretsNumbersAreNotGivenAgain(t *testing.T) {
	v, _, _ := open(t)
	ctx := context.Background()
	for range 2 {
		if _, err := v.Set(ctx, "shop", "db-url", []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := v.Remove(ctx, "shop", "db-url"); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	// a revision that ran with v2 must never get another value as v2
	if n, err := v.Set(ctx, "shop", "db-url", []byte("new")); err != nil || n != 3 {
		t.Fatalf("set after remove: v%d %v, want v3", n, err)
	}
	if err := v.Check(ctx, "shop", map[string]int{"db-url": 2}); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("check of a removed version: %v", err)
	}
}

func TestAnotherKeyIsNamedNotTakenForAForgery(t *testing.T) {
	v, st, dir := open(t)
	ctx := context.Background()
	if _, err := v.Set(ctx, "shop", "db-url", []byte("x")); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if err := writeKeyFile(other, generateKey()); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeys(dir, other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(st, keys).Values(ctx, "shop", map[string]int{"db-url": 1})
	if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "--secrets-key-file") {
		t.Fatalf("with another key: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "secrets.key")); err != nil {
		t.Fatal(err)
	}
	// a server started without its key (the file lost, --secrets-key-file forgotten)
	// says so, and seals nothing with a key of its own
	forgot := Open(ctx, st, dir, "")
	want := "there is no key at " + filepath.Join(dir, "secrets.key")
	if err := forgot.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open without the key: %v", err)
	}
	if _, err := forgot.Set(ctx, "shop", "db-url", []byte("y")); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("set without the key: %v", err)
	}
	if _, err := forgot.Current(ctx, "shop", []string{"db-url"}); err == nil {
		t.Error("a deploy would be recorded that could never start")
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a new key was made: %v", err)
	}
}

func TestKeyFilesThatCannotBeUsedAreRefusedByName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	for _, c := range []struct {
		content string
		mode    os.FileMode
		want    string
	}{
		{"tend-secrets-key-1:" + strings.Repeat("A", 44), 0o644, "chmod 600 " + path},
		{"-----BEGIN EC PRIVATE KEY-----\n", 0o600, "not a tend secrets key"},
		{"tend-secrets-key-1:AAAA", 0o600, "damaged"},
	} {
		if err := os.WriteFile(path, []byte(c.content), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeys(dir, ""); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q (%04o): %v, want %q", c.content, c.mode, err, c.want)
		}
	}
}

func TestRotateKeyResealsEverythingAndAnInterruptedOneFinishes(t *testing.T) {
	v, st, dir := open(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := v.Set(ctx, "shop", "db-url", []byte{'v', byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Set(ctx, "blog", "token", []byte("t")); err != nil {
		t.Fatal(err)
	}
	oldKey, _ := os.ReadFile(filepath.Join(dir, "secrets.key"))
	n, err := v.RotateKey(ctx)
	if err != nil || n != 4 {
		t.Fatalf("rotate: %d, %v", n, err)
	}
	newKey, _ := os.ReadFile(filepath.Join(dir, "secrets.key"))
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("the key did not change")
	}
	// a server started after the rotation opens every version with the new key only
	keys, err := LoadKeys(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	fresh := New(st, keys)
	got, err := fresh.Values(ctx, "shop", map[string]int{"db-url": 1})
	if err != nil || string(got["db-url"]) != "v0" {
		t.Fatalf("after the rotation, v1: %q, %v", got["db-url"], err)
	}

	// a rotation interrupted after its first batch: some values sealed with each key
	broken := New(st, keys)
	broken.rotateBatch = 1
	broken.afterBatch = func() error { return errors.New("killed") }
	if n, err := broken.RotateKey(ctx); err == nil || n != 1 {
		t.Fatalf("the interrupted rotation: %d, %v", n, err)
	}
	keys, err = LoadKeys(dir, "")
	if err != nil || !keys.Unfinished() {
		t.Fatalf("unfinished rotation not seen: %v", err)
	}
	resumed := New(st, keys)
	for _, c := range []struct {
		app, name string
		ver       int
	}{{"shop", "db-url", 1}, {"shop", "db-url", 3}, {"blog", "token", 1}} {
		if _, err := resumed.Values(ctx, c.app, map[string]int{c.name: c.ver}); err != nil {
			t.Errorf("mid-rotation, %s %s v%d: %v", c.app, c.name, c.ver, err)
		}
	}
	if _, err := resumed.Values(ctx, "blog", map[string]int{"token": 1}); err != nil {
		t.Fatalf("mid-rotation: %v", err)
	}
	if n, err := resumed.RotateKey(ctx); err != nil || n != 3 {
		t.Fatalf("resumed rotation: %d, %v, want the 3 values the first batch left", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets.key.next")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("secrets.key.next is left: %v", err)
	}
	keys, _ = LoadKeys(dir, "")
	if got, err := New(st, keys).Values(ctx, "shop", map[string]int{"db-url": 3}); err != nil || string(got["db-url"]) != "v2" {
		t.Fatalf("after the resumed rotation: %q, %v", got["db-url"], err)
	}
}

func TestPruneKeepsTheNewestAndWhatRevisionsUse(t *testing.T) {
	v, _, _ := open(t)
	ctx := context.Background()
	for range 4 {
		if _, err := v.Set(ctx, "shop", "db-url", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Prune(ctx, "shop", map[string]map[int]bool{"db-url": {2: true}}); err != nil {
		t.Fatal(err)
	}
	list, _ := v.List(ctx, "shop")
	if len(list) != 1 || len(list[0].Versions) != 2 || list[0].Versions[0] != 2 || list[0].Versions[1] != 4 {
		t.Fatalf("after prune: %+v", list)
	}
	if _, err := v.Values(ctx, "shop", map[string]int{"db-url": 1}); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Fatalf("a pruned version: %v", err)
	}
	if ok, err := v.Remove(ctx, "shop", "db-url"); !ok || err != nil {
		t.Fatalf("remove: %v, %v", ok, err)
	}
	if list, _ := v.List(ctx, "shop"); len(list) != 0 {
		t.Fatalf("after remove: %+v", list)
	}
}

func TestNamesAndSizesAreChecked(t *testing.T) {
	v, _, _ := open(t)
	for _, bad := range []string{"", "a/b", "../x", "1abc", strings.Repeat("a", 64)} {
		if _, err := v.Set(context.Background(), "shop", bad, []byte("x")); err == nil {
			t.Errorf("name %q was taken", bad)
		}
	}
	if _, err := v.Set(context.Background(), "shop", "big", make([]byte, MaxSize+1)); err == nil {
		t.Error("a value over MaxSize was taken")
	}
}

// A key held by a record that is not what it says is passed over, not retried forever.
func TestSetPassesOverAForeignRecordAtItsNextNumber(t *testing.T) {
	v, st, _ := open(t)
	ctx := context.Background()
	if err := st.Put(ctx, store.SecretKey("shop", "db-url", 1), sealed{App: "blog", Name: "token", Version: 7}); err != nil {
		t.Fatal(err)
	}
	if n, err := v.Set(ctx, "shop", "db-url", []byte("x")); err != nil || n != 2 {
		t.Fatalf("set: v%d %v, want v2", n, err)
	}
}

func TestMaskHidesEveryStoredValueOfTheApp(t *testing.T) {
	v, _, _ := open(t)
	ctx := context.Background()
	for _, s := range []struct{ app, name, value string }{
		{"shop", "db-url", "postgres://u:p4ss@db/shop"}, {"shop", "db-url", "postgres://u:n3w@db/shop"},
		{"shop", "pin", "42"}, {"blog", "token", "blog-token-1"},
	} {
		if _, err := v.Set(ctx, s.app, s.name, []byte(s.value)); err != nil {
			t.Fatal(err)
		}
	}
	got := v.Mask(ctx, "shop", "connect postgres://u:p4ss@db/shop failed; retry postgres://u:n3w@db/shop; code 42; blog-token-1")
	want := "connect [secret db-url] failed; retry [secret db-url]; code 42; blog-token-1"
	if got != want {
		t.Errorf("masked:\n got %s\nwant %s", got, want)
	}
}
