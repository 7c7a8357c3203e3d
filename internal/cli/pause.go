package cli

import (
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

func newPauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause APP",
		Short: "Hold the rollout in progress where it is (the deadline clock stops too)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAction(cmd, g, args[0], "pause", api.ActionRequest{})
		},
	}
}
