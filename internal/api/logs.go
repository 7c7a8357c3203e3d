package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/runtime"
)

func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	status, err := s.c.Status(r.Context(), app)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if id := r.URL.Query().Get("instance"); id != "" && s.o.NoLogs == nil && !logs.Has(s.o.DataDir, app, id) &&
		!slices.ContainsFunc(status.Running, func(in runtime.Instance) bool { return in.ID == id }) {
		writeError(w, http.StatusNotFound, fmt.Errorf("app %s has no instance %s, running or with a log: tend status %s lists its instances", app, id, app))
		return
	}
	if s.o.NoLogs != nil {
		writeError(w, http.StatusNotImplemented, errors.New(s.o.NoLogs(app)))
		return
	}
	q := r.URL.Query()
	tail, _ := strconv.Atoi(q.Get("tail"))
	query := logs.Query{App: app, Instance: q.Get("instance"), Tail: tail, Follow: q.Get("follow") == "1"}
	st := newStream(w)
	err = logs.Read(r.Context(), s.o.DataDir, query, func(l logs.Line) error { return st.send(v1.LogLine{Instance: l.Instance, Text: l.Text, At: l.At}) })
	if err != nil && !errors.Is(err, context.Canceled) {
		st.send(v1.StreamLine{Error: err.Error()})
		streamFailed(r, http.StatusInternalServerError, err)
	}
}
