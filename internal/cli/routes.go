package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newRoutesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Show what the gateway routes now: traffic splits, instances, in-flight requests, ejections",
		Example: `  tend routes
  tend routes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			apps, err := c.Gateway(cmd.Context())
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, apps, func(tw *table) {
				fmt.Fprintln(tw, "APP\tHOSTS\tPATH\tSPLIT\tINSTANCE\tREVISION\tADDRESS\tIN-FLIGHT\tEJECTED")
				for _, a := range apps {
					var split []string
					for _, s := range a.Splits {
						split = append(split, fmt.Sprintf("r%d:%d%%", s.Revision, s.Weight))
					}
					hosts := "*"
					if len(a.Hosts) > 0 {
						hosts = strings.Join(a.Hosts, ",")
					}
					if !tw.Wide && len(hosts) > 30 {
						hosts = fmt.Sprintf("%s,+%d", a.Hosts[0], len(a.Hosts)-1) // -o wide lists them all
					}
					if len(a.Endpoints) == 0 {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\n", a.App, hosts, a.PathPrefix, strings.Join(split, " "))
					}
					for _, e := range a.Endpoints {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%v\n", a.App, hosts, a.PathPrefix, strings.Join(split, " "), e.Instance, e.Revision, e.Address, e.InFlight, e.Ejected)
					}
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}
