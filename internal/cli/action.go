package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

// runAction sends an action to the server and prints its answer.
func runAction(cmd *cobra.Command, g *globals, app, action string, req v1.ActionRequest) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	res, err := c.Action(cmd.Context(), app, action, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", app, res.Message)
	return nil
}

// actionCmd is a command that sends one action with no options to APP.
func actionCmd(g *globals, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " APP",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAction(cmd, g, args[0], action, v1.ActionRequest{})
		},
	}
}
