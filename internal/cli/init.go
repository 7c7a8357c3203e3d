package cli

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/modfile"

	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/kit/config"
)

// kitModule is the import path of kit, whose servers tend init knows without reading them.
const kitModule = "github.com/tendhq/tend/kit"

func newInitCmd(g *globals) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented tend.yaml for the Go main package in DIR (default: here)",
		Long: `Write DIR/tend.yaml for the Go main package in DIR (default: the current directory),
with every commonly used section present and commented, ready for tend deploy.

The main package is DIR itself, or the one main package under DIR/cmd/ (with several,
--main ./cmd/NAME picks one). The module is found by go.mod in DIR or a parent. The app
is named after the main package's directory (--name sets another).

tend init reads the package's Go files, and those of the module's packages it imports,
with go/parser: nothing is built, nothing is downloaded. It looks for:

  kit          imports of github.com/tendhq/tend/kit/...: kit/server listens on $PORT and
               serves kit/health's /ready and /health, and kit/metrics on ADMIN_PORT
  the port     tend gives each instance its own PORT: os.Getenv("PORT"), a kit/config
               field read from PORT, a -port or -addr flag (then args: ["-port=$PORT"]),
               or a fixed address like ":8080", which it warns about
  health       kit's paths, kit/health handlers mounted on a path, or the literal paths
               /readyz, /ready, /livez, /healthz, /health, ... of net/http code
  metrics      kit/metrics, or a /metrics handler (prometheus/promhttp)
  environment  the variables the code reads (os.Getenv, kit/config), listed for env:

What was detected, and what was not, is said in the file's comments ("# detected:",
"# not detected:"): read those lines before the first deploy. The file is checked with
tend's own spec parser before it is written.

An existing tend.yaml is never overwritten without --force; --stdout prints the file
instead of writing it. Exit codes: 0 written; 4 nothing to init here (no go.mod, no main
package, several main packages, tend.yaml exists); 1 the file could not be written.`,
		Example: `  tend init                          # ./tend.yaml for the main package here (or the one in ./cmd/)
  tend init ./services/shop --name shop
  tend init --main ./cmd/api         # several main packages under ./cmd: pick one
  tend init --stdout | less          # look before writing
  tend init && tend deploy -f tend.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = "."
			if len(args) == 1 {
				o.dir = args[0]
			}
			res, err := runInit(o)
			if err != nil {
				return err
			}
			if o.stdout {
				if machineFormat(g.output) {
					return render(cmd.OutOrStdout(), g.output, res, nil)
				}
				fmt.Fprint(cmd.OutOrStdout(), res.Spec)
				printInitSummary(cmd.ErrOrStderr(), res)
				return nil
			}
			res.Spec = ""
			return render(cmd.OutOrStdout(), g.output, res, func(tw *table) { printInitSummary(tw, res) })
		},
	}
	cmd.Flags().StringVar(&o.main, "main", "", "the main package, relative to DIR (like ./cmd/api), when DIR holds several")
	cmd.Flags().StringVar(&o.name, "name", "", "the app's name (lowercase letters, digits and '-'; default: the main package's directory)")
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite an existing tend.yaml")
	cmd.Flags().BoolVar(&o.stdout, "stdout", false, "print the file instead of writing it (the summary goes to stderr)")
	addOutputFlag(cmd, g)
	return cmd
}

type initOptions struct {
	dir, main, name string
	force, stdout   bool
}

// initResult is what tend init wrote (-o json|yaml prints it).
type initResult struct {
	// Path is the file written, as the command line named its directory ("" with --stdout).
	Path string `json:"path,omitempty"`
	App  string `json:"app"`
	// Main is build.main, relative to the file.
	Main    string       `json:"main"`
	Package string       `json:"package"`
	Module  string       `json:"module"`
	Detect  initDetected `json:"detected"`
	Next    string       `json:"next"`
	// Spec is the file's content, with --stdout.
	Spec string `json:"spec,omitempty"`
}

// initDetected is what tend init found in the code.
type initDetected struct {
	// Kit are the kit packages the code imports (config, health, server, ...).
	Kit       []string    `json:"kit,omitempty"`
	Port      initPort    `json:"port"`
	Readiness initFinding `json:"readiness"`
	Liveness  initFinding `json:"liveness"`
	Metrics   initFinding `json:"metrics"`
	// Env are the variables the code reads (tend's own PORT, ADMIN_PORT and TEND_* left out).
	Env []initEnvVar `json:"env,omitempty"`
	// Files is how many Go files were read.
	Files int `json:"files"`
}

// initPort is how the program finds the port to listen on.
type initPort struct {
	// Env is PORT when the program reads it (tend sets it for each instance).
	Env string `json:"env,omitempty"`
	// Default is the port it listens on when PORT is unset.
	Default string `json:"default,omitempty"`
	// Fixed is an address it always listens on: every instance would want the same port.
	Fixed string `json:"fixed,omitempty"`
	// Arg is the command-line argument that gives it tend's port (args: in the spec).
	Arg  string `json:"arg,omitempty"`
	From string `json:"from,omitempty"`
}

// initFinding is a path tend init looked for: the value written, and where it came from
// when it was detected.
type initFinding struct {
	Detected bool   `json:"detected"`
	Value    string `json:"value,omitempty"`
	Port     string `json:"port,omitempty"` // metrics: admin or app
	// Source is the kit package that serves it (kit/server, kit/health), or the
	// metrics library; "" for a handler of the program's own.
	Source string `json:"source,omitempty"`
	From   string `json:"from,omitempty"` // file:line
	Note   string `json:"note,omitempty"`
}

// describe says what was detected, for the file's comments and the summary.
func (f initFinding) describe(kind string) string {
	switch {
	case kind == "metrics" && f.Source == "kit/server":
		return fmt.Sprintf("kit/server serves kit/metrics at %s on ADMIN_PORT (%s)", f.Value, f.From)
	case kind == "metrics":
		return fmt.Sprintf("a %s handler (%s, %s), taken to be on PORT", f.Value, f.Source, f.From)
	case f.Source == "kit/server":
		return fmt.Sprintf("kit/server serves kit/health's %s at %s (%s)", kind, f.Value, f.From)
	case f.Source == "kit/health":
		return fmt.Sprintf("kit/health's %s handler is mounted at %s (%s)", kind, f.Value, f.From)
	}
	s := fmt.Sprintf("a handler for %s (%s)", f.Value, f.From)
	if f.Note != "" {
		s += ": " + f.Note
	}
	return s
}

type initEnvVar struct {
	Name    string `json:"name"`
	Default string `json:"default,omitempty"`
	From    string `json:"from"`
}

// initInvalid is an error of "nothing here to init" (exit 4).
func initInvalid(format string, args ...any) error {
	return &exitCodeError{code: exitInvalid, err: fmt.Errorf(format, args...)}
}

func runInit(o initOptions) (*initResult, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, initInvalid("%s is not a directory: run tend init in your Go service's directory, or name it: tend init DIR", o.dir)
	}
	out := filepath.Join(dir, "tend.yaml")
	if _, err := os.Lstat(out); err == nil && !o.force && !o.stdout {
		return nil, initInvalid("%s exists: tend init does not overwrite it (--force replaces it, --stdout prints the new one instead)", filepath.Join(o.dir, "tend.yaml"))
	}
	mainDir, err := findMain(dir, o)
	if err != nil {
		return nil, err
	}
	modRoot, modPath, err := findModule(mainDir, o.dir)
	if err != nil {
		return nil, err
	}
	rel, _ := filepath.Rel(dir, mainDir)
	main := filepath.ToSlash(rel)
	if rel != "." && !strings.HasPrefix(rel, "..") {
		main = "./" + main
	}
	pkgRel, _ := filepath.Rel(modRoot, mainDir)
	pkg := modPath
	if pkgRel != "." {
		pkg = modPath + "/" + filepath.ToSlash(pkgRel)
	}
	name, nameNote, err := initAppName(o.name, mainDir, modPath)
	if err != nil {
		return nil, err
	}
	sc := &initScan{fset: token.NewFileSet(), dir: dir, modRoot: modRoot, modPath: modPath, seen: map[string]bool{}}
	sc.load(mainDir)
	d := sc.detect()
	res := &initResult{App: name, Main: main, Package: pkg, Module: modPath, Detect: d}
	path := filepath.Join(o.dir, "tend.yaml")
	res.Next = "tend deploy -f " + path
	res.Spec = initYAML(res, nameNote)
	if _, err := spec.Parse(path, []byte(res.Spec)); err != nil {
		// a bug of tend init's, not the user's: say so rather than write a file that fails
		return nil, fmt.Errorf("tend init made a spec tend cannot load (a bug; please report it): %w", err)
	}
	if o.stdout {
		return res, nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if o.force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(out, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, initInvalid("%s exists: tend init does not overwrite it (--force replaces it, --stdout prints the new one instead)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(res.Spec); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	res.Path = path
	return res, nil
}

func printInitSummary(w io.Writer, r *initResult) {
	if r.Path != "" {
		fmt.Fprintf(w, "wrote %s: app %s, build.main %s (%s)\n", r.Path, r.App, r.Main, r.Package)
	} else {
		fmt.Fprintf(w, "tend.yaml for app %s, build.main %s (%s)\n", r.App, r.Main, r.Package)
	}
	d := r.Detect
	kit := "not used"
	if len(d.Kit) > 0 {
		kit = strings.Join(d.Kit, ", ")
	}
	fmt.Fprintf(w, "  kit:        %s\n", kit)
	fmt.Fprintf(w, "  port:       %s\n", d.Port.summary())
	for _, f := range []struct {
		name string
		f    initFinding
	}{{"readiness", d.Readiness}, {"liveness", d.Liveness}, {"metrics", d.Metrics}} {
		fmt.Fprintf(w, "  %-11s %s\n", f.name+":", f.f.summary(f.name))
	}
	if r.Path == "" {
		fmt.Fprintf(w, "next: save it as tend.yaml, read its \"not detected\" comments, then %s\n", r.Next)
		return
	}
	fmt.Fprintf(w, "next: read its \"not detected\" comments, then %s\n", r.Next)
}

func (p initPort) summary() string {
	switch {
	case p.Env != "" && p.Default != "":
		return fmt.Sprintf("detected: reads %s (%s; %s when unset)", p.Env, p.From, p.Default)
	case p.Env != "":
		return fmt.Sprintf("detected: reads %s (%s)", p.Env, p.From)
	case p.Arg != "":
		return fmt.Sprintf("detected: takes it as a flag (%s): args: [%q]", p.From, p.Arg)
	case p.Fixed != "":
		return fmt.Sprintf("detected: a fixed %s (%s): it should read PORT", p.Fixed, p.From)
	}
	return "not detected: the program should listen on $PORT"
}

func (f initFinding) summary(name string) string {
	switch {
	case f.Detected:
		return "detected: " + f.describe(name)
	case name == "metrics":
		return "not detected (metrics: false)"
	case name == "readiness":
		return "not detected (tcp: ready once it accepts connections)"
	}
	return "not detected (none)"
}

// findMain is the main package's directory: --main, DIR itself, or the one of DIR/cmd/*.
func findMain(dir string, o initOptions) (string, error) {
	if o.main != "" {
		m := o.main
		if !filepath.IsAbs(m) {
			m = filepath.Join(dir, m)
		}
		if !isMainPackage(m) {
			return "", initInvalid("--main %s: %s is not a Go main package (no .go file of package main there)", o.main, m)
		}
		return m, nil
	}
	if isMainPackage(dir) {
		return dir, nil
	}
	var mains []string
	entries, _ := os.ReadDir(filepath.Join(dir, "cmd"))
	for _, e := range entries {
		if p := filepath.Join(dir, "cmd", e.Name()); e.IsDir() && isMainPackage(p) {
			mains = append(mains, "./"+filepath.ToSlash(filepath.Join("cmd", e.Name())))
		}
	}
	switch len(mains) {
	case 0:
		return "", initInvalid("no Go main package in %s or %s: run tend init in the directory of your service's package main, or name it with --main ./path/to/main", o.dir, filepath.Join(o.dir, "cmd", "*"))
	case 1:
		return filepath.Join(dir, filepath.FromSlash(mains[0])), nil
	}
	return "", initInvalid("%d main packages in %s: %s; pick one with --main (like tend init --main %s); each app gets its own tend.yaml", len(mains), filepath.Join(o.dir, "cmd"), strings.Join(mains, ", "), mains[0])
}

// isMainPackage says whether dir holds a Go file of package main that builds here.
func isMainPackage(dir string) bool {
	names, _ := goFiles(dir)
	fset := token.NewFileSet()
	for _, n := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err == nil && f.Name.Name == "main" {
			return true
		}
	}
	return false
}

// goFiles are the non-test Go files of dir that go build would compile (build tags and
// GOOS/GOARCH suffixes as for this machine).
func goFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		if ok, err := build.Default.MatchFile(dir, n); err == nil && ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// findModule finds go.mod in dir or a parent, and the module's path.
func findModule(dir, arg string) (root, path string, err error) {
	for d := dir; ; d = filepath.Dir(d) {
		gomod := filepath.Join(d, "go.mod")
		b, err := os.ReadFile(gomod)
		if errors.Is(err, fs.ErrNotExist) {
			if filepath.Dir(d) == d {
				return "", "", initInvalid("no go.mod in %s or any directory above it: tend builds Go modules; run go mod init MODULE-PATH at the module's root first", arg)
			}
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("read %s: %w", gomod, err)
		}
		mod := modfile.ModulePath(b)
		if mod == "" {
			return "", "", initInvalid("%s has no module line: fix it (go mod edit -module MODULE-PATH), then run tend init again", gomod)
		}
		return d, mod, nil
	}
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// initAppName is --name, or the main package's directory (or the module's last element)
// made a valid app name; note says how a name was made from another.
func initAppName(flag, mainDir, modPath string) (name, note string, err error) {
	if flag != "" {
		if err := spec.CheckAppName(flag); err != nil {
			return "", "", initInvalid("--name: %v", err)
		}
		return flag, "", nil
	}
	for _, from := range []string{filepath.Base(mainDir), modPath[strings.LastIndex(modPath, "/")+1:]} {
		n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(from), "-"), "-")
		if len(n) > 63 {
			n = strings.TrimRight(n[:63], "-")
		}
		if spec.CheckAppName(n) == nil {
			if n != from {
				note = fmt.Sprintf("made of %q", from)
			}
			return n, note, nil
		}
	}
	return "", "", initInvalid("no app name can be made of the directory %s: give one with --name (lowercase letters, digits and '-', like my-app)", mainDir)
}

// initScan reads the main package and the module's packages it imports.
type initScan struct {
	fset                  *token.FileSet
	dir, modRoot, modPath string
	seen                  map[string]bool
	pkgs                  []*initPkg
	files                 int
}

type initPkg struct {
	dir   string
	files []*ast.File
	// structs are the package's named struct types, for kit/config's nested fields
	structs map[string]*ast.StructType
}

// maxInitPackages bounds how many of the module's packages are read.
const maxInitPackages = 200

func (s *initScan) load(dir string) {
	if s.seen[dir] || len(s.seen) >= maxInitPackages {
		return
	}
	s.seen[dir] = true
	names, _ := goFiles(dir)
	p := &initPkg{dir: dir, structs: map[string]*ast.StructType{}}
	for _, n := range names {
		f, err := parser.ParseFile(s.fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if f == nil || (err != nil && f.Name == nil) {
			continue // unreadable: what could be read of the others still counts
		}
		p.files = append(p.files, f)
		s.files++
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
				for _, spec := range gd.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok {
						if st, ok := ts.Type.(*ast.StructType); ok {
							p.structs[ts.Name.Name] = st
						}
					}
				}
			}
		}
	}
	s.pkgs = append(s.pkgs, p)
	for _, f := range p.files {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			rest, ok := strings.CutPrefix(path, s.modPath+"/")
			if !ok || path == kitModule || strings.HasPrefix(path, kitModule+"/") {
				continue
			}
			d := filepath.Join(s.modRoot, filepath.FromSlash(rest))
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				continue // a module of its own
			}
			s.load(d)
		}
	}
}

// where names a position: relative to DIR when it is in it, else to the module's root.
func (s *initScan) where(pos token.Pos) string {
	p := s.fset.Position(pos)
	rel, err := filepath.Rel(s.dir, p.Filename)
	if err != nil || strings.HasPrefix(rel, "..") {
		if r, err := filepath.Rel(s.modRoot, p.Filename); err == nil {
			rel = r
		}
	}
	return fmt.Sprintf("%s:%d", filepath.ToSlash(rel), p.Line)
}

// Paths that name health endpoints, best first.
var (
	readyPaths = []string{"/readyz", "/ready", "/readiness", "/health/ready", "/healthz/ready", "/_ready"}
	livePaths  = []string{"/livez", "/healthz", "/health", "/live", "/liveness", "/health/live", "/healthz/live", "/_health", "/ping"}
	addrRE     = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]*:([0-9]{1,5})$`)
	portRE     = regexp.MustCompile(`^:?[0-9]{1,5}$`)
	envVarRE   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	portFlags  = []string{"port", "addr", "address", "listen", "listen-addr", "http", "http-addr", "http-port", "http.addr", "bind"}
)

