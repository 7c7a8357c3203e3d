package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

// runAction sends an action to the server and prints its answer.
func runAction(cmd *cobra.Command, g *globals, app, action string, req api.ActionRequest) error {
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
