package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newDeleteCmd(g *globals) *cobra.Command {
	var yes, purge bool
	cmd := &cobra.Command{
		Use:   "delete APP",
		Short: "Remove an app: its route goes, its instances stop; its history stays unless --purge",
		Long: `Remove an app. Its route goes first, so the gateway stops sending it requests (its
hosts answer 404); then every instance stops, each draining for its shutdown grace as
in a scale to zero, and the command returns once none runs.

What stays: the app's revisions, events and secrets, so tend history APP still shows
them, and a later tend deploy of the same name goes on numbering revisions (a build of
the same source and configuration gives the same revision again). --purge removes
those too (an admin token only), now or later: tend delete APP --purge after a plain
delete removes what it kept.

On a terminal it asks first; --yes does not ask (scripts, CI).`,
		Example: `  tend delete hello
  tend delete review-pr-42 --yes --purge    # a review app, and everything it left`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app := args[0]
			if !yes {
				what := "its route goes and its instances stop"
				if purge {
					what += "; its revisions, events and secrets are removed"
				}
				ok, err := confirm(cmd, fmt.Sprintf("delete %s? %s [y/N] ", app, what))
				if err != nil {
					return err
				}
				if !ok {
					return &exitCodeError{code: exitError, err: fmt.Errorf("%s not deleted", app)}
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Delete(cmd.Context(), app, purge)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, res, func(tw *table) {
				fmt.Fprintf(tw, "%s\n", res.Message)
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for a confirmation on a terminal")
	cmd.Flags().BoolVar(&purge, "purge", false, "remove the app's revisions, events and secrets too (an admin token only)")
	addOutputFlag(cmd, g)
	return cmd
}

// confirm asks question on a terminal and says whether the answer was yes; without a
// terminal on stdin it does not ask (a script said what it wants by running the command).
func confirm(cmd *cobra.Command, question string) (bool, error) {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return true, nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), question)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
