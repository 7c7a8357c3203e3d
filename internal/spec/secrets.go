package spec

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tendhq/tend/internal/yamldoc"
)

var secretNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)

// CheckSecretName refuses a name that cannot be a secret's: letters, digits, '_', '.'
// and '-', starting with a letter, at most 63.
func CheckSecretName(name string) error {
	if !secretNameRE.MatchString(name) {
		return fmt.Errorf("secret name %q: want letters, digits, '_', '.' or '-', starting with a letter, at most 63 (like db-url)", name)
	}
	return nil
}

// CheckAppName refuses a name that cannot be an app's: lowercase letters, digits and
// '-', at most 63 (a DNS label, as Kubernetes names objects).
func CheckAppName(name string) error {
	if !dnsLabelRE.MatchString(name) {
		return fmt.Errorf("app name %q: want lowercase letters, digits and '-' (at most 63, like my-app)", name)
	}
	return nil
}

// env reads env: a mapping of names to values, or to {secret: NAME} for a value kept
// by tend secret set.
func (d *decoder) env(n *yaml.Node, field string, a *App) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping of names to values, got %s", kindName(n))
		return
	}
	a.Env = map[string]string{} // as written, even empty: the revision's hash covers it
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		f := join(field, k.Value)
		_, dupValue := a.Env[k.Value]
		_, dupSecret := a.SecretEnv[k.Value]
		if dupValue || dupSecret {
			d.errorf(k, f, "appears twice; keep one")
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			a.Env[k.Value] = v.Value
		case yaml.MappingNode:
			if !hasKey(v, "secret") {
				d.errorf(v, f, "want a value, or {secret: NAME} for a secret set with tend secret set, got a mapping")
				continue
			}
			name, before := "", len(d.errs)
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"secret": func(v *yaml.Node, f string) { name = d.str(v, f) },
			}, nil)
			if name == "" {
				if len(d.errs) == before {
					d.errorf(v, join(f, "secret"), "want the name of a secret (tend secret list APP shows them)")
				}
				continue
			}
			if a.SecretEnv == nil {
				a.SecretEnv = map[string]string{}
			}
			a.SecretEnv[k.Value] = name
		default:
			d.errorf(v, f, "want a value, or {secret: NAME} for a secret set with tend secret set, got %s", kindName(v))
		}
	}
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// validateSecrets checks the names of secrets and of the variables they are given as.
func (d *decoder) validateSecrets(a *App) {
	for k, name := range a.SecretEnv {
		switch err := CheckSecretName(name); {
		case !envNameRE.MatchString(k):
			d.at([]any{"env", yamldoc.Key(k)}, "not a valid environment variable name (letters, digits and _, not starting with a digit)")
		case k == "PORT" || strings.HasPrefix(k, "TEND_"):
			d.at([]any{"env", yamldoc.Key(k)}, "reserved: tend sets PORT and TEND_* for every instance")
		case err != nil:
			d.at([]any{"env", k, "secret"}, "%v", err)
		}
	}
	seen := map[string]bool{}
	for i, name := range a.Secrets {
		_, inEnv := a.Env[name]
		_, inSecretEnv := a.SecretEnv[name]
		switch {
		case CheckSecretName(name) != nil || !envNameRE.MatchString(name):
			d.at([]any{"secrets", i}, "%q is given to instances as the variable of the same name: want letters, digits and _, not starting with a digit (or use env: {VAR: {secret: %s}})", name, name)
		case name == "PORT" || strings.HasPrefix(name, "TEND_"):
			d.at([]any{"secrets", i}, "reserved: tend sets PORT and TEND_* for every instance")
		case seen[name]:
			d.at([]any{"secrets", i}, "appears twice; keep one")
		case inEnv || inSecretEnv:
			d.at([]any{"secrets", i}, "env sets %s too; keep one", name)
		}
		seen[name] = true
	}
	// ps shows arguments to every user: a secret is not expanded in them
	vars := a.SecretVars()
	for i, arg := range a.Args {
		os.Expand(arg, func(k string) string {
			if _, ok := vars[k]; ok {
				d.at([]any{"args", i}, "$%s holds a secret, and arguments are visible to every user of the machine (ps): read it from the environment instead", k)
			}
			return ""
		})
	}
}

// SecretVars is the secret each of the instance's environment variables holds: env's
// {secret: NAME} entries and secrets' names.
func (a *App) SecretVars() map[string]string {
	if len(a.SecretEnv) == 0 && len(a.Secrets) == 0 {
		return nil
	}
	out := make(map[string]string, len(a.SecretEnv)+len(a.Secrets))
	for k, name := range a.SecretEnv {
		out[k] = name
	}
	for _, name := range a.Secrets {
		out[name] = name
	}
	return out
}

// SecretNames is every secret the spec uses (variables and files), sorted.
func (a *App) SecretNames() []string {
	seen := map[string]bool{}
	var out []string
	names := slices.Collect(maps.Values(a.SecretVars()))
	for _, f := range a.Files {
		if f.Secret != "" {
			names = append(names, f.Secret)
		}
	}
	for _, name := range names {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// SecretField is the field of the first use of secret name, for errors about it.
func (a *App) SecretField(name string) string {
	for i, n := range a.Secrets {
		if n == name {
			return fmt.Sprintf("secrets[%d]", i)
		}
	}
	vars := make([]string, 0, len(a.SecretEnv))
	for k, n := range a.SecretEnv {
		if n == name {
			vars = append(vars, k)
		}
	}
	sort.Strings(vars)
	if len(vars) > 0 {
		return "env." + vars[0] + ".secret"
	}
	for i, f := range a.Files {
		if f.Secret == name {
			return fmt.Sprintf("files[%d].secret", i)
		}
	}
	return "secrets"
}