// tendEnv are variables tend sets for every instance or that its gateway relies on.
func tendEnv(name string) bool {
	return name == "PORT" || name == "ADMIN_PORT" || name == "HOST" || name == "ADMIN_HOST" || strings.HasPrefix(name, "TEND_")
}

type initHit struct {
	value, from string
}

// detect walks every file read and decides what the spec says.
func (s *initScan) detect() initDetected {
	d := initDetected{Files: s.files}
	kit := map[string]bool{}
	var (
		kitServer           string // where kit/server's Run or Default is called
		kitServerAddr       bool   // ... with an Addr of its own
		kitDefault          bool   // server.Default, which sets up kit/trace
		kitAdminOff         bool
		kitReady, kitLive   *initHit
		literals            = map[string]string{} // health and metrics paths → first place
		promhttp, kitMetric bool
		readsPort           *initHit // where PORT is read, value: its default
		fixed               *initHit
		flagArg             *initHit
		envs                []initEnvVar
		envSeen             = map[string]bool{}
		prefix              string // kit/config's WithPrefix
		cfgArgs             bool   // kit/config reads flags too
	)
	addEnv := func(name, def, from string) {
		if !envVarRE.MatchString(name) || envSeen[name] || tendEnv(name) {
			return
		}
		envSeen[name] = true
		envs = append(envs, initEnvVar{Name: name, Default: def, From: from})
	}
	for _, p := range s.pkgs {
		for _, f := range p.files {
			names := importNames(f)
			for path := range names {
				if rest, ok := strings.CutPrefix(path, kitModule+"/"); ok {
					kit[strings.SplitN(rest, "/", 2)[0]] = true
				}
				if path == "github.com/prometheus/client_golang/prometheus/promhttp" {
					promhttp = true
				}
			}
			serverName, hasServer := names[kitModule+"/server"]
			configName, hasConfig := names[kitModule+"/config"]
			flagName, hasFlag := names["flag"]
			if _, ok := names[kitModule+"/metrics"]; ok {
				kitMetric = true
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if v, ok := stringLit(n); ok {
						if path := routePath(v); path != "" {
							if _, ok := literals[path]; !ok {
								literals[path] = s.where(n.Pos())
							}
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Addr" {
						if v, ok := stringLit(n.Value); ok && addrRE.MatchString(v) && fixed == nil {
							fixed = &initHit{v, s.where(n.Pos())}
						}
					}
				case *ast.CallExpr:
					pkg, fn := callName(n)
					switch {
					case hasServer && pkg == serverName && (fn == "Run" || fn == "Default"):
						if kitServer == "" {
							kitServer = s.where(n.Pos())
						}
						kitDefault = kitDefault || fn == "Default"
						if len(n.Args) > 1 {
							if cl, ok := n.Args[1].(*ast.CompositeLit); ok {
								for _, e := range cl.Elts {
									kv, ok := e.(*ast.KeyValueExpr)
									if !ok {
										continue
									}
									switch k, _ := kv.Key.(*ast.Ident); {
									case k == nil:
									case k.Name == "Addr":
										kitServerAddr = true
									case k.Name == "AdminAddr":
										if v, ok := stringLit(kv.Value); ok && v == "-" {
											kitAdminOff = true
										}
									}
								}
							}
						}
					case hasConfig && pkg == configName && fn == "WithPrefix" && len(n.Args) == 1:
						if v, ok := stringLit(n.Args[0]); ok && prefix == "" {
							prefix = v
						}
					case hasConfig && pkg == configName && fn == "WithArgs":
						cfgArgs = true
					case hasFlag && pkg == flagName && flagArg == nil:
						flagArg = s.portFlag(n, fn)
					case pkg != "" && (fn == "ListenAndServe" || fn == "ListenAndServeTLS" || fn == "Listen"):
						for _, a := range n.Args {
							if v, ok := stringLit(a); ok && addrRE.MatchString(v) && fixed == nil {
								fixed = &initHit{v, s.where(n.Pos())}
							}
						}
					}
					// a health handler of kit's mounted on a path of the program's own
					if len(n.Args) >= 2 {
						if path, ok := stringLit(n.Args[0]); ok {
							if path = patternPath(path); path != "" {
								for _, a := range n.Args[1:] {
									if c, ok := a.(*ast.CallExpr); ok {
										switch _, h := callName(c); h {
										case "ReadyHandler":
											if kitReady == nil {
												kitReady = &initHit{path, s.where(n.Pos())}
											}
										case "LiveHandler":
											if kitLive == nil {
												kitLive = &initHit{path, s.where(n.Pos())}
											}
										}
									}
								}
							}
						}
					}
					// os.Getenv("X"), os.LookupEnv("X"), envOr("X", "default"), ...
					if lower := strings.ToLower(fn); strings.Contains(lower, "env") && !strings.Contains(lower, "setenv") && len(n.Args) >= 1 {
						if name, ok := stringLit(n.Args[0]); ok {
							def := ""
							if len(n.Args) >= 2 {
								def, _ = stringLit(n.Args[1])
							}
							if name == "PORT" && readsPort == nil {
								if !portRE.MatchString(def) {
									def = ""
								}
								readsPort = &initHit{strings.TrimPrefix(def, ":"), s.where(n.Pos())}
							}
							addEnv(name, def, s.where(n.Pos()))
						}
					}
				}
				return true
			})
		}
	}
	// kit/config: every field of a struct with env or default tags is a variable
	for _, p := range s.pkgs {
		if !kit["config"] {
			break
		}
		for _, f := range p.files {
			seen := map[*ast.StructType]bool{}
			ast.Inspect(f, func(n ast.Node) bool {
				st, ok := n.(*ast.StructType)
				if !ok || seen[st] {
					return true
				}
				var fields []configField
				s.configFields(p, st, "", "", 0, seen, &fields)
				if !slices.ContainsFunc(fields, func(f configField) bool { return f.tagged }) {
					return true
				}
				for _, cf := range fields {
					name := cf.env
					if prefix != "" {
						name = prefix + "_" + name
					}
					from := cf.from + " (kit/config)"
					switch {
					case name == "PORT" && readsPort == nil:
						readsPort = &initHit{cf.def, from}
					case strings.HasSuffix(name, "PORT") && name != "ADMIN_PORT" && cfgArgs && flagArg == nil:
						flagArg = &initHit{"--" + cf.flag + "=$PORT", from}
					}
					addEnv(name, cf.def, from)
				}
				return true
			})
		}
	}
	for k := range kit {
		d.Kit = append(d.Kit, k)
	}
	sort.Strings(d.Kit)
	if kit["trace"] || kitDefault {
		addEnv("OTEL_EXPORTER_OTLP_ENDPOINT", "", "kit/trace sends spans there (OTLP/HTTP) when it is set")
	}

	// the port
	switch {
	case kitServer != "" && !kitServerAddr:
		d.Port = initPort{Env: "PORT", Default: "8080", From: "kit/server, " + kitServer}
	case readsPort != nil:
		d.Port = initPort{Env: "PORT", Default: readsPort.value, From: readsPort.from}
	case flagArg != nil:
		d.Port = initPort{Arg: flagArg.value, From: flagArg.from}
	case fixed != nil:
		d.Port = initPort{Fixed: fixed.value, From: fixed.from}
	}

	// health
	switch {
	case kitServer != "":
		d.Readiness = initFinding{Detected: true, Value: "/ready", Source: "kit/server", From: kitServer}
		d.Liveness = initFinding{Detected: true, Value: "/health", Source: "kit/server", From: kitServer}
	case kitReady != nil || kitLive != nil:
		if kitReady != nil {
			d.Readiness = initFinding{Detected: true, Value: kitReady.value, Source: "kit/health", From: kitReady.from}
		}
		if kitLive != nil {
			d.Liveness = initFinding{Detected: true, Value: kitLive.value, Source: "kit/health", From: kitLive.from}
		}
	}
	first := func(paths []string) *initHit {
		for _, p := range paths {
			if at, ok := literals[p]; ok {
				return &initHit{p, at}
			}
		}
		return nil
	}
	ready, live := first(readyPaths), first(livePaths)
	if !d.Readiness.Detected {
		switch {
		case ready != nil:
			d.Readiness = initFinding{Detected: true, Value: ready.value, From: ready.from}
		case live != nil: // one health endpoint: it tells readiness too
			d.Readiness = initFinding{Detected: true, Value: live.value, From: live.from, Note: "no readiness endpoint of its own was found, so it serves for readiness"}
			live = nil
		case d.Liveness.Detected:
			d.Readiness = d.Liveness
			d.Readiness.Note = "no readiness endpoint of its own was found, so it serves for readiness"
			d.Liveness = initFinding{}
		}
	}
	if !d.Liveness.Detected && live != nil && live.value != d.Readiness.Value {
		d.Liveness = initFinding{Detected: true, Value: live.value, From: live.from}
	}

	// metrics
	switch {
	case kitServer != "" && !kitAdminOff:
		d.Metrics = initFinding{Detected: true, Value: "/metrics", Port: "admin", Source: "kit/server", From: kitServer}
	case literals["/metrics"] != "" && (promhttp || kitMetric):
		lib := "kit/metrics"
		if promhttp {
			lib = "promhttp"
		}
		d.Metrics = initFinding{Detected: true, Value: "/metrics", Port: "app", Source: lib, From: literals["/metrics"]}
	}
	d.Env = envs
	return d
}

