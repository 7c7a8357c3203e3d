package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

func newDeployCmd(g *globals) *cobra.Command {
	var file string
	var detach bool
	cmd := &cobra.Command{
		Use:   "deploy -f FILE",
		Short: "Build an app from its tend.yaml and roll the new revision out",
		Long: `Validate the spec, build the artifact (go build with version injection, or copy
build.binary), record a revision and roll it out with the spec's strategy.

Build output and rollout progress stream to the terminal. deploy exits 0 when the
new revision serves, 2 when the rollout failed or was rolled back, 3 when it waits
for ` + "`tend promote`" + `, 4 when the spec is invalid (nothing changes). The same source and
configuration give the same revision: deploying it again changes nothing.`,
		Example: `  tend deploy -f tend.yaml
  tend deploy -f tend.yaml --detach && tend status hello`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return deploy(cmd.Context(), c, file, detach, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the rollout has started")
	return cmd
}

// deploy sends the spec, streams the build, then follows the rollout unless detached.
func deploy(ctx context.Context, c *api.Client, file string, detach bool, out, errw io.Writer) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return &exitCodeError{code: exitInvalid, err: fmt.Errorf("read spec: %w", err)}
	}
	res, err := c.Deploy(ctx, abs, string(src), func(line string) { fmt.Fprintln(errw, "build:", line) })
	if err != nil {
		return err
	}
	app, rev := res.Revision.App, res.Revision.Number
	switch {
	case res.Unchanged:
		fmt.Fprintf(out, "%s revision %d already serves; nothing to roll out\n", app, rev)
		return nil
	case res.Created:
		fmt.Fprintf(out, "%s revision %d (%s, artifact %.19s) is rolling out\n", app, rev, res.Revision.Version, res.Revision.Artifact)
	default:
		fmt.Fprintf(out, "%s revision %d (same artifact and configuration as before) is rolling out\n", app, rev)
	}
	if detach {
		return nil
	}
	if err := follow(ctx, c, app, rev, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s revision %d serves\n", app, rev)
	return nil
}
