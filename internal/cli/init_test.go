package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/spec"
)

// goModule makes a module example.com/NAME in a temporary directory named name, with
// files (paths relative to the module's root), and returns its root.
func goModule(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	files["go.mod"] = "module example.com/" + name + "\n\ngo 1.22\n"
	for p, content := range files {
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, content)
	}
	return root
}

// initSpec runs tend init DIR args... and loads the tend.yaml it wrote with tend's own
// spec loader; it returns the spec, the file's text and what tend init printed.
func initSpec(t *testing.T, dir string, args ...string) (*spec.App, string, string) {
	t.Helper()
	out := mustRun(t, "", append([]string{"init", dir}, args...)...)
	path := filepath.Join(dir, "tend.yaml")
	a, err := spec.Load(path)
	if err != nil {
		t.Fatalf("the tend.yaml tend init wrote does not load: %v", err)
	}
	b, _ := os.ReadFile(path)
	return a, string(b), out
}

func exitCodeOf(err error) int {
	var ec *exitCodeError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ec):
		return ec.code
	}
	return exitError
}

func wantInText(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// A service like examples/hello (kit/server, kit/health, kit/config) gets kit's
// readiness and liveness paths, its metrics on ADMIN_PORT and its port, as detected.
func TestInitKitServiceLikeHello(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "hello", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	dir := goModule(t, "hello", map[string]string{"main.go": string(src)})
	a, text, out := initSpec(t, dir)
	if a.App != "hello" || a.Build.Main != "." || a.Instances != 2 {
		t.Errorf("app %q, build.main %q, instances %d; want hello, ., 2", a.App, a.Build.Main, a.Instances)
	}
	if a.Health.Readiness.HTTP != "/ready" || a.Health.Liveness == nil || a.Health.Liveness.HTTP != "/health" {
		t.Errorf("health %+v, want readiness /ready and liveness /health (kit/server's)", a.Health)
	}
	if a.Metrics.Disabled || a.Metrics.Path != "/metrics" || a.Metrics.Port != "admin" {
		t.Errorf("metrics %+v, want /metrics on the admin port", a.Metrics)
	}
	if a.Strategy.Kind() != "rolling" || len(a.Env) != 0 {
		t.Errorf("strategy %s, env %v: want rolling and no variable set", a.Strategy.Kind(), a.Env)
	}
	wantInText(t, "tend.yaml", text,
		"# detected: kit/server serves kit/health's readiness at /ready (main.go:",
		"# detected: kit/server serves kit/health's liveness at /health (main.go:",
		"# detected: the program reads PORT (main.go:", "8080 when PORT is unset",
		"# detected: kit/server serves kit/metrics at /metrics on ADMIN_PORT",
		"#   LOG_LEVEL: info", "(kit/config)", "# canary:", "tend secret set hello API_KEY", "# hosts: [hello.example.com]")
	if strings.Contains(text, "# not detected:") {
		t.Errorf("something of hello's was not detected:\n%s", text)
	}
	wantInText(t, "the summary", out, "wrote "+filepath.Join(dir, "tend.yaml"), "readiness:  detected", "next: read its", "tend deploy -f "+filepath.Join(dir, "tend.yaml"))

	// -o json: what was written and detected, for scripts
	out = mustRun(t, "", "init", dir, "--force", "-o", "json")
	var res initResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	d := res.Detect
	if res.Path != filepath.Join(dir, "tend.yaml") || res.App != "hello" || res.Main != "." || res.Module != "example.com/hello" ||
		d.Port.Env != "PORT" || d.Port.Default != "8080" || !d.Readiness.Detected || d.Readiness.Value != "/ready" ||
		d.Readiness.Source != "kit/server" || !strings.Contains(strings.Join(d.Kit, ","), "server") || res.Spec != "" {
		t.Errorf("-o json: %s", out)
	}
}

// A kit service that leaves kit/server's address alone listens on $PORT; kit/health's
// handlers mounted on paths of its own are found there.
func TestInitKitDefaultsAndMountedHealthHandlers(t *testing.T) {
	dir := goModule(t, "shop", map[string]string{"main.go": `package main

import (
	"context"
	"net/http"

	"github.com/tendhq/tend/kit/server"
)

func main() {
	_ = server.Default(context.Background(), server.Options{Handler: http.NotFoundHandler()})
}
`})
	a, text, _ := initSpec(t, dir)
	wantInText(t, "tend.yaml", text, "# detected: kit/server listens on $HOST:$PORT (main.go:11; 8080 when PORT is unset)", "OTEL_EXPORTER_OTLP_ENDPOINT")
	if a.Health.Readiness.HTTP != "/ready" || a.Metrics.Port != "admin" {
		t.Errorf("readiness %q, metrics %+v", a.Health.Readiness.HTTP, a.Metrics)
	}

	dir = goModule(t, "api", map[string]string{"main.go": `package main

import (
	"net/http"
	"os"

	"github.com/tendhq/tend/kit/health"
)

func main() {
	c := health.New()
	mux := http.NewServeMux()
	mux.Handle("GET /status/ready", c.ReadyHandler())
	mux.Handle("/status/alive", c.LiveHandler())
	http.ListenAndServe(":"+os.Getenv("PORT"), mux)
}
`})
	a, text, _ = initSpec(t, dir)
	if a.Health.Readiness.HTTP != "/status/ready" || a.Health.Liveness == nil || a.Health.Liveness.HTTP != "/status/alive" {
		t.Errorf("health %+v, want kit/health's handlers' paths", a.Health)
	}
	wantInText(t, "tend.yaml", text, "# detected: kit/health's readiness handler is mounted at /status/ready (main.go:13)", "the program reads PORT (main.go:15)", "metrics: false")
}

// A plain net/http service gets its /healthz detected, and used for readiness when it
// has no readiness endpoint of its own; without a /metrics handler, metrics are off.
func TestInitPlainNetHTTPHealthz(t *testing.T) {
	dir := goModule(t, "plain", map[string]string{"main.go": `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.ListenAndServe(":"+port, nil)
}
`})
	a, text, out := initSpec(t, dir)
	if a.Health.Readiness.HTTP != "/healthz" || a.Health.Liveness != nil {
		t.Errorf("health %+v, want readiness /healthz and no liveness", a.Health)
	}
	if !a.Metrics.Disabled {
		t.Errorf("metrics %+v, want off (no /metrics handler)", a.Metrics)
	}
	wantInText(t, "tend.yaml", text, "# detected: a handler for /healthz (main.go:9): no readiness endpoint of its own",
		"# detected: the program reads PORT (main.go:11)", "# not detected: a liveness endpoint", "# not detected: a Prometheus /metrics endpoint")
	wantInText(t, "the summary", out, "kit:        not used", "readiness:  detected: a handler for /healthz")

	// separate readiness and liveness endpoints, and promhttp's /metrics, in a package
	// of the module the main package imports
	dir = goModule(t, "svc", map[string]string{
		"main.go": `package main

import "example.com/svc/internal/web"

func main() { web.Serve() }
`,
		"internal/web/web.go": `package web

import (
	"flag"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var addr = flag.String("addr", ":8080", "listen address")

func Serve() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	mux.Handle("/metrics", promhttp.Handler())
	http.ListenAndServe(*addr, mux)
}
`})
	a, text, _ = initSpec(t, dir)
	if a.Health.Readiness.HTTP != "/readyz" || a.Health.Liveness == nil || a.Health.Liveness.HTTP != "/livez" {
		t.Errorf("health %+v, want /readyz and /livez", a.Health)
	}
	if a.Metrics.Disabled || a.Metrics.Port != "app" || len(a.Args) != 1 || a.Args[0] != "-addr=:$PORT" {
		t.Errorf("metrics %+v, args %q: want /metrics on PORT and -addr=:$PORT", a.Metrics, a.Args)
	}
	wantInText(t, "tend.yaml", text, "(internal/web/web.go:", "takes its port as a flag")
}

// A program that always listens on the same address is warned about, with one instance.
func TestInitFixedPort(t *testing.T) {
	dir := goModule(t, "fixed", map[string]string{"main.go": `package main

import "net/http"

func main() {
	srv := &http.Server{Addr: ":8080"}
	srv.ListenAndServe()
}
`})
	a, text, _ := initSpec(t, dir)
	if a.Instances != 1 || a.Health.Readiness.TCP != true {
		t.Errorf("instances %d, readiness %+v: want 1, tcp", a.Instances, a.Health.Readiness)
	}
	wantInText(t, "tend.yaml", text, "listens on the fixed address :8080 (main.go:6)", `os.Getenv("PORT")`, "# not detected: a readiness endpoint")
}

// The main package under cmd/ is found from the module's root; with several, tend init
// names them and asks for --main (exit 4).
func TestInitFindsTheMainPackageUnderCmd(t *testing.T) {
	main := "package main\n\nfunc main() {}\n"
	dir := goModule(t, "one", map[string]string{"cmd/api/main.go": main, "lib.go": "package one\n"})
	a, _, _ := initSpec(t, dir)
	if a.App != "api" || a.Build.Main != "./cmd/api" {
		t.Errorf("app %q, build.main %q, want api, ./cmd/api", a.App, a.Build.Main)
	}

	dir = goModule(t, "two", map[string]string{"cmd/api/main.go": main, "cmd/worker/main.go": main, "lib.go": "package two\n"})
	_, _, err := run(t, "", "init", dir)
	if exitCodeOf(err) != exitInvalid {
		t.Fatalf("two main packages: %v (exit %d), want exit 4", err, exitCodeOf(err))
	}
	wantInText(t, "the error", err.Error(), "2 main packages in "+filepath.Join(dir, "cmd"), "./cmd/api, ./cmd/worker", "--main ./cmd/api")
	if _, err := os.Stat(filepath.Join(dir, "tend.yaml")); err == nil {
		t.Error("a tend.yaml was written")
	}
	a, _, _ = initSpec(t, dir, "--main", "./cmd/worker")
	if a.App != "worker" || a.Build.Main != "./cmd/worker" {
		t.Errorf("--main ./cmd/worker: app %q, build.main %q", a.App, a.Build.Main)
	}
	_, _, err = run(t, "", "init", dir, "--main", "./cmd/nothing", "--force")
	if exitCodeOf(err) != exitInvalid || !strings.Contains(err.Error(), "not a Go main package") {
		t.Errorf("--main of no package: %v, want exit 4", err)
	}
}

// Nothing to init (no go.mod, no main package) is exit 4, naming the directory and what
// to do.
func TestInitNothingHere(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nomod")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n\nfunc main() {}\n")
	_, _, err := run(t, "", "init", dir)
	if exitCodeOf(err) != exitInvalid {
		t.Fatalf("no go.mod: %v (exit %d), want exit 4", err, exitCodeOf(err))
	}
	wantInText(t, "the error", err.Error(), "no go.mod in "+dir, "go mod init")

	dir = goModule(t, "lib", map[string]string{"lib.go": "package lib\n", "cmd/README": "no code\n"})
	_, _, err = run(t, "", "init", dir)
	if exitCodeOf(err) != exitInvalid {
		t.Fatalf("no main package: %v, want exit 4", err)
	}
	wantInText(t, "the error", err.Error(), "no Go main package in "+dir, "--main")

	_, _, err = run(t, "", "init", filepath.Join(dir, "missing"))
	if exitCodeOf(err) != exitInvalid || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("a missing directory: %v, want exit 4", err)
	}
}

