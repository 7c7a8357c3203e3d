package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/secret"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// secretVersions is the newest version of each secret app uses: what a revision made
// now runs with. A secret that is not set refuses the deploy at its line in the spec.
func (c *Controller) secretVersions(ctx context.Context, app *spec.App) (map[string]int, error) {
	names := app.SecretNames()
	if len(names) == 0 {
		return nil, nil
	}
	if c.o.Secrets == nil {
		return nil, &InvalidSpecError{Err: app.FieldError(app.SecretField(names[0]), "this tend server keeps no secrets")}
	}
	versions, err := c.o.Secrets.Current(ctx, app.App, names)
	var missing *secret.MissingError
	if errors.As(err, &missing) {
		return nil, &InvalidSpecError{Err: app.FieldError(app.SecretField(missing.Names[0]), "%v", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("read the secrets of %s: %w", app.App, err)
	}
	return versions, nil
}

// revisionHash is the spec's Hash with the secret versions: a secret set again and
// deployed is a new revision, which a rollback leaves with the value it had.
func revisionHash(app *spec.App, secrets map[string]int) string {
	h := app.Hash()
	if len(secrets) == 0 {
		return h // as before secrets, so that existing revisions stay the same
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	sum := sha256.New()
	sum.Write([]byte(h))
	for _, n := range names {
		fmt.Fprintf(sum, "\x00%s=%d", n, secrets[n])
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// secretRefs is how a revision's instances get its secrets: variable → name and version.
func secretRefs(r store.Revision) map[string]runtime.SecretRef {
	vars := r.Spec.SecretVars()
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string]runtime.SecretRef, len(vars))
	for k, name := range vars {
		out[k] = runtime.SecretRef{Name: name, Version: r.Secrets[name]}
	}
	return out
}

// pruneSecrets forgets the secret versions that no kept revision uses.
func (l *appLoop) pruneSecrets(ctx context.Context) {
	if l.c.o.Secrets == nil {
		return
	}
	keep := map[string]map[int]bool{}
	for _, r := range l.revisions {
		for name, v := range r.Secrets {
			if keep[name] == nil {
				keep[name] = map[int]bool{}
			}
			keep[name][v] = true
		}
	}
	if err := l.c.o.Secrets.Prune(ctx, l.app, keep); err != nil {
		l.log.Error("prune secret versions", "err", err)
	}
}

// SecretUse is one recorded revision's use of a secret.
type SecretUse struct {
	Revision, Version int
	// Running is true for a revision that has, or may soon have, instances: the
	// stable one, those of a rollout, and warm ones.
	Running bool
}

// SecretUses is every recorded revision's use of app's secrets, by secret name (none
// for an app never deployed).
func (c *Controller) SecretUses(ctx context.Context, app string) (map[string][]SecretUse, error) {
	l, err := c.existing(ctx, app)
	if errors.Is(err, ErrUnknownApp) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]SecretUse{}
	err = l.do(ctx, func(context.Context) error {
		running := l.running()
		for _, r := range l.revisions {
			for name, v := range r.Secrets {
				out[name] = append(out[name], SecretUse{Revision: r.Number, Version: v, Running: running[r.Number]})
			}
		}
		return nil
	})
	for _, uses := range out {
		sort.Slice(uses, func(i, j int) bool { return uses[i].Revision > uses[j].Revision })
	}
	return out, err
}

// Redeploy deploys the app's spec as it was last deployed, built again: a new revision
// when a secret it uses was set since.
func (c *Controller) Redeploy(ctx context.Context, app string, out io.Writer) (DeployResult, error) {
	l, err := c.existing(ctx, app)
	if err != nil {
		return DeployResult{}, err
	}
	var file, source string
	err = l.do(ctx, func(context.Context) error {
		file, source = l.rec.Spec.File, l.rec.Source
		return nil
	})
	if err != nil {
		return DeployResult{}, err
	}
	return c.Deploy(ctx, file, []byte(source), out)
}
