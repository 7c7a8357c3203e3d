package cli

import (
	"context"
	"errors"
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
	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/upload"
)

func newDeployCmd(g *globals) *cobra.Command {
	var file, where string
	var opts deployOptions
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "deploy -f FILE",
		Short: "Build an app from its tend.yaml and roll the new revision out",
		Long: `Validate the spec, build the artifact (go build with version injection, or copy
build.binary), record a revision and roll it out with the spec's strategy.

The server builds from what this command sends, never from paths on its own disk, so
the server may be on another machine: for build.main the Go module's source (the files
git ls-files lists, tracked and untracked but not ignored; outside git every file minus
those .gitignore names; with the modules go.mod replaces by local directories), for
build.binary the executable, and the spec with its rule, config and certificate files,
as one upload named by the digest of its files (at most 256 MiB and 50000 files). When
the server has that digest already, nothing is sent. The client's git commit and
git describe become the revision's commit and version (build.version overrides it).

--build local builds build.main here instead, for the platform the server runs (it
says which: GOOS and GOARCH), statically (CGO_ENABLED=0), with the same version
injection, and uploads the executable with the spec's files instead of the source.
It needs Go here; the default needs none.

Build output and rollout progress stream to the terminal; on a terminal the go build
is one line with the time it takes (-v prints the whole command). deploy exits 0 when the
new revision serves, 2 when the rollout failed or was rolled back, 3 when it waits
for ` + "`tend promote`" + `, 4 when the spec is invalid (nothing changes). The same source and
configuration give the same revision: deploying it again changes nothing.

--dry-run does everything up to the rollout (upload, checks, build) and prints the
revision it would roll out and what would change, recording nothing (exit 0, or 4 for
an invalid spec); tend diff does the same with exit codes for scripts.`,
		Example: `  tend deploy -f tend.yaml
  tend deploy -f tend.yaml --detach && tend status hello
  tend deploy -f tend.yaml --build local           # go build here, upload the executable
  tend deploy -f tend.yaml --dry-run               # what would change; nothing does
  TEND_API=https://tend.example.com:7070 TEND_TOKEN=$DEPLOY_TOKEN tend deploy -f deploy/tend.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if where != "server" && where != "local" {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--build %q: want server (the server builds the uploaded source) or local (build here, upload the executable)", where)}
			}
			opts.Local, opts.Format = where == "local", g.output
			if dryRun {
				_, err := plan(cmd.Context(), c, file, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
				return err
			}
			return deploy(cmd.Context(), c, file, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	cmd.Flags().BoolVar(&opts.Detach, "detach", false, "return once the rollout has started")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "print the build's commands whole")
	cmd.Flags().StringVarP(&g.output, "output", "o", "table", "table: progress as lines; json, yaml, jsonpath= or go-template=: progress on stderr and the outcome (app, revision, phase, message, exitCode) on stdout at the end")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "upload, check and build, then say what would change; record nothing")
	cmd.Flags().StringVar(&where, "build", "server", "where build.main is built: server (from the uploaded source) or local (here, for the server's platform; only the executable goes up)")
	return cmd
}

// deployOptions are how tend deploy, diff and up send a spec and follow its rollout.
type deployOptions struct {
	Local   bool   // build build.main here (--build local)
	Detach  bool   // return once the rollout has started
	Verbose bool   // print build commands whole, not as a live line
	Format  string // table, json or yaml
}

// deployOutcome is what `tend deploy -o json|yaml` prints when it ends: the revision,
// and the rollout's phase and message as it ended (or as it was when detached).
type deployOutcome struct {
	App       string   `json:"app"`
	Revision  int      `json:"revision"`
	Created   bool     `json:"created"`
	Unchanged bool     `json:"unchanged"`
	Phase     v1.Phase `json:"phase,omitempty"`
	Message   string   `json:"message,omitempty"`
	// ExitCode is the code tend deploy exits with: 0 serves, 2 failed or rolled back, 3 paused.
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}

// deploy uploads what the spec needs (unless the server has it), sends the spec,
// streams the build, then follows the rollout unless detached. With format json or
// yaml the progress goes to errw and the outcome is printed to out at the end.
func deploy(ctx context.Context, c *api.Client, file string, opts deployOptions, out, errw io.Writer) error {
	format := opts.Format
	if err := checkFormat(format); err != nil {
		return err
	}
	machine := machineFormat(format)
	progress := out
	if machine {
		progress = errw
	}
	res, err := send(ctx, c, file, opts, false, errw)
	if err != nil {
		return err
	}
	app, rev := res.Revision.App, res.Revision.Number
	outcome := deployOutcome{App: app, Revision: rev, Created: res.Created, Unchanged: res.Unchanged}
	switch {
	case res.Unchanged:
		fmt.Fprintf(progress, "%s revision %d already serves; nothing to roll out\n", app, rev)
	case res.Created:
		fmt.Fprintf(progress, "%s revision %d (%s, artifact %.19s) is rolling out\n", app, rev, res.Revision.Version, res.Revision.Artifact)
	default:
		fmt.Fprintf(progress, "%s revision %d (same artifact and configuration as before) is rolling out\n", app, rev)
	}
	if !res.Unchanged && !opts.Detach {
		var final v1.Rollout
		final, err = followState(ctx, c, app, rev, progress)
		outcome.Phase, outcome.Message = final.Phase, final.Message
		if err == nil {
			fmt.Fprintf(progress, "%s revision %d serves\n", app, rev)
		}
	}
	if !machine {
		return err
	}
	if err != nil {
		outcome.ExitCode, outcome.Error = exitError, err.Error()
		var ec *exitCodeError
		if errors.As(err, &ec) {
			outcome.ExitCode = ec.code
		}
	}
	if rerr := render(out, format, outcome, nil); rerr != nil {
		return rerr
	}
	return err
}

// send reads the spec at file, uploads what it needs and sends the deploy (a dry run
// with dryRun), streaming the build's output to errw.
func send(ctx context.Context, c *api.Client, file string, opts deployOptions, dryRun bool, errw io.Writer) (v1.DeployResult, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return v1.DeployResult{}, err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return v1.DeployResult{}, &exitCodeError{code: exitInvalid, err: fmt.Errorf("read spec: %w", err)}
	}
	req := v1.DeployRequest{File: abs, Source: string(src), DryRun: dryRun}
	view := newBuildView(errw, opts.Verbose)
	defer view.close()
	if err := sendUpload(ctx, c, abs, opts.Local, &req, view, errw); err != nil {
		return v1.DeployResult{}, err
	}
	return c.Deploy(ctx, req, view.line)
}

// plan sends a dry run of the deploy of file and prints what it would change.
func plan(ctx context.Context, c *api.Client, file string, opts deployOptions, out, errw io.Writer) (v1.DeployResult, error) {
	res, err := send(ctx, c, file, opts, true, errw)
	if err != nil {
		return res, err
	}
	app := res.Revision.App
	switch {
	case len(res.Changes) == 0:
		fmt.Fprintf(out, "%s: no change: revision %d serves what the spec, its files and its secrets make\n", app, res.Serving)
		return res, nil
	case res.Created:
		fmt.Fprintf(out, "%s: a deploy would make a new revision (artifact %.19s) and roll it out", app, res.Revision.Artifact)
	case res.Unchanged:
		fmt.Fprintf(out, "%s: a deploy would keep revision %d and change the app", app, res.Revision.Number)
	default:
		fmt.Fprintf(out, "%s: a deploy would roll out revision %d again", app, res.Revision.Number)
	}
	if res.Serving != 0 {
		fmt.Fprintf(out, " in place of revision %d", res.Serving)
	}
	fmt.Fprintln(out, ":")
	for _, ch := range res.Changes {
		fmt.Fprintf(out, "  %s\n", ch)
	}
	return res, nil
}

// sendUpload collects the files the spec at file needs and sends them, unless the
// server has them already (the same files give the same digest), then names the upload
// in req. A spec that does not parse is refused here, as the server would refuse it.
func sendUpload(ctx context.Context, c *api.Client, file string, local bool, req *v1.DeployRequest, view *buildView, errw io.Writer) error {
	app, err := spec.Parse(file, []byte(req.Source))
	if err != nil {
		return &exitCodeError{code: exitInvalid, err: err}
	}
	app.File, app.Dir = file, filepath.Dir(file)
	var commit, describe string
	if local && app.Build.Main != "" {
		dir := app.Path(app.Build.Main)
		commit, describe = build.GitCommit(ctx, dir), build.GitDescribe(ctx, dir)
		bin, err := buildLocally(ctx, c, app, view)
		if err != nil {
			return err
		}
		app.Build.Main, app.Build.Binary, req.Binary = "", bin, bin
	}
	b, err := upload.Collect(ctx, app)
	if err != nil {
		return &exitCodeError{code: exitInvalid, err: err}
	}
	req.Upload, req.Commit, req.Describe = b.Digest, b.Commit, b.Describe
	if req.Binary != "" {
		req.Commit, req.Describe = commit, describe
	}
	have, err := c.HasUpload(ctx, b.Digest)
	if err != nil {
		return fmt.Errorf("ask the server for upload %.12s: %w", b.Digest, err)
	}
	if have {
		fmt.Fprintf(errw, "upload: %d files (%s), unchanged since the last upload: nothing sent\n", len(b.Files), humanBytes(b.Size))
		return nil
	}
	start := time.Now()
	var sent int64
	for wait := 2 * time.Second; ; wait *= 2 {
		_, err = c.PutUpload(ctx, b.Digest, func(w io.Writer) error {
			n, err := b.WriteTo(w)
			sent = n
			return err
		})
		// the server takes a few uploads at once: the others wait their turn (a minute at most)
		var busy *api.Error
		if !errors.As(err, &busy) || busy.Code != http.StatusTooManyRequests || !strings.Contains(busy.Message, "in progress") || wait > 32*time.Second {
			break
		}
		fmt.Fprintf(errw, "upload: the server is busy with other uploads; trying again in %s\n", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("upload the files of %s: %w", app.App, err)
	}
	fmt.Fprintf(errw, "upload: %d files (%s, %s compressed) sent in %s\n", len(b.Files), humanBytes(b.Size), humanBytes(sent), time.Since(start).Round(time.Millisecond))
	return nil
}

// humanBytes writes n as KiB or MiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
