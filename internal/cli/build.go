package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/spec"
)

func newBuildCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build artifacts of an app without deploying it",
	}
	cmd.AddCommand(newBuildImageCmd(g))
	return cmd
}

// ImageResult is what `tend build image` made.
type ImageResult struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Pushed is true when the image went to a registry, false for a tarball (File).
	Pushed bool   `json:"pushed"`
	File   string `json:"file,omitempty"`
}

func newBuildImageCmd(g *globals) *cobra.Command {
	var file, push, tarFile, tag string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build an OCI image of the app, without Docker, and push it or write a tarball",
		Long: `Build the app's Go executable statically (CGO_ENABLED=0) and put it, alone, into an
OCI image: /app/APP as the entrypoint, run as the non-root user 65532 with an
/etc/passwd that names it, a writable /tmp, and the OCI labels title, version,
revision (the git commit) and created. There is no base image to pull and no shell.

--push REF sends it to a registry (credentials as Docker's: ~/.docker/config.json);
--tarball FILE writes a tarball that 'docker load' and 'crane push' take. Executables are
kept in the user's cache directory (tend/artifacts): building the same source again
compiles nothing and gives the same image digest.`,
		Example: `  tend build image -f tend.yaml --push registry.example.com/hello:v1
  tend build image -f tend.yaml --tarball hello.tar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (push == "") == (tarFile == "") {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("give --push REF or --tarball FILE")}
			}
			app, err := spec.Load(file)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			ref := firstOf(push, tag, app.App+":latest")
			r, err := name.ParseReference(ref)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("image reference %q: %w", ref, err)}
			}
			// built executables are kept in the user's cache: the same source is not
			// compiled again and gives the same image digest
			cache, err := os.UserCacheDir()
			if err != nil {
				cache = os.TempDir()
			}
			// a static executable: the image has no C library
			b := &build.Builder{Dir: filepath.Join(cache, "tend", "artifacts"), Env: []string{"CGO_ENABLED=0"}, Logger: slog.New(slog.DiscardHandler)}
			art, err := b.Build(cmd.Context(), build.Request{App: app.App, Dir: app.Dir, Main: app.Build.Main,
				Binary: app.Build.Binary, Version: app.Build.Version}, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			img, err := build.Image(build.ImageOptions{App: app.App, Binary: art.Path, Version: art.Version, Commit: art.Commit, Created: art.BuildTime})
			if err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			res := ImageResult{Ref: r.String(), Digest: digest.String()}
			if push != "" {
				if err := remote.Write(r, img, remote.WithContext(cmd.Context()), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
					return fmt.Errorf("push %s: %w", r, err)
				}
				res.Pushed = true
			} else {
				if err := tarball.WriteToFile(tarFile, r, img); err != nil {
					return fmt.Errorf("write %s: %w", tarFile, err)
				}
				res.File = tarFile
			}
			return render(cmd.OutOrStdout(), g.output, res, func(tw *table) {
				where := "pushed to " + res.Ref
				if !res.Pushed {
					where = "written to " + res.File + " as " + res.Ref
				}
				fmt.Fprintf(tw, "%s %s\n", where, res.Digest)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	cmd.Flags().StringVar(&push, "push", "", "push the image to this reference (registry/repository:tag)")
	cmd.Flags().StringVar(&tarFile, "tarball", "", "write the image to this file instead")
	cmd.Flags().StringVar(&tag, "tag", "", "the reference recorded in a tarball (default APP:latest)")
	addOutputFlag(cmd, g)
	return cmd
}
