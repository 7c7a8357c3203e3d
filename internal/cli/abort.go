package cli

import (
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

func newAbortCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "abort APP",
		Short: "Stop the rollout in progress; the stable revision takes all traffic back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAction(cmd, g, args[0], "abort", api.ActionRequest{})
		},
	}
}
