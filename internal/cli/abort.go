package cli

import "github.com/spf13/cobra"

func newAbortCmd(g *globals) *cobra.Command {
	return actionCmd(g, "abort", "Stop the rollout in progress; the stable revision takes all traffic back")
}
