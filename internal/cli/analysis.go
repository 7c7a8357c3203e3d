package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

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
analysis.onFailure: pause).`,
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
			out := struct {
				App      string       `json:"app"`
				Revision int          `json:"revision"`
				Stable   int          `json:"stable"`
				Phase    v1.Phase     `json:"phase"`
				Runs     []v1.Verdict `json:"runs"`
			}{s.App, s.Rollout.To, s.Rollout.From, s.Rollout.Phase, runs}
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
					}
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show every measurement, not only the last of each analysis")
	addOutputFlag(cmd, g)
	return cmd
}

func num(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}