// An existing tend.yaml is kept unless --force; --stdout prints a new one without writing.
func TestInitDoesNotOverwrite(t *testing.T) {
	dir := goModule(t, "keep", map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	path := writeFile(t, filepath.Join(dir, "tend.yaml"), "app: mine\nbuild: {main: .}\n")
	_, _, err := run(t, "", "init", dir)
	if exitCodeOf(err) != exitInvalid || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("an existing tend.yaml: %v, want exit 4 naming --force", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "app: mine\nbuild: {main: .}\n" {
		t.Fatalf("tend.yaml was changed:\n%s", b)
	}

	out, errOut, err := run(t, "", "init", dir, "--stdout")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spec.Parse("stdout", []byte(out)); err != nil || !strings.HasPrefix(out, "# tend.yaml for example.com/keep") {
		t.Errorf("--stdout: %v\n%s", err, out)
	}
	wantInText(t, "--stdout's summary on stderr", errOut, "tend.yaml for app keep", "next: save it as tend.yaml")
	if b, _ := os.ReadFile(path); string(b) != "app: mine\nbuild: {main: .}\n" {
		t.Fatalf("--stdout changed tend.yaml:\n%s", b)
	}

	a, _, _ := initSpec(t, dir, "--force", "--name", "kept")
	if a.App != "kept" {
		t.Errorf("--force --name kept: app %q", a.App)
	}
}

// --name is checked with the spec's rule; a directory's name is made a valid app name.
func TestInitAppName(t *testing.T) {
	dir := goModule(t, "My_Service", map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	a, text, _ := initSpec(t, dir)
	if a.App != "my-service" {
		t.Errorf("app %q, want my-service", a.App)
	}
	wantInText(t, "tend.yaml", text, `made of "My_Service"`)
	_, _, err := run(t, "", "init", dir, "--force", "--name", "Not_A_Name")
	if exitCodeOf(err) != exitInvalid || !strings.Contains(err.Error(), "--name") {
		t.Errorf("--name Not_A_Name: %v, want exit 4", err)
	}
}

// kit/config's fields are read as config.Load names them; one that is not PORT, with
// flags on, is given tend's port as an argument.
func TestInitKitConfigPort(t *testing.T) {
	dir := goModule(t, "cfg", map[string]string{"main.go": `package main

import (
	"os"

	"github.com/tendhq/tend/kit/config"
)

type settings struct {
	Port     int    ` + "`default:\"8080\"`" + `
	LogLevel string ` + "`default:\"info\"`" + `
	DB       struct {
		Host string ` + "`default:\"localhost\"`" + `
	}
}

func main() {
	var s settings
	config.Load(&s, config.WithPrefix("SHOP"), config.WithArgs(os.Args[1:]))
}
`})
	a, text, _ := initSpec(t, dir)
	if len(a.Args) != 1 || a.Args[0] != "--port=$PORT" {
		t.Errorf("args %q, want --port=$PORT (SHOP_PORT is not tend's PORT)", a.Args)
	}
	wantInText(t, "tend.yaml", text, "#   SHOP_LOG_LEVEL: info", "#   SHOP_DB_HOST: localhost")
}

// A file tend init cannot write is exit 1 (here tend.yaml is a directory, which even
// root cannot write as a file).
func TestInitWriteFailure(t *testing.T) {
	dir := goModule(t, "io", map[string]string{"main.go": "package main\n\nfunc main() {}\n", "tend.yaml/keep": ""})
	_, _, err := run(t, "", "init", dir, "--force")
	if err == nil || exitCodeOf(err) != exitError || !strings.Contains(err.Error(), "write "+filepath.Join(dir, "tend.yaml")) {
		t.Errorf("tend.yaml a directory: %v (exit %d), want exit 1", err, exitCodeOf(err))
	}
}

// tend init --help teaches: what it detects, with examples.
func TestInitHelp(t *testing.T) {
	out := mustRun(t, "", "init", "--help")
	wantInText(t, "tend init --help", out, "Usage:\n  tend init [DIR]", "Examples:", "tend init --main ./cmd/api", "not detected", "--force", "--stdout", "kit/server")
}
