package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke API tokens that can do only what their role allows",
		Long: `API tokens let a CI job, a dashboard or a colleague use the API with only the rights
they need. Each token has a role, and each role may do all that the ones before it may:

  read     every GET: status, history, watch, logs, routes, certificates, secrets'
           names (never values), incidents, metrics (tend query, Grafana)
  deploy   also deploy, promote, abort, pause, resume, restart, scale, roll back,
           redeploy, maintenance, and set or remove secrets
  admin    everything: tokens, the audit log, secret values, the secrets key,
           incident actions, remediation, silences

--apps limits a read or deploy token to some apps: it sees only those (in tend status,
tend routes, tend certs, tend incidents, and in its Prometheus queries, which select only
their series) and is refused (403) on the others and on what spans every app (the
Alertmanager). --expires makes it stop working after a while.

The server keeps only a hash of each token: its value is shown once, when it is made.
A call with a token it lacks the role for gets 403 and what it lacks; a revoked or
expired token gets 401. The token file in the data dir (DATA/token) is an admin token,
named token-file in the audit log (tend audit).`,
	}
	cmd.AddCommand(newTokenCreateCmd(g), newTokenListCmd(g), newTokenRevokeCmd(g))
	return cmd
}

// roleCan says what a token of role can do, on apps (none: every app).
func roleCan(role v1.Role, apps []string) string {
	of := "every app"
	if len(apps) > 0 {
		of = strings.Join(apps, ", ") + " only"
	}
	switch role {
	case v1.RoleRead:
		return "read the status, history, logs and metrics of " + of
	case v1.RoleDeploy:
		return "read, deploy, promote, abort, roll back, restart, scale and set secrets of " + of
	}
	return "do everything, tokens and the audit log included"
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var role, expires string
	var apps []string
	cmd := &cobra.Command{
		Use:   "create NAME --role read|deploy|admin",
		Short: "Make a token: its value is printed this once, on stdout",
		Long: `Make a token named NAME with a role, and print its value on stdout, alone, so that it
can go straight into a file or a CI secret; what it can do goes to stderr. The server
keeps only a hash of it: this is the only time the value is shown.

NAME is what the audit log calls it and what tend token revoke takes. A name is
taken until its token is revoked.

--expires takes days (90d) or a Go duration (720h, 30m); without it the token works
until it is revoked.`,
		Example: `  tend token create github-ci --role deploy --apps shop,api --expires 90d > ci.token
  tend token create grafana --role read
  gh secret set TEND_TOKEN < ci.token && rm ci.token`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if role == "" {
				return &exitCodeError{code: exitInvalid, err: errors.New("--role is missing: want read, deploy or admin (tend token --help says what each may do)")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.CreateToken(cmd.Context(), v1.TokenRequest{Name: args[0], Role: v1.Role(role), Apps: apps, Expires: expires})
			if err != nil {
				return err
			}
			t := res.Token
			until := "until it is revoked (tend token revoke " + t.Name + ")"
			if !t.Expires.IsZero() {
				until = "until " + t.Expires.Local().Format(time.DateTime)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (role %s) can %s, %s.\nIts value is shown this once: keep it where its user reads it (TEND_TOKEN).\n",
				t.Name, t.Role, roleCan(t.Role, t.Apps), until)
			return render(cmd.OutOrStdout(), g.output, res, func(tw *table) { fmt.Fprintln(tw, res.Value) })
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "what the token may do: read, deploy or admin")
	cmd.Flags().StringSliceVar(&apps, "apps", nil, "the apps it may act on, comma-separated (default: every app; not for admin)")
	cmd.Flags().StringVar(&expires, "expires", "", "how long it works: days (90d) or a Go duration (720h) (default: until revoked)")
	addOutputFlag(cmd, g)
	return cmd
}

func newTokenListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the tokens: names, roles, apps and expiry, never values",
		Long: `List the tokens made with tend token create, expired ones too, until they are revoked.
The data dir's token file (token-file) is not listed: it is an admin token that lives
in DATA/token, not in the store.`,
		Example: `  tend token list
  tend token list -o json | jq -r '.[] | select(.role == "admin") | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			return render(cmd.OutOrStdout(), g.output, list, func(tw *table) {
				fmt.Fprintln(tw, "NAME\tROLE\tAPPS\tCREATED\tEXPIRES")
				for _, t := range list {
					apps := "all"
					if len(t.Apps) > 0 {
						apps = strings.Join(t.Apps, ",")
					}
					expires := "never"
					switch {
					case t.Expires.IsZero():
					case t.Expires.After(now):
						expires = fmt.Sprintf("%s (in %s)", t.Expires.Local().Format(time.DateTime), approx(t.Expires.Sub(now)))
					default:
						expires = fmt.Sprintf("%s (expired)", t.Expires.Local().Format(time.DateTime))
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, apps, t.Created.Local().Format(time.DateTime), expires)
				}
				if len(list) == 0 {
					fmt.Fprintln(tw, "(no tokens but the data dir's: tend token create NAME --role read|deploy|admin)")
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: calls with it get 401 from now on",
		Long: `Revoke the token NAME: every call with it is refused (401, saying it was revoked) from
now on, and the name is free for a new token.`,
		Example: `  tend token revoke github-ci && tend token create github-ci --role deploy --apps shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s (role %s) revoked: calls with it get 401 from now on\n", t.Name, t.Role)
			return nil
		},
	}
}
