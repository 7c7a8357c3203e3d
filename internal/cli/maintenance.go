package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newMaintenanceCmd(g *globals) *cobra.Command {
	var message string
	var retryAfter time.Duration
	cmd := &cobra.Command{
		Use:   "maintenance APP on|off",
		Short: "Answer an app's requests with 503 and a maintenance page while its instances keep running",
		Long: `tend maintenance APP on makes the gateway answer every request for APP itself: 503,
a page in HTML (or JSON, for clients that accept it) with the message, and Retry-After
when --retry-after is given. The instances keep running and get no requests; deploys keep
the maintenance. tend maintenance APP off sends requests to the instances again.`,
		Example: `  tend maintenance hello on -m "Back at 14:00 UTC" --retry-after 30m
  tend maintenance hello off`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := v1.ActionRequest{Message: message, RetryAfterSeconds: int(retryAfter.Round(time.Second) / time.Second)}
			switch args[1] {
			case "on":
				req.On = true
			case "off":
				if message != "" || retryAfter != 0 {
					return &exitCodeError{code: exitInvalid, err: fmt.Errorf("-m and --retry-after go with on, not off")}
				}
			default:
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("want on or off after the app's name, got %q", args[1])}
			}
			if retryAfter < 0 {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--retry-after must not be negative, got %s", retryAfter)}
			}
			return runAction(cmd, g, args[0], "maintenance", req)
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "the message on the maintenance page")
	cmd.Flags().DurationVar(&retryAfter, "retry-after", 0, "the Retry-After clients get, like 5m (none by default)")
	return cmd
}
