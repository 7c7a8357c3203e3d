package cli

import "github.com/spf13/cobra"

func newResumeCmd(g *globals) *cobra.Command {
	return actionCmd(g, "resume", "Go on with a rollout held by `tend pause`")
}
