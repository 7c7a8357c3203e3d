package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and, when reachable, the server's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "client: %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			c, err := g.client()
			if err != nil {
				fmt.Fprintf(w, "server: unknown (%v)\n", err)
				return nil
			}
			v, err := c.Version(cmd.Context())
			if err != nil {
				fmt.Fprintf(w, "server: unreachable (%v)\n", err)
				return nil
			}
			switch {
			case v.API == v1.Version:
				fmt.Fprintf(w, "server: %s, API version %d\n", v.Version, v.API)
			case v.API == 0:
				fmt.Fprintf(w, "server: %s, older than API version %d, which this client speaks: upgrade tend server\n", v.Version, v1.Version)
			default:
				fmt.Fprintf(w, "server: %s, API version %d; this client speaks %d: use a client of the server's version\n", v.Version, v.API, v1.Version)
			}
			return nil
		},
	}
}
