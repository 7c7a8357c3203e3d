package cli

import (
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

func newResumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume APP",
		Short: "Go on with a rollout held by `tend pause`",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAction(cmd, g, args[0], "resume", api.ActionRequest{})
		},
	}
}
