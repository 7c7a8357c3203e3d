package cli

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
)

// exitDiffError is tend diff's code for a comparison that could not be made (as
// kubectl diff, every code above 1): 1 means that a deploy would change something.
const exitDiffError = 5

func newDiffCmd(g *globals) *cobra.Command {
	var file, where string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "Say what a deploy of FILE would change (exit 0: nothing, 1: something), changing nothing",
		Long: `Say what tend deploy -f FILE would change where the app serves now, changing nothing:
the artifact (the server builds what this command uploads, as a deploy does, from
its build cache when nothing changed), each env variable, each secret's version, the
instance count, and which other part of the spec (files, route, strategy, health,
resources, shutdown, metrics, alerts).

Exit codes, as kubectl diff: 0 no change, 1 a deploy would change something, 4 the
spec or the request is invalid, 5 the comparison could not be made (the server is
unreachable, the build failed).`,
		Example: `  tend diff -f tend.yaml
  tend diff -f tend.yaml && echo "nothing to deploy"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return diffFailed(err)
			}
			res, err := plan(cmd.Context(), c, file, deployOptions{Local: where == "local", Verbose: verbose}, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return diffFailed(err)
			}
			if len(res.Changes) > 0 {
				return &exitCodeError{code: exitError, err: fmt.Errorf("a deploy of %s would change %s", file, res.Revision.App)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the build's commands whole")
	cmd.Flags().StringVar(&where, "build", "server", "where build.main is built to compare its artifact: server or local (as tend deploy --build)")
	return cmd
}

// diffFailed gives err tend diff's exit code: 4 when the spec or request is invalid,
// else 5.
func diffFailed(err error) error {
	var ec *exitCodeError
	if errors.As(err, &ec) && ec.code == exitInvalid {
		return err
	}
	var ae *api.Error
	if errors.As(err, &ae) && (ae.Code == http.StatusBadRequest || ae.Code == http.StatusNotFound) {
		return &exitCodeError{code: exitInvalid, err: err}
	}
	return &exitCodeError{code: exitDiffError, err: err}
}