// portFlag is the argument that gives a flag like -port or -addr tend's port, from a
// call of package flag (flag.Int("port", 8080, ...), flag.StringVar(&addr, "addr", ...)).
func (s *initScan) portFlag(n *ast.CallExpr, fn string) *initHit {
	i := 0
	switch fn {
	case "String", "Int", "Uint", "Int64", "Uint64":
	case "StringVar", "IntVar", "UintVar", "Int64Var", "Uint64Var":
		i = 1
	default:
		return nil
	}
	if len(n.Args) < i+2 {
		return nil
	}
	name, ok := stringLit(n.Args[i])
	if !ok || !slices.Contains(portFlags, name) {
		return nil
	}
	if strings.HasPrefix(fn, "String") {
		if def, ok := stringLit(n.Args[i+1]); ok && addrRE.MatchString(def) {
			return &initHit{"-" + name + "=:$PORT", s.where(n.Pos())}
		}
		if !strings.Contains(name, "port") {
			return nil
		}
	}
	return &initHit{"-" + name + "=$PORT", s.where(n.Pos())}
}

type configField struct {
	env, flag, def, from string
	tagged               bool
}

// configFields lists the leaf fields of a kit/config struct as config.Load names them:
// env upper snake case (or its env tag), nested structs prefixing their fields.
func (s *initScan) configFields(p *initPkg, st *ast.StructType, env, flag string, depth int, seen map[*ast.StructType]bool, out *[]configField) {
	seen[st] = true
	if depth > 5 || st.Fields == nil {
		return
	}
	for _, f := range st.Fields.List {
		var tag reflect.StructTag
		if f.Tag != nil {
			v, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(v)
		}
		tagged := false
		for _, k := range []string{"env", "default", "flag", "required", "secret", "usage"} {
			if _, ok := tag.Lookup(k); ok {
				tagged = true
			}
		}
		for _, id := range f.Names {
			if !id.IsExported() {
				continue
			}
			e, fl := tag.Get("env"), tag.Get("flag")
			if e == "" {
				e = config.EnvName(id.Name)
			}
			if fl == "" {
				fl = config.FlagName(id.Name)
			}
			e, fl = joinNonEmpty(env, e, "_"), joinNonEmpty(flag, fl, ".")
			var nested *ast.StructType
			switch t := f.Type.(type) {
			case *ast.StructType:
				nested = t
			case *ast.Ident:
				nested = p.structs[t.Name]
			}
			if nested != nil {
				s.configFields(p, nested, e, fl, depth+1, seen, out)
				continue
			}
			*out = append(*out, configField{env: e, flag: fl, def: tag.Get("default"), from: s.where(id.Pos()), tagged: tagged})
		}
	}
}

