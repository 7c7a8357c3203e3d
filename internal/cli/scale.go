package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newScaleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "scale APP N",
		Short:   "Run N instances of the app (until the next deploy, which takes the spec's count)",
		Example: `  tend scale hello 5`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("instances: want a whole number ≥ 1, got %q", args[1])}
			}
			return runAction(cmd, g, args[0], "scale", v1.ActionRequest{Instances: n})
		},
	}
}
