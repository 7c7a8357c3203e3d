package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "history APP",
		Short:   "List an app's revisions and what happened to them",
		Example: `  tend history hello -o yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			h, err := c.History(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, h, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "REVISION\tSERVING\tVERSION\tCOMMIT\tARTIFACT\tCREATED\tCHANGES")
				for _, r := range h.Revisions {
					mark := ""
					if r.Number == h.Stable {
						mark = "*"
					}
					changes := strings.Join(r.Changes, "; ")
					if changes == "" {
						changes = "-"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.19s\t%s\t%s\n", r.Number, mark, r.Version, r.Commit, r.Artifact, r.CreatedAt.Format(time.DateTime), changes)
				}
				fmt.Fprintln(tw)
				fmt.Fprintln(tw, "TIME\tREVISION\tKIND\tEVENT")
				for _, e := range h.Events {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", e.At.Format(time.DateTime), e.Revision, e.Kind, e.Message)
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "events", 30, "how many recent events to show")
	addOutputFlag(cmd, g)
	return cmd
}
