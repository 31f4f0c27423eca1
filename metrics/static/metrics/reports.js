/* chatdesk reports: every number comes from the metrics REST API (/api/metrics/...), fetched with
   the filters in the address bar, so the page, the CSV downloads and the API always agree.
   Plain JavaScript module, no build step; charts are inline SVG (charts.js). */

import {$, LANG, h, setStrings, t} from "../agents/dom.js";
import {barChart, lineChart} from "./charts.js";

const CONFIG = JSON.parse($("reports-config").textContent);
setStrings(CONFIG.strings);
const MANAGER = CONFIG.me.manager;
const SL_TARGET = 0.8;
const COLORS = {brand: "#1f5eff", soft: "#9db5ff", ok: "#15803d", warn: "#d97706", violet: "#7c3aed", ink: "#3b4457"};

// --- formatting (one place: cards, tables, charts and tooltips read alike) -------------------

const intFmt = new Intl.NumberFormat(LANG);
const pctFmt = new Intl.NumberFormat(LANG, {style: "percent", maximumFractionDigits: 1});
const dec1 = new Intl.NumberFormat(LANG, {maximumFractionDigits: 1});
const dec2 = new Intl.NumberFormat(LANG, {maximumFractionDigits: 2});
const DASH = "–";

export const fmt = {
  int: (v) => (v == null ? DASH : intFmt.format(v)),
  pct: (v) => (v == null ? DASH : pctFmt.format(v)),
  num: (v) => (v == null ? DASH : dec2.format(v)),
  /* 25 -> "25 s", 125 -> "2 min 05 s", 3900 -> "1 h 05 min" */
  dur(v) {
    if (v == null) return DASH;
    if (v < 60) return t("seconds", {n: dec1.format(Math.round(v * 10) / 10)});
    const total = Math.round(v);
    if (total < 3600) return t("minutes", {m: Math.floor(total / 60), s: String(total % 60).padStart(2, "0")});
    return t("hours", {h: Math.floor(total / 3600), m: String(Math.floor((total % 3600) / 60)).padStart(2, "0")});
  },
};

/* CSAT, once the API reports it: {mean, satisfied, responses} or null when the rows have none. */
function csatOf(row) {
  if (!row) return null;
  const nested = row.csat && typeof row.csat === "object" ? row.csat : null;
  const pick = (...names) => {
    for (const name of names) {
      if (nested && nested[name.replace(/^csat_/, "")] !== undefined) return nested[name.replace(/^csat_/, "")];
      if (row[name] !== undefined) return row[name];
    }
    return undefined;
  };
  const mean = pick("csat_mean", "csat_average", "csat_score");
  if (mean === undefined && !nested && !Object.keys(row).some((k) => k.startsWith("csat"))) return null;
  return {mean: mean ?? null, satisfied: pick("csat_satisfied_rate", "csat_satisfied_share", "csat_satisfied") ?? null,
          responses: pick("csat_responses", "csat_count", "csat_response_count") ?? null};
}

// --- filters: the address bar is the state -------------------------------------------------

const FIELDS = ["from", "to", "tz", "granularity", "department", "site"];

function readFilters() {
  const params = new URLSearchParams(location.search);
  const f = {
    from: params.get("from") || CONFIG.defaults.from,
    to: params.get("to") || CONFIG.defaults.to,
    tz: params.get("tz") || CONFIG.server_tz,
    granularity: params.get("granularity") || CONFIG.defaults.granularity,
    department: MANAGER ? params.get("department") || "" : "",
    site: MANAGER ? params.get("site") || "" : "",
  };
  return f;
}

function query(f, extra) {
  const params = new URLSearchParams();
  for (const name of FIELDS) if (f[name]) params.set(name, f[name]);
  for (const [name, value] of Object.entries(extra || {})) params.set(name, value);
  return params.toString();
}

