// tend's dashboard: polls the API every two seconds and redraws; the graphs' metrics are
// read apart, every five seconds, from the API's Prometheus endpoint (see loadMetrics).
// Data is only ever put into the page as text, never as HTML. graph.js draws the graphs.
"use strict";

const tokenKey = "tend-token";
const statePeriod = 2000; // ms between two reads of the API's state
const metricsPeriod = 5000; // ms between two reads of the graphs' metrics
const graphWindow = 15 * 60; // seconds the graphs show

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

// post runs an action as the CLI does (POST /v1/apps/{app}/{action}) and returns its
// message; an error carries the server's reason.
async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { Authorization: "Bearer " + token(), "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const text = await resp.text();
  let answer = {};
  try {
    answer = JSON.parse(text);
  } catch {
    answer = { error: text };
  }
  if (!resp.ok) throw new Error(answer.error || resp.status + " " + text);
  return answer;
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

// Numbers with their units; "–" where there is no value.
const missing = (v) => v === undefined || v === null || !Number.isFinite(Number(v));
const pct = (fraction) => (missing(fraction) ? "–" : (100 * fraction).toFixed(fraction < 0.001 && fraction > 0 ? 3 : 2) + "%");
const ms = (seconds) => (missing(seconds) ? "–" : (1000 * seconds).toFixed(seconds < 0.01 ? 2 : 0) + " ms");
const rps = (v) => (missing(v) ? "–" : Number(v).toFixed(v < 10 ? 2 : 1) + " req/s");

const inProgress = (r) => r.phase === "Progressing" || r.phase === "Paused";
const terminal = (r) => ["Completed", "RolledBack", "Aborted", "Failed"].includes(r.phase);

// ---- metrics: read from the API's Prometheus endpoint, apart from the state ----

// metrics[app] is the last answer for an app: the graphs' series by revision, and the
// request rate and 5xx share of each instance over the last minute.
const metrics = {};

// label quotes a PromQL label value.
const label = (v) => '"' + String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';

// errorShare is the 5xx share by the given labels; a revision without a 5xx counts 0 (the
// "or … * 0" keeps its series) rather than missing.
function errorShare(app, by, window) {
  const sel = "tend_gateway_requests_total{app=" + label(app);
  const all = `sum by (${by}) (rate(${sel}}[${window}]))`;
  return `(sum by (${by}) (rate(${sel},code=~"5.."}[${window}])) or ${all} * 0) / ${all}`;
}

// The three graphs: what they show and the PromQL behind each (by revision). Latency is
// the upstream time (tend_gateway_request_duration_seconds), the one analysis judges.
const graphs = [
  { key: "rate", title: "Request rate", unit: "req/s",
    query: (app) => `sum by (revision) (rate(tend_gateway_requests_total{app=${label(app)}}[30s]))` },
  { key: "errors", title: "5xx share", unit: "%", scale: 100, query: (app) => errorShare(app, "revision", "30s") },
  { key: "p95", title: "p95 latency", unit: "ms", scale: 1000,
    query: (app) => `histogram_quantile(0.95, sum by (revision, le) (rate(tend_gateway_request_duration_seconds_bucket{app=${label(app)}}[30s])))` },
];

async function prom(kind, params) {
  const answer = await get("/prometheus/api/v1/" + kind + "?" + new URLSearchParams(params));
  return (answer.data && answer.data.result) || [];
}

// byRevision turns a range answer into series of [seconds, value] points, values scaled.
function byRevision(result, scale) {
  return result.map((r) => ({
    revision: r.metric.revision || "?",
    points: r.values.map(([t, v]) => [t, parseFloat(v) * (scale || 1)]),
  })).sort((a, b) => Number(a.revision) - Number(b.revision));
}

// byInstance turns an instant answer into {instance id: value}.
function byInstance(result) {
  return Object.fromEntries(result.map((r) => [r.metric.instance, parseFloat(r.value[1])]));
}

async function loadAppMetrics(app) {
  const end = Math.floor(Date.now() / 1000);
  const range = { start: end - graphWindow, end, step: 5 }; // the scrape interval
  const [series, rate, errors] = await Promise.all([
    Promise.all(graphs.map((g) => prom("query_range", { query: g.query(app), ...range }).then((res) => byRevision(res, g.scale)))),
    prom("query", { query: `sum by (instance) (rate(tend_gateway_requests_total{app=${label(app)}}[1m]))` }).then(byInstance),
    prom("query", { query: errorShare(app, "instance", "1m") }).then(byInstance),
  ]);
  metrics[app] = { from: range.start, to: end, series: Object.fromEntries(graphs.map((g, i) => [g.key, series[i]])),
    instances: { rate, errors } };
}

let metricsBusy = false;

// loadMetrics reads the metrics of the apps on the page; an app whose metrics cannot be
// read (no Prometheus, a token without access) keeps its last ones and says why.
async function loadMetrics() {
  if (metricsBusy || !token()) return;
  metricsBusy = true;
  try {
    const apps = [...document.querySelectorAll("section.app")].map((s) => s.dataset.app);
    await Promise.all(apps.map((a) => loadAppMetrics(a).catch((err) => {
      metrics[a] = Object.assign(metrics[a] || {}, { error: err.message });
    })).concat(apps.map((a) => loadTraces(a))));
  } finally {
    metricsBusy = false;
  }
}

// last is a series' newest finite value (NaN when it has none).
function last(series, revision) {
  const s = (series || []).find((x) => String(x.revision) === String(revision));
  const points = s ? s.points.filter(([, v]) => Number.isFinite(v)) : [];
  return points.length ? points[points.length - 1][1] : NaN;
}

function graphsOf(app) {
  const m = metrics[app];
  if (!m || !m.series) {
    return el("div", { class: "message" }, m && m.error ? "no metrics: " + m.error : "reading the metrics…");
  }
  return el("div", { class: "graphs" }, ...graphs.map((g) => lineGraph(g.key, g.title, g.unit, m.series[g.key], m.from, m.to)),
    m.error ? el("div", { class: "message" }, "metrics not updated: " + m.error) : "");
}

// ---- traces ----

const traceWindow = "15m"; // how far back an app card's trace lists look
const traceLists = {}; // app → { slowest, failed } or { error }

// loadTraces reads an app's slowest and failed traces of the last minutes.
async function loadTraces(app) {
  const q = (extra) => get("/v1/traces?" + new URLSearchParams({ app, since: traceWindow, limit: 5, ...extra }));
  try {
    const [slowest, failed] = await Promise.all([q({ order: "slowest" }), q({ status: "error" })]);
    traceLists[app] = { slowest, failed };
  } catch (err) {
    traceLists[app] = { error: err.message };
  }
}

// instant is an RFC 3339 time in milliseconds since the epoch with its fraction kept
// (Date.parse drops what is below a millisecond, where a span's offsets often are).
function instant(t) {
  const m = String(t).match(/^(.*:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  return m ? Date.parse(m[1] + m[3]) + (m[2] ? parseFloat(m[2]) * 1000 : 0) : Date.parse(t);
}

// logLine is a slog JSON line as level, message and the other fields, else the line.
function logLine(text) {
  let f;
  try {
    f = JSON.parse(text);
  } catch {
    return text;
  }
  if (!f || typeof f !== "object") return text;
  const { time, level, msg, trace_id, span_id, ...rest } = f;
  return [level && level !== "INFO" ? level : "", msg || "", ...Object.entries(rest).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v))]
    .filter((x) => x !== "").join(" ");
}

const duration = (d) => String(d || "").replace(/(\.\d\d)\d+/, "$1"); // 1.234567ms → 1.23ms

// traceTable lists traces; a trace's id opens its waterfall.
function traceTable(title, list, none) {
  if (!list || !list.length) return [el("h3", {}, title), el("div", { class: "message" }, none)];
  const rows = list.map((t) => {
    const open = el("button", { class: "trace-link", "data-trace": t.traceId, type: "button" }, t.traceId.slice(0, 12) + "…");
    open.addEventListener("click", () => showTrace(t.traceId));
    return el("tr", { "data-trace": t.traceId }, el("td", {}, open), el("td", {}, age(t.start) + " ago"),
      el("td", {}, duration(t.duration)), el("td", { class: t.errors ? "result-fail" : "" }, t.root.status || (t.root.error ? "failed" : "")),
      el("td", {}, t.spans + " spans"), el("td", {}, (t.apps || []).join(", ")));
  });
  return [el("h3", {}, title), table(["trace", "started", "duration", "status", "spans", "apps"], rows)];
}

function tracesOf(app) {
  const l = traceLists[app];
  if (!l) return [];
  if (l.error) return [el("h3", {}, "Traces"), el("div", { class: "message" }, "no traces: " + l.error)];
  return [...traceTable("Slowest traces (" + traceWindow + ")", l.slowest, "No trace kept in the last " + traceWindow + "."),
    ...traceTable("Failed traces (" + traceWindow + ")", l.failed, "No failed request in the last " + traceWindow + ".")];
}

// ndjson reads a stream of JSON lines (the logs route).
async function ndjson(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return (await resp.text()).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((l) => l.text !== undefined);
}

// showTrace draws a trace as a waterfall: a row per span, under its parent, its bar
// placed on the trace's time line; then the log lines of its apps that carry its id.
async function showTrace(id) {
  const box = document.getElementById("trace");
  box.hidden = false;
  box.replaceChildren(el("h2", {}, "Trace " + id), el("div", { class: "message" }, "reading…"));
  box.scrollIntoView({ block: "nearest" });
  let tr;
  try {
    tr = await get("/v1/traces/" + encodeURIComponent(id));
  } catch (err) {
    box.replaceChildren(el("h2", {}, "Trace " + id), el("div", { class: "message" }, err.message));
    return;
  }
  const spans = tr.spans;
  const start = Math.min(...spans.map((s) => instant(s.start)));
  const nanos = (d) => {
    const m = String(d).match(/^([\d.]+)(ns|µs|us|ms|s|m|h)$/);
    return m ? parseFloat(m[1]) * { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 }[m[2]] : 0;
  };
  const ends = spans.map((s) => instant(s.start) - start + nanos(s.duration) / 1e6);
  const total = Math.max(...ends, 0.001);
  const ids = new Set(spans.map((s) => s.spanId));
  const kids = {};
  for (const s of spans) (kids[ids.has(s.parentId) ? s.parentId : ""] ||= []).push(s);
  const rows = [];
  const walk = (s, depth) => {
    const off = instant(s.start) - start;
    const width = Math.max(0.3, (100 * nanos(s.duration)) / 1e6 / total);
    const a = s.attributes || {};
    const detail = [a["http.response.status_code"], a["tend.revision"] !== undefined ? "revision " + a["tend.revision"] : "",
      a["tend.instance"] || (s.resource || {})["service.instance.id"] || "", s.message || ""].filter((x) => x !== undefined && x !== "").join(" · ");
    rows.push(el("div", { class: "span-row" + (s.error ? " failed" : ""), "data-span": s.spanId },
      el("div", { class: "span-name", style: "padding-left:" + depth * 1.1 + "em" }, el("b", {}, s.service), " " + s.name),
      el("div", { class: "span-lane" }, el("div", { class: "span-bar", style: `left:${(100 * off) / total}%;width:${width}%` }),
        el("span", { class: "span-time", style: `left:${Math.min(85, (100 * off) / total)}%` }, "+" + off.toFixed(2) + " ms · " + duration(s.duration))),
      el("div", { class: "span-detail" }, detail)));
    for (const k of kids[s.spanId] || []) walk(k, depth + 1);
  };
  for (const r of kids[""] || []) walk(r, 0);
  const head = el("h2", {}, "Trace " + id, el("small", {}, spans.length + " spans · " + total.toFixed(2) + " ms" +
    (tr.hidden ? " · " + tr.hidden + " spans of apps this token may not read left out" : "")));
  const close = el("button", { type: "button", class: "close" }, "close");
  close.addEventListener("click", () => { box.hidden = true; });
  const logs = el("div", { class: "message" }, "reading the log lines…");
  box.replaceChildren(head, close, el("div", { class: "waterfall" }, ...rows), el("h3", {}, "Log lines with this trace id"), logs);
  const apps = [...new Set(spans.filter((s) => s.service !== "tend-gateway").map((s) => s.app))];
  const window = { since: new Date(start - 1000).toISOString(), until: new Date(start + total + 5000).toISOString() };
  const lines = (await Promise.all(apps.map((a) => ndjson("/v1/apps/" + encodeURIComponent(a) + "/logs?" +
    new URLSearchParams({ grep: id, all: 1, tail: -1, ...window })).then((ls) => ls.map((l) => ({ app: a, ...l }))).catch(() => []))))
    .flat().sort((x, y) => instant(x.at) - instant(y.at));
  logs.replaceWith(lines.length ? table(["at", "app", "instance", "line"], lines.map((l) => el("tr", {},
    el("td", {}, "+" + (instant(l.at) - start).toFixed(2) + " ms"), el("td", {}, l.app), el("td", {}, l.instance), el("td", { class: "log-text" }, logLine(l.text)))))
    : el("div", { class: "message" }, "No log line carries this trace id."));
}

// ---- the app card ----

// badge is the rollout's phase; an app whose stable revision serves with every instance
// ready says so first, so that an old rollout's failure does not look like an outage.
function badge(st) {
  const r = st.rollout;
  const ended = { RolledBack: "rolled back", Aborted: "aborted", Failed: "failed" }[r.phase];
  const ready = (st.running || []).filter((i) => i.revision === r.stable && i.state === "ready").length;
  if (ended && r.to !== r.stable && ready > 0 && ready >= st.instances) {
    return el("span", { class: "phase serving " + r.phase, title: r.message || "" },
      "revision " + r.stable + " serves (rollout to " + r.to + " " + ended + ")");
  }
  return el("span", { class: "phase " + r.phase }, r.phase);
}

function split(st) {
  const r = st.rollout;
  const box = el("div", { class: "split" });
  const stable = r.phase === "Completed" || r.phase === "RolledBack" ? 100 : 100 - (r.weight || 0);
  if (stable > 0) box.append(el("div", { class: "stable", style: "width:" + stable + "%" }, "revision " + r.stable + " · " + stable + "%"));
  if (stable < 100) box.append(el("div", { class: "new", style: "width:" + (100 - stable) + "%" }, "revision " + r.to + " · " + (100 - stable) + "%"));
  return box;
}

// stepText says what one canary step does.
function stepText(s, r, current) {
  if (s.weight !== undefined) return "weight " + s.weight + "%";
  if (s.pause) {
    const p = s.pause.duration ? "pause " + s.pause.duration : "pause until tend promote";
    const left = current && r.pauseUntil ? Math.max(0, Math.round((Date.parse(r.pauseUntil) - Date.now()) / 1000)) : null;
    return p + (left !== null ? " (" + left + " s left)" : "");
  }
  if (s.analysis) {
    const a = s.analysis;
    return "analysis: " + (a.checks || []).join(", ") + " · " + a.count + " × " + a.interval;
  }
  return "?";
}

// steps lists the canary steps of the rollout, the one it is at marked.
function steps(r) {
  if (r.strategy !== "canary" || !r.from || !r.steps || !r.steps.length) return [];
  const items = r.steps.map((s, i) => {
    let state = i < r.step || r.phase === "Completed" ? "done" : "";
    if (i === r.step && inProgress(r)) state = "current";
    if (i === r.step && !inProgress(r) && r.phase !== "Completed") state = "stopped";
    const mark = { done: "✓ ", current: "▶ ", stopped: "✗ " }[state] || "";
    const attrs = { class: "step " + state, "data-step": i };
    if (state === "current") attrs["aria-current"] = "step";
    return el("li", attrs, mark + stepText(s, r, state === "current"));
  });
  return [el("h3", {}, "Canary steps"), el("ol", { class: "steps" }, ...items)];
}

// checkValue formats a check's value: error rates as %, latencies (seconds) as ms.
function checkValue(c, v) {
  if (missing(v)) return "–";
  if (/%/.test(c.threshold || "") || c.name.startsWith("error")) return pct(v);
  if (/\d\s*(ms|s|m)\b/.test(c.threshold || "") || c.name.startsWith("latency")) return ms(v);
  return Number(v).toPrecision(3);
}

// vsStable says how the canary compares with stable (the baseline comparison); it never
// reads "Pass" beside a failed check: the threshold's failure is said beside it.
function vsStable(c) {
  const words = { Pass: "like stable", High: "higher than stable", Low: "lower than stable", NoData: "no data" };
  const w = words[c.class] || c.class || "";
  return c.result === "fail" && c.class === "Pass" ? w + ", but over its threshold" : w;
}

// analysis shows the checks of the last measurement of the running (or last) analysis,
// each with why it passed or failed.
function analysis(r) {
  const run = r.analysis || (r.verdicts && r.verdicts[r.verdicts.length - 1]);
  if (!run || !run.measurements || !run.measurements.length) return [];
  const m = run.measurements[run.measurements.length - 1];
  const rows = (m.checks || []).map((c) => el("tr", { "data-check": c.name }, el("td", {}, c.name),
    el("td", { class: "result-" + c.result }, c.result), el("td", {}, c.reason || ""),
    el("td", {}, checkValue(c, c.value)), el("td", {}, checkValue(c, c.stable)), el("td", {}, c.threshold || ""),
    el("td", {}, vsStable(c)), el("td", {}, missing(c.pValue) ? "–" : Number(c.pValue).toPrecision(2))));
  const head = "step " + (run.step + 1) + " · " + (run.result || "running") + " · " + run.measurements.length +
    " measurements · " + Math.round(m.requests) + " canary requests" + (m.score !== undefined ? " · score " + Math.round(m.score) + "/100" : "");
  const why = run.message || m.message;
  return [el("h3", {}, "Analysis"), el("div", { class: "message" }, head + (why ? ": " + why : "")),
    table(["check", "result", "why", "canary", "stable", "threshold", "vs stable", "p"], rows)];
}

// revisions lists the newest revisions with what changed from the one before, and the
// request rate and 5xx share of each over the last 30 s.
function revisions(st, hist) {
  const revs = ((hist && hist.revisions) || []).slice(0, 5);
  if (!revs.length) return [];
  const r = st.rollout;
  const m = metrics[st.app] || {};
  const series = m.series || {};
  const role = (n) => (n === r.stable ? "stable" : inProgress(r) && n === r.to ? "canary" : "");
  const rows = revs.map((v) => el("tr", { "data-revision": v.number }, el("td", {}, v.number), el("td", {}, role(v.number)),
    el("td", {}, [v.version, v.commit].filter(Boolean).join(" · ")), el("td", {}, age(v.createdAt) + " ago"),
    el("td", {}, rps(last(series.rate, v.number))), el("td", {}, pct(last(series.errors, v.number) / 100)),
    el("td", { class: "changes" }, (v.changes || []).join("; ") || (v.number === 1 ? "first revision" : "no change"))));
  return [el("h3", {}, "Revisions"), table(["revision", "", "version", "created", "rate", "5xx (30 s)", "what changed"], rows)];
}

// actionResults[app] is the answer to the last action run from the page.
const actionResults = {};

// The actions the page offers, when each applies and what its confirmation asks.
const actions = [
  { name: "promote", applies: (st) => inProgress(st.rollout),
    ask: (st) => "Promote " + st.app + " revision " + st.rollout.to + " to its next canary step?" },
  { name: "pause", applies: (st) => inProgress(st.rollout) && !st.rollout.manualPause,
    ask: (st) => "Pause the rollout of " + st.app + " (tend resume goes on)?" },
  { name: "resume", applies: (st) => inProgress(st.rollout) && st.rollout.manualPause,
    ask: (st) => "Resume the rollout of " + st.app + "?" },
  { name: "abort", applies: (st) => inProgress(st.rollout),
    ask: (st) => "Abort the rollout of " + st.app + " to revision " + st.rollout.to + "? Revision " + st.rollout.stable + " will serve all traffic." },
  { name: "rollback", applies: (st, hist) => !inProgress(st.rollout) && ((hist && hist.revisions) || []).some((v) => v.number < st.rollout.stable),
    ask: (st) => "Roll " + st.app + " back from revision " + st.rollout.stable + " to the previous revision?" },
];

async function act(st, a) {
  if (!window.confirm(a.ask(st))) return;
  try {
    const answer = await post("/v1/apps/" + encodeURIComponent(st.app) + "/" + a.name);
    actionResults[st.app] = { ok: true, text: a.name + ": " + answer.message };
  } catch (err) {
    actionResults[st.app] = { ok: false, text: a.name + " failed: " + err.message };
  }
  refresh();
}

function buttons(st, hist) {
  const shown = actions.filter((a) => a.applies(st, hist)).map((a) => {
    const b = el("button", { type: "button", "data-action": a.name }, a.name);
    b.addEventListener("click", () => act(st, a));
    return b;
  });
  const res = actionResults[st.app];
  const answer = res ? [el("span", { class: res.ok ? "answer" : "answer error" }, res.text)] : [];
  return shown.length || answer.length ? [el("div", { class: "actions" }, ...shown, ...answer)] : [];
}

// autoscaleLine says what the autoscaler sees: the bounds, each target against its
// value, and the last decision.
function autoscaleLine(a) {
  const metrics = (a.metrics || []).map((m) => m.error ? m.name + ": " + m.error :
    m.name + " " + (+m.value.toPrecision(3)) + (m.unit === "%" ? "%" : m.unit ? " " + m.unit : "") + " of " + m.target + (m.unit === "%" ? "%" : m.unit ? " " + m.unit : ""));
  return el("div", { class: "autoscale" }, "Autoscale: " + a.current + " instances, desired " + a.desired +
    " (min " + a.min + ", max " + a.max + (a.floor ? ", floor " + a.floor : "") + ")" + (metrics.length ? " · " + metrics.join(" · ") : ""),
    a.reason ? el("small", {}, " — " + a.reason) : "");
}

function appCard(st, gw, hist) {
  const r = st.rollout;
  const m = (metrics[st.app] || {}).instances || { rate: {}, errors: {} };
  const title = el("h2", {}, st.app, badge(st),
    el("small", {}, st.strategy + (r.from ? " · " + r.from + " → " + r.to : "") + " · " + st.instances + " instances"));
  const instances = table(["instance", "revision", "state", "pid", "restarts", "up", "address", "rate (1 min)", "5xx (1 min)", "message"],
    (st.running || []).map((i) => el("tr", { "data-instance": i.id }, el("td", {}, i.id), el("td", {}, i.revision),
      el("td", { class: "state-" + i.state }, i.state), el("td", {}, i.pid || ""), el("td", {}, i.restarts),
      el("td", {}, age(i.readySince)), el("td", {}, i.addr), el("td", {}, rps(m.rate[i.id])), el("td", {}, pct(m.errors[i.id])),
      el("td", {}, i.message || ""))));
  const endpoints = table(["endpoint", "revision", "instance", "in flight (requests)", "ejected"],
    ((gw && gw.endpoints) || []).map((e) => el("tr", {}, el("td", {}, e.address), el("td", {}, e.revision),
      el("td", {}, e.instance), el("td", {}, e.inFlight), el("td", {}, e.ejected ? "yes" : ""))));
  const events = table(["when", "revision", "kind", "event"],
    ((hist && hist.events) || []).slice(-10).reverse().map((e) => el("tr", {}, el("td", {}, age(e.at) + " ago"),
      el("td", {}, e.revision || ""), el("td", {}, e.kind), el("td", {}, e.message))));
  const maint = st.maintenance ? [el("div", { class: "maintenance" }, "Maintenance since " + age(st.maintenance.since) +
    " ago: the gateway answers 503" + (st.maintenance.message ? " (" + st.maintenance.message + ")" : "") +
    "; tend maintenance " + st.app + " off ends it")] : [];
  const scaling = st.autoscale ? [autoscaleLine(st.autoscale)] : [];
  const preview = !terminal(r) && r.previewToken && r.from && (r.strategy === "canary" || r.strategy === "blueGreen")
    ? [el("div", { class: "preview" }, "Preview revision " + r.to + " with header ", el("code", {}, "X-Tend-Preview: " + r.previewToken))] : [];
  return el("section", { class: "app", id: "app-" + st.app, "data-app": st.app }, title, ...maint, ...scaling,
    el("div", { class: "message" }, r.message || ""), ...buttons(st, hist), ...preview, split(st), ...steps(r),
    graphsOf(st.app), ...analysis(r), ...revisions(st, hist), ...tracesOf(st.app),
    el("h3", {}, "Instances"), instances, el("h3", {}, "Gateway"), endpoints, el("h3", {}, "Events"), events);
}

// incidents shows open incidents first, then the latest resolved ones, with the last
// thing that happened to each; and the alerts firing now. An app links to its card.
function incidents(list, alerts) {
  const box = document.getElementById("incidents");
  if (!list && !alerts) {
    box.hidden = true;
    return;
  }
  const appLink = (app) => (app ? el("a", { href: "#app-" + app, class: "app-link" }, app) : "");
  const open = (list || []).filter((i) => i.status !== "resolved");
  const shown = open.concat((list || []).filter((i) => i.status === "resolved").slice(0, Math.max(0, 5 - open.length)));
  const rows = shown.map((i) => {
    const last = (i.timeline || [])[(i.timeline || []).length - 1] || {};
    return el("tr", { "data-incident": i.id }, el("td", {}, i.id), el("td", { class: "status-" + i.status }, i.status),
      el("td", {}, i.severity), el("td", {}, appLink(i.app)), el("td", {}, i.title), el("td", {}, age(i.createdAt) + " ago"),
      el("td", {}, (last.kind || "") + ": " + (last.text || "")));
  });
  const firing = (alerts || []).map((a) => el("tr", { "data-alert": a.labels.alertname },
    el("td", {}, a.labels.alertname), el("td", {}, a.labels.severity || ""), el("td", {}, appLink(a.labels.app)),
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

// backups shows each backup's newest archive, its last run and its last drill (hidden
// when there are none).
function backups(list) {
  const box = document.getElementById("backups");
  if (!list || !list.length) {
    box.hidden = true;
    return;
  }
  const ago = (t) => {
    const s = (Date.now() - Date.parse(t)) / 1000;
    return s < 120 ? Math.round(s) + "s ago" : s < 7200 ? Math.round(s / 60) + "m ago" : s < 172800 ? Math.round(s / 3600) + "h ago" : Math.round(s / 86400) + "d ago";
  };
  const size = (n) => n >= 1 << 30 ? (n / (1 << 30)).toFixed(2) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + " MiB" : Math.ceil(n / 1024) + " KiB";
  const rows = list.map((b) => {
    const newest = b.archives.length ? b.archives[b.archives.length - 1] : null;
    const run = b.lastError ? el("td", { class: "backup-failed" }, "failed: " + b.lastError) : el("td", {}, b.lastSuccess ? "ok" : "none yet");
    const v = b.lastVerify;
    const drill = v ? el("td", { class: v.ok ? "" : "backup-failed" }, (v.ok ? "passed " : "FAILED ") + ago(v.time) + (v.ok ? "" : ": " + v.message))
      : el("td", {}, b.verifySchedule ? "none yet" : "-");
    return el("tr", { "data-backup": (b.app || "tend") + "/" + b.name }, el("td", {}, b.app || "(tend)"), el("td", {}, b.name), el("td", {}, b.kind),
      el("td", {}, newest ? ago(newest.time) + " · " + size(newest.size) : "none"), el("td", {}, String(b.archives.length)), run, drill,
      el("td", {}, b.schedule + " → " + b.target));
  });
  box.replaceChildren(el("h2", {}, "Backups"), table(["app", "backup", "kind", "newest", "kept", "last run", "last drill", "schedule"], rows));
  box.hidden = false;
}

// serverLine is the header's word on the server: its version (a build without a version
// nor a VCS stamp, as with -buildvcs=false, says so), API version and platform.
function serverLine(v) {
  const known = v.version && v.version !== "unknown";
  return "tend server " + (known ? v.version : "· no version stamped in its build") + " · API v" + v.api +
    (v.target ? " · " + v.target.os + "/" + v.target.arch : "");
}

let firstMetrics = true;

async function refresh() {
  const problem = document.getElementById("problem");
  if (!token()) {
    document.getElementById("login").hidden = false;
    return;
  }
  try {
    const [version, apps, gateway] = await Promise.all([get("/v1/version"), get("/v1/apps"), get("/v1/gateway")]);
    const hists = await Promise.all(apps.map((a) => get("/v1/apps/" + encodeURIComponent(a.app) + "/history?limit=10").catch(() => null)));
    const [list, alerts, certs, bks] = await Promise.all([get("/v1/incidents?all=1").catch(() => null),
      get("/alertmanager/api/v2/alerts").catch(() => null), get("/v1/certs").catch(() => null), get("/v1/backups").catch(() => null)]);
    incidents(list, alerts);
    certificates(certs);
    backups(bks);
    const byApp = Object.fromEntries((gateway || []).map((g) => [g.app, g]));
    document.getElementById("apps").replaceChildren(...apps.map((a, i) => appCard(a, byApp[a.app], hists[i])));
    document.getElementById("empty").hidden = apps.length > 0;
    document.getElementById("server").textContent = serverLine(version);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    problem.hidden = true;
    document.getElementById("login").hidden = true;
    if (firstMetrics && apps.length) {
      firstMetrics = false; // the graphs' first data need not wait for the metrics' period
      loadMetrics().then(refresh);
    }
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
setInterval(refresh, statePeriod);
setInterval(loadMetrics, metricsPeriod);