func joinNonEmpty(a, b, sep string) string {
	if a == "" {
		return b
	}
	return a + sep + b
}

// importNames maps each import path of f to the name it is used by in f.
func importNames(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		m[path] = name
	}
	return m
}

// callName is pkg and fn of a call pkg.fn(...) or x.fn(...) (pkg "x"), or fn(...) (pkg "").
func callName(c *ast.CallExpr) (pkg, fn string) {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return "", f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			return x.Name, f.Sel.Name
		}
		return "?", f.Sel.Name
	}
	return "", ""
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(lit.Value)
	return v, err == nil
}

// patternPath is the path of a route pattern ("GET /healthz", "/ready/", "/health{$}"),
// or "" when it is none.
func patternPath(v string) string {
	if method, rest, ok := strings.Cut(v, " "); ok && method != "" && strings.ToUpper(method) == method {
		v = strings.TrimSpace(rest)
	}
	v = strings.TrimSuffix(v, "{$}")
	if len(v) > 1 {
		v = strings.TrimSuffix(v, "/")
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\n{}*") {
		return ""
	}
	return v
}

// routePath is patternPath when it is one of the health or metrics paths tend init
// knows, else "".
func routePath(v string) string {
	if v = patternPath(v); v == "/metrics" || slices.Contains(readyPaths, v) || slices.Contains(livePaths, v) {
		return v
	}
	return ""
}