function fillForm(f) {
  $("f-from").value = f.from;
  $("f-to").value = f.to;
  $("f-tz").value = f.tz;
  $("f-granularity").value = f.granularity;
  if (MANAGER) {
    fillSelect($("f-department"), CONFIG.departments, f.department);
    fillSelect($("f-site"), CONFIG.sites, f.site);
  }
  const days = Math.round((Date.parse(f.to) - Date.parse(f.from)) / 86400000) + 1;
  for (const button of document.querySelectorAll(".preset")) {
    button.setAttribute("aria-pressed", String(f.to === CONFIG.defaults.to && +button.dataset.days === days));
  }
}

function fillSelect(select, items, value) {
  if (select.options.length === 1) for (const item of items) select.append(h("option", {value: item.id, text: item.name}));
  select.value = value;
}

function timeZones() {
  const list = $("tz-list");
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { /* older browsers: the two below */ }
  for (const zone of new Set([CONFIG.server_tz, here, "UTC", ...zones])) if (zone) list.append(h("option", {value: zone}));
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function go(f) {
  history.pushState(null, "", "?" + query(f));
  load();
}

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const f = Object.fromEntries(FIELDS.map((name) => [name, ($(`f-${name}`) || {}).value || ""]));
  if (f.from > f.to) return showError(t("err_range"));
  if (f.granularity === "hour" && (Date.parse(f.to) - Date.parse(f.from)) / 86400000 + 1 > CONFIG.limits.max_hour_days) f.granularity = "day";
  go(f);
});
for (const button of document.querySelectorAll(".preset")) {
  button.addEventListener("click", () => {
    const f = readFilters();
    const last = new Date(CONFIG.defaults.to + "T12:00:00");
    const first = new Date(last);
    first.setDate(first.getDate() - (+button.dataset.days - 1));
    f.to = CONFIG.defaults.to;
    f.from = isoDay(first);
    f.granularity = +button.dataset.days === 1 ? "hour" : +button.dataset.days > 60 ? "week" : "day";
    go(f);
  });
}
window.addEventListener("popstate", load);

// --- loading ---------------------------------------------------------------------------------

async function api(endpoint, f) {
  const response = await fetch(`${CONFIG.api}${endpoint}/?${query(f)}`, {credentials: "same-origin", headers: {Accept: "application/json"}});
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const fields = body && body.fields ? Object.values(body.fields).flat().join(" ") : "";
    throw new Error(fields || (body && body.detail) || `HTTP ${response.status}`);
  }
  return body;
}

function showError(message) {
  const box = $("error");
  box.textContent = message ? t("load_failed", {reason: message}) : "";
  box.hidden = !message;
}

let generation = 0;

async function load() {
  const f = readFilters();
  const mine = ++generation;
  fillForm(f);
  for (const link of document.querySelectorAll(".csv")) {
    link.href = `${CONFIG.api}${link.dataset.endpoint}/?${query(f, {format: "csv"})}`;
    link.setAttribute("aria-label", t("download_csv_of", {name: link.closest(".card").querySelector("h2").textContent}));
  }
  $("cards").setAttribute("aria-busy", "true");
  document.body.dataset.query = query(f);
  try {
    const wanted = ["summary", "timeseries", "agents", ...(MANAGER ? ["tags", "departments"] : [])];
    const bodies = await Promise.all(wanted.map((endpoint) => api(endpoint, f)));
    if (mine !== generation) return;
    const data = Object.fromEntries(wanted.map((endpoint, i) => [endpoint, bodies[i]]));
    showError(null);
    render(data, f);
  } catch (error) {
    if (mine === generation) showError(error.message);
  } finally {
    if (mine === generation) $("cards").setAttribute("aria-busy", "false");
  }
}

// --- rendering -------------------------------------------------------------------------------

function render(data, f) {
  const summary = data.summary.rows[0];
  const periods = data.timeseries.rows;
  $("range-label").textContent = rangeLabel(data.summary.filters);
  renderCards(summary);
  renderCharts(periods, f.granularity, summary);
  renderAgents(data.agents.rows);
  if (MANAGER) {
    renderTags(data.tags.rows);
    renderDepartments(data.departments.rows);
  }
  document.body.dataset.loaded = String(generation);
}

