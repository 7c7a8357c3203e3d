package api

// The OpenAPI 3.1 description of /v1, served at GET /v1/openapi.json. It is made, by
// reflection, from the routes as the router registers them and from the Go types of
// their bodies, so that it cannot disagree with the mux nor with the types; the tests
// check it against the handlers' answers.

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tendhq/tend/internal/api/v1"
)

// router registers the /v1 routes on a mux and keeps them for the description.
type router struct {
	mux       *http.ServeMux
	endpoints []endpoint
}

// handle serves pattern ("GET /v1/apps/{app}") with h and records it as o describes it.
func (r *router) handle(pattern string, h http.HandlerFunc, o op) {
	method, path, _ := strings.Cut(pattern, " ")
	r.mux.HandleFunc(pattern, h)
	r.endpoints = append(r.endpoints, endpoint{method: method, path: path, op: o})
}

// endpoint is a registered route: its pattern's method and path, and what it does.
type endpoint struct {
	method, path string
	op
}

// op is what the description says of a route.
type op struct {
	summary string
	// params are its query parameters, and those of its path parameters that pathParams
	// does not describe.
	params   []param
	request  body // its request body (the zero body: none)
	response body // its answer when it succeeds; errors are v1.ErrorBody
}

// param is a path parameter when the path has {name}, else a query parameter; value is
// a Go value of its type ("", 0, an enum of package v1), or its schema.
type param struct {
	name, desc string
	value      any
}

// pathParams describe the path parameters that mean the same on every route.
var pathParams = map[string]param{
	"app":   {desc: "the app's name", value: schema{"type": "string", "pattern": `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`}},
	"id":    {desc: "the incident's number", value: schema{"type": "integer", "minimum": 1}},
	"name":  {desc: "a file the incident's timeline lists, or a secret's name", value: ""},
	"trace": {desc: "a trace id: 32 hex digits, as in a traceparent or the access log's trace_id", value: ""},
}

// onOff is a query parameter that "1" turns on.
var onOff = schema{"type": "string", "enum": []string{"0", "1"}}

// body is what a request or an answer carries.
type body struct {
	status int    // an answer's status (0: 200)
	media  string // its content type ("": no body)
	// types are the Go types of its JSON value (in a stream: of each line; several: one
	// of them); none for a body that is not JSON.
	types    []reflect.Type
	optional bool // a request body that may be left out
}

const ndjson = "application/x-ndjson"

// jsonOf is a JSON body: a value of v's type.
func jsonOf(v any) body {
	return body{media: "application/json", types: []reflect.Type{reflect.TypeOf(v)}}
}

// streamOf is newline-delimited JSON, flushed as it happens: each line a value of the
// type of one of vs.
func streamOf(vs ...any) body {
	b := body{media: ndjson}
	for _, v := range vs {
		b.types = append(b.types, reflect.TypeOf(v))
	}
	return b
}

// raw is a body of the media type that is not JSON.
func raw(media string) body { return body{media: media} }

// noContent is the answer 204 No Content.
var noContent = body{status: http.StatusNoContent}

// orNone makes a request body optional.
func (b body) orNone() body {
	b.optional = true
	return b
}

// openapi serves the description of this server's routes.
func (s *server) openapi(w http.ResponseWriter, r *http.Request) {
	doc, err := openAPI(s.endpoints)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

// schema is a JSON Schema (2020-12, as OpenAPI 3.1 has it).
type schema = map[string]any

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// openAPI describes the endpoints.
func openAPI(endpoints []endpoint) (map[string]any, error) {
	g := &generator{schemas: map[string]any{}, named: map[string]reflect.Type{}}
	paths := map[string]map[string]any{}
	for _, e := range endpoints {
		o, err := g.operation(e)
		if err != nil {
			return nil, fmt.Errorf("describe %s %s: %w", e.method, e.path, err)
		}
		if paths[e.path] == nil {
			paths[e.path] = map[string]any{}
		}
		paths[e.path][strings.ToLower(e.method)] = o
	}
	errorBody, err := g.schemaOf(reflect.TypeFor[v1.ErrorBody]())
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "tend", "version": strconv.Itoa(v1.Version),
			"description": "tend server's HTTP API. Durations are Go duration strings (\"30s\"), times RFC 3339; " +
				"every answer carries the API version in " + v1.VersionHeader + "; an error is a JSON {\"error\": ...} " +
				"with a status that says what kind; streams are newline-delimited JSON, one value of their schema per line."},
		"security": []any{map[string]any{"bearer": []string{}}, map[string]any{"basic": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer",
					"description": "the server's API token: TEND_TOKEN, or the token file in its data dir"},
				"basic": map[string]any{"type": "http", "scheme": "basic",
					"description": "the token as the password, any user name, for tools that only take credentials in a URL"},
			},
			"headers": map[string]any{v1.VersionHeader: map[string]any{"required": true, "schema": schema{"type": "integer"},
				"description": "the API version the server speaks"}},
			"responses": map[string]any{"Error": map[string]any{
				"description": "an error: 400 a bad request, 401 no, a wrong, a revoked or an expired token, 403 a token without the role or the app the route needs, 404 an unknown app, incident or action, " +
					"409 a state that does not allow it, 422 refused, 501 not on this server, 507 the data dir is full",
				"headers": versionHeader(),
				"content": map[string]any{"application/json": map[string]any{"schema": errorBody}},
			}},
		},
	}, nil
}

