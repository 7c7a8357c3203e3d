// Package cli implements the tend command line: one cobra command per file.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/kit/buildinfo"
)

// Exit codes that scripts can rely on.
const (
	exitOK            = 0
	exitError         = 1 // anything else: the server is unreachable, a command failed
	exitRolloutFailed = 2 // the rollout failed, was rolled back or aborted
	exitPaused        = 3 // the rollout waits for `tend promote`
	exitInvalid       = 4 // the spec or the request is invalid; nothing changed
)

// exitError carries an exit code through cobra.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// Version is set at build time with -ldflags "-X github.com/tendhq/tend/internal/cli.Version=...";
// otherwise it comes from the Go toolchain's VCS stamp.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	i := buildinfo.Get()
	if i.Version == "unknown" && i.Commit != "unknown" {
		return "commit " + i.Commit
	}
	return i.Version
}

// globals are the flags every client command shares.
type globals struct {
	api    string
	token  string
	caFile string
	// tlsServerName is the name an https:// API's certificate is verified for
	tlsServerName string
	context       string
	dataDir       string
	output        string
}

// Execute runs the tend command line and exits with its code.
func Execute() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRoot()
	err := root.ExecuteContext(ctx)
	stop()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "tend:", err)
	var ec *exitCodeError
	if errors.As(err, &ec) {
		os.Exit(ec.code)
	}
	var ae *api.Error
	if errors.As(err, &ae) && (ae.Code == 400 || ae.Code == 404) {
		os.Exit(exitInvalid)
	}
	os.Exit(exitError)
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "tend",
		Short: "Deploy, route, watch and heal Go services",
		Long: `tend deploys Go services from a tend.yaml, runs their instances behind its gateway,
replaces them with new revisions (rolling, blue-green or canary) without dropping a
request, and rolls back in an instant.

Start with:
  tend demo                      a guided tour on a temporary data dir
  tend server                    run the server (API on 127.0.0.1:7070, gateway on 127.0.0.1:8080)
  tend deploy -f tend.yaml       build and roll out an app
  tend status                    what runs, and how the rollouts stand
  tend dashboard                 a link to the live dashboard in your browser
  tend incidents                 what is on fire, and what tend did about it

Client commands find the server through --api or TEND_API and the token through --token
or TEND_TOKEN; else through a context (tend context --help: a remote server's URL and
token, kept in ~/.config/tend/config.yaml); else through the data dir: the address the
server recorded there (else http://127.0.0.1:7070) and DATA/token.

Exit codes: 0 done; 1 error; 2 rollout failed, rolled back or aborted;
3 rollout paused waiting for ` + "`tend promote`" + `; 4 invalid spec or request (nothing changed).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.api, "api", "", "tend server API URL (env TEND_API; default: the context's, else the data dir's)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API token (env TEND_TOKEN; default: the context's, else the token file in the data dir)")
	root.PersistentFlags().StringVar(&g.tlsServerName, "tls-server-name", "", "the name an https:// API's certificate is verified for, when the API URL's host is not one of its names (env TEND_TLS_SERVER_NAME; default: the context's, or DATA/api-server-name for the data dir's server)")
	root.PersistentFlags().StringVar(&g.caFile, "ca-file", "", "PEM file of the CA an https:// API's certificate is verified against instead of the system's roots (env TEND_CA_FILE; default: the context's)")
	root.PersistentFlags().StringVar(&g.context, "context", "", "the context (tend context list) to reach the server with (env TEND_CONTEXT; default: the current one)")
	root.PersistentFlags().StringVar(&g.dataDir, "data", DefaultDataDir(), "tend data directory")
	root.AddCommand(
		newInitCmd(g),
		newServerCmd(g), newUpCmd(g), newDemoCmd(g), newDeployCmd(g), newDiffCmd(g), newStatusCmd(g), newRolloutCmd(g), newHistoryCmd(g), newAutoscaleCmd(g),
		newRollbackCmd(g), newPromoteCmd(g), newAbortCmd(g), newPauseCmd(g), newResumeCmd(g), newMaintenanceCmd(g),
		newScaleCmd(g), newDeleteCmd(g), newRestartCmd(g), newLogsCmd(g), newRoutesCmd(g), newCertsCmd(g), newDashboardCmd(g), newQueryCmd(g), newAnalysisCmd(g),
		newBuildCmd(g), newExportCmd(g), newAlertsCmd(g), newIncidentsCmd(g), newIncidentCmd(g), newTracesCmd(g), newTraceCmd(g), newRunbooksCmd(g), newRemediationCmd(g), newVersionCmd(g), newGatewayCmd(g), newSecretCmd(g), newContextCmd(g), newTokenCmd(g), newAuditCmd(g), newBackupCmd(g), newBackupFilesDumpCmd(),
	)
	completeFromServer(root, g)
	return root
}

// DefaultDataDir is $TEND_DATA, else $XDG_DATA_HOME/tend, else ~/.local/share/tend; for
// root it is /var/lib/tend, where instances running as their own users can reach their
// working dirs (root's home is closed to them), unless ~/.local/share/tend already exists.
func DefaultDataDir() string {
	if d := os.Getenv("TEND_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tend")
	}
	if h, err := os.UserHomeDir(); err == nil {
		d := filepath.Join(h, ".local", "share", "tend")
		if _, err := os.Stat(d); err != nil && os.Geteuid() == 0 {
			return "/var/lib/tend"
		}
		return d
	}
	return ".tend"
}

// client builds an API client from flags, environment, the CLI's contexts and the data
// dir, in the order of target; warnings about the files it read go to stderr.
func (g *globals) client() (*api.Client, error) {
	t, err := g.target()
	if err != nil {
		return nil, err
	}
	for _, w := range t.warnings {
		fmt.Fprintln(os.Stderr, "tend: warning:", w)
	}
	c := &api.Client{Base: t.api, Token: t.token, TokenFrom: t.tokenFrom}
	if t.caFile != "" {
		c.Trust = fmt.Sprintf("the CA file %s (from %s)", t.caFile, t.caFrom)
	}
	if t.serverName != "" {
		c.Trust += fmt.Sprintf(" for the name %s (from %s)", t.serverName, t.serverNameFrom)
	}
	if c.HTTP, err = api.NewHTTPClient(t.caFile, t.serverName); err != nil {
		return nil, fmt.Errorf("the CA file from %s: %w", t.caFrom, err)
	}
	return c, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
