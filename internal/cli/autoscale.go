package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newAutoscaleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "autoscale APP",
		Short: "Show an autoscaled app's metrics against their targets and the autoscaler's recent decisions",
		Long: `Show what the autoscaler of an app with autoscale: in its spec sees and did: its bounds,
each target against its value at the last sync, and the changes it made to the app's
instance count, oldest first, each with its reason ("rps 125 (target 50) over 2
instances → 5, limited by policy pods: 4 per 15s → 4").

The autoscaler follows the Kubernetes HorizontalPodAutoscaler's algorithm: every 15s
(tend server --autoscale-interval) each target asks for ceil(instances × value /
target), the largest wins, a change within 10% of the target is ignored, and the
behavior's stabilization windows and rate policies bound the change. tend scale on an
autoscaled app sets a floor until the next deploy.`,
		Example: `  tend autoscale hello
  tend autoscale hello -o json | jq '.changes[-1].reason'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			h, err := c.Autoscale(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, h, func(tw *table) {
				if h.Autoscale == nil {
					fmt.Fprintf(tw, "%s is not autoscaled: add autoscale: {min: 2, max: 10, targets: {cpu: 70%%}} to its spec\n", h.App)
				} else {
					autoscaleLines(tw, h.Autoscale)
				}
				fmt.Fprintln(tw)
				fmt.Fprintln(tw, "TIME\tFROM\tTO\tMETRIC\tLIMIT\tREASON")
				for _, c := range h.Changes {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", c.At.Local().Format(time.DateTime), c.From, c.To, orDash(c.Metric), orDash(c.Limit), c.Reason)
				}
				if len(h.Changes) == 0 {
					fmt.Fprintln(tw, "-\t-\t-\t-\t-\tno change yet")
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

// autoscaleLines are the status lines of an autoscaled app: bounds, then each target.
func autoscaleLines(tw *table, a *v1.Autoscale) {
	bounds := fmt.Sprintf("%s, desired %d (min %d, max %d", plural(a.Current, "instance"), a.Desired, a.Min, a.Max)
	if a.Floor > 0 {
		bounds += fmt.Sprintf(", floor %d from tend scale until the next deploy", a.Floor)
	}
	bounds += ")"
	if !a.LastSync.IsZero() {
		bounds += ", synced " + time.Since(a.LastSync).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(tw, "Autoscale:\t%s\n", bounds)
	for _, m := range a.Metrics {
		if m.Error != "" {
			fmt.Fprintf(tw, "\t%s: %s\n", m.Name, m.Error)
			continue
		}
		unit := m.Unit
		if unit != "" && unit != "%" {
			unit = " " + unit
		}
		fmt.Fprintf(tw, "\t%s %s%s of target %s%s (%s, over %s) → %d\n", m.Name, metricNum(m.Value), unit, metricNum(m.Target), unit,
			strconv.FormatFloat(m.Ratio*100, 'f', 0, 64)+"%", plural(m.Instances, "instance"), m.Replicas)
	}
	if a.Reason != "" {
		fmt.Fprintf(tw, "\tlast decision: %s\n", a.Reason)
	}
	if a.Note != "" {
		fmt.Fprintf(tw, "\tnote: %s\n", a.Note)
	}
}

// metricNum prints a metric value with up to three significant digits.
func metricNum(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// sizingLines are the status lines of resources advice.
func sizingLines(tw *table, z *v1.Sizing) {
	if z.Error != "" {
		fmt.Fprintf(tw, "Sizing:\tno advice yet: %s\n", z.Error)
		return
	}
	fmt.Fprintf(tw, "Sizing:\tover the last %s: cpu p90 %dm, peak %dm; memory peak %s\n", time.Duration(z.Window), z.CPUP90, z.CPUPeak,
		strconv.FormatInt((z.MemoryPeak+1<<20-1)>>20, 10)+"Mi")
	fmt.Fprintf(tw, "\trecommended resources: {cpu: %s, memory: %s} (spec: {cpu: %s, memory: %s})\n", z.Recommended.CPU, z.Recommended.Memory,
		orDash(z.Spec.CPU), orDash(z.Spec.Memory))
	for _, w := range z.Warnings {
		fmt.Fprintf(tw, "\t%s\n", w)
	}
}

// plural is "1 instance" or "n instances".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
