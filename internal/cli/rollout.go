package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

func newRolloutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow an app's rollout: tend rollout status APP",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status APP",
		Short: "Follow the rollout in progress to its end, with the exit codes of tend deploy",
		Long: `Follow the app's rollout in progress, from any terminal or script, to its end, and
exit as the tend deploy that started it does: 0 when the new revision serves, 2 when
the rollout failed, was rolled back or aborted, 3 when it waits for tend promote. An
app with no rollout in progress answers at once with how its last rollout ended.
Ctrl-C stops following; the rollout goes on.`,
		Example: `  tend deploy -f tend.yaml --detach && tend rollout status hello
  tend rollout status hello || tend history hello`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return followCurrent(cmd.Context(), c, args[0], cmd.OutOrStdout())
		},
	})
	return cmd
}

// followCurrent follows the app's current rollout (or reports how the last one ended)
// with follow's exit codes.
func followCurrent(ctx context.Context, c *api.Client, app string, w io.Writer) error {
	s, err := c.Status(ctx, app)
	if err != nil {
		return err
	}
	rev := s.Rollout.To
	if rev == 0 {
		rev = s.Rollout.Stable
	}
	if rev == 0 {
		return fmt.Errorf("%s has never been rolled out: tend deploy -f tend.yaml starts a rollout", app)
	}
	if err := follow(ctx, c, app, rev, w); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s revision %d serves\n", app, rev)
	return nil
}
