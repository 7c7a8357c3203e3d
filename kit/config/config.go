// Package config loads a service's configuration into a struct from defaults, a YAML file, environment variables and flags, in that order of precedence.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Struct tags understood on fields:
//
//	default:"8080"     value when no source sets the field
//	env:"PORT"         environment variable (after the prefix; default: FIELD_NAME in upper snake case)
//	flag:"port"        command-line flag (default: field-name in kebab case)
//	yaml:"port"        key in the YAML file (default: the field name with a lower-case first letter)
//	required:"true"    some source must set it (a default counts)
//	secret:"true"      its value is never printed: **** in the Report, in errors and in --help
//	usage:"..."        help text, shown by -h/--help
//
// Nested structs prefix their fields: env DB_HOST, flag --db.host, YAML db: {host: ...}.
// WithPrefix("HELLO") puts HELLO_ before every env name, explicit env tags included.
// With WithArgs, -h, -help, --h or --help prints a table of every field (see Usage) to
// stdout and exits 0, unless a field claims the flag h or help.

// Size is a number of bytes, written as 512, 64KiB, 10MB or 1GiB.
type Size int64

// Option changes how Load reads.
type Option func(*loader)

// WithPrefix puts prefix and an underscore before every environment variable name.
func WithPrefix(prefix string) Option { return func(l *loader) { l.prefix = prefix } }

// WithFile reads a YAML file; an empty path reads nothing, a missing file is an error.
func WithFile(path string) Option { return func(l *loader) { l.file = path } }

// WithArgs reads flags (--name=value, --name value, --bool) from args.
func WithArgs(args []string) Option { return func(l *loader) { l.args = args } }

// WithLookupEnv replaces os.LookupEnv (for tests).
func WithLookupEnv(fn func(string) (string, bool)) Option { return func(l *loader) { l.lookup = fn } }

// WithHelpOutput replaces os.Stdout as where --help writes, and os.Exit as what it calls
// with 0 afterwards (for tests). When exit returns, Load returns ErrHelp.
func WithHelpOutput(w io.Writer, exit func(code int)) Option {
	return func(l *loader) { l.helpOut, l.exit = w, exit }
}

// ErrHelp is returned by Load after it printed --help, when the exit function of
// WithHelpOutput returned.
var ErrHelp = errors.New("config: help requested")

// Error is one field that could not be set, with the source its value came from.
type Error struct {
	Field  string
	Source string
	Err    error
}

func (e *Error) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("config %s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("config %s: %s: %v", e.Field, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrRequired is wrapped by the error for a required field that no source set.
var ErrRequired = errors.New("required, but no default, file, environment variable or flag sets it")

// Report says where each field's value came from; its String masks secrets.
type Report struct {
	Entries []Entry
}

// Entry is one field of a loaded configuration.
type Entry struct {
	Field string
	// Value is the field's value as text; **** for a secret that is set.
	Value  string
	Source string
	Secret bool
}

// String prints one line per field: name, value (secrets as ****) and source.
func (r *Report) String() string {
	var b strings.Builder
	for _, e := range r.Entries {
		v := e.Value
		if e.Secret && v != "" {
			v = "****"
		}
		fmt.Fprintf(&b, "%s=%s (%s)\n", e.Field, v, e.Source)
	}
	return b.String()
}

type field struct {
	path      string // Go path, e.g. DB.Host
	env, flag string
	yamlPath  []string
	value     reflect.Value
	def       string
	hasDef    bool
	required  bool
	secret    bool
	usage     string
	source    string
}

type loader struct {
	prefix string
	file   string
	args   []string
	lookup func(string) (string, bool)
	fields []*field
	errs   []error

	helpOut io.Writer
	exit    func(int)
}

// Load fills dst (a pointer to a struct) from defaults < file < environment < flags and
// reports every field that could not be set, each naming its source.
func Load(dst any, opts ...Option) (*Report, error) {
	l := &loader{lookup: os.LookupEnv, helpOut: os.Stdout, exit: os.Exit}
	for _, o := range opts {
		o(l)
	}
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config.Load wants a pointer to a struct, got %T", dst)
	}
	l.collect(v.Elem(), "", "", "", nil)
	if l.wantsHelp() {
		l.help(l.helpOut)
		l.exit(0)
		return nil, ErrHelp
	}
	for _, f := range l.fields {
		if f.hasDef {
			l.set(f, f.def, "default")
		}
	}
	if l.file != "" {
		l.readFile()
	}
	for _, f := range l.fields {
		name := f.env
		if l.prefix != "" {
			name = l.prefix + "_" + name
		}
		if val, ok := l.lookup(name); ok {
			l.set(f, val, "env "+name)
		}
	}
	l.readArgs()
	for _, f := range l.fields {
		if f.required && f.source == "" {
			l.errs = append(l.errs, &Error{Field: f.path, Err: fmt.Errorf("%w (env %s, flag --%s)", ErrRequired, l.envName(f), f.flag)})
		}
	}
	r := &Report{}
	for _, f := range l.fields {
		src := f.source
		if src == "" {
			src = "unset"
		}
		val := format(f.value)
		if f.secret && val != "" {
			val = "****"
		}
		r.Entries = append(r.Entries, Entry{Field: f.path, Value: val, Source: src, Secret: f.secret})
	}
	return r, errors.Join(l.errs...)
}

