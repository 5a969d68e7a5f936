// The flusso status dashboard: follows status/stream (server-sent events),
// falls back to polling status, and draws the last minutes client-side.
"use strict";

const WINDOW_MS = 10 * 60 * 1000; // history kept for the charts
const SAMPLE_MS = 2000;           // one chart point per interval
const POLL_MS = 2000;
const SSE_FIRST_EVENT_MS = 5000;  // the server sends the status at connect
const SSE_MAX_FAILURES = 3;       // in a row, without an event: poll for good
const SSE_RETRY_MS = 10000;       // polling at least this long before retrying the stream

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat();
let latest = null;
let receivedAt = 0; // when latest arrived: the clocks tick on from there
let history = []; // {t, committed, docs, lag, inflight}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) el.append(c);
  }
  return el;
}

function num(n) { return n === undefined || n === null ? "–" : nf.format(Math.round(n)); }

function duration(sec) {
  if (sec === undefined || sec === null || !isFinite(sec)) return "–";
  sec = Math.max(0, Math.round(sec));
  const d = Math.floor(sec / 86400), hr = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function ago(iso) {
  if (!iso) return "–";
  return duration((Date.now() - Date.parse(iso)) / 1000) + " ago";
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function micros(us) {
  if (!us) return "–";
  return us >= 1e6 ? (us / 1e6).toFixed(2) + " s" : (us / 1e3).toFixed(1) + " ms";
}

function rate(r) { return r >= 10 || r === 0 ? num(r) : r.toFixed(1); }

// percent of an index's seeding: a seeding under way (a reindex too) shows
// its tasks; a seeded index is whole, even one seeded with no task.
function percent(state, b) {
  if (b && b.state === "backfilling") {
    return b.tasks_total ? Math.min(100, Math.floor((100 * b.tasks_done) / b.tasks_total)) : 0;
  }
  return state === "seeded" || (b && b.state === "seeded") ? 100 : 0;
}

function renderIndexes(s) {
  const names = [...new Set([...Object.keys(s.indexes || {}), ...Object.keys(s.backfill || {})])].sort();
  const list = $("indexes");
  if (!names.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No index yet."));
    return;
  }
  list.replaceChildren(...names.map((name) => {
    const b = (s.backfill || {})[name];
    const state = (s.indexes || {})[name] || (b && b.state) || "pending";
    const pct = percent(state, b);
    const details = [];
    if (b) {
      details.push(`generation ${b.generation}` + (b.reason ? ` (${b.reason})` : ""));
      details.push(`${num(b.tasks_done)}/${num(b.tasks_total)} tasks`);
      details.push(`${num(b.documents)} documents`);
      if (b.state === "backfilling") {
        details.push(`${rate(b.docs_per_second || 0)} docs/s`);
        details.push("ETA " + (b.eta_seconds === null || b.eta_seconds === undefined ? "unknown" : duration(b.eta_seconds)));
      }
    }
    const written = (s.documents_by_index || {})[name];
    if (written) details.push(`${num(written)} written`);
    const rejected = (s.quarantined_by_index || {})[name];
    if (rejected) details.push(`${num(rejected)} rejected`);
    return h("li", { class: "index", "data-index": name, "data-state": state },
      h("div", { class: "index-head" },
        h("strong", { class: "index-name" }, name),
        h("span", { class: "state", "data-state": state }, state)),
      h("div", {
        class: "bar", role: "progressbar", "aria-label": `Seeding of ${name}`,
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct),
        "aria-valuetext": `${pct} %`, "data-progress": String(pct),
      }, h("span", { style: `width:${pct}%` })),
      h("p", { class: "details" }, details.join(" · ") || "waiting for the capture"));
  }));
}

function renderReplicas(s) {
  const rows = [...(s.replicas || [])].sort((a, b) =>
    (a.service + "/" + a.instance).localeCompare(b.service + "/" + b.instance));
  const body = $("replicas").tBodies[0];
  if (!rows.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "5", class: "empty" }, "None seen yet.")));
    return;
  }
  body.replaceChildren(...rows.map((r) => h("tr", { "data-replica": r.source, "data-alive": String(r.alive) },
    h("td", {}, r.service), h("td", {}, r.instance), h("td", {}, r.role || "–"),
    h("td", {}, h("span", { class: "badge " + (r.alive ? "ok" : "bad") }, r.alive ? "alive" : r.stopped ? "stopped" : "silent")),
    h("td", {}, ago(r.last_heartbeat)))));
}

function renderErrors(s) {
  const list = $("errors");
  const errs = s.recent_errors || [];
  if (!errs.length) {
    list.replaceChildren(h("li", { class: "empty" }, "None."));
    return;
  }
  list.replaceChildren(...errs.map((e) => {
    const who = (e.source || "").split("/").slice(3).join("/"); // /flusso/<p>/<service>/<instance>
    return h("li", { class: e.fatal ? "fatal" : "" },
      h("time", { datetime: e.time }, new Date(e.time).toLocaleTimeString()), " ",
      h("span", { class: "who" }, [who, e.component].filter(Boolean).join(" · ")), " ",
      e.fatal ? h("span", { class: "badge bad" }, "fatal") : null, " ",
      h("span", { class: "msg" }, e.message));
  }));
}

