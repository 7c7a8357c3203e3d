package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/yamldoc"
)

// The CLI's config file keeps contexts: each a tend server's API URL with the token
// (and the CA) to reach it, one of them current, as kubectl keeps clusters.

// cliConfig is the CLI's config file, $XDG_CONFIG_HOME/tend/config.yaml.
type cliConfig struct {
	Current  string                 `yaml:"current,omitempty"`
	Contexts map[string]*cliContext `yaml:"contexts,omitempty"`
}

// cliContext is one server. TokenFile and CAFile may be relative to the config file's
// directory; tend context add writes them absolute.
type cliContext struct {
	API       string `yaml:"api"`
	TokenFile string `yaml:"tokenFile,omitempty"`
	Token     string `yaml:"token,omitempty"`
	CAFile    string `yaml:"caFile,omitempty"`
	// TLSServerName is the name the API's certificate is verified for ("": the URL's host).
	TLSServerName string `yaml:"tlsServerName,omitempty"`
}

const configHeader = `# The tend CLI's contexts, written by tend context add, use and rm (tend context --help).
# Keep it private (mode 0600): it may hold API tokens.
`

// configPath is $XDG_CONFIG_HOME/tend/config.yaml, else ~/.config/tend/config.yaml.
func configPath() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "tend", "config.yaml"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the tend CLI config: %w (set XDG_CONFIG_HOME or HOME)", err)
	}
	return filepath.Join(h, ".config", "tend", "config.yaml"), nil
}

// loadConfig reads the config file at path; a missing file is an empty config. The
// warnings are about the file's permissions. Errors name the file, the line and the field.
func loadConfig(path string) (*cliConfig, []string, error) {
	c := &cliConfig{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the tend CLI config: %w (make it readable, or set XDG_CONFIG_HOME to use another one)", err)
	}
	var warnings []string
	if w := openToOthers(path, "the tend CLI config"); w != "" {
		warnings = append(warnings, w)
	}
	doc, err := yamldoc.Decode(path, b, c)
	if err == nil {
		err = c.validate(doc)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bad tend CLI config (fix the file, or move it away and add the contexts again): %w", err)
	}
	return c, warnings, nil
}

// validate checks what YAML's types cannot, with errors at the field.
func (c *cliConfig) validate(doc *yamldoc.Doc) error {
	for _, name := range c.names() {
		cx := c.Contexts[name]
		if err := checkContextName(name); err != nil {
			return doc.Errorf([]any{"contexts", yamldoc.Key(name)}, "%w", err)
		}
		if cx == nil {
			return doc.Errorf([]any{"contexts", name}, "an empty context: want api: URL, and tokenFile: FILE or token: TOKEN")
		}
		if err := checkAPIURL(cx.API); err != nil {
			return doc.Errorf([]any{"contexts", name, "api"}, "%w", err)
		}
		switch {
		case cx.Token != "" && cx.TokenFile != "":
			return doc.Errorf([]any{"contexts", name, "token"}, "both token and tokenFile: keep one")
		case cx.Token == "" && cx.TokenFile == "":
			return doc.Errorf([]any{"contexts", name}, "no token: want tokenFile: FILE or token: TOKEN")
		}
	}
	if c.Current != "" && c.Contexts[c.Current] == nil {
		return doc.Errorf([]any{"current"}, "names no context (%s): tend context use NAME", c.have())
	}
	return nil
}

// names are the contexts' names, sorted.
func (c *cliConfig) names() []string {
	var ns []string
	for n := range c.Contexts {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// have says which contexts there are, for errors.
func (c *cliConfig) have() string {
	if len(c.Contexts) == 0 {
		return "there are none: tend context add NAME --api URL --token-file FILE makes one"
	}
	return "there are " + strings.Join(c.names(), ", ")
}

// saveConfig writes c to path atomically (a temporary file renamed over it), mode 0600
// in a directory of mode 0700.
func saveConfig(path string, c *cliConfig) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // a config file linked from elsewhere stays a link
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the tend CLI config's directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make the tend CLI config's directory private: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(configHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encode the tend CLI config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config.yaml.*") // mode 0600
	if err != nil {
		return fmt.Errorf("write the tend CLI config: %w", err)
	}
	defer os.Remove(f.Name()) // once renamed, there is nothing to remove
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("write the tend CLI config: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write the tend CLI config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the tend CLI config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write the tend CLI config %s: %w", path, err)
	}
	return nil
}

// openToOthers is a warning when the file at path, which may hold a token, is open to
// users other than its owner ("" when it is not, or cannot be looked at).
func openToOthers(path, what string) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s is open to other users (mode %04o) and may hold an API token: chmod 600 %s", what, path, st.Mode().Perm(), path)
}

var contextNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func checkContextName(name string) error {
	if !contextNameRE.MatchString(name) {
		return fmt.Errorf("context name %q: want letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63", name)
	}
	return nil
}

// checkAPIURL checks a context's API URL.
func checkAPIURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("no API URL: want one like https://tend.example.com:7070")
	case err != nil:
		return fmt.Errorf("API URL %q: %w (want one like https://tend.example.com:7070)", s, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("API URL %q: want http:// or https://, then the server's host and port, like https://tend.example.com:7070", s)
	}
	return nil
}

// target is where client commands send requests, and where each part came from.
type target struct {
	api, apiFrom     string
	token, tokenFrom string
	caFile, caFrom   string
	// serverName is the name the API's certificate is verified for ("": the URL's host)
	serverName, serverNameFrom string
	warnings                   []string
}

// source is a value with where it came from.
type source struct{ value, from string }

func first(ss ...source) source {
	for _, s := range ss {
		if s.value != "" {
			return s
		}
	}
	return source{}
}

// target finds the API URL, the token and the CA file, each from the first of: the
// flags (--api, --token, --ca-file); the environment (TEND_API, TEND_TOKEN,
// TEND_CA_FILE); the context named by --context or TEND_CONTEXT; the data dir when
// --data or TEND_DATA name one; the config's current context; the data dir (DATA/api,
// DATA/token), and http://127.0.0.1:7070. A context's token and CA go only with its own
// API: with --api or TEND_API naming another server, they are not used.
func (g *globals) target() (*target, error) {
	t := &target{}
	cfg := &cliConfig{}
	path, err := configPath()
	if err == nil { // without a home there is no config: the data dir still works
		if cfg, t.warnings, err = loadConfig(path); err != nil {
			return nil, err
		}
	}
	name, nameFrom := g.selectedContext(cfg)
	var cx *cliContext
	if name != "" {
		if cx = cfg.Contexts[name]; cx == nil {
			return nil, fmt.Errorf("no context %q (from %s) in %s: %s", name, nameFrom, path, cfg.have())
		}
	}
	apiFile := filepath.Join(g.dataDir, "api")
	addr := first(source{g.api, "--api"}, source{os.Getenv("TEND_API"), "TEND_API"}, source{cx.api(), "context " + name},
		source{readTrimmed(apiFile), "the data dir (" + apiFile + ")"}, source{"http://127.0.0.1:7070", "the default address"})
	t.api, t.apiFrom = withScheme(addr.value), addr.from
	own := cx != nil && sameAPI(t.api, withScheme(cx.API))

	tok := first(source{g.token, "--token"}, source{os.Getenv("TEND_TOKEN"), "TEND_TOKEN"})
	if tok.value == "" && own {
		if tok, err = cx.token(name, path); err != nil {
			return nil, err
		}
		if cx.TokenFile != "" {
			if w := openToOthers(cx.abs(cx.TokenFile, path), "the token file of context "+name); w != "" {
				t.warnings = append(t.warnings, w)
			}
		}
	}
	if dataAPI := readTrimmed(apiFile); tok.value == "" && !onThisMachine(t.api) && (dataAPI == "" || !sameAPI(t.api, withScheme(dataAPI))) {
		hint := ""
		if cx != nil && !own {
			hint = fmt.Sprintf("; context %s's token goes only to its own API %s", name, cx.API)
		}
		return nil, fmt.Errorf("no API token for %s (from %s): the data dir's token (an admin token) goes only to its own server (%s) or one on this machine; set TEND_TOKEN or --token, or pick a context (tend context list)%s", t.api, t.apiFrom, apiFile, hint)
	}
	if tok.value == "" {
		tokenFile := filepath.Join(g.dataDir, "token")
		b, err := os.ReadFile(tokenFile)
		if errors.Is(err, fs.ErrNotExist) && readTrimmed(apiFile) == "" && cx == nil && t.apiFrom == "the default address" {
			return nil, fmt.Errorf("no tend server found: none has run on the data dir %s (no %s); start one with `tend server` (or `tend up -f tend.yaml`), or point TEND_API and TEND_TOKEN at a running one", g.dataDir, tokenFile)
		}
		if err != nil {
			hint := ""
			if cx != nil && !own {
				hint = fmt.Sprintf("; context %s's token goes only to its own API %s, not to %s (from %s)", name, cx.API, t.api, t.apiFrom)
			}
			return nil, fmt.Errorf("no API token for %s: set TEND_TOKEN or --token, pick a context (tend context list), or point --data at the server's data dir (%w)%s", t.api, err, hint)
		}
		tok = source{strings.TrimSpace(string(b)), "the data dir (" + tokenFile + ")"}
	}
	t.token, t.tokenFrom = tok.value, tok.from

	ca := first(source{g.caFile, "--ca-file"}, source{os.Getenv("TEND_CA_FILE"), "TEND_CA_FILE"})
	if ca.value == "" && own && cx.CAFile != "" {
		ca = source{cx.abs(cx.CAFile, path), "context " + name}
	}
	t.caFile, t.caFrom = ca.value, ca.from

	sn := first(source{g.tlsServerName, "--tls-server-name"}, source{os.Getenv("TEND_TLS_SERVER_NAME"), "TEND_TLS_SERVER_NAME"})
	if sn.value == "" && own && cx.TLSServerName != "" {
		sn = source{cx.TLSServerName, "context " + name}
	}
	if dataAPI := readTrimmed(apiFile); sn.value == "" && dataAPI != "" && sameAPI(t.api, withScheme(dataAPI)) {
		nameFile := filepath.Join(g.dataDir, daemon.APIServerNameFile)
		sn = source{readTrimmed(nameFile), "the data dir (" + nameFile + ")"}
	}
	t.serverName, t.serverNameFrom = sn.value, sn.from
	return t, nil
}