// Usage is the --help text for dst (a pointer to a struct) under opts: one row per field
// with its flag and type, env variable (prefix included), default (**** for a secret),
// required and secret, and usage.
func Usage(dst any, opts ...Option) (string, error) {
	l := &loader{}
	for _, o := range opts {
		o(l)
	}
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return "", fmt.Errorf("config.Usage wants a pointer to a struct, got %T", dst)
	}
	l.collect(v.Elem(), "", "", "", nil)
	var b strings.Builder
	l.help(&b)
	return b.String(), nil
}

// wantsHelp says whether the args ask for help (and no field owns the flag).
func (l *loader) wantsHelp() bool {
	for _, f := range l.fields {
		if f.flag == "h" || f.flag == "help" {
			return false
		}
	}
	for _, a := range l.args {
		switch a {
		case "-h", "--h", "-help", "--help":
			return true
		}
	}
	return false
}

func (l *loader) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", filepath.Base(os.Args[0]))
	fmt.Fprintf(w, "Each setting comes from its flag, else its environment variable, else the file, else its default.\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENV\tDEFAULT\t\tUSAGE")
	for _, f := range l.fields {
		def := f.def
		if f.secret && def != "" {
			def = "****"
		}
		if f.hasDef && def == "" {
			def = `""`
		}
		var notes []string
		if f.required {
			notes = append(notes, "required")
		}
		if f.secret {
			notes = append(notes, "secret")
		}
		fmt.Fprintf(tw, "--%s %s\t%s\t%s\t%s\t%s\n", f.flag, typeName(f.value.Type()), l.envName(f), def, strings.Join(notes, ","), f.usage)
	}
	tw.Flush()
}

// typeName is how --help names a field's type.
func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(time.Duration(0)):
		return "duration"
	case reflect.TypeOf(Size(0)):
		return "size"
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "int"
	}
	return t.Kind().String()
}

func (l *loader) envName(f *field) string {
	if l.prefix != "" {
		return l.prefix + "_" + f.env
	}
	return f.env
}

// collect walks the struct and records every settable leaf field.
func (l *loader) collect(v reflect.Value, path, env, flag string, yamlPath []string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		envName := sf.Tag.Get("env")
		if envName == "" {
			envName = upperSnake(sf.Name)
		}
		flagName := sf.Tag.Get("flag")
		if flagName == "" {
			flagName = kebab(sf.Name)
		}
		yamlName := sf.Tag.Get("yaml")
		if yamlName == "" {
			yamlName = lowerFirst(sf.Name)
		}
		p := join(path, sf.Name, ".")
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			l.collect(fv, p, join(env, envName, "_"), join(flag, flagName, "."), append(append([]string(nil), yamlPath...), yamlName))
			continue
		}
		def, hasDef := sf.Tag.Lookup("default")
		l.fields = append(l.fields, &field{path: p, env: join(env, envName, "_"), flag: join(flag, flagName, "."),
			yamlPath: append(append([]string(nil), yamlPath...), yamlName), value: fv, def: def, hasDef: hasDef,
			required: sf.Tag.Get("required") == "true", secret: sf.Tag.Get("secret") == "true", usage: sf.Tag.Get("usage")})
	}
}

func join(a, b, sep string) string {
	if a == "" {
		return b
	}
	return a + sep + b
}

// set parses raw into the field, recording the source or an error naming it.
func (l *loader) set(f *field, raw, source string) {
	if err := parse(f.value, raw); err != nil {
		l.errs = append(l.errs, &Error{Field: f.path, Source: fmt.Sprintf("%s=%q", source, mask(raw, f.secret)), Err: err})
		return
	}
	f.source = source
}

