package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/secret"
	"github.com/tendhq/tend/internal/store"
)

const secretSpecYAML = specYAML + `env:
  DATABASE_URL: {secret: db-url}
`

// A revision records the secret versions it was deployed with; a new version is a new
// revision on the next deploy, and a rollback starts the old version again.
func TestRevisionsRunWithTheSecretVersionsTheyWereDeployedWith(t *testing.T) {
	c, rt, st := newController(t)
	vault := secret.New(st, mustKeys(t))
	c.o.Secrets = vault
	ctx := context.Background()

	_, err := c.Deploy(ctx, "/tmp/tend.yaml", []byte(fmt.Sprintf(secretSpecYAML, "/bin/a")), io.Discard)
	var invalid *InvalidSpecError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "/tmp/tend.yaml:7:") || !strings.Contains(err.Error(), "tend secret set hello db-url") {
		t.Fatalf("a deploy before the secret is set: %v", err)
	}
	if _, err := vault.Set(ctx, "hello", "db-url", []byte("one")); err != nil {
		t.Fatal(err)
	}
	deploy := func() DeployResult {
		t.Helper()
		res, err := c.Deploy(ctx, "/tmp/tend.yaml", []byte(fmt.Sprintf(secretSpecYAML, "/bin/a")), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := deploy(); res.Revision.Secrets["db-url"] != 1 {
		t.Fatalf("revision %d records %v", res.Revision.Number, res.Revision.Secrets)
	}
	waitPhase(t, c, rollout.Completed, 1)
	if res := deploy(); res.Created {
		t.Fatalf("an unchanged secret made revision %d", res.Revision.Number)
	}
	if _, err := vault.Set(ctx, "hello", "db-url", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if res := deploy(); !res.Created || res.Revision.Number != 2 || res.Revision.Secrets["db-url"] != 2 {
		t.Fatalf("after a new version: revision %d, created %v, secrets %v", res.Revision.Number, res.Created, res.Revision.Secrets)
	}
	waitPhase(t, c, rollout.Completed, 2)
	ref := func(rev int) runtime.SecretRef {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.sets[rev].Secrets["DATABASE_URL"]
	}
	if got := ref(2); got != (runtime.SecretRef{Name: "db-url", Version: 2}) {
		t.Errorf("revision 2's instances get %+v", got)
	}
	if _, err := c.Rollback(ctx, "hello", 1); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, rollout.RolledBack, 1)
	if got := ref(1); got != (runtime.SecretRef{Name: "db-url", Version: 1}) {
		t.Errorf("after the rollback revision 1's instances get %+v", got)
	}
	uses, err := c.SecretUses(ctx, "hello")
	if err != nil || len(uses["db-url"]) != 2 || !uses["db-url"][1].Running {
		t.Errorf("uses: %+v %v", uses, err)
	}
}

func mustKeys(t *testing.T) *secret.Keys {
	t.Helper()
	k, err := secret.LoadKeys(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretController is a controller with a vault where hello's db-url is at v1.
func secretController(t *testing.T) (*Controller, *secret.Vault) {
	c, _, vault := secretRuntimeController(t)
	return c, vault
}

func secretRuntimeController(t *testing.T) (*Controller, *fakeRuntime, *secret.Vault) {
	t.Helper()
	c, rt, st := newController(t)
	vault := secret.New(st, mustKeys(t))
	c.o.Secrets = vault
	if _, err := vault.Set(context.Background(), "hello", "db-url", []byte("one")); err != nil {
		t.Fatal(err)
	}
	return c, rt, vault
}

// set --restart makes a new revision of what serves, not of the last spec deployed: after
// a rollback it does not bring the bad revision back.
func TestRedeployMakesARevisionOfWhatServes(t *testing.T) {
	c, vault := secretController(t)
	ctx := context.Background()
	for _, bin := range []string{"/bin/good", "/bin/bad"} {
		if _, err := c.Deploy(ctx, "/tmp/tend.yaml", []byte(fmt.Sprintf(secretSpecYAML, bin)), io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	waitPhase(t, c, rollout.Completed, 2)
	if _, err := c.Rollback(ctx, "hello", 1); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, rollout.RolledBack, 1)
	if res, err := c.Redeploy(ctx, "hello"); err != nil || !res.Unchanged {
		t.Fatalf("a redeploy with nothing new: %+v %v", res, err)
	}
	if _, err := vault.Set(ctx, "hello", "db-url", []byte("two")); err != nil {
		t.Fatal(err)
	}
	res, err := c.Redeploy(ctx, "hello")
	if err != nil || !res.Created || res.Revision.Number != 3 {
		t.Fatalf("redeploy: %+v %v", res, err)
	}
	one, _ := c.History(ctx, "hello", 1)
	var first store.Revision
	for _, r := range one.Revisions {
		if r.Number == 1 {
			first = r
		}
	}
	if res.Revision.Artifact != first.Artifact || res.Revision.Secrets["db-url"] != 2 {
		t.Errorf("revision 3 is %s with %v, want revision 1's artifact %s with db-url v2", res.Revision.Artifact, res.Revision.Secrets, first.Artifact)
	}

	// revision 3 runs with v2: the secret stays
	waitPhase(t, c, rollout.Completed, 3)
	var inUse *SecretInUseError
	if _, err := c.RemoveSecret(ctx, "hello", "db-url"); !errors.As(err, &inUse) || !strings.Contains(err.Error(), "revision 3 (v2)") {
		t.Fatalf("removing a secret revision 3 runs with: %v", err)
	}
}

// A rollback to a revision whose secret versions are gone is refused before anything
// moves, naming what to do.
func TestARollbackNeedingARemovedSecretIsRefused(t *testing.T) {
	c, rt, _ := secretRuntimeController(t)
	ctx := context.Background()
	if _, err := c.Deploy(ctx, "/tmp/tend.yaml", []byte(fmt.Sprintf(secretSpecYAML, "/bin/a")), io.Discard); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, rollout.Completed, 1)
	// revision 2 needs no secret, and its rollout ends revision 1's warm window at once
	if _, err := c.Deploy(ctx, "/tmp/tend.yaml", []byte(fmt.Sprintf(specYAML, "/bin/b")+"  rollbackWindow: 1ms\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, rollout.Completed, 2)
	// revision 1's instances stop once its window has ended, just after the rollout's end:
	// until then it runs, and the secret is refused as in use
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.RemoveSecret(ctx, "hello", "db-url")
		if err == nil {
			break
		}
		var inUse *SecretInUseError
		if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "revision 1 ") || time.Now().After(deadline) {
			t.Fatalf("removing a secret no running revision uses: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// revision 1 cannot run again: the runtime drops what it keeps of it (on Kubernetes,
	// its Secret with the value)
	if got := rt.forgottenRevisions(); !slices.Equal(got, []int{1}) {
		t.Errorf("revisions the runtime was told to forget: %v, want [1]", got)
	}
	_, err := c.Rollback(ctx, "hello", 1)
	var gone *secret.GoneError
	if !errors.As(err, &gone) || !strings.Contains(err.Error(), "tend secret set hello db-url") {
		t.Fatalf("rollback to a revision whose secret is gone: %v", err)
	}
	if s, _ := c.Status(ctx, "hello"); s.Rollout.Stable != 2 || !s.Rollout.Phase.Terminal() {
		t.Errorf("the refused rollback moved the app: %+v", s.Rollout)
	}
}
