package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newLogsCmd(g *globals) *cobra.Command {
	var followFlag bool
	var instance string
	var tail int
	cmd := &cobra.Command{
		Use:   "logs APP",
		Short: "Print an app's instance logs (stdout and stderr), merged by time",
		Example: `  tend logs hello -f
  tend logs hello --instance hello-2-x7k2 --tail 500`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return c.Logs(cmd.Context(), args[0], instance, tail, followFlag, func(l v1.LogLine) error {
				_, err := fmt.Fprintf(w, "%s  %s\n", l.Instance, l.Text)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&followFlag, "follow", "f", false, "keep printing new lines")
	cmd.Flags().StringVar(&instance, "instance", "", "only this instance")
	cmd.Flags().IntVar(&tail, "tail", 100, "lines per instance to start with")
	return cmd
}
