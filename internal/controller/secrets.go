package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/tendhq/tend/internal/build"
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
		return nil, &InvalidSpecError{Err: app.FieldError(app.SecretField(names[0]), "this tend server was started without secrets: restart it with tend server")}
	}
	versions, err := c.o.Secrets.Current(ctx, app.App, names)
	var missing *secret.MissingError
	if errors.As(err, &missing) {
		return nil, &InvalidSpecError{Err: app.FieldError(app.SecretField(missing.Names[0]), "%w", err)}
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

// files is how a revision's instances get its files: config files' content, secret
// files' name and version.
func files(r store.Revision) []runtime.File {
	if len(r.Spec.Files) == 0 {
		return nil
	}
	out := make([]runtime.File, len(r.Spec.Files))
	for i, f := range r.Spec.Files {
		out[i] = runtime.File{Path: f.Path, Content: f.Content}
		if f.Secret != "" {
			out[i].Content = ""
			out[i].Secret = &runtime.SecretRef{Name: f.Secret, Version: r.Secrets[f.Secret]}
		}
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
		running := l.withInstances()
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

// withInstances is the revisions that have, or may soon have, instances: the stable
// one, those of a rollout in progress, and warm ones (a completed rollout's From only
// while it is warm).
func (l *appLoop) withInstances() map[int]bool {
	out := map[int]bool{l.st.Stable: true}
	if !l.st.Phase.Terminal() {
		out[l.st.From], out[l.st.To] = true, true
	}
	for _, w := range l.st.Warm {
		out[w.Revision] = true
	}
	return out
}

// SecretInUseError is a secret removal refused because a running revision uses it.
type SecretInUseError struct {
	App, Name         string
	Revision, Version int
}

func (e *SecretInUseError) Error() string {
	return fmt.Sprintf("secret %s of %s is used by revision %d (v%d), which runs: deploy a spec without it first, then remove it", e.Name, e.App, e.Revision, e.Version)
}

// RemoveSecret deletes every version of app's secret name unless a running revision
// uses it; in the app's loop, so that no deploy records it meanwhile.
func (c *Controller) RemoveSecret(ctx context.Context, app, name string) (bool, error) {
	if c.o.Secrets == nil {
		return false, errors.New("this tend server was started without secrets")
	}
	l, err := c.existing(ctx, app)
	if errors.Is(err, ErrUnknownApp) {
		return c.o.Secrets.Remove(ctx, app, name)
	}
	if err != nil {
		return false, err
	}
	var removed bool
	err = l.do(ctx, func(ctx context.Context) error {
		running := l.withInstances()
		nums := slices.Sorted(maps.Keys(l.revisions))
		slices.Reverse(nums) // the newest is named
		for _, n := range nums {
			if v, ok := l.revisions[n].Secrets[name]; ok && running[n] {
				return &SecretInUseError{App: app, Name: name, Revision: n, Version: v}
			}
		}
		if removed, err = c.o.Secrets.Remove(ctx, app, name); err != nil || !removed {
			return err
		}
		// a revision that used it cannot run again: what a runtime keeps of it (on
		// Kubernetes, a Secret with the value) goes too
		if f, ok := c.o.Runtime.(runtime.Forgetter); ok {
			for _, n := range nums {
				if _, uses := l.revisions[n].Secrets[name]; uses {
					if err := f.Forget(ctx, app, n); err != nil {
						l.log.Error("forget a revision of a removed secret", "revision", n, "err", err)
					}
				}
			}
		}
		return nil
	})
	return removed, err
}

// Redeploy makes a new revision of what serves (the stable revision's artifact and
// spec, nothing built) with the newest versions of its secrets, and rolls it out with
// the app's strategy; Unchanged when its secrets did not change.
func (c *Controller) Redeploy(ctx context.Context, app string) (DeployResult, error) {
	l, err := c.existing(ctx, app)
	if err != nil {
		return DeployResult{}, err
	}
	var res DeployResult
	err = l.do(ctx, func(ctx context.Context) error {
		if err := l.deployed(); err != nil {
			return err
		}
		if l.rec.ScaledToZero {
			return fmt.Errorf("%s is scaled to zero: tend scale %s N, then deploy again", app, app)
		}
		r, ok := l.revisions[l.st.Stable]
		if !ok {
			return fmt.Errorf("%s has no serving revision to deploy again: tend deploy it", app)
		}
		if !l.st.Phase.Terminal() {
			return fmt.Errorf("%s has a rollout in progress; deploy again after it ends", app)
		}
		sp := r.Spec
		secrets, err := c.secretVersions(ctx, &sp)
		if err != nil {
			return err
		}
		art := build.Artifact{Digest: r.Artifact, Path: r.Path, Version: r.Version, Commit: r.Commit, BuildTime: r.BuildTime}
		scaled := l.rec.Instances // a deploy of what serves keeps tend scale's count
		res, err = l.deploy(ctx, &sp, l.rec.Source, secrets, art, scaled)
		return err
	})
	return res, err
}
