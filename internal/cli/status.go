package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
)

func newStatusCmd(g *globals) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show apps, their rollouts and instances",
		Example: `  tend status
  tend status hello -o json
  tend status hello --watch     # follow its rollout to the end (as tend rollout status)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if watch {
				if len(args) == 0 {
					return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--watch follows one app's rollout: tend status APP --watch")}
				}
				return followCurrent(cmd.Context(), c, args[0], w)
			}
			if len(args) == 0 {
				apps, err := c.Apps(cmd.Context())
				if err != nil {
					return err
				}
				return render(w, g.output, apps, func(tw *table) {
					if tw.Wide {
						fmt.Fprintln(tw, "APP\tREVISION\tREADY\tSTRATEGY\tPHASE\tTO\tWEIGHT\tVERSION\tHOSTS\tPATH\tMESSAGE")
					} else {
						fmt.Fprintln(tw, "APP\tREVISION\tREADY\tSTRATEGY\tPHASE\tMESSAGE")
					}
					for _, a := range apps {
						fmt.Fprintf(tw, "%s\t%d\t%d/%d\t%s\t%s\t", a.App, a.Rollout.Stable, countReady(a.Running, a.Rollout.Stable),
							a.Instances, a.Strategy, a.Rollout.Phase)
						if tw.Wide {
							version, hosts := "-", "*"
							if a.Current != nil && a.Current.Version != "" {
								version = a.Current.Version
							}
							if len(a.Hosts) > 0 {
								hosts = strings.Join(a.Hosts, ",")
							}
							fmt.Fprintf(tw, "%d\t%d%%\t%s\t%s\t%s\t", a.Rollout.To, a.Rollout.Weight, version, hosts, a.Path)
						}
						fmt.Fprintln(tw, a.Rollout.Message)
					}
				})
			}
			s, err := c.Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return render(w, g.output, s, func(tw *table) { appTable(tw, s) })
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow the app's rollout to its end, with the exit codes of tend deploy")
	addOutputFlag(cmd, g)
	return cmd
}

func countReady(in []v1.Instance, rev int) int {
	n := 0
	for _, i := range in {
		if i.Revision == rev && i.State == v1.Ready {
			n++
		}
	}
	return n
}

func appTable(tw *table, s v1.App) {
	r := s.Rollout
	fmt.Fprintf(tw, "App:\t%s\n", s.App)
	if s.Current != nil {
		fmt.Fprintf(tw, "Serving:\trevision %d (version %s, commit %s, built %s)\n", s.Current.Number, s.Current.Version, s.Current.Commit, s.Current.BuildTime)
	}
	hosts := "every host no other app claims"
	if len(s.Hosts) > 0 {
		hosts = strings.Join(s.Hosts, ", ")
	}
	fmt.Fprintf(tw, "Route:\t%s %s\n", hosts, s.Path)
	if m := s.Maintenance; m != nil {
		fmt.Fprintf(tw, "Maintenance:\tsince %s: the gateway answers 503 (%q); `tend maintenance %s off` ends it\n",
			m.Since.Local().Format(time.DateTime), m.Message, s.App)
	}
	fmt.Fprintf(tw, "Strategy:\t%s, %d instances\n", s.Strategy, s.Instances)
	if a := s.Autoscale; a != nil {
		autoscaleLines(tw, a)
	}
	if z := s.Sizing; z != nil {
		sizingLines(tw, z)
	}
	fmt.Fprintf(tw, "Rollout:\t%s, revision %d → %d, weight %d%%\n", r.Phase, r.From, r.To, r.Weight)
	if r.Message != "" {
		fmt.Fprintf(tw, "\t%s\n", r.Message)
	}
	if !r.Phase.Terminal() && r.PreviewToken != "" && r.From != 0 && r.Strategy != "rolling" {
		fmt.Fprintf(tw, "Preview:\theader X-Tend-Preview: %s reaches revision %d (curl -H 'X-Tend-Preview: %s' ...)\n", r.PreviewToken, r.To, r.PreviewToken)
	}
	for _, w := range r.Warm {
		fmt.Fprintf(tw, "Warm:\trevision %d until %s (rollback is a route switch)\n", w.Revision, w.Until.Format(time.TimeOnly))
	}
	if a := r.Analysis; a != nil {
		fmt.Fprintf(tw, "Analysis:\tstep %d running, %d measurements: %s\n", a.Step+1, len(a.Measurements), a.Message)
	}
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "Verdict:\tstep %d %s: %s\n", v.Step+1, v.Result, v.Message)
	}
	if len(r.Verdicts) > 0 || r.Analysis != nil {
		fmt.Fprintf(tw, "\t(each check's numbers: tend analysis %s)\n", s.App)
	}
	fmt.Fprintln(tw)
	if tw.Wide {
		fmt.Fprintln(tw, "INSTANCE\tREVISION\tSTATE\tADDRESS\tADMIN\tPID\tRESTARTS\tSTARTED\tREADY-SINCE\tLIMITS\tMESSAGE")
	} else {
		fmt.Fprintln(tw, "INSTANCE\tREVISION\tSTATE\tADDRESS\tPID\tRESTARTS\tAGE\tLIMITS\tMESSAGE")
	}
	for _, i := range s.Running {
		if tw.Wide {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", i.ID, i.Revision, i.State, i.Addr, orDash(i.AdminAddr), i.PID, i.Restarts,
				timeOrDash(i.StartedAt), timeOrDash(i.ReadySince), i.Limits, i.Message)
			continue
		}
		age := "-"
		if !i.StartedAt.IsZero() {
			age = time.Since(i.StartedAt).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", i.ID, i.Revision, i.State, i.Addr, i.PID, i.Restarts,
			age, i.Limits, i.Message)
	}
}

// timeOrDash is t in RFC 3339 (a wide column a script may read), or "-" when unset.
func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