function render(s) {
  latest = s;
  receivedAt = Date.now();
  const phase = $("phase");
  phase.textContent = s.phase;
  phase.dataset.phase = s.phase;
  $("pipeline").textContent = s.pipeline || "flusso";
  document.title = `${s.phase} · ${s.pipeline || "flusso"} status`;
  clocks();
  $("c-captured").textContent = num(s.changes_captured);
  $("c-committed").textContent = num(s.changes_committed);
  $("c-inflight").textContent = num(s.changes_in_flight);
  $("c-documents").textContent = num(s.documents_built);
  $("c-batches").textContent = num(s.batches);
  $("c-flush").textContent = micros(s.last_flush_micros);
  $("c-errors").textContent = num(s.errors);
  $("c-dead").textContent = num(s.dead_letters);
  $("dead-letters").textContent = num(s.dead_letters);
  renderIndexes(s);
  renderErrors(s);
  if (!history.length) sample();
}

// clocks refreshes what moves with time alone: the stream is quiet while
// the status does not change.
function clocks() {
  if (!latest) return;
  $("uptime").textContent = duration(latest.uptime_seconds + (Date.now() - receivedAt) / 1000);
  $("updated").textContent = ago(latest.updated_at);
  renderReplicas(latest);
}

// sample adds a chart point from the latest status; taken on a clock rather
// than per message, so that a quiet pipeline draws zero rates.
function sample() {
  if (!latest) return;
  const now = Date.now();
  history.push({
    t: now, committed: latest.changes_committed, docs: latest.documents_built,
    lag: latest.slot_lag_bytes, inflight: latest.changes_in_flight,
  });
  history = history.filter((p) => p.t >= now - WINDOW_MS);
  drawCharts(now);
  clocks();
}

function rates(key) {
  const out = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i];
    // A status service restarted mid-way may count from less: no negative rate.
    out.push({ t: b.t, v: Math.max(0, (b[key] - a[key]) / ((b.t - a.t) / 1000)) });
  }
  return out;
}

// draw plots points over the time the history spans (up to WINDOW_MS), so
// that a freshly opened page is readable at once.
function draw(svg, points, now) {
  const W = 300, H = 60, pad = 2;
  const max = Math.max(1, ...points.map((p) => p.v));
  const from = history.length ? history[0].t : now, span = Math.max(1, now - from);
  const xy = points.map((p) => {
    const x = ((p.t - from) / span) * W;
    const y = H - pad - (p.v / max) * (H - 2 * pad);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const ns = "http://www.w3.org/2000/svg"; // an XML namespace name, not a request
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", xy.join(" "));
  line.setAttribute("vector-effect", "non-scaling-stroke");
  const base = document.createElementNS(ns, "line");
  base.setAttribute("x1", "0"); base.setAttribute("x2", String(W));
  base.setAttribute("y1", String(H - pad)); base.setAttribute("y2", String(H - pad));
  base.setAttribute("class", "axis");
  base.setAttribute("vector-effect", "non-scaling-stroke");
  const title = document.createElementNS(ns, "title");
  title.textContent = `${svg.getAttribute("aria-label")}: peak ${num(max)} over the last 10 minutes`;
  svg.replaceChildren(title, base, line);
  svg.dataset.points = String(points.length);
}

function drawCharts(now) {
  const last = (pts) => (pts.length ? pts[pts.length - 1].v : null);
  const changes = rates("committed"), docs = rates("docs");
  const gauge = (key) => history.map((p) => ({ t: p.t, v: p[key] || 0 }));
  draw($("chart-changes"), changes, now);
  draw($("chart-docs"), docs, now);
  draw($("chart-lag"), gauge("lag"), now);
  draw($("chart-inflight"), gauge("inflight"), now);
  $("v-changes").textContent = last(changes) === null ? "–" : rate(last(changes));
  $("v-docs").textContent = last(docs) === null ? "–" : rate(last(docs));
  $("v-lag").textContent = bytes(latest.slot_lag_bytes);
  $("v-inflight").textContent = num(latest.changes_in_flight);
}

function connected(ok) {
  $("conn").hidden = ok;
  document.body.dataset.connected = String(ok);
}

// Transport: the event stream while it works, polling otherwise.
let source = null, pollTimer = null, sseFailures = 0, sseFailedAt = 0;

function openStream() {
  stopPolling();
  const es = new EventSource("status/stream");
  source = es;
  let got = false;
  const watchdog = setTimeout(() => { if (!got) fail(); }, SSE_FIRST_EVENT_MS);
  function fail() {
    clearTimeout(watchdog);
    if (source !== es) return;
    es.close();
    source = null;
    if (!got) sseFailures++;
    sseFailedAt = Date.now();
    startPolling();
  }
  es.addEventListener("status", (e) => {
    got = true;
    sseFailures = 0;
    connected(true);
    render(JSON.parse(e.data));
  });
  es.onerror = fail;
}

function startPolling() {
  if (pollTimer) return;
  const poll = async () => {
    try {
      const r = await fetch("status", { cache: "no-store" });
      if (!r.ok) throw new Error(String(r.status));
      connected(true);
      render(await r.json());
      // Back to the stream a while after it failed (a stream that ends at
      // once must not become a loop of requests), unless it never worked.
      if (sseFailures < SSE_MAX_FAILURES && Date.now() - sseFailedAt >= SSE_RETRY_MS) {
        openStream();
        return;
      }
    } catch (e) {
      connected(false);
    }
    if (pollTimer) pollTimer = setTimeout(poll, POLL_MS);
  };
  pollTimer = setTimeout(poll, 0);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

setInterval(sample, SAMPLE_MS);
openStream();
