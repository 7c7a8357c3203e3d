package cli

import (
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

func newRestartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "restart APP",
		Short: "Replace every instance, one at a time; each replacement is ready before the old one stops",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAction(cmd, g, args[0], "restart", api.ActionRequest{})
		},
	}
}