// versionHeader is the header every answer has.
func versionHeader() map[string]any {
	return map[string]any{v1.VersionHeader: map[string]any{"$ref": "#/components/headers/" + v1.VersionHeader}}
}

// generator describes Go types, each named one once, in components/schemas.
type generator struct {
	schemas map[string]any
	named   map[string]reflect.Type // the type each schema describes
}

// operation describes an endpoint: its parameters, its request body, its answer and,
// as every route's, the error answer.
func (g *generator) operation(e endpoint) (map[string]any, error) {
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(e.path, -1) {
		p, ok := pathParams[m[1]]
		if i := slices.IndexFunc(e.params, func(p param) bool { return p.name == m[1] }); i >= 0 {
			p, ok = e.params[i], true
		}
		if !ok {
			return nil, fmt.Errorf("path parameter {%s} is not described", m[1])
		}
		p.name = m[1]
		s, err := g.parameter(p, "path")
		if err != nil {
			return nil, err
		}
		params = append(params, s)
	}
	for _, p := range e.params {
		if !strings.Contains(e.path, "{"+p.name+"}") {
			s, err := g.parameter(p, "query")
			if err != nil {
				return nil, err
			}
			params = append(params, s)
		}
	}
	o := map[string]any{"summary": e.summary}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if e.request.media != "" {
		content, err := g.content(e.request)
		if err != nil {
			return nil, err
		}
		o["requestBody"] = map[string]any{"required": !e.request.optional, "content": content}
	}
	status := cmp.Or(e.response.status, http.StatusOK)
	answer := map[string]any{"description": http.StatusText(status), "headers": versionHeader()}
	if e.response.media == ndjson {
		answer["description"] = "newline-delimited JSON, one value of the schema per line, flushed as it happens"
	}
	if e.response.media != "" {
		content, err := g.content(e.response)
		if err != nil {
			return nil, err
		}
		answer["content"] = content
	}
	o["responses"] = map[string]any{strconv.Itoa(status): answer, "default": map[string]any{"$ref": "#/components/responses/Error"}}
	return o, nil
}

// parameter describes a parameter in the path or the query.
func (g *generator) parameter(p param, in string) (map[string]any, error) {
	s, ok := p.value.(schema)
	if !ok {
		var err error
		if s, err = g.schemaOf(reflect.TypeOf(p.value)); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", p.name, err)
		}
	}
	return map[string]any{"name": p.name, "in": in, "required": in == "path", "description": p.desc, "schema": s}, nil
}

// content describes a body: its media type and, for JSON, its schema.
func (g *generator) content(b body) (map[string]any, error) {
	var schemas []any
	for _, t := range b.types {
		s, err := g.schemaOf(t)
		if err != nil {
			return nil, err
		}
		schemas = append(schemas, s)
	}
	media := map[string]any{}
	switch len(schemas) {
	case 0: // not JSON
	case 1:
		media["schema"] = schemas[0]
	default:
		media["schema"] = schema{"oneOf": schemas}
	}
	return map[string]any{b.media: media}, nil
}

var (
	v1Package    = reflect.TypeFor[v1.App]().PkgPath()
	v1Duration   = reflect.TypeFor[v1.Duration]()
	marshalers   = []reflect.Type{reflect.TypeFor[json.Marshaler](), reflect.TypeFor[encoding.TextMarshaler]()}
	goDuration   = `^(0|-?([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$`
	integerKinds = []reflect.Kind{reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64}
)

// description is the doc comment of a type ("App"), a field ("App.Current") or an enum
// value ("Phase.Paused") of package v1.
func description(t reflect.Type, key string) string {
	if t.PkgPath() != v1Package {
		return ""
	}
	return v1.Descriptions[key]
}

