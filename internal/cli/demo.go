package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/daemon"
)

func newDemoCmd(g *globals) *cobra.Command {
	f := &serverFlags{}
	var exit bool
	var source string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A guided tour: deploy examples/hello, roll a canary, roll back (temporary data dir)",
		Long: `Start a tend server on a temporary data dir, deploy examples/hello with 3 instances,
roll out a second revision as a canary with visible progress, roll it back, and say
what to try next. The server keeps serving until Ctrl-C (or ends with --exit).
Run it from the tend repository (it builds ./examples/hello).`,
		Example: `  go run ./cmd/tend demo
  go run ./cmd/tend demo --gateway 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), f, source, exit, cmd.OutOrStdout())
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&exit, "exit", false, "stop after the tour instead of serving until Ctrl-C")
	cmd.Flags().StringVar(&source, "source", "examples/hello", "the Go main package to deploy")
	return cmd
}

func runDemo(ctx context.Context, f *serverFlags, source string, exit bool, out io.Writer) error {
	src, err := filepath.Abs(source)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		return fmt.Errorf("demo needs the hello example at %s: run it from the tend repository or pass --source (%w)", src, err)
	}
	dir, err := os.MkdirTemp("", "tend-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// instances running as users of their own (tend as root) enter the data dir in it
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	step := func(format string, a ...any) { fmt.Fprintf(out, "\n==> "+format+"\n", a...) }

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, err := f.config(filepath.Join(dir, "data"))
	if err != nil {
		return &exitCodeError{code: exitInvalid, err: err}
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cfg.Logger = newFileLogger(logf)
	started := make(chan daemon.Info, 1)
	done := make(chan error, 1)
	step("starting a tend server on %s (its log: %s)", cfg.DataDir, logf.Name())
	go func() { done <- daemon.Run(ctx, cfg, func(i daemon.Info) { started <- i }) }()
	var info daemon.Info
	select {
	case err := <-done:
		return err
	case info = <-started:
	}
	tourErr := tour(ctx, info, src, dir, exit, out, step)
	if tourErr != nil || exit {
		cancel()
	} else {
		fmt.Fprintln(out, "\ntend keeps serving; Ctrl-C stops it and removes the temporary data dir")
	}
	// the server stops its instances before Run returns
	if err := <-done; tourErr == nil {
		tourErr = err
	}
	return tourErr
}

// tour deploys hello, rolls a canary and rolls it back on a running server.
func tour(ctx context.Context, info daemon.Info, src, dir string, exit bool, out io.Writer, step func(string, ...any)) error {
	began := time.Now()
	c := &api.Client{Base: info.API, Token: info.Token}
	spec := filepath.Join(dir, "tend.yaml")
	write := func(release string) error {
		y := fmt.Sprintf(`app: hello
build: {main: %s}
instances: 3
env: {DEMO_RELEASE: "%s"}
health:
  readiness: {http: /ready, interval: 500ms, timeout: 400ms}
  liveness: {http: /health, interval: 2s}
shutdown: {grace: 5s, drain: 1s}
strategy:
  canary:
    steps: [{weight: 34}, {pause: 3s}, {weight: 67}, {pause: 3s}]
  rollbackWindow: 10m
`, src, release)
		return os.WriteFile(spec, []byte(y), 0o644)
	}
	if err := write("1"); err != nil {
		return err
	}
	step("deploying examples/hello (3 instances); first build takes a few seconds")
	if err := deploy(ctx, c, spec, deployOptions{}, out, io.Discard); err != nil {
		return err
	}
	step("it answers at %s:", info.Gateway)
	sample(ctx, out, info.Gateway, 3)
	if err := write("2"); err != nil {
		return err
	}
	step("rolling out revision 2 as a canary: 34%% → pause → 67%% → pause → 100%%")
	if err := deploy(ctx, c, spec, deployOptions{}, out, io.Discard); err != nil {
		return err
	}
	sample(ctx, out, info.Gateway, 3)
	step("rolling back: revision 1 is still warm, so this is a route switch")
	res, err := c.Action(ctx, "hello", "rollback", v1.ActionRequest{})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res.Message)
	if err := follow(ctx, c, "hello", res.Revision, out); err != nil {
		return err
	}
	sample(ctx, out, info.Gateway, 3)
	if exit {
		step("what happened, in %s:", time.Since(began).Round(time.Second))
		fmt.Fprintf(out, `  tend built examples/hello and served revision 1 with 3 instances behind its gateway;
  it rolled out revision 2 as a canary (34%%, 67%%, then all traffic), each step after a pause,
  and rolled back to revision 1 by a route switch, its instances still warm.
  The server is stopping now and the temporary data dir goes with it.
  To keep one running: go run ./cmd/tend demo (without --exit), or tend server for a lasting one.
`)
		return nil
	}
	step("try next (in another terminal):")
	fmt.Fprintf(out, `  open the dashboard: %s
  export TEND_API=%s TEND_TOKEN=%s
  go run ./cmd/tend status hello
  go run ./cmd/tend history hello
  go run ./cmd/tend logs hello -f
  go run ./cmd/tend query 'sum by (revision) (rate(tend_gateway_requests_total{app="hello"}[1m]))'
  curl %s/
  edit %s and: go run ./cmd/tend deploy -f %s
  (to see tend roll back a bad canary by itself, set in that file
     env: {FAULT_ERROR_RATE: "0.05"}
     steps: [{weight: 10}, {analysis: {load: {rps: 20, path: /}}}]
   deploy it, then: go run ./cmd/tend analysis hello)
  (to see an alert open an incident: set env: {FAULT_ERROR_RATE: "0.5"}, deploy it
   while curl runs in a loop, and within about 20s the built-in HighErrorRate fires:
   go run ./cmd/tend alerts; go run ./cmd/tend incidents)
`, DashboardURL(info.API, info.Token), info.API, info.Token, info.Gateway, spec, spec)
	return nil
}

// sample prints a few answers from the gateway.
func sample(ctx context.Context, out io.Writer, base string, n int) {
	cl := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < n; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		resp, err := cl.Do(req)
		if err != nil {
			fmt.Fprintln(out, "  error:", err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(out, "  %d %s\n", resp.StatusCode, strings.TrimSpace(string(b)))
	}
}
