package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/secret"
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
