// tend's dashboard: polls the API once a second and redraws. Data is only ever put into
// the page as text, never as HTML.
"use strict";

const tokenKey = "tend-token";

function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(tokenKey, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname); // keep the token out of the address bar
  }
  return sessionStorage.getItem(tokenKey);
}

async function get(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (resp.status === 401) throw new Error("unauthorized");
  if (!resp.ok) throw new Error(path + ": " + resp.status + " " + (await resp.text()));
  return resp.json();
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function age(t) {
  if (!t || t.startsWith("0001")) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  return s < 90 ? s + "s" : s < 5400 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h";
}

function split(st) {
  const r = st.rollout;
  const box = el("div", { class: "split" });
  const stable = r.phase === "Completed" || r.phase === "RolledBack" ? 100 : 100 - (r.weight || 0);
  if (stable > 0) box.append(el("div", { class: "stable", style: "width:" + stable + "%" }, "revision " + r.stable + " · " + stable + "%"));
  if (stable < 100) box.append(el("div", { class: "new", style: "width:" + (100 - stable) + "%" }, "revision " + r.to + " · " + (100 - stable) + "%"));
  return box;
}

// analysis shows the checks of the last measurement of the running (or last) analysis.
function analysis(r) {
  const run = r.analysis || (r.verdicts && r.verdicts[r.verdicts.length - 1]);
  if (!run || !run.measurements || !run.measurements.length) return [];
  const m = run.measurements[run.measurements.length - 1];
  const num = (v) => (v === undefined || v === null ? "–" : Number(v).toPrecision(3));
  const rows = (m.checks || []).map((c) => el("tr", { "data-check": c.name }, el("td", {}, c.name),
    el("td", { class: "result-" + c.result }, c.result), el("td", {}, num(c.value)), el("td", {}, num(c.stable)),
    el("td", {}, c.threshold || ""), el("td", {}, c.class || ""), el("td", {}, num(c.pValue))));
  const head = "step " + (run.step + 1) + " · " + (run.result || "running") + " · " + run.measurements.length +
    " measurements · " + Math.round(m.requests) + " canary requests";
  return [el("h3", {}, "Analysis"), el("div", { class: "message" }, head + (run.message ? ": " + run.message : "")),
    table(["check", "result", "canary", "stable", "threshold", "vs stable", "p"], rows)];
}

function appCard(st, gw, hist) {
  const r = st.rollout;
  const title = el("h2", {}, st.app, el("span", { class: "phase " + r.phase }, r.phase),
    el("small", {}, st.strategy + (r.from ? " · " + r.from + " → " + r.to : "") + " · " + st.instances + " instances"));
  const instances = table(["instance", "revision", "state", "pid", "restarts", "up", "address", "message"],
    (st.running || []).map((i) => el("tr", { "data-instance": i.id }, el("td", {}, i.id), el("td", {}, i.revision),
      el("td", { class: "state-" + i.state }, i.state), el("td", {}, i.pid || ""), el("td", {}, i.restarts),
      el("td", {}, age(i.readySince)), el("td", {}, i.addr), el("td", {}, i.message || ""))));
  const endpoints = table(["endpoint", "revision", "instance", "in flight", "ejected"],
    ((gw && gw.endpoints) || []).map((e) => el("tr", {}, el("td", {}, e.address), el("td", {}, e.revision),
      el("td", {}, e.instance), el("td", {}, e.inFlight), el("td", {}, e.ejected ? "yes" : ""))));
  const events = table(["when", "revision", "kind", "event"],
    ((hist && hist.events) || []).slice(-10).reverse().map((e) => el("tr", {}, el("td", {}, age(e.at) + " ago"),
      el("td", {}, e.revision || ""), el("td", {}, e.kind), el("td", {}, e.message))));
  const maint = st.maintenance ? [el("div", { class: "maintenance" }, "Maintenance since " + age(st.maintenance.since) +
    " ago: the gateway answers 503" + (st.maintenance.message ? " (" + st.maintenance.message + ")" : "") +
    "; tend maintenance " + st.app + " off ends it")] : [];
  const terminal = ["Completed", "RolledBack", "Aborted", "Failed"].includes(r.phase);
  const preview = !terminal && r.previewToken && r.from && (r.strategy === "canary" || r.strategy === "blueGreen")
    ? [el("div", { class: "preview" }, "Preview revision " + r.to + " with header ", el("code", {}, "X-Tend-Preview: " + r.previewToken))] : [];
  return el("section", { class: "app", "data-app": st.app }, title, ...maint, el("div", { class: "message" }, r.message || ""), ...preview,
    split(st), ...analysis(r), el("h3", {}, "Instances"), instances, el("h3", {}, "Gateway"), endpoints, el("h3", {}, "Events"), events);
}

// incidents shows open incidents first, then the latest resolved ones, with the last
// thing that happened to each; and the alerts firing now.
function incidents(list, alerts) {
  const box = document.getElementById("incidents");
  if (!list && !alerts) {
    box.hidden = true;
    return;
  }
  const open = (list || []).filter((i) => i.status !== "resolved");
  const shown = open.concat((list || []).filter((i) => i.status === "resolved").slice(0, Math.max(0, 5 - open.length)));
  const rows = shown.map((i) => {
    const last = (i.timeline || [])[(i.timeline || []).length - 1] || {};
    return el("tr", { "data-incident": i.id }, el("td", {}, i.id), el("td", { class: "status-" + i.status }, i.status),
      el("td", {}, i.severity), el("td", {}, i.app || ""), el("td", {}, i.title), el("td", {}, age(i.createdAt) + " ago"),
      el("td", {}, (last.kind || "") + ": " + (last.text || "")));
  });
  const firing = (alerts || []).map((a) => el("tr", { "data-alert": a.labels.alertname },
    el("td", {}, a.labels.alertname), el("td", {}, a.labels.severity || ""), el("td", {}, a.labels.app || ""),
    el("td", { class: "status-" + a.status.state }, (a.status.silencedBy || []).length ? "silenced" : a.status.state),
    el("td", {}, age(a.startsAt)), el("td", {}, (a.annotations || {}).summary || "")));
  box.replaceChildren(el("h2", {}, "Incidents", el("small", {}, open.length + " open")),
    rows.length ? table(["id", "status", "severity", "app", "title", "opened", "last"], rows) : el("div", { class: "message" }, "No incident."),
    el("h3", {}, "Alerts"),
    firing.length ? table(["alert", "severity", "app", "state", "for", "summary"], firing) : el("div", { class: "message" }, "No alert is firing."));
  box.hidden = false;
}

// certificates shows the gateway's TLS certificates (hidden without tend server --https).
function certificates(list) {
  const box = document.getElementById("certs");
  if (!list || !list.length) {
    box.hidden = true;
    return;
  }
  const until = (t) => {
    if (!t) return "";
    const d = (Date.parse(t) - Date.now()) / 86400000;
    return d >= 2 ? Math.floor(d) + " days" : d > 0 ? Math.round(d * 24) + " hours" : "expired";
  };
  const rows = list.map((c) => el("tr", { "data-cert": c.host }, el("td", {}, c.host), el("td", {}, c.app),
    el("td", { class: "cert-" + c.state }, c.state), el("td", {}, c.source), el("td", {}, c.issuer || ""),
    el("td", {}, until(c.notAfter)), el("td", {}, c.renewAt ? "in " + until(c.renewAt) : ""), el("td", {}, c.lastError || "")));
  box.replaceChildren(el("h2", {}, "Certificates"),
    table(["host", "app", "state", "source", "issuer", "expires in", "renewal", "last error"], rows));
  box.hidden = false;
}

async function refresh() {
  const problem = document.getElementById("problem");
  if (!token()) {
    document.getElementById("login").hidden = false;
    return;
  }
  try {
    const [version, apps, gateway] = await Promise.all([get("/v1/version"), get("/v1/apps"), get("/v1/gateway")]);
    const hists = await Promise.all(apps.map((a) => get("/v1/apps/" + encodeURIComponent(a.app) + "/history?limit=10").catch(() => null)));
    const [list, alerts, certs] = await Promise.all([get("/v1/incidents?all=1").catch(() => null),
      get("/alertmanager/api/v2/alerts").catch(() => null), get("/v1/certs").catch(() => null)]);
    incidents(list, alerts);
    certificates(certs);
    const byApp = Object.fromEntries((gateway || []).map((g) => [g.app, g]));
    document.getElementById("apps").replaceChildren(...apps.map((a, i) => appCard(a, byApp[a.app], hists[i])));
    document.getElementById("empty").hidden = apps.length > 0;
    document.getElementById("server").textContent = "server " + version.version;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    problem.hidden = true;
    document.getElementById("login").hidden = true;
  } catch (err) {
    if (err.message === "unauthorized") {
      sessionStorage.removeItem(tokenKey);
      document.getElementById("login").hidden = false;
    }
    problem.textContent = "cannot read the tend API: " + err.message;
    problem.hidden = false;
  }
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(tokenKey, document.getElementById("token").value);
  refresh();
});
refresh();
setInterval(refresh, 1000);
