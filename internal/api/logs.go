package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/runtime"
)

// logParams describe the query parameters of GET /v1/apps/{app}/logs.
var logParams = []param{
	{name: "instance", desc: "only this instance's lines, running or not", value: ""},
	{name: "revision", desc: "only the lines of this revision's instances", value: 0},
	{name: "tail", desc: "the last lines to start with, in total across instances and after the other filters (default 100; 0: none, with follow only new lines; -1: every line kept)", value: 0},
	{name: "follow", desc: "1: go on with new lines until the client goes away (or until passes)", value: onOff},
	{name: "since", desc: "only lines at or after this time: RFC 3339, or a duration (10m) before now", value: ""},
	{name: "until", desc: "only lines at or before this time: RFC 3339, or a duration before now", value: ""},
	{name: "grep", desc: "only lines this Go regular expression matches (on the raw line)", value: ""},
	{name: "level", desc: "only slog JSON lines of this level or above (debug, info, warn, error); other lines are left out", value: ""},
	{name: "all", desc: "1: the logs of instances that no longer run too", value: onOff},
	{name: "previous", desc: "1: only the logs of instances that no longer run (exited, crashed, replaced); not with follow or all", value: onOff},
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	status, err := s.c.Status(r.Context(), app)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if id := r.URL.Query().Get("instance"); id != "" && (s.o.PodLogs != nil || !logs.Has(s.o.DataDir, app, id)) &&
		!slices.ContainsFunc(status.Running, func(in runtime.Instance) bool { return in.ID == id }) {
		writeError(w, http.StatusNotFound, fmt.Errorf("app %s has no instance %s, running or with a log: tend status %s lists its instances", app, id, app))
		return
	}
	query, err := logQuery(r, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	query.App = app
	all, previous := r.URL.Query().Get("all") == "1", r.URL.Query().Get("previous") == "1"
	if previous && (all || query.Follow) {
		writeError(w, http.StatusBadRequest, errors.New("previous reads the instances that no longer run: not with all (every instance) or follow (they write no new lines)"))
		return
	}
	if !all {
		running := map[string]bool{}
		for _, in := range status.Running {
			running[in.ID] = true
		}
		query.Live = func(id string) bool { return running[id] != previous }
	}
	st := newStream(w)
	send := func(l logs.Line) error {
		return st.send(v1.LogLine{Instance: l.Instance, Revision: l.Revision, Text: l.Text, At: l.At})
	}
	if s.o.PodLogs != nil {
		err = s.o.PodLogs.Logs(r.Context(), app, query, previous, send)
	} else {
		err = logs.Read(r.Context(), s.o.DataDir, query, send)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		st.send(v1.StreamLine{Error: err.Error()})
		streamFailed(r, http.StatusInternalServerError, err)
	}
}

// logQuery reads the query parameters of a logs request (all but app and all).
func logQuery(r *http.Request, now time.Time) (logs.Query, error) {
	q := r.URL.Query()
	query := logs.Query{Instance: q.Get("instance"), Tail: 100, Follow: q.Get("follow") == "1"}
	var err error
	if v := q.Get("tail"); v != "" {
		if query.Tail, err = strconv.Atoi(v); err != nil {
			return query, fmt.Errorf("tail %q: want a number of lines (0: none, -1: all)", v)
		}
	}
	if v := q.Get("revision"); v != "" {
		if query.Revision, err = strconv.Atoi(v); err != nil || query.Revision < 0 {
			return query, fmt.Errorf("revision %q: want a revision number, as tend history lists them", v)
		}
	}
	if query.Since, err = LogTime("since", q.Get("since"), now); err != nil {
		return query, err
	}
	if query.Until, err = LogTime("until", q.Get("until"), now); err != nil {
		return query, err
	}
	if v := q.Get("grep"); v != "" {
		if query.Grep, err = regexp.Compile(v); err != nil {
			return query, fmt.Errorf("grep: %w", err)
		}
	}
	if v := q.Get("level"); v != "" {
		if query.Level, err = LogLevel(v); err != nil {
			return query, err
		}
	}
	return query, nil
}

// LogTime reads a since or until bound: RFC 3339, or a duration before now ("": none).
func LogTime(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%s %q: want a time (RFC 3339, like 2026-01-02T15:04:05Z) or a duration before now (like 10m)", name, v)
	}
	return now.Add(-d), nil
}

// LogLevel reads a level: debug, info, warn or error (or slog's ERROR+2 and the like).
func LogLevel(v string) (*slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
		return nil, fmt.Errorf("level %q: want debug, info, warn or error", v)
	}
	return &l, nil
}
