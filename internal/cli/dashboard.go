package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func newDashboardCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Print the link to the server's live dashboard",
		Long: `Print a link to the dashboard that the tend server serves on its API address: every
app with its rollout phase, traffic split, instances (state, restarts, uptime), the
gateway's endpoints with requests in flight, and recent events, refreshed every second.

The link carries the API token in its fragment (after '#'), which a browser keeps to
itself: it is never sent to the server nor written to its logs. Anyone with the link
can act on the server through its API, so share it as you would the token.`,
		Example: `  tend dashboard
  TEND_API=http://10.0.0.5:7070 TEND_TOKEN=... tend dashboard`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), DashboardURL(c.Base, c.Token))
			return nil
		},
	}
}

// DashboardURL is the link to the dashboard of the server at base, with the token in the fragment.
func DashboardURL(base, token string) string {
	return strings.TrimRight(base, "/") + "/#token=" + url.QueryEscape(token)
}