// schemaOf describes the JSON that encoding/json makes of a value of type t.
func (g *generator) schemaOf(t reflect.Type) (schema, error) {
	switch t {
	case v1Duration:
		return g.component(t, func() (schema, error) {
			return schema{"type": "string", "pattern": goDuration, "examples": []string{"30s", "1m30s", "250ms"},
				"description": description(t, "Duration")}, nil
		})
	case timeType:
		return schema{"type": "string", "format": "date-time"}, nil
	}
	for _, m := range marshalers {
		if t.Kind() != reflect.Pointer && (t.Implements(m) || reflect.PointerTo(t).Implements(m)) {
			return nil, fmt.Errorf("%v marshals itself: its schema cannot be read from its kind", t)
		}
	}
	switch k := t.Kind(); {
	case k == reflect.Pointer:
		return g.schemaOf(t.Elem())
	case k == reflect.Interface:
		return schema{}, nil
	case k == reflect.Bool:
		return schema{"type": "boolean"}, nil
	case slices.Contains(integerKinds, k):
		return schema{"type": "integer"}, nil
	case k == reflect.Float32 || k == reflect.Float64:
		return schema{"type": "number"}, nil
	case k == reflect.String && t.PkgPath() == "":
		return schema{"type": "string"}, nil
	case k == reflect.String:
		return g.component(t, func() (schema, error) { return enum(t) })
	case t == reflect.TypeFor[[]byte](): // encoding/json's base64 (json.RawMessage is not this type)
		return schema{"type": "string", "contentEncoding": "base64"}, nil
	case k == reflect.Slice && t.Elem().Kind() != reflect.Uint8, k == reflect.Array:
		items, err := g.schemaOf(t.Elem())
		return schema{"type": "array", "items": items}, err
	case k == reflect.Map && t.Key().Kind() == reflect.String:
		values, err := g.schemaOf(t.Elem())
		return schema{"type": "object", "additionalProperties": values}, err
	case k == reflect.Struct && t.Name() == "":
		return g.object(t)
	case k == reflect.Struct:
		return g.component(t, func() (schema, error) { return g.object(t) })
	}
	return nil, fmt.Errorf("%v: no schema for a %s", t, t.Kind())
}

// component describes the named type t once, in components/schemas, and refers to it.
func (g *generator) component(t reflect.Type, describe func() (schema, error)) (schema, error) {
	name := t.Name()
	ref := schema{"$ref": "#/components/schemas/" + name}
	if other, ok := g.named[name]; ok {
		if other != t {
			return nil, fmt.Errorf("two types are named %s: %v and %v", name, other, t)
		}
		return ref, nil
	}
	g.named[name] = t // before describing it: it may refer to itself
	s, err := describe()
	if err != nil {
		return nil, err
	}
	g.schemas[name] = s
	return ref, nil
}

// enum describes a string type of package v1 by its Values method (a closed enum) or its
// Known method (an open one: other values are valid too).
func enum(t reflect.Type) (schema, error) {
	closed := true
	list := reflect.Zero(t).MethodByName("Values")
	if !list.IsValid() {
		closed, list = false, reflect.Zero(t).MethodByName("Known")
	}
	if !list.IsValid() {
		return nil, fmt.Errorf("%v is a string type without a Values or Known method: no enum", t)
	}
	vs := list.Call(nil)[0]
	values := make([]string, vs.Len())
	lines := []string{description(t, t.Name()), ""}
	for i := range values {
		values[i] = vs.Index(i).String()
		if d := description(t, t.Name()+"."+values[i]); d != "" {
			lines = append(lines, fmt.Sprintf("- `%s`: %s", values[i], d))
		}
	}
	s := schema{"type": "string", "description": strings.TrimSpace(strings.Join(lines, "\n"))}
	if closed {
		s["enum"] = values
	} else {
		s["examples"] = values
	}
	return s, nil
}

// object describes a struct as encoding/json writes it: a field is required unless its
// tag says omitempty or omitzero, a pointer that is not left out may be null, and a
// field the struct does not have is not allowed.
func (g *generator) object(t reflect.Type) (schema, error) {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous {
			return nil, fmt.Errorf("%v.%s: embedded fields are not described", t, f.Name)
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		s, err := g.schemaOf(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%v.%s: %w", t, f.Name, err)
		}
		omit := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		if f.Type.Kind() == reflect.Pointer && !omit {
			s = schema{"anyOf": []any{s, schema{"type": "null"}}}
		}
		if d := description(t, t.Name()+"."+f.Name); d != "" {
			s["description"] = d
		}
		name = cmp.Or(name, f.Name)
		props[name] = s
		if !omit {
			required = append(required, name)
		}
	}
	s := schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	if d := description(t, t.Name()); d != "" {
		s["description"] = d
	}
	return s, nil
}