function rangeLabel(filters) {
  const day = (iso) => new Date(iso + "T12:00:00").toLocaleDateString(LANG, {day: "numeric", month: "short", year: "numeric"});
  const range = filters.from === filters.to ? day(filters.from) : `${day(filters.from)} – ${day(filters.to)}`;
  return `${range} · ${filters.tz}`;
}

function tone(value, good, bad, higherIsBetter = true) {
  if (value == null) return "";
  if (higherIsBetter) return value >= good ? "good" : value < bad ? "bad" : "warn";
  return value <= good ? "good" : value > bad ? "bad" : "warn";
}

function card(key, label, value, hint, cls) {
  return h("div", {class: `kpi ${cls || ""}`, "data-metric": key}, [
    h("span", {class: "kpi-label", text: label}),
    h("span", {class: "kpi-value", text: value}),
    h("span", {class: "kpi-hint", text: hint || "\u00a0"}),
  ]);
}

function renderCards(row) {
  const frt = row.first_response_seconds, handle = row.handle_seconds;
  const cards = [
    card("chats", t("chats"), fmt.int(row.chats), t("ended_hint", {n: fmt.int(row.ended), closed: fmt.int(row.closed)})),
    card("service_level", t("service_level"), fmt.pct(row.service_level),
      t("of_n", {a: fmt.int(row.service_level_answered), b: fmt.int(row.service_level_eligible)}) + " · " + t("service_level_hint"),
      tone(row.service_level, SL_TARGET, 0.6)),
    card("first_response", t("frt_median"), fmt.dur(frt.median), t("frt_hint", {mean: fmt.dur(frt.mean), p90: fmt.dur(frt.p90)}),
      tone(frt.median, 30, 60, false)),
    card("wait", t("wait_median"), fmt.dur(row.wait_seconds.median), ""),
    card("abandonment_rate", t("abandonment_rate"), fmt.pct(row.abandonment_rate), t("abandoned_hint", {n: fmt.int(row.abandoned)}),
      tone(row.abandonment_rate, 0.05, 0.15, false)),
    card("missed_rate", t("missed_rate"), fmt.pct(row.missed_rate), t("missed_hint", {n: fmt.int(row.missed)}),
      tone(row.missed_rate, 0.02, 0.1, false)),
    card("handle", t("aht_mean"), fmt.dur(handle.mean), ""),
    card("fcr_rate", t("fcr_rate"), fmt.pct(row.fcr_rate), t("of_n", {a: fmt.int(row.fcr_resolved), b: fmt.int(row.fcr_eligible)})),
    card("occupancy", t("occupancy"), fmt.pct(row.occupancy), ""),
  ];
  const csat = csatOf(row);
  if (csat) {
    cards.splice(3, 0, card("csat", t("csat"), csat.mean == null ? DASH : dec2.format(csat.mean) + " / 5",
      [csat.satisfied != null ? fmt.pct(csat.satisfied) : null, csat.responses != null ? t("csat_hint", {n: fmt.int(csat.responses)}) : null]
        .filter(Boolean).join(" · "), tone(csat.mean, 4.2, 3.5)));
  }
  $("cards").replaceChildren(...cards);
}

function periodLabel(granularity, short) {
  return (label) => {
    if (granularity === "hour") {
      const time = label.slice(11, 16);
      return short ? time : `${label.slice(0, 10)} ${time}`;
    }
    const date = new Date(label.slice(0, 10) + "T12:00:00");
    if (granularity === "month") return date.toLocaleDateString(LANG, {month: "short", year: short ? "2-digit" : "numeric"});
    return date.toLocaleDateString(LANG, short ? {day: "numeric", month: "short"} : {weekday: "short", day: "numeric", month: "short", year: "numeric"});
  };
}

