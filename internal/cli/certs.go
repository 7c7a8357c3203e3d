package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newCertsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Show the gateway's TLS certificates: host, issuer, expiry, renewal, last error",
		Long: `Show the certificates the gateway serves over HTTPS (tend server --https), one per
host of every app whose route has tls:

  STATE    valid, pending (not obtained yet), failing (the last attempt failed: a valid
           certificate is still served until it expires), expired, or unclaimed (no
           route has the host any more: kept a week, not served, so that a rollback and
           a redeploy order nothing)
  SOURCE   acme (from the ACME CA, renewed by tend two thirds into its lifetime) or file
           (route.tls.cert and key, reloaded when the files change)
  RENEW    when tend next orders a new one (after a failure: the retry, with backoff)

tend_certificate_expiry_seconds{host} and the built-in alerts CertificateExpiresSoon
(under 14 days left) and CertificateRenewalFailing watch them.`,
		Example: `  tend certs
  tend certs -o json | jq '.[] | select(.state != "valid")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			certs, err := c.Certificates(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			return render(cmd.OutOrStdout(), g.output, certs, func(tw *table) {
				fmt.Fprintln(tw, "HOST\tAPP\tSTATE\tSOURCE\tISSUER\tEXPIRES\tRENEW\tLAST ERROR")
				for _, c := range certs {
					expires, renew := "-", "-"
					if !c.NotAfter.IsZero() {
						expires = fmt.Sprintf("%s (in %s)", c.NotAfter.Local().Format(time.DateTime), approx(c.NotAfter.Sub(now)))
					}
					if !c.RenewAt.IsZero() {
						renew = "in " + approx(c.RenewAt.Sub(now))
					}
					issuer, lastErr := orDash(c.Issuer), orDash(c.LastError)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Host, c.App, c.State, c.Source, issuer, expires, renew, lastErr)
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

// orDash is s, or "-" for an empty column.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// approx is a duration as a person reads it: 89d, 5h, 12m, 40s.
func approx(d time.Duration) string {
	switch {
	case d <= 0:
		return "now"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
