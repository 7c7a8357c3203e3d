package cli

import (
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/incident"
)

func newAlertsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List the alerts the embedded Alertmanager holds, silenced ones included",
		Long: `List the alerts firing now, as the embedded Alertmanager holds them: their labels,
since when they fire, and whether a silence or an inhibition mutes them.

Silences are managed with amtool against tend's API (the token as the password):
  amtool --alertmanager.url=http://tend:$(cat DATA/token)@127.0.0.1:7070/alertmanager silence add alertname=HighLatency -c "known"`,
		Example: `  tend alerts
  tend alerts -o json | jq '.[].labels.alertname'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			alerts, err := c.Alerts(cmd.Context())
			if err != nil {
				return err
			}
			sort.Slice(alerts, func(i, j int) bool { return alerts[i].StartsAt < alerts[j].StartsAt })
			return render(cmd.OutOrStdout(), g.output, alerts, func(tw *table) {
				fmt.Fprintln(tw, "ALERT\tSEVERITY\tAPP\tSTATE\tSINCE\tSUMMARY")
				for _, a := range alerts {
					state := a.Status.State
					if len(a.Status.SilencedBy) > 0 {
						state = "silenced"
					} else if len(a.Status.InhibitedBy) > 0 {
						state = "inhibited"
					}
					since := a.StartsAt
					if t, err := time.Parse(time.RFC3339Nano, a.StartsAt); err == nil {
						since = t.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Labels["alertname"], a.Labels["severity"], a.Labels["app"], state, since, a.Annotations["summary"])
				}
				if len(alerts) == 0 {
					fmt.Fprintln(tw, "(no alerts)")
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func newIncidentsCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "incidents",
		Short: "List incidents: alert groups that need someone, newest first",
		Long: `List incidents. The embedded Alertmanager sends every alert group to tend, which
opens an incident for it, pages its escalation policy, runs matching runbooks, and
resolves it when every alert of the group resolves. Without --all only open incidents
(triggered or acknowledged) are listed.`,
		Example: `  tend incidents
  tend incidents --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Incidents(cmd.Context(), all)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, list, func(tw *table) {
				if tw.Wide {
					fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tAPP\tREVISION\tOPENED\tAGE\tACKNOWLEDGED-BY\tALERTS\tTITLE")
				} else {
					fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tAPP\tOPENED\tAGE\tTITLE")
				}
				for _, in := range list {
					if tw.Wide {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", in.ID, in.Status, in.Severity, orDash(in.App), orDash(in.Revision),
							in.CreatedAt.Format(time.RFC3339), age(in), orDash(in.AcknowledgedBy), len(in.Alerts), in.Title)
						continue
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Status, in.Severity, in.App,
						in.CreatedAt.Local().Format(time.DateTime), age(in), in.Title)
				}
				switch {
				case len(list) == 0 && all:
					fmt.Fprintln(tw, "(no incidents)")
				case len(list) == 0:
					fmt.Fprintln(tw, "(no open incidents; --all lists resolved ones too)")
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "list resolved incidents too")
	addOutputFlag(cmd, g)
	return cmd
}

func age(in v1.Incident) string {
	end := time.Now()
	if in.ResolvedAt != nil {
		end = *in.ResolvedAt
	}
	return end.Sub(in.CreatedAt).Round(time.Second).String()
}

func newIncidentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Show, acknowledge, resolve or comment on one incident, or write its postmortem",
		Example: `  tend incident show 3
  tend incident ack 3 -m "looking into it"
  tend incident comment 3 -m "the new cache flag is off again"
  tend incident resolve 3
  tend incident postmortem 3 > postmortem-3.md`,
	}
	var by, text string
	// target is the client and the incident number an ID argument names
	target := func(arg string) (*api.Client, int, error) {
		n, err := strconv.Atoi(strings.TrimPrefix(arg, "#"))
		if err != nil || n < 1 {
			return nil, 0, &exitCodeError{code: exitInvalid, err: fmt.Errorf("incident id %q: want a number from tend incidents", arg)}
		}
		c, err := g.client()
		return c, n, err
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident with its alerts, runbook runs and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, n, err := target(args[0])
			if err != nil {
				return err
			}
			in, err := c.Incident(cmd.Context(), n)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, in, func(tw *table) { printIncident(tw, in) })
		},
	}
	addOutputFlag(show, g)
	action := func(verb v1.IncidentAction, short string) *cobra.Command {
		c := &cobra.Command{
			Use:   string(verb) + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, n, err := target(args[0])
				if err != nil {
					return err
				}
				in, err := c.IncidentAction(cmd.Context(), n, verb, v1.IncidentRequest{By: firstOf(by, whoami()), Text: text})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "incident %d: %s\n", in.ID, in.Status)
				return nil
			},
		}
		c.Flags().StringVarP(&text, "message", "m", "", "a note for the timeline")
		c.Flags().StringVar(&by, "by", "", "who you are (default: your user name)")
		return c
	}
	comment := action(v1.IncidentComment, "Add a note to the timeline")
	_ = comment.MarkFlagRequired("message")
	postmortem := &cobra.Command{
		Use:   "postmortem ID",
		Short: "Print a Markdown postmortem draft with the incident's whole timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, n, err := target(args[0])
			if err != nil {
				return err
			}
			md, err := c.Postmortem(cmd.Context(), n)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), md)
			return nil
		},
	}
	cmd.AddCommand(show, action(v1.IncidentAck, "Acknowledge: stop escalating (until the policy's ackTimeout)"),
		action(v1.IncidentResolve, "Resolve by hand (if its alerts still fire, the next notification opens a new incident)"), comment, postmortem)
	return cmd
}

