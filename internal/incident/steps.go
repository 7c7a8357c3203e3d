package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxOutput bounds what a step keeps of a command's output or a webhook's answer.
const maxOutput = 4 << 10

// changes reports whether the step changes the app (and so counts against the hourly
// limit and waits for rollouts); profiles and webhooks only look or tell.
func (s Step) changes() bool {
	return s.Rollback != nil || s.Restart != nil || s.Scale != nil || s.Command != nil
}

// describe says what the step does, in words, for the timeline.
func (s Step) Describe(app string, labels map[string]string) string {
	switch {
	case s.Rollback != nil:
		return "roll " + app + " back to its last good revision"
	case s.Restart != nil && s.Restart.Instance:
		return "restart instance " + cmpOr(labels["instance"], "(the alert names none)") + " of " + app
	case s.Restart != nil:
		return "restart every instance of " + app + ", one at a time"
	case s.Scale != nil && s.Scale.To != 0:
		return fmt.Sprintf("scale %s to %d instances", app, s.Scale.To)
	case s.Scale != nil:
		return fmt.Sprintf("scale %s by %+d instances", app, s.Scale.By)
	case s.Profile != nil:
		var what []string
		if s.Profile.CPU > 0 {
			what = append(what, "CPU for "+s.Profile.CPU.String())
		}
		if s.Profile.Heap {
			what = append(what, "heap")
		}
		if s.Profile.Goroutines {
			what = append(what, "goroutines")
		}
		return "capture profiles (" + strings.Join(what, ", ") + ") of " + cmpOr(labels["instance"], "every instance of "+app)
	case s.Command != nil:
		return "run " + strings.Join(s.Command.Argv, " ")
	case s.Webhook != nil:
		return "call " + s.Webhook.URL
	}
	return "nothing"
}

// execute runs one step; it returns what to show in the timeline.
func (m *Manager) execute(ctx context.Context, id int, app string, a Alert, s Step) (string, []string, error) {
	switch {
	case s.Rollback != nil:
		rev, err := m.o.Actions.Rollback(ctx, app)
		if err != nil {
			return "", nil, err
		}
		return "revision " + strconv.Itoa(rev) + " serves " + app + " again", nil, nil
	case s.Restart != nil && s.Restart.Instance:
		inst := a.Labels["instance"]
		if inst == "" {
			return "", nil, errors.New("the alert has no instance label: use restart: {} for every instance")
		}
		return "", nil, m.o.Actions.RestartInstance(ctx, app, inst)
	case s.Restart != nil:
		return "", nil, m.o.Actions.Restart(ctx, app)
	case s.Scale != nil:
		n, err := m.o.Actions.Scale(ctx, app, s.Scale.To, s.Scale.By)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("%s scales to %d instances", app, n), nil, nil
	case s.Profile != nil:
		return m.profile(ctx, id, app, a, *s.Profile)
	case s.Command != nil:
		return command(ctx, id, app, a, *s.Command)
	case s.Webhook != nil:
		in, err := m.Get(ctx, id)
		if err != nil {
			return "", nil, err
		}
		out, err := m.post(ctx, s.Webhook.URL, in)
		return out, nil, err
	}
	return "", nil, errors.New("a step with no action")
}

// command runs argv without a shell; TEND_INCIDENT, TEND_APP and the alert's labels
// (TEND_LABEL_<NAME>) are in its environment.
func command(ctx context.Context, id int, app string, a Alert, c CommandStep) (string, []string, error) {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = append(os.Environ(), "TEND_INCIDENT="+strconv.Itoa(id), "TEND_APP="+app)
	for k, v := range a.Labels {
		cmd.Env = append(cmd.Env, "TEND_LABEL_"+strings.ToUpper(k)+"="+v)
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	text := clip(string(out))
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		return text, nil, fmt.Errorf("could not run %s: %w", c.Argv[0], err)
	}
	if ctx.Err() != nil {
		return text, nil, fmt.Errorf("still running after its timeout: %w", ctx.Err())
	}
	if code != c.ExpectExit {
		return text, nil, fmt.Errorf("exit code %d, expected %d", code, c.ExpectExit)
	}
	if c.ExpectOutput != "" && !strings.Contains(string(out), c.ExpectOutput) {
		return text, nil, fmt.Errorf("output does not contain %q", c.ExpectOutput)
	}
	return text, nil, nil
}