func mask(raw string, secret bool) string {
	if secret {
		return "****"
	}
	return raw
}

func (l *loader) readFile() {
	data, err := os.ReadFile(l.file)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("config file: %w", err))
		return
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.errs = append(l.errs, fmt.Errorf("config file %s: %w", l.file, err))
		return
	}
	if len(doc.Content) == 0 {
		return
	}
	byPath := map[string]*field{}
	for _, f := range l.fields {
		byPath[strings.Join(f.yamlPath, ".")] = f
	}
	l.walkYAML(doc.Content[0], nil, byPath)
}

func (l *loader) walkYAML(n *yaml.Node, path []string, byPath map[string]*field) {
	if n.Kind != yaml.MappingNode {
		l.errs = append(l.errs, fmt.Errorf("config file %s:%d: %s: want a mapping", l.file, n.Line, strings.Join(path, ".")))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := append(append([]string(nil), path...), k.Value)
		key := strings.Join(p, ".")
		if f, ok := byPath[key]; ok {
			raw := v.Value
			if v.Kind == yaml.SequenceNode {
				var items []string
				for _, it := range v.Content {
					items = append(items, it.Value)
				}
				raw = strings.Join(items, ",")
			}
			l.set(f, raw, fmt.Sprintf("file %s:%d", l.file, v.Line))
			continue
		}
		if v.Kind == yaml.MappingNode && l.hasPrefix(key+".", byPath) {
			l.walkYAML(v, p, byPath)
			continue
		}
		l.errs = append(l.errs, fmt.Errorf("config file %s:%d: unknown key %q", l.file, k.Line, key))
	}
}

func (l *loader) hasPrefix(prefix string, byPath map[string]*field) bool {
	for k := range byPath {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func (l *loader) readArgs() {
	byFlag := map[string]*field{}
	for _, f := range l.fields {
		byFlag[f.flag] = f
	}
	for i := 0; i < len(l.args); i++ {
		a := l.args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := byFlag[name]
		if !ok {
			known := make([]string, 0, len(byFlag))
			for k := range byFlag {
				known = append(known, "--"+k)
			}
			sort.Strings(known)
			l.errs = append(l.errs, fmt.Errorf("flag %s: unknown (known: %s)", a, strings.Join(known, ", ")))
			continue
		}
		if !hasVal {
			if f.value.Kind() == reflect.Bool {
				val = "true"
			} else if i+1 < len(l.args) {
				i++
				val = l.args[i]
			} else {
				l.errs = append(l.errs, &Error{Field: f.path, Source: "flag --" + name, Err: errors.New("needs a value")})
				continue
			}
		}
		l.set(f, val, "flag --"+name)
	}
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000}, {"B", 1}}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("want a size like 512, 64KiB or 10MB, got %q", s)
			}
			return n * u.mult, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size like 512, 64KiB or 10MB, got %q", s)
	}
	return n, nil
}

func parse(v reflect.Value, raw string) error {
	switch v.Type() {
	case reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("want a duration like 10s or 1m30s, got %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	case reflect.TypeOf(Size(0)):
		n, err := parseSize(raw)
		if err != nil {
			return err
		}
		v.SetInt(n)
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", raw)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number ≥ 0, got %q", raw)
		}
		v.SetUint(n)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(raw, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a number, got %q", raw)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", v.Type())
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported field type %s", v.Type())
	}
	return nil
}

func format(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v.Interface())
}

// EnvName is the environment variable a field named name reads without an env tag
// (ReadTimeout: READ_TIMEOUT), before any prefix; tools that read a service's code
// (tend init) name its variables with it.
func EnvName(name string) string { return upperSnake(name) }

// FlagName is the flag a field named name reads without a flag tag (ReadTimeout:
// read-timeout).
func FlagName(name string) string { return kebab(name) }

// upperSnake turns ReadTimeout into READ_TIMEOUT.
func upperSnake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func kebab(s string) string { return strings.ToLower(strings.ReplaceAll(upperSnake(s), "_", "-")) }

// lowerFirst turns MaxBody into maxBody, DB into db and DBHost into dbHost.
func lowerFirst(s string) string {
	rs := []rune(s)
	for i := 0; i < len(rs) && unicode.IsUpper(rs[i]); i++ {
		if i > 0 && i+1 < len(rs) && unicode.IsLower(rs[i+1]) {
			break
		}
		rs[i] = unicode.ToLower(rs[i])
	}
	return string(rs)
}