func printIncident(tw *table, in *v1.Incident) {
	fmt.Fprintf(tw, "Incident %d\t%s\n", in.ID, in.Title)
	fmt.Fprintf(tw, "Status\t%s\n", in.Status)
	fmt.Fprintf(tw, "Severity\t%s\n", in.Severity)
	if in.App != "" {
		fmt.Fprintf(tw, "App\t%s (revision %s)\n", in.App, firstOf(in.Revision, "?"))
	}
	fmt.Fprintf(tw, "Opened\t%s (%s)\n", in.CreatedAt.Local().Format(time.DateTime), age(*in))
	if in.AcknowledgedAt != nil {
		fmt.Fprintf(tw, "Acknowledged\t%s by %s\n", in.AcknowledgedAt.Local().Format(time.DateTime), in.AcknowledgedBy)
	}
	if in.Escalation != "" {
		fmt.Fprintf(tw, "Escalation\t%s, %d levels paged\n", in.Escalation, in.Level)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ALERT\tSTATUS\tSINCE")
	for _, a := range in.Alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", incident.Describe(a.Labels), a.Status, a.StartsAt.Local().Format(time.DateTime))
	}
	if len(in.Runs) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "RUNBOOK\tSTARTED\tRESULT")
		for _, r := range in.Runs {
			res := r.Result
			if r.DryRun {
				res += " (dry run)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Runbook, r.At.Local().Format(time.DateTime), res)
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "TIME\tKIND\tWHAT")
	for _, e := range in.Timeline {
		what := e.Text
		if e.By != "" {
			what += " (" + e.By + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.At.Local().Format(time.TimeOnly), e.Kind, what)
		if e.Output != "" {
			for _, l := range strings.Split(strings.TrimSpace(e.Output), "\n") {
				fmt.Fprintf(tw, "\t\t  %s\n", l)
			}
		}
		for _, f := range e.Files {
			fmt.Fprintf(tw, "\t\t  file: /v1/incidents/%d/files/%s\n", in.ID, f)
		}
	}
}

func newRunbooksCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbooks",
		Short: "List runbooks with their measured success rate",
		Long: `List the runbooks of the server's incident config (tend server --incidents FILE) with
what they did: a run succeeded when its incident resolved within the runbook's
successWithin (default 5m), failed when a step failed or the incident outlived that.
CONFIDENCE is succeeded / (succeeded + failed), measured, not declared. Runs a safety
limit stopped (kill switch, hourly limit, rollout in progress) and dry runs are not judged.`,
		Example: `  tend runbooks
  tend runbooks -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ans, err := c.Runbooks(cmd.Context())
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, ans, func(tw *table) {
				state := "on"
				if !ans.Remediation.Enabled {
					state = "OFF (tend remediation on)"
				}
				if ans.Limits.DryRun {
					state += ", dry run"
				}
				fmt.Fprintf(tw, "remediation %s; at most %d actions per app per hour; cooldown %s\n\n", state, ans.Limits.ActionsPerHour, ans.Limits.Cooldown)
				fmt.Fprintln(tw, "RUNBOOK\tMATCH\tSTEPS\tRUNS\tSUCCEEDED\tFAILED\tPENDING\tCONFIDENCE\tLAST RUN")
				for _, s := range ans.Runbooks {
					var steps []string
					for _, st := range s.Runbook.Steps {
						steps = append(steps, string(st.Kind))
					}
					conf := "-"
					if s.Confidence >= 0 {
						conf = fmt.Sprintf("%.0f%%", 100*s.Confidence)
					}
					last := "never"
					if !s.LastRun.IsZero() {
						last = s.LastRun.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Runbook.Name, incident.Describe(s.Runbook.Match), strings.Join(steps, ","),
						s.Runs, s.Succeeded, s.Failed, s.Pending, conf, last)
				}
				if len(ans.Runbooks) == 0 {
					fmt.Fprintln(tw, "(no runbooks: tend server --incidents FILE)")
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func newRemediationCmd(g *globals) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "remediation [on|off]",
		Short: "Show or flip the kill switch of automated remediation",
		Long: `Without an argument, say whether runbooks may act. "off" stops every runbook from
acting (steps in progress finish; new runs are recorded as skipped in their incidents'
timelines) until "on". The switch is kept in the store: it survives restarts.`,
		Example: `  tend remediation off
  tend remediation on`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"on", "off"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] != "on" && args[0] != "off" {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("want on or off, got %q", args[0])}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var rem v1.Remediation
			if len(args) == 0 {
				rem, err = c.Remediation(cmd.Context())
			} else {
				rem, err = c.SetRemediation(cmd.Context(), args[0] == "on", firstOf(by, whoami()))
			}
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, rem, func(tw *table) {
				state := "on"
				if !rem.Enabled {
					state = "off"
				}
				fmt.Fprintf(tw, "remediation is %s", state)
				if rem.ChangedBy != "" {
					fmt.Fprintf(tw, " (set by %s at %s)", rem.ChangedBy, rem.ChangedAt.Local().Format(time.DateTime))
				}
				fmt.Fprintln(tw)
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who you are (default: your user name)")
	addOutputFlag(cmd, g)
	return cmd
}

func whoami() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
