package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/daemon"
)

func newUpCmd(g *globals) *cobra.Command {
	f := &serverFlags{}
	var file string
	cmd := &cobra.Command{
		Use:   "up [-f FILE]",
		Short: "Run a server in the foreground and deploy one app: for development",
		Long: `Start a tend server (like ` + "`tend server`" + `) and deploy the spec to it. Edit the code and run
` + "`tend deploy -f FILE`" + ` in another terminal to roll out a new revision. Ctrl-C stops
the server and the app's instances.`,
		Example: `  tend up -f examples/hello/tend.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			started := make(chan daemon.Info, 1)
			done := make(chan error, 1)
			cfg, err := f.config(g.dataDir)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			go func() { done <- daemon.Run(ctx, cfg, func(i daemon.Info) { started <- i }) }()
			var info daemon.Info
			select {
			case err := <-done:
				return err
			case info = <-started:
			}
			g.api, g.token = info.API, info.Token
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := deploy(ctx, c, file, deployOptions{}, out, cmd.ErrOrStderr()); err != nil {
				// the server keeps running: fix the spec and deploy again from another terminal
				fmt.Fprintln(cmd.ErrOrStderr(), "tend:", err)
			}
			fmt.Fprintf(out, "serving at %s; API %s (TEND_API=%s TEND_TOKEN=%s); Ctrl-C stops\n", info.Gateway, info.API, info.API, info.Token)
			return <-done
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	return cmd
}
