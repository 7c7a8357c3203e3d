package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newScaleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "scale APP N",
		Short: "Run N instances of the app (until the next deploy, which takes the spec's count)",
		Long: `Run N instances of the app's serving revision, until the next deploy, which takes the
spec's count again.

0 stops every instance (warm ones kept for an instant rollback too) and keeps the app:
its route stays, and the gateway answers its requests with 503 "scaled to zero" until
tend scale APP N (or a deploy) brings instances back. A rollout in progress must end
first (tend rollout status APP, or tend abort APP).`,
		Example: `  tend scale hello 5
  tend scale hello 0      # stop every instance; requests get 503 until a scale back`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("instances: want a whole number ≥ 0 (0 stops every instance), got %q", args[1])}
			}
			return runAction(cmd, g, args[0], "scale", v1.ActionRequest{Instances: &n})
		},
	}
}
