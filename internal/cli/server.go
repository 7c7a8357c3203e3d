package cli

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/daemon"
)

// serverFlags are shared by `tend server` and `tend up`.
type serverFlags struct {
	api, gateway, etcd string
	keepInstances      bool
	accessLog          bool
	logLevel           string
}

func (f *serverFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.api, "api", "127.0.0.1:7070", "address of the HTTP API")
	cmd.Flags().StringVar(&f.gateway, "gateway", "127.0.0.1:8080", "address the gateway serves apps on")
	cmd.Flags().StringVar(&f.etcd, "etcd-endpoints", "", "comma-separated external etcd endpoints (default: embedded etcd in the data dir)")
	cmd.Flags().BoolVar(&f.keepInstances, "keep-instances", false, "leave instances running when the server stops; the next server on this data dir re-adopts them")
	cmd.Flags().BoolVar(&f.accessLog, "access-log", false, "log every gateway request as a JSON line")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "server log level: debug, info, warn or error")
}

func (f *serverFlags) config(dataDir string) daemon.Config {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(f.logLevel))
	cfg := daemon.Config{DataDir: dataDir, APIAddr: f.api, GatewayAddr: f.gateway, KeepInstances: f.keepInstances,
		Version: version(), AccessLog: f.accessLog,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))}
	if f.etcd != "" {
		cfg.EtcdEndpoints = strings.Split(f.etcd, ",")
	}
	return cfg
}

func newServerCmd(g *globals) *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the tend server: API, gateway, runtime and embedded etcd",
		Long: `Run the tend server in the foreground. It keeps its state in the data dir (--data):
an embedded etcd, build artifacts, instance logs and the API token (DATA/token,
created on first start, mode 0600).

On SIGINT or SIGTERM it stops its instances gracefully (drain, SIGTERM, grace period)
unless --keep-instances is set. If the server crashes, instances keep running and the
next server on the same data dir re-adopts them.`,
		Example: `  tend server --data /var/lib/tend --gateway 0.0.0.0:80
  tend server --etcd-endpoints http://10.0.0.5:2379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemon.Run(cmd.Context(), f.config(g.dataDir), func(i daemon.Info) {
				cmd.PrintErrf("tend server: API %s, gateway %s, data %s\n", i.API, i.Gateway, i.DataDir)
				cmd.PrintErrf("dashboard: %s/ (`tend dashboard` prints a link with the token)\n", i.API)
			})
		},
	}
	f.add(cmd)
	cmd.Flags().Lookup("api").Usage = "address of the HTTP API (clients: set TEND_API)"
	return cmd
}