function renderCharts(periods, granularity, summary) {
  const labels = periods.map((p) => p.period);
  const common = {labels, xLabel: periodLabel(granularity, true), tipTitle: periodLabel(granularity, false), emptyText: t("no_data")};
  const offline = periods.map((p) => p.offline_messages);
  barChart($("chart-volume"), {...common, format: fmt.int, series: [
    {name: t("volume_legend_chats"), values: periods.map((p) => p.chats), color: COLORS.brand},
    ...(offline.some((v) => v) ? [{name: t("volume_legend_offline"), values: offline, color: COLORS.soft}] : []),
  ]});
  lineChart($("chart-sl"), {...common, format: fmt.pct, yMax: 1, area: true,
    target: {value: SL_TARGET, label: t("sl_target", {n: fmt.pct(SL_TARGET)})},
    series: [{name: t("service_level"), values: periods.map((p) => p.service_level), color: COLORS.ok}]});
  // Axis ticks of short times need more digits than the cards, or 0.15 s and 0.2 s both read "0.2 s".
  const axisDur = (v) => (v > 0 && v < 10 ? t("seconds", {n: dec2.format(v)}) : fmt.dur(v));
  lineChart($("chart-frt"), {...common, format: fmt.dur, axisFormat: axisDur, series: [
    {name: t("frt_legend_median"), values: periods.map((p) => p.first_response_seconds.median), color: COLORS.brand},
    {name: t("frt_legend_p90"), values: periods.map((p) => p.first_response_seconds.p90), color: COLORS.warn},
  ]});
  const frt = summary.first_response_seconds;
  $("frt-dist").replaceChildren(
    h("div", {class: "dist-title", text: t("frt_distribution")}),
    h("div", {class: "dist-stats"}, [
      ["chats", fmt.int(frt.count)], ["frt_legend_median", fmt.dur(frt.median)],
      ["frt_legend_mean", fmt.dur(frt.mean)], ["frt_legend_p90", fmt.dur(frt.p90)],
    ].map(([key, value]) => h("div", {class: "dist-stat"}, [h("b", {text: value}), h("span", {text: t(key)})]))),
    frtHistogram(summary.first_response_histogram),
  );
  const csat = periods.map(csatOf);
  const csatCard = $("csat-card");
  csatCard.hidden = !csatOf(summary);
  if (!csatCard.hidden) {
    lineChart($("chart-csat"), {...common, format: (v) => (v == null ? DASH : dec2.format(v)), yMax: 5,
      series: [{name: t("csat"), values: csat.map((c) => (c ? c.mean : null)), color: COLORS.violet}]});
  }
}

/* First replies per time band ("0-10", ..., "600+" seconds): a labelled bar per band, longest bar = most replies. */
function frtHistogram(bands) {
  const counts = Object.values(bands);
  const most = Math.max(1, ...counts);
  return h("ol", {class: "hist", id: "frt-histogram", "aria-label": t("frt_histogram")},
    Object.entries(bands).map(([band, n]) => h("li", {"data-band": band}, [
      h("span", {class: "hist-band", text: t("seconds", {n: band.replace("-", "–")})}),
      h("span", {class: "hist-track"}, [h("span", {class: "hist-bar", style: `width: ${(100 * n) / most}%`})]),
      h("b", {class: "hist-count", text: fmt.int(n)}),
    ])));
}

// --- tables ----------------------------------------------------------------------------------

/* A sortable table: columns [{key, label, value(row) -> sortable, show(row) -> text, num, bar}]. */
function sortableTable(table, columns, rows, state) {
  const sorted = [...rows];
  const column = columns.find((c) => c.key === state.key) || columns[0];
  sorted.sort((a, b) => {
    const x = column.value(a), y = column.value(b);
    if (x == null && y == null) return 0;
    if (x == null) return 1;  // nulls last, whichever the direction
    if (y == null) return -1;
    const order = typeof x === "string" ? x.localeCompare(y, LANG) : x - y;
    return state.dir === "asc" ? order : -order;
  });
  const head = h("tr", {}, columns.map((c) => h("th", {
    scope: "col", class: c.num ? "num" : "", "aria-sort": c.key === column.key ? (state.dir === "asc" ? "ascending" : "descending") : null,
  }, [h("button", {type: "button", text: c.label, title: t("sort_by", {name: c.label}), onclick: () => {
    state.dir = state.key === c.key && state.dir === "desc" ? "asc" : state.key === c.key ? "desc" : c.num ? "desc" : "asc";
    state.key = c.key;
    sortableTable(table, columns, rows, state);
  }})])));
  const body = sorted.map((row) => h("tr", {"data-id": row.agent_id ?? row.department_id ?? ""}, columns.map((c, i) => {
    const text = c.show(row);
    const cell = h(i === 0 ? "th" : "td", {scope: i === 0 ? "row" : null, class: [c.num ? "num" : "", i === 0 ? "name" : "", text === DASH ? "null" : ""].join(" ").trim(),
      "data-col": c.key});
    if (c.bar && c.value(row) != null) {
      cell.append(h("span", {class: "cell-bar"}, [h("span", {text}), h("span", {class: "meter", "aria-hidden": "true"},
        [h("span", {class: "meter-fill", style: `width:${Math.round(Math.min(1, c.value(row)) * 100)}%`})])]));
    } else cell.textContent = text;
    return cell;
  })));
  if (!rows.length) body.push(h("tr", {}, [h("td", {colspan: columns.length, class: "muted", text: t("no_data")})]));
  table.replaceChildren(h("thead", {}, [head]), h("tbody", {}, body));
}