// selectedContext is the context client commands use ("" for none), and what chose it.
func (g *globals) selectedContext(cfg *cliConfig) (name, from string) {
	switch {
	case g.context != "":
		return g.context, "--context"
	case os.Getenv("TEND_CONTEXT") != "":
		return os.Getenv("TEND_CONTEXT"), "TEND_CONTEXT"
	case os.Getenv("TEND_DATA") != "" || g.dataDir != DefaultDataDir():
		return "", "--data or TEND_DATA" // a data dir named on purpose is the server of that data dir
	}
	return cfg.Current, "the current context (tend context use)"
}

// api is the context's API URL ("" for no context).
func (cx *cliContext) api() string {
	if cx == nil {
		return ""
	}
	return cx.API
}

// token is the context's token: stored in the config file, or read from its token file.
func (cx *cliContext) token(name, configFile string) (source, error) {
	if cx.Token != "" {
		return source{cx.Token, "context " + name + " (stored in " + configFile + ")"}, nil
	}
	file := cx.abs(cx.TokenFile, configFile)
	b, err := os.ReadFile(file)
	if err != nil {
		return source{}, fmt.Errorf("read the token file of context %s: %w (fix the file, or the context: tend context add %s --api %s --token-file FILE)", name, err, name, cx.API)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return source{}, fmt.Errorf("the token file %s of context %s is empty: put the server's token in it (its DATA/token)", file, name)
	}
	return source{tok, "context " + name + " (token file " + file + ")"}, nil
}

// abs is p, a path of the context, relative to the config file's directory.
func (cx *cliContext) abs(p, configFile string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configFile), p)
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// withScheme is an API address as a URL: http:// when it has no scheme.
func withScheme(s string) string {
	if !strings.Contains(s, "://") {
		return "http://" + s
	}
	return s
}

