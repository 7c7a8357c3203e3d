package incident

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Postmortem writes an incident as a Markdown postmortem draft: summary, impact
// window, alerts, runbook runs and the whole timeline, with the sections people fill in.
func Postmortem(in *Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Postmortem: incident %d: %s\n\n", in.ID, in.Title)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Severity | %s |\n| Status | %s |\n", in.Severity, in.Status)
	if in.App != "" {
		fmt.Fprintf(&b, "| App | %s |\n", in.App)
	}
	if in.Revision != "" {
		fmt.Fprintf(&b, "| Revision | %s |\n", in.Revision)
	}
	fmt.Fprintf(&b, "| Opened | %s |\n", in.CreatedAt.UTC().Format(time.RFC3339))
	if in.AckedAt != nil {
		fmt.Fprintf(&b, "| Acknowledged | %s by %s (%s after opening) |\n", in.AckedAt.UTC().Format(time.RFC3339), cmpOr(in.AckedBy, "?"), in.AckedAt.Sub(in.CreatedAt).Round(time.Second))
	}
	if in.ResolvedAt != nil {
		fmt.Fprintf(&b, "| Resolved | %s (%s after opening) |\n", in.ResolvedAt.UTC().Format(time.RFC3339), in.ResolvedAt.Sub(in.CreatedAt).Round(time.Second))
	}
	b.WriteString("\n## Alerts\n\n")
	alerts := append([]Alert(nil), in.Alerts...)
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].StartsAt.Before(alerts[j].StartsAt) })
	for _, a := range alerts {
		fmt.Fprintf(&b, "- `%s` %s since %s", Describe(a.Labels), a.Status, a.StartsAt.UTC().Format(time.RFC3339))
		if s := a.Annotations["summary"]; s != "" {
			fmt.Fprintf(&b, ": %s", s)
		}
		b.WriteString("\n")
	}
	if len(in.Runs) > 0 {
		b.WriteString("\n## Automated remediation\n\n")
		for _, r := range in.Runs {
			dry := ""
			if r.DryRun {
				dry = " (dry run)"
			}
			fmt.Fprintf(&b, "- runbook %q at %s%s: %s\n", r.Runbook, r.At.UTC().Format(time.RFC3339), dry, r.Result)
		}
	}
	b.WriteString("\n## Timeline (UTC)\n\n")
	for _, e := range in.Timeline {
		by := ""
		if e.By != "" {
			by = " (" + e.By + ")"
		}
		fmt.Fprintf(&b, "- **%s** %s%s: %s\n", e.At.UTC().Format("15:04:05"), e.Kind, by, e.Text)
		if e.Output != "" {
			fmt.Fprintf(&b, "\n  ```\n  %s\n  ```\n\n", strings.ReplaceAll(strings.TrimSpace(e.Output), "\n", "\n  "))
		}
		for _, f := range e.Files {
			fmt.Fprintf(&b, "  - captured: `%s`\n", f)
		}
	}
	b.WriteString("\n## Impact\n\n_Who and what was affected, for how long._\n")
	b.WriteString("\n## Root cause\n\n_Why it happened._\n")
	b.WriteString("\n## What went well, what did not\n\n_Detection, response, remediation._\n")
	b.WriteString("\n## Action items\n\n- [ ] _owner: item_\n")
	return b.String()
}
