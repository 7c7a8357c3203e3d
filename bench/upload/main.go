// Command upload measures what deploying from a client costs: `tend deploy` of
// examples/hello, which uploads the module's source for the server to build, against a
// deploy that builds from the same files on the server's disk (POST /v1/deploy without
// an upload, what every deploy was before uploads), on one tend server.
//
//	go run ./bench/upload -runs 3
//
// Each run deploys a spec of its own (a release the server has not built), then the same
// spec again (nothing to upload or build), then a one-variable change of the spec (a new
// upload, the artifact reused). It prints a Markdown table of medians; bench/run.sh puts
// it in docs/BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
)

func main() {
	runs := flag.Int("runs", 3, "runs of each row (the median is shown)")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Stdout, *root, *runs); err != nil {
		log.Error("upload bench", "err", err)
		os.Exit(1)
	}
}

// row is one kind of deploy, measured both ways.
type row struct {
	name           string
	upload, shared []time.Duration
	sent           []string // what the upload said it sent
}

var sentRE = regexp.MustCompile(`upload: (.*)`)

func run(w io.Writer, root string, runs int) error {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return err
	}
	defer ws.Close()
	s, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: filepath.Join(ws.Dir, "data")})
	if err != nil {
		return err
	}
	defer s.Stop()
	defer s.KillGateway()
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		return err
	}
	c := &api.Client{Base: "http://" + s.API, Token: strings.TrimSpace(string(token))}
	rows := []*row{{name: "a new version (link, compiled packages cached)"}, {name: "the same spec again"}, {name: "one env var changed (artifact reused)"}}
	for i := range runs {
		for _, how := range []string{"upload", "shared"} {
			// each run and way deploys releases nobody built yet: build cost is in the first row
			release := fmt.Sprintf("%s-%d-%d", how, i, time.Now().UnixNano())
			// build.version is in the artifact: a new one is a new link (go's cache keeps the compiled packages)
			first := strings.Replace(harness.HelloSpec(ws.Hello, 1, release, harness.Rolling), "build: {main: "+ws.Hello+"}",
				"build: {main: "+ws.Hello+", version: "+release+"}", 1)
			specs := []string{first, first, strings.Replace(first, `env: {RELEASE: "`+release+`"}`, `env: {RELEASE: "`+release+`", EXTRA: "1"}`, 1)}
			for j, body := range specs {
				file := filepath.Join(ws.Dir, fmt.Sprintf("%s-%d-%d.yaml", how, i, j))
				if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
					return err
				}
				if j == 1 {
					file = filepath.Join(ws.Dir, fmt.Sprintf("%s-%d-0.yaml", how, i)) // the very same file
				}
				took, out, err := deploy(s, c, how, file)
				if err != nil {
					return fmt.Errorf("%s deploy %d of run %d: %w\n%s", how, j, i, err, out)
				}
				if how == "upload" {
					rows[j].upload = append(rows[j].upload, took)
					if m := sentRE.FindStringSubmatch(out); m != nil {
						rows[j].sent = append(rows[j].sent, m[1])
					}
				} else {
					rows[j].shared = append(rows[j].shared, took)
				}
			}
		}
	}
	fmt.Fprintf(w, "examples/hello (its module is this repository: what `git ls-files` lists) deployed with one instance, rolling, to one `tend server` on this machine; median of %d runs, from the command to the new revision serving. *Upload* is `tend deploy`; *server's disk* is the same spec sent with `POST /v1/deploy` and no upload, building from the files where they are.\n\n", runs)
	fmt.Fprintln(w, "| deploy | tend deploy (upload) | server's disk | upload overhead | what the upload sent (last run) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|")
	for _, r := range rows {
		u, d := median(r.upload), median(r.shared)
		sent := "—"
		if len(r.sent) > 0 {
			sent = r.sent[len(r.sent)-1]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %+.0f ms | %s |\n", r.name, u.Round(time.Millisecond), d.Round(time.Millisecond), float64(u-d)/float64(time.Millisecond), sent)
	}
	return nil
}

// deploy runs one deploy to the end of its rollout and returns how long it took.
func deploy(s *harness.Server, c *api.Client, how, file string) (time.Duration, string, error) {
	start := time.Now()
	// a rollout's end is polled every 20 ms: the CLI follows a stream, which is at least as quick
	if how == "upload" {
		out, err := s.Tend("deploy", "-f", file)
		return time.Since(start), out, err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := c.Deploy(ctx, v1.DeployRequest{File: file, Source: string(src)}, func(string) {})
	if err != nil {
		return 0, "", err
	}
	if res.Unchanged {
		return time.Since(start), "", nil
	}
	for {
		st, err := c.Status(ctx, "hello")
		if err != nil {
			return 0, "", err
		}
		if r := st.Rollout; r.Phase.Terminal() {
			if r.Stable != res.Revision.Number {
				return 0, "", fmt.Errorf("rollout to revision %d ended %s", res.Revision.Number, r.Phase)
			}
			return time.Since(start), "", nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
