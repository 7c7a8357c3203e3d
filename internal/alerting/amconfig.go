package alerting

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/tendhq/tend/internal/yamldoc"
	"gopkg.in/yaml.v3"
)

// IncidentReceiver is the receiver tend adds to every Alertmanager configuration: it
// hands alert groups to the incident manager in the server's process (toIncidents). It sits first under
// the root route with continue: true, so every group reaches it and the user's routes as
// before.
const IncidentReceiver = "tend-incidents"

// DefaultConfig is the Alertmanager configuration when the server is given none: every
// alert group becomes an incident, and nothing leaves the machine. group_wait 3s lets
// the alerts of one fault (several revisions, instances) arrive as one notification
// without delaying the first page much; group_interval 10s reports a group's changes
// (new alerts, resolutions) within seconds, which a single machine's alert volume allows.
const DefaultConfig = `route:
  receiver: none
  group_by: [alertname, app]
  group_wait: 3s
  group_interval: 10s
  repeat_interval: 4h
receivers:
- name: none
`

// Config is an Alertmanager configuration as tend runs it.
type Config struct {
	// Text is what the embedded Alertmanager reads: the user's file with the seed's
	// email fields in their standard form and tend's incident receiver added.
	Text []byte
	// Warnings name the file and line of every field tend rewrote.
	Warnings []string
	// Parsed is Alertmanager's own reading of Text.
	Parsed *amconfig.Config
}

// LoadConfig reads an Alertmanager configuration file (DefaultConfig when path is
// empty). Everything is parsed by Alertmanager's config package, with one exception
// kept for the seed's file: email_configs written with subject and body, which
// Alertmanager refuses, are read as headers.Subject and text, with a warning.
func LoadConfig(path string) (*Config, error) {
	name := path
	src := []byte(DefaultConfig)
	if path == "" {
		name = "the default Alertmanager config"
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the Alertmanager config: %w", err)
		}
		src = b
	}
	doc, err := yamldoc.Parse(name, src)
	if err != nil {
		return nil, err
	}
	root := doc.Root
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: an Alertmanager config is a YAML mapping with route and receivers", name)
	}
	cfg := &Config{}
	for _, recv := range items(value(root, "receivers")) {
		if value(recv, "name") != nil && value(recv, "name").Value == IncidentReceiver {
			return nil, fmt.Errorf("%s:%d: receiver name %q is tend's own; rename yours", name, recv.Line, IncidentReceiver)
		}
		for _, email := range items(value(recv, "email_configs")) {
			w, err := standardEmail(email)
			if err != nil {
				return nil, fmt.Errorf("%s:%w", name, err)
			}
			for _, s := range w {
				cfg.Warnings = append(cfg.Warnings, name+":"+s)
			}
		}
	}
	if err := addIncidentReceiver(root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg.Text = buf.Bytes()
	parsed, err := amconfig.Load(string(cfg.Text))
	if err != nil {
		return nil, fmt.Errorf("%w (fields as in https://prometheus.io/docs/alerting/latest/configuration/)", inUsersFile(err, name, root, cfg.Text))
	}
	cfg.Parsed = parsed
	return cfg, nil
}

// standardEmail rewrites an email_config's subject into headers.Subject and body into
// text, returning a warning for each.
func standardEmail(email *yaml.Node) ([]string, error) {
	var warnings []string
	for i := 0; i+1 < len(email.Content); i += 2 {
		k, v := email.Content[i], email.Content[i+1]
		switch k.Value {
		case "subject":
			headers := value(email, "headers")
			if headers == nil {
				headers = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column}
				email.Content = append(email.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "headers", Line: k.Line, Column: k.Column}, headers)
			}
			if value(headers, "Subject") != nil {
				return nil, fmt.Errorf("%d: email_configs has both subject and headers.Subject; keep headers.Subject", k.Line)
			}
			headers.Content = append(headers.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "Subject", Line: k.Line, Column: k.Column}, v)
			email.Content = append(email.Content[:i], email.Content[i+2:]...)
			i -= 2
			warnings = append(warnings, fmt.Sprintf("%d: email_configs.subject is not an Alertmanager field; read as headers: {Subject: ...}, write it so", k.Line))
		case "body":
			if value(email, "text") != nil {
				return nil, fmt.Errorf("%d: email_configs has both body and text; keep text", k.Line)
			}
			k.Value = "text"
			warnings = append(warnings, fmt.Sprintf("%d: email_configs.body is not an Alertmanager field; read as text (or html), write it so", k.Line))
		}
	}
	return warnings, nil
}

// addIncidentReceiver adds tend's receiver (its integration is toIncidents, added when
// the Alertmanager starts) and a first child route to it that matches everything and
// continues to the user's routes.
func addIncidentReceiver(root *yaml.Node) error {
	var recv, route yaml.Node
	if err := yaml.Unmarshal([]byte("name: "+IncidentReceiver+"\n"), &recv); err != nil {
		return err
	}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf("{receiver: %s, continue: true}", IncidentReceiver)), &route); err != nil {
		return err
	}
	receivers := value(root, "receivers")
	if receivers == nil {
		receivers = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "receivers"}, receivers)
	}
	if receivers.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: receivers must be a list", receivers.Line)
	}
	receivers.Content = append(receivers.Content, recv.Content[0])
	// the user's root route becomes the second child of a new root, so that it and its
	// routes decide exactly as before; tend's child matches everything first and continues
	var r *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "route" {
			continue
		}
		r = root.Content[i+1]
		if r.Kind != yaml.MappingNode {
			break
		}
		top := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: r.Line}
		for _, k := range []string{"receiver", "group_by", "group_wait", "group_interval", "repeat_interval"} {
			if v := value(r, k); v != nil {
				top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
			}
		}
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "routes"},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{route.Content[0], r}})
		root.Content[i+1] = top
		return nil
	}
	if r != nil {
		return fmt.Errorf("line %d: route must be a mapping with a receiver", r.Line)
	}
	return errors.New("no route: an Alertmanager config needs a route with a receiver")
}

// inUsersFile places Alertmanager's error about text, the rewriting of the user's file
// whose nodes are edited, at the lines and columns of the user's file.
func inUsersFile(err error, name string, edited *yaml.Node, text []byte) error {
	rewritten, perr := yamldoc.Parse(name, text)
	if perr != nil {
		return fmt.Errorf("%s: %w", name, err) // cannot be: text is yaml.v3's own encoding
	}
	type pos struct{ line, col int }
	user := map[pos]*yaml.Node{} // by position in text
	var walk func(a, b *yaml.Node)
	walk = func(a, b *yaml.Node) {
		if p := (pos{b.Line, b.Column}); user[p] == nil || user[p].Line == 0 {
			user[p] = a
		}
		for i := 0; i < len(a.Content) && i < len(b.Content); i++ {
			walk(a.Content[i], b.Content[i])
		}
	}
	walk(edited, rewritten.Root)
	es := rewritten.Wrap(err)
	for _, e := range es {
		if e.Line == 0 {
			continue
		}
		if n := user[pos{e.Line, e.Col}]; n != nil && n.Line > 0 {
			e.Line, e.Col = n.Line, n.Column
		} else {
			e.Line, e.Col = 0, 0 // in what tend added
		}
		// paths in the rewritten text are not the user's (the root route is a child
		// route there), and Alertmanager's messages name the field
		e.Field = ""
	}
	return es
}

// value is the value under key in a YAML mapping, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// items are the elements of a YAML sequence (none when n is not one).
func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}
