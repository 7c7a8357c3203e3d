package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
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
			return render(cmd.OutOrStdout(), g.output, h, func(tw *table) {
				if tw.Wide {
					fmt.Fprintln(tw, "REVISION\tSERVING\tVERSION\tCOMMIT\tARTIFACT\tCONFIG\tSECRETS\tBUILT\tCREATED\tCHANGES")
				} else {
					fmt.Fprintln(tw, "REVISION\tSERVING\tVERSION\tCOMMIT\tARTIFACT\tCREATED\tCHANGES")
				}
				for _, r := range h.Revisions {
					mark := ""
					if r.Number == h.Stable {
						mark = "*"
					}
					changes := strings.Join(r.Changes, "; ")
					if changes == "" {
						changes = "-"
					}
					if tw.Wide {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.12s\t%s\t%s\t%s\t%s\n", r.Number, mark, r.Version, r.Commit, r.Artifact, r.ConfigHash,
							secretVersions(r.Secrets), orDash(r.BuildTime), r.CreatedAt.Format(time.RFC3339), changes)
						continue
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

// secretVersions is "db-url:v3,api-key:v1" in name order, or "-".
func secretVersions(secrets map[string]int) string {
	names := slices.Sorted(maps.Keys(secrets))
	for i, n := range names {
		names[i] = fmt.Sprintf("%s:v%d", n, secrets[n])
	}
	return orDash(strings.Join(names, ","))
}
