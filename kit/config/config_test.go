package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type dbConfig struct {
	Host     string `default:"localhost"`
	Password string `secret:"true"`
}

type appConfig struct {
	Port        int           `default:"8080" usage:"public port"`
	ReadTimeout time.Duration `default:"5s"`
	LogLevel    string        `default:"info"`
	MaxBody     Size          `default:"1MiB"`
	Origins     []string
	Debug       bool
	DatabaseURL string `required:"true" secret:"true" env:"DATABASE_URL"`
	DB          dbConfig
}

func env(m map[string]string) Option {
	return WithLookupEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceDefaultFileEnvFlag(t *testing.T) {
	file := writeFile(t, "port: 9000\nlogLevel: debug\nreadTimeout: 7s\norigins: [a.com, b.com]\ndb:\n  host: db.internal\n")
	var c appConfig
	r, err := Load(&c, WithPrefix("HELLO"), WithFile(file),
		env(map[string]string{"HELLO_PORT": "9100", "HELLO_LOG_LEVEL": "warn", "HELLO_DATABASE_URL": "postgres://u:pw@x/db"}),
		WithArgs([]string{"--port=9200", "--debug"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9200 || c.LogLevel != "warn" || c.ReadTimeout != 7*time.Second || c.MaxBody != 1<<20 || !c.Debug ||
		c.DB.Host != "db.internal" || strings.Join(c.Origins, " ") != "a.com b.com" {
		t.Fatalf("loaded %+v", c)
	}
	out := r.String()
	for _, want := range []string{"Port=9200 (flag --port)", "LogLevel=warn (env HELLO_LOG_LEVEL)", "ReadTimeout=7s (file " + file + ":3)",
		"MaxBody=1048576 (default)", "DatabaseURL=**** (env HELLO_DATABASE_URL)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw@") {
		t.Errorf("report shows a secret:\n%s", out)
	}
}

func TestMissingRequiredFieldIsNamed(t *testing.T) {
	var c appConfig
	_, err := Load(&c, WithPrefix("HELLO"), env(nil))
	if !errors.Is(err, ErrRequired) || !strings.Contains(err.Error(), "config DatabaseURL") || !strings.Contains(err.Error(), "env HELLO_DATABASE_URL") {
		t.Fatalf("error %v, want the missing field and how to set it", err)
	}
}

func TestBadValuesNameFieldAndSource(t *testing.T) {
	file := writeFile(t, "port: 9000\nbogus: 1\n")
	var c appConfig
	_, err := Load(&c, WithFile(file), env(map[string]string{"DATABASE_URL": "x", "READ_TIMEOUT": "soon", "DB_PASSWORD": "hunter2"}),
		WithArgs([]string{"--max-body", "lots", "--nope"}))
	msg := fmt.Sprint(err)
	for _, want := range []string{
		`config ReadTimeout: env READ_TIMEOUT="soon": want a duration`,
		`config MaxBody: flag --max-body="lots": want a size`,
		file + `:2: unknown key "bogus"`,
		"flag --nope: unknown",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func ExampleLoad() {
	var cfg struct {
		Port    int           `default:"8080"`
		Timeout time.Duration `default:"5s"`
		APIKey  string        `secret:"true"`
	}
	report, err := Load(&cfg, WithPrefix("HELLO"), WithArgs([]string{"--port=9090"}),
		WithLookupEnv(func(k string) (string, bool) {
			if k == "HELLO_API_KEY" {
				return "s3cret", true
			}
			return "", false
		}))
	if err != nil {
		panic(err)
	}
	fmt.Print(report)
	// Output:
	// Port=9090 (flag --port)
	// Timeout=5s (default)
	// APIKey=**** (env HELLO_API_KEY)
}

// everyTag has each tag Load reads.
type everyTag struct {
	Port     int           `default:"8080" usage:"public port"`
	Timeout  time.Duration `env:"REQ_TIMEOUT" flag:"timeout" default:"5s" usage:"per request"`
	Token    string        `required:"true" secret:"true" default:"dev-token" usage:"API token"`
	Name     string        `required:"true" yaml:"serviceName" usage:"service name"`
	Verbose  bool
	DB       dbConfig
	internal int
}

func TestHelpPrintsEveryFieldAndExitsZero(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var b strings.Builder
		code := -1
		var c everyTag
		_, err := Load(&c, WithPrefix("APP"), env(nil), WithArgs([]string{"--port=1", arg}),
			WithHelpOutput(&b, func(c int) { code = c }))
		if !errors.Is(err, ErrHelp) || code != 0 {
			t.Fatalf("%s: err %v, exit %d; want ErrHelp and exit 0 (and no required-field error)", arg, err, code)
		}
		if c.Port != 0 {
			t.Errorf("%s: fields were set before help", arg)
		}
		out := b.String()
		rows := map[string][]string{}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "--") {
				rows[f[0]] = f[1:]
			}
		}
		want := map[string]string{
			"--port":        "int APP_PORT 8080 public port",
			"--timeout":     "duration APP_REQ_TIMEOUT 5s per request",
			"--token":       "string APP_TOKEN **** required,secret API token",
			"--name":        "string APP_NAME required service name",
			"--verbose":     "bool APP_VERBOSE",
			"--db.host":     "string APP_DB_HOST localhost",
			"--db.password": "string APP_DB_PASSWORD secret",
		}
		for flag, w := range want {
			if got := strings.Join(rows[flag], " "); got != w {
				t.Errorf("%s: row %s = %q, want %q\n%s", arg, flag, got, w, out)
			}
		}
		if len(rows) != len(want) || strings.Contains(out, "dev-token") || !strings.Contains(out, "FLAG") {
			t.Errorf("%s: help shows unexpected rows or a secret:\n%s", arg, out)
		}
	}
}

func TestHelpFlagOwnedByAFieldIsTheField(t *testing.T) {
	var c struct {
		Help bool
	}
	if _, err := Load(&c, env(nil), WithArgs([]string{"--help"}), WithHelpOutput(io.Discard, func(int) { t.Fatal("exited") })); err != nil || !c.Help {
		t.Fatalf("err %v, Help %v: want the field set", err, c.Help)
	}
}

func TestUsageMatchesHelp(t *testing.T) {
	var b strings.Builder
	var c everyTag
	_, _ = Load(&c, WithPrefix("APP"), WithArgs([]string{"-h"}), WithHelpOutput(&b, func(int) {}))
	text, err := Usage(&c, WithPrefix("APP"))
	if err != nil || text != b.String() {
		t.Fatalf("Usage: %v\n%s\nwant what --help prints:\n%s", err, text, b.String())
	}
}

func TestSecretsNeverInReportEntries(t *testing.T) {
	var c appConfig
	r, err := Load(&c, env(map[string]string{"DATABASE_URL": "postgres://u:pw@x/db"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%+v", r.Entries); strings.Contains(s, "pw@") {
		t.Fatalf("entries show a secret: %s", s)
	}
	if c.DatabaseURL != "postgres://u:pw@x/db" {
		t.Fatalf("the struct lost the secret: %q", c.DatabaseURL)
	}
}
