package cli

import (
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newPromoteCmd(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "promote APP",
		Short: "Move a paused rollout on: switch blue-green, or go to the next canary step",
		Example: `  tend promote hello
  tend promote hello --full   # skip the remaining canary steps`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAction(cmd, g, args[0], "promote", v1.ActionRequest{Full: full})
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "skip the remaining canary steps and promote at once")
	return cmd
}
