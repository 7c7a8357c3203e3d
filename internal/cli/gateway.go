package cli

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/gateway"
)

func newGatewayCmd(g *globals) *cobra.Command {
	var listen, https, logLevel, logFile string
	var accessLog bool
	var limits gateway.ServerOptions
	var tracing gateway.TraceOptions
	var previewFrom []string
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the gateway process: the data plane that serves apps (tend server starts it)",
		Long: `Run tend's gateway: the process that owns the apps' listening socket, routes each
request to an instance by the route table, balances, retries, ejects failing instances,
mirrors and drains. tend server starts one on its --gateway address (in a session of its
own, logging to DATA/gateway/gateway.log) and pushes it the whole routing whenever a
route or an instance changes, over the unix socket DATA/gateway/control.sock.

The gateway does not need the server to serve: when tend server stops with
--keep-instances, crashes or is killed, the gateway keeps its last routing (saved in
DATA/gateway/routing.json, so that it survives a gateway restart too) and serves it until
a server is back; tend_gateway_config_age_seconds says for how long it has been alone.
The next tend server on the data dir adopts the running gateway without a dropped
request, restarts it on the same socket within a second when it dies (connections wait
in the kernel's backlog meanwhile), and replaces it, on the same socket, after the tend
binary was upgraded.

You rarely run it by hand. To run it under systemd apart from the server, start it with
--listen (and --https; the server with the same --gateway and --https addresses): the server adopts it and
feeds it the routing, but leaves restarts, upgrades and stops to its own supervisor; a
server started with another --gateway address refuses to start and says which.`,
		Example: `  tend gateway --data /var/lib/tend --listen 0.0.0.0:80 --https 0.0.0.0:443
  curl --unix-socket /var/lib/tend/gateway/control.sock http://gateway/v1/info`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)}
			}
			dir, err := filepath.Abs(g.dataDir)
			if err != nil {
				return err
			}
			out := os.Stderr
			if logFile != "" {
				if out, err = os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
					return fmt.Errorf("--log-file: %w", err)
				}
				defer out.Close()
			}
			prefixes, err := parsePrefixes(previewFrom)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			if err := checkTracing(tracing); err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			return gateway.RunProcess(cmd.Context(), gateway.ProcessOptions{
				Dir: filepath.Join(dir, "gateway"), Listen: listen, ListenHTTPS: https, AccessLog: accessLog, Version: version(),
				Logger: slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lvl})), LogFile: logFile, Limits: limits, PreviewFrom: prefixes, Tracing: tracing,
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve apps on, when tend server did not hand the gateway its socket")
	cmd.Flags().StringVar(&https, "https", "", "address to serve HTTPS on (certificates come from tend server), when tend server did not hand the gateway its sockets")
	addLimitFlags(cmd, &limits, "")
	addTraceFlags(cmd, &tracing)
	cmd.Flags().StringArrayVar(&previewFrom, "preview-from", nil, "client addresses (CIDR) whose X-Tend-Preview: 1 reaches a revision not yet promoted without the rollout's token (repeatable)")
	cmd.Flags().BoolVar(&accessLog, "access-log", false, "log every request as a JSON line")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&logFile, "log-file", "", "write the log to this file (appended, rotated above 10 MiB, 3 kept) instead of stderr")
	return cmd
}

// addLimitFlags adds the gateway's client-side limits to cmd, each flag name prefixed
// (tend server's are --gateway-...); ServerOptions.Flags writes the unprefixed ones for
// the gateway processes tend server starts.
func addLimitFlags(cmd *cobra.Command, l *gateway.ServerOptions, prefix string) {
	cmd.Flags().DurationVar(&l.ReadHeaderTimeout, prefix+"read-header-timeout", gateway.DefaultReadHeaderTimeout, "how long a client has to send a request head (on a new connection, or once it started one)")
	cmd.Flags().DurationVar(&l.IdleTimeout, prefix+"idle-timeout", gateway.DefaultIdleTimeout, "how long a kept client connection may wait for its next request")
	cmd.Flags().IntVar(&l.MaxConns, prefix+"max-conns", gateway.DefaultMaxConns, "client connections the gateway holds at once; one more is closed at once (-1: no cap)")
	cmd.Flags().IntVar(&l.MaxConnsPerClient, prefix+"max-conns-per-client", gateway.DefaultMaxConnsPerClient, "client connections one client address may hold (-1: no cap)")
}

// addTraceFlags adds how the gateway traces requests to cmd (tend server's and tend
// gateway's flags are the same).
func addTraceFlags(cmd *cobra.Command, o *gateway.TraceOptions) {
	cmd.Flags().Float64Var(&o.SampleRatio, "trace-sample", gateway.DefaultTraceSample, "share of new traces (requests without a traceparent) the gateway samples, 0 to 1; the instances follow its decision")
	cmd.Flags().DurationVar(&o.Slow, "trace-slow", gateway.DefaultTraceSlow, "a request this slow keeps its gateway span even when not sampled, as a failed one always does (0: only failed ones)")
}

// checkTracing refuses a sample ratio out of 0..1 or a negative threshold.
func checkTracing(o gateway.TraceOptions) error {
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		return fmt.Errorf("--trace-sample %g: want a share between 0 and 1, like 0.1 for 10%%", o.SampleRatio)
	}
	if o.Slow < 0 {
		return fmt.Errorf("--trace-slow %s: want a duration like 1s, or 0 to keep only failed requests beyond the sample", o.Slow)
	}
	return nil
}

// parsePrefixes reads --preview-from values: CIDRs, or single addresses.
func parsePrefixes(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("--preview-from %q: want an address range like 10.1.0.0/16 or an address: %w", v, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
