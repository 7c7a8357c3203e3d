package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
)

func newAnalysisCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "analysis APP",
		Short: "Show the canary analysis of an app's rollout: each check's numbers and the verdicts",
		Long: `Show the analysis steps of the app's current (or last) canary: the one running now and
every verdict, with each measurement's checks: the canary's value, the stable
revision's over the same window, the threshold, and the baseline comparison's class
(Pass, High, Low, NoData) and p-value (Mann–Whitney U on per-second samples).

A measurement "waiting" had too little canary traffic to judge and does not count;
"inconclusive" pauses the rollout; "fail" rolls it back (or pauses it with
analysis.onFailure: pause). Under a latency check that failed, the slowest canary
request of the minute before whose trace the gateway kept (its latency histogram's
exemplar): tend trace ID shows where the time went.`,
		Example: `  tend analysis hello
  tend analysis hello --all -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			s, err := c.Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			runs := s.Rollout.Verdicts
			if s.Rollout.Analysis != nil {
				runs = append(runs, *s.Rollout.Analysis)
			}
			examples := slowTraces(cmd, c, s.App, s.Rollout.To, runs)
			out := struct {
				App      string         `json:"app"`
				Revision int            `json:"revision"`
				Stable   int            `json:"stable"`
				Phase    v1.Phase       `json:"phase"`
				Runs     []v1.Verdict   `json:"runs"`
				Examples []exampleTrace `json:"slowTraces,omitempty"`
			}{s.App, s.Rollout.To, s.Rollout.From, s.Rollout.Phase, runs, examples}
			return render(cmd.OutOrStdout(), g.output, out, func(tw *table) {
				fmt.Fprintf(tw, "App:\t%s, canary revision %d against stable revision %d (%s)\n", s.App, s.Rollout.To, s.Rollout.From, s.Rollout.Phase)
				if len(runs) == 0 {
					fmt.Fprintln(tw, "\tno analysis in this rollout")
					return
				}
				for _, v := range runs {
					fmt.Fprintf(tw, "\nStep %d:\t%s %s\n", v.Step+1, v.Result, v.Message)
					ms := v.Measurements
					if !all && len(ms) > 0 {
						ms = ms[len(ms)-1:]
					}
					for _, m := range ms {
						score := ""
						if m.Score != nil {
							score = fmt.Sprintf(", baseline score %.0f", *m.Score)
						}
						fmt.Fprintf(tw, "  %s\t%s, %.0f canary requests (%d needed)%s: %s\n", m.At.Format(time.TimeOnly), m.Result, m.Requests, m.Needed, score, m.Message)
						if len(m.Checks) == 0 {
							continue
						}
						fmt.Fprintln(tw, "  CHECK\tRESULT\tCANARY\tSTABLE\tTHRESHOLD\tCLASS\tP\tWHY")
						for _, ck := range m.Checks {
							fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ck.Name, ck.Result, num(ck.Value), num(ck.Stable), ck.Threshold, ck.Class, num(ck.PValue), ck.Reason)
						}
						for _, e := range examples {
							if e.Step == v.Step && e.At.Equal(m.At) {
								fmt.Fprintf(tw, "  slow canary request:\t%s took %.3gs: tend trace %s\n", e.Check, e.Seconds, e.TraceID)
							}
						}
					}
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show every measurement, not only the last of each analysis")
	addOutputFlag(cmd, g)
	return cmd
}

// exampleTrace is, for a latency check that failed, the slowest canary request the
// gateway kept a trace of in the minute before the measurement.
type exampleTrace struct {
	Step    int       `json:"step"`
	At      time.Time `json:"at"`
	Check   string    `json:"check"`
	TraceID string    `json:"traceId"`
	Seconds float64   `json:"seconds"`
}

// slowTraces finds, from the gateway's latency exemplars, an example slow trace of the
// canary for every failed latency check (none when the server kept none).
func slowTraces(cmd *cobra.Command, c *api.Client, app string, canary int, runs []v1.Verdict) []exampleTrace {
	var out []exampleTrace
	for _, v := range runs {
		for _, m := range v.Measurements {
			for _, ck := range m.Checks {
				if ck.Result != v1.CheckFail || !strings.Contains(ck.Name, "latency") {
					continue
				}
				e, ok, err := c.SlowestExemplar(cmd.Context(), app, canary, m.At.Add(-time.Minute), m.At.Add(time.Second))
				if err == nil && ok {
					out = append(out, exampleTrace{Step: v.Step, At: m.At, Check: ck.Name, TraceID: e.TraceID, Seconds: e.Seconds})
				}
			}
		}
	}
	return out
}

func num(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}
