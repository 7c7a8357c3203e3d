// tend's dashboard graphs: line graphs drawn as SVG by this file alone (no library, no
// external asset), one line per revision. app.js calls lineGraph.
"use strict";

const svgNS = "http://www.w3.org/2000/svg";

// The graph's size in SVG units and its margins (room for the axis labels).
const size = { w: 360, h: 170, left: 62, right: 10, top: 10, bottom: 24 };

// revisionColor gives each revision a color of its own, the same in every graph.
function revisionColor(rev) {
  const palette = ["#4a6fa5", "#d9822b", "#2e8b57", "#9b59b6", "#c0392b", "#16a085", "#7f8c8d"];
  return palette[((Number(rev) || 1) - 1) % palette.length]; // 1 blue, 2 orange: as the traffic split
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// niceStep is a round tick step (1, 2 or 5 × 10ⁿ) that splits [0, max] into about n parts.
function niceStep(max, n) {
  const raw = max / n;
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw);
}

// tickLabel writes a tick value with as many decimals as the step needs, and the unit.
function tickLabel(v, step, unit) {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return v.toFixed(decimals) + (unit === "%" ? "%" : " " + unit);
}

// pathOf turns points ([seconds, value]) into an SVG path; a missing value (NaN: no
// request in the window) breaks the line.
function pathOf(points, x, y) {
  let d = "";
  let pen = false;
  for (const [t, v] of points) {
    if (!Number.isFinite(v)) {
      pen = false;
      continue;
    }
    d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
    pen = true;
  }
  return d.trim();
}

// timeTicks are the time axis' ticks, seconds before now: about four, at a round step.
function timeTicks(span) {
  const stepSec = [15, 30, 60, 120, 300, 600].find((st) => span / st <= 4) || 900;
  const ticks = [];
  for (let ago = 0; ago <= span; ago += stepSec) ticks.push(ago);
  return ticks;
}

const agoLabel = (ago) => (ago === 0 ? "now" : ago < 60 ? "−" + ago + " s" : "−" + ago / 60 + " min");

// isolated are the points with a value whose neighbours have none: no line reaches them.
function isolated(points) {
  const has = (i) => i >= 0 && i < points.length && Number.isFinite(points[i][1]);
  return points.filter((p, i) => has(i) && !has(i - 1) && !has(i + 1));
}

// valueLabel writes a value as the axis does, with three significant digits.
const valueLabel = (v, unit) => (Number.isFinite(v) ? Number(v.toPrecision(3)) + (unit === "%" ? "%" : " " + unit) : "—");

// addReadout shows, where the pointer is over the graph, a guide line at that time and
// each revision's value there (the nearest point of its line).
function addReadout(g, drawn, unit, from, to, x, y) {
  const { w, h, left, right, top, bottom } = size;
  const guide = svgEl("line", { class: "guide", y1: top, y2: h - bottom, visibility: "hidden" });
  const readout = svgEl("text", { class: "readout", y: top + 9, visibility: "hidden" });
  const area = svgEl("rect", { class: "hover-area", x: left, y: top, width: w - left - right, height: h - top - bottom, fill: "transparent" });
  area.addEventListener("mousemove", (ev) => {
    const box = area.getBoundingClientRect();
    const t = from + ((ev.clientX - box.left) / box.width) * (to - from);
    const parts = drawn.map((s) => {
      const [, v] = s.points.reduce((best, p) => (Math.abs(p[0] - t) < Math.abs(best[0] - t) ? p : best));
      return "revision " + s.revision + ": " + valueLabel(v, unit);
    });
    const px = x(t);
    guide.setAttribute("x1", px);
    guide.setAttribute("x2", px);
    const ago = Math.max(0, Math.round(to - t));
    const when = ago < 60 ? agoLabel(ago) : "−" + (ago / 60).toFixed(1) + " min";
    readout.textContent = when + " · " + parts.join(" · ");
    const right = px > (left + w) / 2; // keep the text inside the graph
    readout.setAttribute("x", right ? px - 4 : px + 4);
    readout.setAttribute("text-anchor", right ? "end" : "start");
    guide.setAttribute("visibility", "visible");
    readout.setAttribute("visibility", "visible");
  });
  area.addEventListener("mouseleave", () => {
    guide.setAttribute("visibility", "hidden");
    readout.setAttribute("visibility", "hidden");
  });
  g.append(guide, readout, area);
}

// lineGraph draws series ([{revision, points}]) up to `to` (Unix seconds) with the value
// axis in unit: a figure with a title, the SVG and a legend by revision. The time axis
// starts at `from` (15 minutes before), or later for an app younger than that, so that
// a new app's lines are not squeezed against "now" (one minute at least).
function lineGraph(key, title, unit, series, from, to) {
  const { w, h, left, right, top, bottom } = size;
  const drawn = series.filter((s) => s.points.some(([, v]) => Number.isFinite(v)));
  const times = drawn.flatMap((s) => s.points.filter(([, v]) => Number.isFinite(v)).map(([t]) => t));
  from = Math.max(from, Math.min(to - 60, ...times));
  const values = drawn.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const max = Math.max(...values, 0) || (unit === "%" ? 1 : 0.001);
  const step = niceStep(max, 4);
  const ceiling = Math.ceil(max / step) * step;
  const x = (t) => left + ((t - from) / (to - from)) * (w - left - right);
  const y = (v) => top + (1 - v / ceiling) * (h - top - bottom);

  const g = svgEl("svg", { class: "graph", "data-graph": key, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title + " (" + unit + ")" });
  // value axis: a grid line and a label per tick
  for (let v = 0; v <= ceiling + step / 2; v += step) {
    g.append(svgEl("line", { class: "grid", x1: left, x2: w - right, y1: y(v), y2: y(v) }));
    g.append(svgEl("text", { class: "tick", x: left - 4, y: y(v) + 3, "text-anchor": "end" }, tickLabel(v, step, unit)));
  }
  // time axis: seconds or minutes before now
  for (const ago of timeTicks(to - from)) {
    g.append(svgEl("line", { class: "grid", x1: x(to - ago), x2: x(to - ago), y1: top, y2: h - bottom }));
    g.append(svgEl("text", { class: "tick", x: x(to - ago), y: h - bottom + 14, "text-anchor": ago === 0 ? "end" : "middle" }, agoLabel(ago)));
  }
  g.append(svgEl("line", { class: "axis", x1: left, x2: w - right, y1: h - bottom, y2: h - bottom }));
  g.append(svgEl("line", { class: "axis", x1: left, x2: left, y1: top, y2: h - bottom }));
  for (const s of drawn) {
    g.append(svgEl("path", { class: "series", "data-revision": s.revision, d: pathOf(s.points, x, y), stroke: revisionColor(s.revision) }));
    for (const [t, v] of isolated(s.points)) { // a line needs two points: a lone one is a dot
      g.append(svgEl("circle", { class: "dot", cx: x(t), cy: y(v), r: 2.5, fill: revisionColor(s.revision) }));
    }
  }
  if (drawn.length) addReadout(g, drawn, unit, from, to, x, y);
  if (!drawn.length) {
    g.append(svgEl("text", { class: "nodata", x: (left + w - right) / 2, y: h / 2, "text-anchor": "middle" }, "no requests in the last 15 minutes"));
  }

  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of drawn) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = revisionColor(s.revision);
    item.append(swatch, "revision " + s.revision);
    legend.append(item);
  }
  const fig = document.createElement("figure");
  const caption = document.createElement("figcaption");
  caption.textContent = title + " (" + unit + ")";
  fig.append(caption, g, legend);
  return fig;
}
