package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/incident"
)

// routeIncidents registers the incident routes.
func (s *server) routeIncidents(r *router) {
	r.handle("POST /v1/incidents/alerts", s.incidentAlerts, op{summary: "take the embedded Alertmanager's webhook notification (version 4, in the Alertmanager's format)",
		request: jsonOf(map[string]any{}), response: noContent})
	r.handle("GET /v1/incidents", s.incidents, op{summary: "the open incidents, newest first",
		params: []param{{name: "all", desc: "1: the resolved ones too", value: onOff}}, response: jsonOf([]v1.Incident{})})
	r.handle("GET /v1/incidents/{id}", s.incident, op{summary: "an incident", response: jsonOf(v1.Incident{})})
	r.handle("GET /v1/incidents/{id}/postmortem", s.postmortem, op{summary: "an incident's postmortem draft", response: raw("text/markdown")})
	r.handle("GET /v1/incidents/{id}/files/{name}", s.incidentFile, op{summary: "a file a runbook captured for an incident (a profile)",
		response: raw("application/octet-stream")})
	r.handle("POST /v1/incidents/{id}/{action}", s.incidentAction, op{summary: "acknowledge, resolve or comment on an incident",
		params:  []param{{name: "action", desc: "what to do", value: v1.IncidentAction("")}},
		request: jsonOf(v1.IncidentRequest{}).orNone(), response: jsonOf(v1.Incident{})})
	r.handle("GET /v1/runbooks", s.runbooks, op{summary: "the runbooks with their record, the remediation limits and state", response: jsonOf(v1.Runbooks{})})
	r.handle("GET /v1/remediation", s.remediation, op{summary: "the remediation switch and the actions taken", response: jsonOf(v1.Remediation{})})
	r.handle("PUT /v1/remediation", s.setRemediation, op{summary: "turn automated remediation on or off",
		request: jsonOf(v1.RemediationRequest{}), response: jsonOf(v1.Remediation{})})
}

func incidentStatus(err error) int {
	switch {
	case errors.Is(err, incident.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, incident.ErrState):
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// incidentAlerts takes the embedded Alertmanager's notifications for tend's receiver.
func (s *server) incidentAlerts(w http.ResponseWriter, r *http.Request) {
	var msg incident.Message
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&msg); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("want an Alertmanager webhook notification (version 4): %w", err))
		return
	}
	if err := s.o.Incidents.Receive(r.Context(), msg); err != nil {
		s.log.Error("take an alert notification", "err", err)
		writeError(w, http.StatusInternalServerError, err) // the Alertmanager retries
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) incidents(w http.ResponseWriter, r *http.Request) {
	list, err := s.o.Incidents.List(r.Context(), r.URL.Query().Get("all") == "1")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	kept := list[:0]
	for _, in := range list {
		if visible(r, in.App) {
			kept = append(kept, in)
		}
	}
	writeJSON(w, http.StatusOK, wireIncidents(kept))
}

func (s *server) incidentID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("incident id %q: want a number (see tend incidents)", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// getIncident reads the incident the path names, or answers why it cannot.
func (s *server) getIncident(w http.ResponseWriter, r *http.Request) (*incident.Incident, bool) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return nil, false
	}
	in, err := s.o.Incidents.Get(r.Context(), id)
	if err == nil && !visible(r, in.App) {
		err = fmt.Errorf("incident %d: %w", id, incident.ErrNotFound) // another app's: as if there were none
	}
	if err != nil {
		writeError(w, incidentStatus(err), err)
		return nil, false
	}
	return in, true
}

func (s *server) incident(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.getIncident(w, r); ok {
		writeJSON(w, http.StatusOK, wireIncident(in))
	}
}

func (s *server) postmortem(w http.ResponseWriter, r *http.Request) {
	in, ok := s.getIncident(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	io.WriteString(w, incident.Postmortem(in))
}

// incidentFile serves what a runbook captured for an incident (profiles).
func (s *server) incidentFile(w http.ResponseWriter, r *http.Request) {
	in, ok := s.getIncident(w, r) // another app's files are as missing as its incident
	if !ok {
		return
	}
	path, err := s.o.Incidents.File(in.ID, r.PathValue("name"))
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, incident.ErrNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeFile(w, r, path)
}

func (s *server) incidentAction(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	var req v1.IncidentRequest
	if err := decode(r.Body, 1<<20, &req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: want JSON like {\"by\": \"ana\", \"text\": \"...\"}: %w", err))
		return
	}
	var in *incident.Incident
	var err error
	switch a := v1.IncidentAction(r.PathValue("action")); a {
	case v1.IncidentAck:
		in, err = s.o.Incidents.Ack(r.Context(), id, req.By, req.Text)
	case v1.IncidentResolve:
		in, err = s.o.Incidents.Resolve(r.Context(), id, req.By, req.Text)
	case v1.IncidentComment:
		in, err = s.o.Incidents.Comment(r.Context(), id, req.By, req.Text)
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown incident action %q: want ack, resolve or comment", a))
		return
	}
	if err != nil {
		writeError(w, incidentStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, wireIncident(in))
}

func (s *server) runbooks(w http.ResponseWriter, r *http.Request) {
	stats, err := s.o.Incidents.Runbooks(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, wireRunbooks(stats, s.o.Incidents.Config().Remediation, s.o.Incidents.Remediation()))
}

func (s *server) remediation(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wireRemediation(s.o.Incidents.Remediation()))
}

func (s *server) setRemediation(w http.ResponseWriter, r *http.Request) {
	var req v1.RemediationRequest
	if err := decode(r.Body, 1<<20, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: want JSON like {\"enabled\": false, \"by\": \"ana\"}: %w", err))
		return
	}
	rem, err := s.o.Incidents.SetRemediation(r.Context(), req.Enabled, req.By)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, wireRemediation(rem))
}
