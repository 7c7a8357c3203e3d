package cli

import "github.com/spf13/cobra"

func newPauseCmd(g *globals) *cobra.Command {
	return actionCmd(g, "pause", "Hold the rollout in progress where it is (the deadline clock stops too)")
}
