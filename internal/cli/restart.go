package cli

import "github.com/spf13/cobra"

func newRestartCmd(g *globals) *cobra.Command {
	return actionCmd(g, "restart", "Replace every instance, one at a time; each replacement is ready before the old one stops")
}