// sameAPI reports whether two API URLs name the same server.
// onThisMachine reports whether an API URL's host is a loopback address or localhost.
func onThisMachine(api string) bool {
	u, err := url.Parse(api)
	if err != nil {
		return false
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

func sameAPI(a, b string) bool {
	norm := func(s string) string {
		u, err := url.Parse(strings.TrimRight(s, "/"))
		if err != nil {
			return s
		}
		u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		return u.String()
	}
	return norm(a) == norm(b)
}

func newContextCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context",
		Short: "Keep the servers the CLI talks to: add, use, list, remove",
		Long: `A context is a tend server the CLI talks to: its API URL, the token to reach it with,
and, for a certificate of a private CA, the CA file to verify it against. One context is
current; client commands use it unless told otherwise, so that one CLI works with the
server on this machine, one on a VM and one in CI alike.

Contexts live in $XDG_CONFIG_HOME/tend/config.yaml (default ~/.config/tend/config.yaml),
mode 0600 in a directory of mode 0700, written whole at each change. A config file open to
other users gets a warning. It reads:

  current: prod
  contexts:
    prod:
      api: https://tend.example.com:7070
      tokenFile: /home/me/.config/tend/prod.token    # or token: TOKEN (--token-stdin)
      caFile: /home/me/.config/tend/prod-ca.pem      # for a private CA; else the system's roots

Client commands take the API URL, the token and the CA file each from the first of:
  1. --api, --token, --ca-file
  2. TEND_API, TEND_TOKEN, TEND_CA_FILE
  3. the context --context or TEND_CONTEXT names
  4. the data dir, when --data or TEND_DATA names one
  5. the current context (tend context use)
  6. the data dir: DATA/api and DATA/token, then http://127.0.0.1:7070
A context's token and CA go only to its own API: with --api or TEND_API naming another
server, the token comes from --token, TEND_TOKEN or the data dir. When the server refuses
a token, the error says where the CLI took it from.`,
		Example: `  tend context add prod --api https://tend.example.com:7070 --token-file ~/.config/tend/prod.token
  tend context use prod
  tend status                         # on prod
  tend --context staging status       # once on staging
  tend context list`,
	}
	cmd.AddCommand(newContextAddCmd(g), newContextUseCmd(g), newContextListCmd(g), newContextRmCmd())
	return cmd
}

// editConfig loads the config file, lets change alter it, and writes it back.
func editConfig(change func(c *cliConfig) error) error {
	path, err := configPath()
	if err != nil {
		return err
	}
	c, _, err := loadConfig(path)
	if err != nil {
		return err
	}
	if err := change(c); err != nil {
		return err
	}
	return saveConfig(path, c)
}

