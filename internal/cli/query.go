package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/monitor"
)

func newQueryCmd(g *globals) *cobra.Command {
	var at, rng string
	var step time.Duration
	cmd := &cobra.Command{
		Use:   "query PROMQL",
		Short: "Ask tend's metrics with PromQL",
		Long: `Evaluate a PromQL expression against tend's embedded metrics database: the gateway's
per-revision metrics (tend_gateway_*), every instance's own metrics (scraped from its
metrics endpoint every --scrape-interval, labelled app, revision, instance and role),
and per-instance CPU and memory (tend_instance_cpu_seconds_total,
tend_instance_resident_memory_bytes).

The same data answers Prometheus' HTTP API at API/prometheus: add tend to Grafana as a
Prometheus data source with that URL and the API token as a bearer token.`,
		Example: `  tend query 'up'
  tend query 'sum by (revision) (rate(tend_gateway_requests_total{app="hello"}[1m]))'
  tend query 'histogram_quantile(0.99, sum by (le) (rate(tend_gateway_request_duration_seconds_bucket[5m])))' --range 30m --step 1m
  tend query 'tend_instance_resident_memory_bytes' -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			t := time.Now()
			if at != "" {
				if t, err = parseWhen(at, time.Now()); err != nil {
					return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--time: %w", err)}
				}
			}
			p := c.Prometheus()
			var qe *monitor.QueryError
			if rng == "" {
				v, err := p.Query(cmd.Context(), args[0], t)
				if errors.As(err, &qe) && qe.Bad {
					return &exitCodeError{code: exitInvalid, err: err}
				} else if err != nil {
					return err
				}
				return render(cmd.OutOrStdout(), g.output, v, func(tw *table) {
					fmt.Fprintln(tw, "SERIES\tVALUE")
					for _, s := range v {
						fmt.Fprintf(tw, "%s\t%s\n", seriesName(s.Labels), strconv.FormatFloat(s.Value, 'g', 6, 64))
					}
				})
			}
			d, err := time.ParseDuration(rng)
			if err != nil || d <= 0 {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--range %q: want a duration like 30m", rng)}
			}
			if step <= 0 {
				step = max(d/60, time.Second)
			}
			m, err := p.QueryRange(cmd.Context(), args[0], t.Add(-d), t, step)
			if errors.As(err, &qe) && qe.Bad {
				return &exitCodeError{code: exitInvalid, err: err}
			} else if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, m, func(tw *table) {
				fmt.Fprintln(tw, "SERIES\tPOINTS\tMIN\tMAX\tLAST")
				for _, s := range m {
					if len(s.Points) == 0 {
						continue
					}
					lo, hi := s.Points[0].V, s.Points[0].V
					for _, p := range s.Points {
						lo, hi = min(lo, p.V), max(hi, p.V)
					}
					f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", seriesName(s.Labels), len(s.Points), f(lo), f(hi), f(s.Points[len(s.Points)-1].V))
				}
			})
		},
	}
	cmd.Flags().StringVar(&at, "time", "", "evaluate at this time: RFC 3339, or an offset like -10m (default: now)")
	cmd.Flags().StringVar(&rng, "range", "", "evaluate over this range ending at --time, like 30m (a range query)")
	cmd.Flags().DurationVar(&step, "step", 0, "resolution of a range query (default: the range / 60)")
	addOutputFlag(cmd, g)
	return cmd
}

// parseWhen reads RFC 3339 or a negative offset from now ("-10m").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d <= 0 {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 (2026-11-25T10:00:00Z) or an offset like -10m, got %q", s)
	}
	return t, nil
}

// seriesName prints labels as PromQL writes a series: name{k="v", ...}.
func seriesName(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	var b strings.Builder
	b.WriteString(l["__name__"])
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "__name__" {
			parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
		}
	}
	b.WriteString("{" + strings.Join(parts, ", ") + "}")
	return b.String()
}