const num = (key, label, format, extra) => ({key, label, num: true, value: (r) => r[key], show: (r) => format(r[key]), ...extra});
const dur = (key, stat, label) => ({key: `${key}_${stat}`, label, num: true, value: (r) => r[key][stat], show: (r) => fmt.dur(r[key][stat])});

function metricColumns(first) {
  const columns = [
    first,
    num("chats", t("chats"), fmt.int),
    num("closed", t("closed"), fmt.int),
    num("missed", t("missed"), fmt.int),
    dur("first_response_seconds", "median", t("frt")),
    num("service_level", t("service_level"), fmt.pct, {bar: true}),
    dur("handle_seconds", "mean", t("aht")),
  ];
  return columns;
}

const agentSort = {key: "chats", dir: "desc"};
function renderAgents(rows) {
  const columns = [
    ...metricColumns({key: "agent", label: t("agent"), value: (r) => r.agent, show: (r) => r.agent}),
    num("occupancy", t("occupancy"), fmt.pct, {bar: true}),
    num("chats_per_hour", t("chats_per_hour"), fmt.num),
    num("transfer_rate", t("transfer_rate"), fmt.pct),
    num("canned_share", t("canned_share"), fmt.pct),
  ];
  if (rows.some((r) => csatOf(r))) {
    columns.push({key: "csat", label: t("csat"), num: true, value: (r) => (csatOf(r) || {}).mean ?? null,
      show: (r) => ((csatOf(r) || {}).mean == null ? DASH : dec2.format(csatOf(r).mean))});
  }
  sortableTable($("agents-table"), columns, rows, agentSort);
}

const departmentSort = {key: "chats", dir: "desc"};
function renderDepartments(rows) {
  // Half a row wide: the agents table carries the handle time.
  const columns = metricColumns({key: "department", label: t("department"), value: (r) => r.department,
    show: (r) => (r.department_id == null ? t("no_department") : r.department)}).filter((c) => c.key !== "handle_seconds_mean");
  sortableTable($("departments-table"), columns, rows, departmentSort);
}

function renderTags(rows) {
  const box = $("tags");
  if (!rows.length) return box.replaceChildren(h("div", {class: "empty-note", text: t("no_data")}));
  const sorted = [...rows].sort((a, b) => (b.ended - a.ended) || (b.chats - a.chats) || a.tag.localeCompare(b.tag));
  const max = Math.max(...sorted.map((r) => r.share_of_ended || 0), 0.0001);
  box.replaceChildren(h("div", {class: "hbars", role: "list"}, sorted.map((row) => h("div", {class: "hbar", role: "listitem", "data-tag": row.tag}, [
    h("span", {class: "hbar-name", text: row.tag, title: row.tag}),
    h("span", {class: "hbar-track", "aria-hidden": "true"}, [h("span", {class: "hbar-fill", style: `width:${((row.share_of_ended || 0) / max) * 100}%`})]),
    h("span", {class: "hbar-value"}, [fmt.pct(row.share_of_ended), h("small", {text: ` · ${fmt.int(row.ended)} ${t("ended").toLowerCase()}`})]),
  ]))));
}

timeZones();
load();
