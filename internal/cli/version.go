package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

// versions is what `tend version -o json|yaml` prints.
type versions struct {
	Client clientVersion `json:"client"`
	// Server is absent when the server could not be asked; Error says why.
	Server *v1.VersionInfo `json:"server,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type clientVersion struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	API     int    `json:"api"`
}

func newVersionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and, when reachable, the server's",
		Long: `Print the client's version and, when the server is reachable, the server's and the
API version each speaks. An unreachable server is said, not an error (exit 0).`,
		Example: `  tend version
  tend version -o json | jq -r .server.version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs := versions{Client: clientVersion{Version: version(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, API: v1.Version}}
			reach := "unknown"
			if c, err := g.client(); err != nil {
				vs.Error = err.Error()
			} else if v, err := c.Version(cmd.Context()); err != nil {
				vs.Error, reach = err.Error(), "unreachable"
			} else {
				vs.Server = &v
			}
			return render(cmd.OutOrStdout(), g.output, vs, func(tw *table) {
				fmt.Fprintf(tw, "client: %s (%s %s/%s)\n", vs.Client.Version, vs.Client.Go, vs.Client.OS, vs.Client.Arch)
				switch v := vs.Server; {
				case v == nil:
					fmt.Fprintf(tw, "server: %s (%s)\n", reach, vs.Error)
				case v.API == v1.Version:
					fmt.Fprintf(tw, "server: %s, API version %d\n", v.Version, v.API)
				case v.API == 0:
					fmt.Fprintf(tw, "server: %s, older than API version %d, which this client speaks: upgrade tend server\n", v.Version, v1.Version)
				default:
					fmt.Fprintf(tw, "server: %s, API version %d; this client speaks %d: use a client of the server's version\n", v.Version, v.API, v1.Version)
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}