func newContextAddCmd(g *globals) *cobra.Command {
	var apiURL, tokenFile, caFile, serverName string
	var tokenStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME --api URL (--token-file FILE | --token-stdin) [--ca-file FILE] [--tls-server-name NAME]",
		Short: "Add a context (or replace the one of that name): a server's API URL and its token",
		Long: `Add the context NAME, or replace the one of that name. The first context added becomes
the current one.

The token comes one of two ways, never from the command line (ps and the shell's history
would keep it):
  --token-file FILE  the context keeps FILE's path, and commands read the token from it
                     each time: a rotated token needs no new tend context add, and the
                     token stays in one place, a file you keep at mode 0600 (copy the
                     server's DATA/token, or a token made for you).
  --token-stdin      the token itself, read from stdin (typed at a prompt, not echoed, or
                     piped), is stored in the config file: for a CI job or a machine where
                     no token file is kept. The config file is mode 0600 either way.

With an https:// API, the server's certificate is verified against the system's roots,
or, with --ca-file, against the CA certificates of that PEM file alone (a private CA, or
the server's self-signed certificate). The certificate must be for the URL's host, or,
with --tls-server-name, for that name (an API reached by an address its certificate does
not name). There is no way to skip the verification.`,
		Example: `  tend context add prod --api https://tend.example.com:7070 --token-file ~/.config/tend/prod.token
  tend context add lab --api https://10.0.0.5:7070 --token-file lab.token --ca-file lab-ca.pem
  printf %s "$TEND_DEPLOY_TOKEN" | tend context add ci --api https://tend.example.com:7070 --token-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			invalid := func(err error) error { return &exitCodeError{code: exitInvalid, err: err} }
			if err := checkContextName(name); err != nil {
				return invalid(err)
			}
			if err := checkAPIURL(apiURL); err != nil {
				return invalid(fmt.Errorf("--api: %w", err))
			}
			if g.token != "" {
				return invalid(errors.New("--token is not stored: give the token with --token-file FILE or --token-stdin (a token on the command line stays in the shell's history)"))
			}
			if (tokenFile == "") == !tokenStdin {
				return invalid(errors.New("give the token with one of --token-file FILE and --token-stdin"))
			}
			u, _ := url.Parse(apiURL)
			if caFile != "" && u.Scheme != "https" {
				return invalid(fmt.Errorf("--ca-file verifies an https:// API, and %s is plain HTTP: use the server's https:// URL (tend server --api-tls-cert)", apiURL))
			}
			if serverName != "" && u.Scheme != "https" {
				return invalid(fmt.Errorf("--tls-server-name verifies an https:// API, and %s is plain HTTP: use the server's https:// URL", apiURL))
			}
			cx := &cliContext{API: apiURL, TLSServerName: serverName}
			var err error
			if tokenStdin {
				if cx.Token, err = readToken(cmd, name); err != nil {
					return err
				}
			} else {
				if cx.TokenFile, err = filepath.Abs(tokenFile); err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				if _, err := cx.token(name, ""); err != nil {
					return invalid(err)
				}
				if w := openToOthers(cx.TokenFile, "the token file"); w != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "tend: warning:", w)
				}
			}
			if caFile != "" {
				if cx.CAFile, err = filepath.Abs(caFile); err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				if _, err := api.NewHTTPClient(cx.CAFile, ""); err != nil {
					return invalid(fmt.Errorf("--ca-file: %w", err))
				}
			}
			if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "tend: warning: %s is plain HTTP: the token crosses the network in clear text; give the server a certificate (tend server --api-tls-cert FILE --api-tls-key FILE) and use https://\n", apiURL)
			}
			var replaced, current bool
			err = editConfig(func(c *cliConfig) error {
				if c.Contexts == nil {
					c.Contexts = map[string]*cliContext{}
				}
				replaced = c.Contexts[name] != nil
				c.Contexts[name] = cx
				if c.Current == "" {
					c.Current = name
				}
				current = c.Current == name
				return nil
			})
			if err != nil {
				return err
			}
			verb, note := "added", ""
			if replaced {
				verb = "replaced"
			}
			if current {
				note = "; it is the current context"
			} else {
				note = "; tend context use " + name + " makes it the current one"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "context %s %s (%s)%s\n", name, verb, apiURL, note)
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", "", "the server's API URL, like https://tend.example.com:7070")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the token; the context keeps its path and reads it at each command")
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the token from stdin and store it in the config file")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM file of the CA to verify the server's certificate against, instead of the system's roots")
	cmd.Flags().StringVar(&serverName, "tls-server-name", "", "the name to verify the server's certificate for, when the API URL's host is not one of its names")
	_ = cmd.MarkFlagRequired("api")
	return cmd
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readToken reads a token from stdin: at a prompt without echo on a terminal, else all
// of it, without surrounding space.
func readToken(cmd *cobra.Command, name string) (string, error) {
	in := cmd.InOrStdin()
	var b []byte
	var err error
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(cmd.ErrOrStderr(), "token of context %s (not shown): ", name)
		b, err = term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
	} else {
		b, err = io.ReadAll(io.LimitReader(in, 64<<10))
	}
	if err != nil {
		return "", fmt.Errorf("read the token from stdin: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", &exitCodeError{code: exitInvalid, err: fmt.Errorf("stdin gave an empty token: pipe it in (printf %%s \"$TOKEN\" | tend context add %s --api URL --token-stdin), or use --token-file", name)}
	}
	return tok, nil
}

func newContextUseCmd(g *globals) *cobra.Command {
	var none bool
	cmd := &cobra.Command{
		Use:   "use NAME",
		Short: "Make a context the current one (--none: back to the data dir's server)",
		Long: `Make context NAME the current one: client commands reach its server unless a flag or
the environment says otherwise (tend context --help has the order). With --none, no
context is current, and commands reach the server of the data dir again.`,
		Example: `  tend context use prod
  tend context use --none`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if none == (len(args) == 1) {
				return &exitCodeError{code: exitInvalid, err: errors.New("give a context's NAME (tend context list shows them), or --none")}
			}
			name := ""
			if !none {
				name = args[0]
			}
			err := editConfig(func(c *cliConfig) error {
				if name != "" && c.Contexts[name] == nil {
					return &exitCodeError{code: exitInvalid, err: fmt.Errorf("no context %q: %s", name, c.have())}
				}
				c.Current = name
				return nil
			})
			if err != nil {
				return err
			}
			if name == "" {
				fmt.Fprintln(cmd.OutOrStdout(), "no current context: commands reach the server of the data dir")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "context %s is the current one\n", name)
			}
			if other, from := g.selectedContext(&cliConfig{Current: name}); other != name {
				fmt.Fprintf(cmd.ErrOrStderr(), "tend: note: here %s still decides which server commands reach\n", from)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&none, "none", false, "make no context current")
	return cmd
}

// contextView is a context as tend context list shows it; the token itself never is.
type contextView struct {
	Name        string `json:"name"`
	API         string `json:"api"`
	TokenFile   string `json:"tokenFile,omitempty"`
	TokenStored bool   `json:"tokenStored"`
	CAFile      string `json:"caFile,omitempty"`
	Current     bool   `json:"current"`
}

func newContextListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the contexts; * marks the one client commands use here",
		Long: `List the contexts of the config file with their API URL, where their token is, and
their CA file. * marks the context client commands use here: --context, TEND_CONTEXT,
else the current one (none when --data or TEND_DATA picks a data dir). Tokens are never
shown.`,
		Example: `  tend context list
  tend context list -o json | jq -r '.[] | select(.current) | .api'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configPath()
			if err != nil {
				return err
			}
			c, warnings, err := loadConfig(path)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "tend: warning:", w)
			}
			selected, _ := g.selectedContext(c)
			list := []contextView{}
			for _, name := range c.names() {
				cx := c.Contexts[name]
				list = append(list, contextView{Name: name, API: cx.API, TokenFile: cx.abs(cx.TokenFile, path),
					TokenStored: cx.Token != "", CAFile: cx.abs(cx.CAFile, path), Current: name == selected})
			}
			return render(cmd.OutOrStdout(), g.output, list, func(tw *table) {
				fmt.Fprintln(tw, "CURRENT\tNAME\tAPI\tTOKEN\tCA FILE")
				for _, v := range list {
					mark, tok, ca := "", "stored in the config", "-"
					if v.Current {
						mark = "*"
					}
					if v.TokenFile != "" {
						tok = v.TokenFile
					}
					if v.CAFile != "" {
						ca = v.CAFile
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, v.Name, v.API, tok, ca)
				}
				if len(list) == 0 {
					fmt.Fprintf(tw, "(no contexts in %s: tend context add NAME --api URL --token-file FILE)\n", path)
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func newContextRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a context (its token file stays where it is)",
		Long: `Remove context NAME from the config file, with its token when it was stored there; a
token file it named is left alone. When it was the current context, no context is
current any more: commands reach the server of the data dir until tend context use.`,
		Example: `  tend context rm staging`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			wasCurrent := false
			err := editConfig(func(c *cliConfig) error {
				if c.Contexts[name] == nil {
					return &exitCodeError{code: exitInvalid, err: fmt.Errorf("no context %q: %s", name, c.have())}
				}
				delete(c.Contexts, name)
				if wasCurrent = c.Current == name; wasCurrent {
					c.Current = ""
				}
				return nil
			})
			if err != nil {
				return err
			}
			if wasCurrent {
				fmt.Fprintf(cmd.OutOrStdout(), "context %s removed; no context is current now (tend context use NAME)\n", name)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "context %s removed\n", name)
			}
			return nil
		},
	}
}
