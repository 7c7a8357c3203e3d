package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// revisionChanges says what differs from revision a to revision b: the artifact, each
// env variable (plain values are shown: they are in tend.yaml), each secret's version
// (never its value), and which other part of the spec.
func revisionChanges(a, b store.Revision) []string {
	var out []string
	if a.Artifact != b.Artifact {
		out = append(out, fmt.Sprintf("artifact %s → %s", short(a.Artifact), short(b.Artifact)))
	}
	for _, k := range slices.Sorted(maps.Keys(union(a.Spec.Env, b.Spec.Env))) {
		av, inA := a.Spec.Env[k]
		bv, inB := b.Spec.Env[k]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("env %s: %q added", k, bv))
		case !inB:
			out = append(out, fmt.Sprintf("env %s removed", k))
		case av != bv:
			out = append(out, fmt.Sprintf("env %s: %q → %q", k, av, bv))
		}
	}
	av, bv := a.Spec.SecretVars(), b.Spec.SecretVars()
	for _, k := range slices.Sorted(maps.Keys(union(av, bv))) {
		switch {
		case av[k] == "":
			out = append(out, fmt.Sprintf("env %s: secret %s v%d added", k, bv[k], b.Secrets[bv[k]]))
		case bv[k] == "":
			out = append(out, fmt.Sprintf("env %s (secret %s) removed", k, av[k]))
		case av[k] != bv[k]:
			out = append(out, fmt.Sprintf("env %s: secret %s → %s", k, av[k], bv[k]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(union(a.Secrets, b.Secrets))) {
		if va, vb := a.Secrets[name], b.Secrets[name]; va != 0 && vb != 0 && va != vb {
			out = append(out, fmt.Sprintf("secret %s v%d → v%d", name, va, vb))
		}
	}
	return append(out, changedParts([]specPart{
		{"args", a.Spec.Args, b.Spec.Args}, {"health", a.Spec.Health, b.Spec.Health},
		{"resources", a.Spec.Resources, b.Spec.Resources}, {"shutdown", a.Spec.Shutdown, b.Spec.Shutdown},
	})...)
}

// specPart is a part of the spec as two revisions have it.
type specPart struct {
	name string
	a, b any
}

// changedParts says "NAME changed" for each part whose two sides differ.
func changedParts(parts []specPart) []string {
	var out []string
	for _, p := range parts {
		ja, _ := json.Marshal(p.a)
		jb, _ := json.Marshal(p.b)
		if string(ja) != string(jb) {
			out = append(out, p.name+" changed")
		}
	}
	return out
}

// deployChanges says what a deploy of revision b would change where revision a serves
// (a's spec being the one last deployed): revisionChanges, and the parts of the spec
// that change the app without making a revision of their own.
func deployChanges(a, b store.Revision) []string {
	out := revisionChanges(a, b)
	if a.Spec.Instances != b.Spec.Instances {
		out = append(out, fmt.Sprintf("instances %d → %d", a.Spec.Instances, b.Spec.Instances))
	}
	return append(out, changedParts([]specPart{
		{"files", a.Spec.Files, b.Spec.Files}, {"route", a.Spec.Route, b.Spec.Route}, {"strategy", a.Spec.Strategy, b.Spec.Strategy},
		{"metrics", a.Spec.Metrics, b.Spec.Metrics}, {"alerts", rulesAsWritten(a.Spec.Alerts), rulesAsWritten(b.Spec.Alerts)},
	})...)
}

// rulesAsWritten is alerts without where the server read the rule files (an upload's
// directory differs with every upload): the rules as written, with their content.
func rulesAsWritten(a spec.Alerts) spec.Alerts {
	a.RuleFiles = slices.Clone(a.RuleFiles)
	for i := range a.RuleFiles {
		a.RuleFiles[i].Path = ""
	}
	return a
}

func union[V any](a, b map[string]V) map[string]V {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, b)
	return out
}

// short is a digest's algorithm and first 12 hex digits.
func short(digest string) string {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) <= 12 {
		return digest
	}
	return alg + ":" + hex[:12]
}
