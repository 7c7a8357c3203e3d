package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
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
			fmt.Fprintf(w, "server: %s\n", v.Version)
			return nil
		},
	}
}
