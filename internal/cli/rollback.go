package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newRollbackCmd(g *globals) *cobra.Command {
	var to int
	var detach bool
	cmd := &cobra.Command{
		Use:   "rollback APP",
		Short: "Go back to the previous revision (or --to N)",
		Long: `Make an earlier revision serve again. Inside the rollback window (blue-green and
canary keep the previous revision's instances warm) this is a route switch and takes
effect at once; after it, tend rolls the revision out again (rolling).`,
		Example: `  tend rollback hello
  tend rollback hello --to 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Action(cmd.Context(), args[0], "rollback", v1.ActionRequest{To: to})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], res.Message)
			if detach {
				return nil
			}
			return follow(cmd.Context(), c, args[0], res.Revision, cmd.OutOrStdout())
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "revision to go back to (default: the previous one)")
	cmd.Flags().BoolVar(&detach, "detach", false, "return without waiting for the rollback to finish")
	return cmd
}
