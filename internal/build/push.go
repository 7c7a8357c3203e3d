package build

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pusher builds executables with its Builder (which must build them statically:
// CGO_ENABLED=0), puts each into an OCI image (see Image) and pushes it to
// Repository/APP. The artifact it returns is the executable's, with Path the image's
// reference by digest: what Kubernetes pulls.
type Pusher struct {
	*Builder
	// Repository is the registry and path images go to, e.g. registry.example.com/team.
	Repository string
}

// Build builds r's executable and pushes its image; the same executable gives the same
// image, pushed again only when the registry lacks it.
func (p *Pusher) Build(ctx context.Context, r Request, out io.Writer) (Artifact, error) {
	a, err := p.Builder.Build(ctx, r, out)
	if err != nil {
		return Artifact{}, err
	}
	img, err := Image(ImageOptions{App: r.App, Binary: a.Path, Version: a.Version, Commit: a.Commit, Created: a.BuildTime})
	if err != nil {
		return Artifact{}, fmt.Errorf("image of %s: %w", r.App, err)
	}
	tag := strings.TrimPrefix(a.Digest, "sha256:")[:12]
	ref, err := name.NewTag(strings.TrimSuffix(p.Repository, "/") + "/" + r.App + ":" + tag)
	if err != nil {
		return Artifact{}, fmt.Errorf("image repository %q: %w", p.Repository, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return Artifact{}, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return Artifact{}, fmt.Errorf("push %s (check the registry is reachable and the credentials in ~/.docker/config.json): %w", ref, err)
	}
	fmt.Fprintf(out, "%s: pushed %s@%s\n", r.App, ref, digest)
	a.Path = ref.Context().Digest(digest.String()).String()
	return a, nil
}