// profile captures pprof profiles from instances' admin ports into DIR/ID/.
func (m *Manager) profile(ctx context.Context, id int, app string, a Alert, p ProfileStep) (string, []string, error) {
	var targets []Instance
	for _, in := range m.o.Actions.Instances(app) {
		if in.AdminAddr != "" && (a.Labels["instance"] == "" || a.Labels["instance"] == in.ID) {
			targets = append(targets, in)
		}
	}
	if len(targets) == 0 {
		return "", nil, fmt.Errorf("no instance of %s with an admin port to profile", app)
	}
	dir := filepath.Join(m.o.Dir, strconv.Itoa(id))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	var files, notes []string
	var errs []error
	stamp := time.Now().UTC().Format("20060102T150405")
	for _, in := range targets {
		var kinds [][2]string
		if p.CPU > 0 {
			kinds = append(kinds, [2]string{"cpu", "profile?seconds=" + strconv.Itoa(max(1, int(p.CPU.Seconds())))})
		}
		if p.Heap {
			kinds = append(kinds, [2]string{"heap", "heap"})
		}
		if p.Goroutines {
			kinds = append(kinds, [2]string{"goroutines", "goroutine"})
		}
		for _, k := range kinds {
			name := fmt.Sprintf("%s-%s-%s.pprof", in.ID, k[0], stamp)
			n, err := fetch(ctx, m.o.Client, "http://"+in.AdminAddr+"/debug/pprof/"+k[1], filepath.Join(dir, name))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", in.ID, k[0], err))
				continue
			}
			files = append(files, name)
			notes = append(notes, fmt.Sprintf("%s (%d bytes)", name, n))
		}
	}
	out := strings.Join(notes, "\n")
	if len(files) > 0 {
		out += "\nread with: go tool pprof " + filepath.Join(dir, files[0])
	}
	return out, files, errors.Join(errs...)
}

func fetch(ctx context.Context, c *http.Client, url, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	// a CPU profile takes its seconds: the client's own timeout must not cut it
	resp, err := (&http.Client{Transport: c.Transport}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// post sends v as JSON and expects a 2xx answer; it returns the answer's start.
func (m *Manager) post(ctx context.Context, url string, v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.o.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	out := resp.Status
	if t := strings.TrimSpace(string(b)); t != "" {
		out += ": " + clip(t)
	}
	if resp.StatusCode/100 != 2 {
		return out, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return out, nil
}

// Page is what an escalation webhook receives.
type Page struct {
	Policy   string   `json:"policy"`
	Level    int      `json:"level"` // 1 for the first level
	Incident Incident `json:"incident"`
}

// page sends level in.Level of policy p in the background and records the outcome; the
// caller holds m.mu.
func (m *Manager) page(ctx context.Context, in *Incident, p *Policy, now time.Time) {
	lvl := p.Levels[in.Level]
	pg := Page{Policy: p.Name, Level: in.Level + 1, Incident: *in}
	pg.Incident.Timeline = append([]Entry(nil), in.Timeline...)
	m.running.Add(1)
	go func() {
		defer m.running.Done()
		out, err := m.post(context.WithoutCancel(ctx), lvl.Webhook, pg)
		text := fmt.Sprintf("paged level %d of %q (%s): %s", pg.Level, p.Name, lvl.Webhook, out)
		if err != nil {
			text = fmt.Sprintf("paging level %d of %q (%s) failed: %v", pg.Level, p.Name, lvl.Webhook, err)
		}
		m.record(context.WithoutCancel(ctx), in.ID, Entry{Kind: KindNotified, Text: text})
	}()
	if pg.Level > 1 {
		in.add(now, KindEscalated, fmt.Sprintf("not acknowledged after %s: escalated to level %d", lvl.After, pg.Level))
	}
}

func clip(s string) string {
	if len(s) > maxOutput {
		return s[:maxOutput] + "…"
	}
	return s
}