var plainYAML = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./-]*$`)

// yamlScalar writes s plain when YAML reads it back as the same string, else quoted.
func yamlScalar(s string) string {
	if plainYAML.MatchString(s) && !slices.Contains([]string{"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}, strings.ToLower(s)) {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return s
		}
	}
	return strconv.Quote(s)
}

// initYAML is the tend.yaml tend init writes.
func initYAML(r *initResult, nameNote string) string {
	d := r.Detect
	var b strings.Builder
	line := func(text, comment string) {
		if comment == "" {
			b.WriteString(text + "\n")
			return
		}
		if strings.TrimSpace(text) == "" {
			b.WriteString(text + "# " + comment + "\n")
			return
		}
		pad := 40 - len(text)
		if pad < 2 {
			pad = 2
		}
		b.WriteString(text + strings.Repeat(" ", pad) + "# " + comment + "\n")
	}
	line("", fmt.Sprintf("tend.yaml for %s, written by tend init.", r.Package))
	line("", `What it found in the code says "detected:"; what it could not find says "not detected:":`)
	line("", "check those lines, then deploy with: tend deploy -f tend.yaml")
	line("", `Every field: README.md, "The spec"; a field left out takes its default (internal/spec/defaults.go).`)
	line("", "")

	nameComment := "the name tend status, logs, rollback ... take; lowercase, digits and '-'"
	if nameNote != "" {
		nameComment = "the name tend status, logs, rollback ... take (" + nameNote + ")"
	}
	line("app: "+r.App, nameComment)
	line("build:", "")
	line("  main: "+yamlScalar(r.Main), "the Go main package, relative to this file (or binary: ./bin/"+r.App+")")

	instances := 2
	if d.Port.Fixed != "" {
		instances = 1 // every instance would want the same port
	}
	line(fmt.Sprintf("instances: %d", instances), "behind tend's gateway, each on its own PORT")
	b.WriteString("\n")

	// the port
	line("", "The port: tend gives each instance its own PORT (and ADMIN_PORT, for metrics and pprof).")
	switch p := d.Port; {
	case p.Env != "" && strings.HasPrefix(p.From, "kit/server"):
		line("", fmt.Sprintf("detected: kit/server listens on $HOST:$PORT (%s; %s when PORT is unset)", strings.TrimPrefix(p.From, "kit/server, "), p.Default))
	case p.Env != "":
		def := ""
		if p.Default != "" {
			def = "; " + p.Default + " when PORT is unset"
		}
		line("", fmt.Sprintf("detected: the program reads PORT (%s%s)", p.From, def))
	case p.Arg != "":
		line("", fmt.Sprintf("detected: the program takes its port as a flag (%s); tend expands $PORT in args", p.From))
		line(fmt.Sprintf("args: [%s]", strconv.Quote(p.Arg)), "")
	case p.Fixed != "":
		line("", fmt.Sprintf("detected: the program listens on the fixed address %s (%s): tend's gateway", p.Fixed, p.From))
		line("", "sends requests to $PORT, so make it listen on \":\" + os.Getenv(\"PORT\") (then raise instances),")
		line("", "or, if it takes the address as a flag: args: [\"-addr=:$PORT\"]")
	default:
		line("", "not detected: how the program picks its port. Make it listen on \":\" + os.Getenv(\"PORT\"),")
		line("", "or, if it takes the port as a flag: args: [\"-port=$PORT\"]")
	}
	b.WriteString("\n")

	// health
	line("health:", "")
	if d.Readiness.Detected {
		line("  ", "detected: "+d.Readiness.describe("readiness"))
		line(fmt.Sprintf("  readiness: {http: %s, interval: 2s, timeout: 1s, failureThreshold: 3}", yamlScalar(d.Readiness.Value)), "")
	} else {
		line("  ", "not detected: a readiness endpoint. Until it has one, an instance is ready once it")
		line("  ", "accepts connections; then set health.readiness to {http: /your-readiness-path, ...}")
		line("  readiness: {tcp: true, interval: 2s, timeout: 1s, failureThreshold: 3}", "")
	}
	if d.Liveness.Detected {
		line("  ", "detected: "+d.Liveness.describe("liveness"))
		line(fmt.Sprintf("  liveness: {http: %s, interval: 10s, failureThreshold: 3}", yamlScalar(d.Liveness.Value)), "")
	} else {
		line("  ", "not detected: a liveness endpoint. Without one, tend asks the readiness endpoint every 10s")
		line("  ", "and restarts an instance that stops answering at all; with one:")
		line("  # liveness: {http: /healthz, interval: 10s, failureThreshold: 3}", "")
	}
	b.WriteString("\n")

	line("route:", "")
	line("  pathPrefix: /", "only requests under this path")
	line("  # hosts: ["+r.App+".example.com]", "none: every host no other app claims")
	line("  # tls: auto", "HTTPS from the ACME CA (needs hosts and tend server --https)")
	b.WriteString("\n")

	line("strategy:", "")
	line("  rolling: {maxSurge: 25%, maxUnavailable: 0}", "a quarter more instances at a time; none down")
	line("  ", "Or a canary (remove rolling above): 10% of the traffic, judged on its error rate")
	line("  ", "and latency against the running revision, then 50%, then all of it:")
	line("  # canary:", "")
	line("  #   steps: [{weight: 10}, {analysis: {}}, {weight: 50}, {analysis: {}}]", "")
	line("  #   analysis:", "")
	line("  #     interval: 10s", "")
	line("  #     count: 3", "")
	line("  #     checks: [{name: error-rate, max: 1%, baseline: true}, {name: latency-p99, max: 500ms}]", "")
	line("  progressDeadline: 5m", "no progress this long: the rollout fails and goes back")
	line("  rollbackWindow: 10m", "the old revision stays warm: tend rollback is instant")
	b.WriteString("\n")

	line("resources: {cpu: 500m, memory: 256Mi}", "per instance (cgroup v2); remove for no limit")
	line("", "Or let tend size the app from its load, as a Kubernetes HPA does (instances is then")
	line("", "the first count; tend autoscale APP shows its decisions):")
	line("# autoscale: {min: 2, max: 10, targets: {cpu: 70%, rps: 100}}", "")
	line("", "Back the app's database or files up daily, checked by restore drills (tend backup):")
	line(`# backups: [{name: db, postgres: {url: {secret: db-url}}, verify: {query: "select count(*) from users", min: 1}}]`, "")
	grace := "SIGTERM, then SIGKILL after grace"
	if slices.Contains(d.Kit, "server") {
		grace = "kit/server's drain delay (5s) and shutdown (20s) fit in grace"
	}
	line("shutdown: {grace: 30s, drain: 2s}", grace)
	b.WriteString("\n")

	line("", "The environment of every instance (PORT, ADMIN_PORT and TEND_* are tend's):")
	if len(d.Env) > 0 {
		line("", "detected: the code reads these (their defaults, where it has them):")
	}
	line("# env:", "")
	shown := 0
	for _, e := range d.Env {
		if shown == 12 {
			line("", fmt.Sprintf("... and %d more", len(d.Env)-shown))
			break
		}
		line(fmt.Sprintf("#   %s: %s", e.Name, yamlScalar(e.Default)), e.From)
		shown++
	}
	if len(d.Env) == 0 {
		line("#   LOG_LEVEL: info", "")
	}
	line("#   DATABASE_URL: {secret: db-url}", "a secret's value: tend secret set "+r.App+" db-url")
	b.WriteString("\n")
	line("# secrets: [API_KEY]", "API_KEY holds the secret API_KEY: tend secret set "+r.App+" API_KEY")
	b.WriteString("\n")

	switch m := d.Metrics; {
	case m.Detected:
		line("", "detected: "+m.describe("metrics"))
		line(fmt.Sprintf("metrics: {path: %s, port: %s}", yamlScalar(m.Value), m.Port), "")
	default:
		line("", "not detected: a Prometheus /metrics endpoint (kit/metrics serves one). tend's gateway")
		line("", "measures every request anyway (canary analysis needs no more); with one:")
		line("", "metrics: {path: /metrics, port: app}  (app: on PORT; admin: on ADMIN_PORT)")
		line("metrics: false", "")
	}
	return b.String()
}
