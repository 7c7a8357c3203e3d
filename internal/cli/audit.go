package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newAuditCmd(g *globals) *cobra.Command {
	var tokenName string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: who called the API, what, when, and with what result",
		Long: `Show the newest API calls, oldest first: when, with which token (token-file is the data
dir's token; none for a call without a token the server knows) and its role, the
method and route, the app, the answer's status and how long it took (of a stream,
like tend logs -f: until it ended).

Every call is recorded, refused ones too (401: no or a revoked or expired token; 403:
a role or apps the token lacks). The server keeps the newest 10000 calls. It writes
them behind the calls, never slowing one down: if its store falls behind, it drops
entries, counts them, and this command says how many.

Reading the audit log needs an admin token. --by NAME shows the calls of one token
(--token is, as for every command, the token this command calls the API with).`,
		Example: `  tend audit
  tend audit --by github-ci --limit 20
  tend audit -o json | jq '.entries[] | select(.status == 403)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			log, err := c.Audit(cmd.Context(), tokenName, limit)
			if err != nil {
				return err
			}
			if log.Unrecorded > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "the server left %d calls without a known token out of the log since it started (beyond 10 a second, they are only counted)\n", log.Unrecorded)
			}
			if log.Dropped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "the server dropped %d entries since it started: its store fell behind the calls (see its log)\n", log.Dropped)
			}
			return render(cmd.OutOrStdout(), g.output, log, func(tw *table) {
				fmt.Fprintln(tw, "TIME\tTOKEN\tROLE\tMETHOD\tROUTE\tAPP\tSTATUS\tDURATION")
				for _, e := range log.Entries {
					status := strconv.Itoa(e.Status)
					if e.Error != "" { // a stream that began well and ended with an error (a failed deploy)
						status += fmt.Sprintf(" then %d", e.ErrorCode)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), orDash(e.Token), orDash(string(e.Role)),
						e.Method, orDash(e.Route), orDash(e.App), status, roundDuration(time.Duration(e.Duration)))
				}
				if len(log.Entries) == 0 {
					fmt.Fprintln(tw, "(no calls recorded)")
				}
			})
		},
	}
	// not --token: that is every command's flag for the API token to call with
	cmd.Flags().StringVar(&tokenName, "by", "", "only the calls made with the token of this name (token-file: the data dir's)")
	cmd.Flags().IntVar(&limit, "limit", 100, "the most entries, the newest (at most 10000)")
	addOutputFlag(cmd, g)
	return cmd
}

// roundDuration keeps three significant digits or so: 312µs, 4.21ms, 1.5s, 2m3s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
