/* chatdesk live wallboard: one read-only WebSocket (/ws/wallboard/) pushes a `wallboard` snapshot
   whenever the floor changes (at most about once a second); between snapshots the waits keep
   counting here. Reconnects like the console, through the widget's protocol.js
   (window.chatdeskProtocol, a classic script the page runs first). */

import {$, LANG, duration, h, setStrings, t, waitClass} from "../agents/dom.js";

const CONFIG = JSON.parse($("wallboard-config").textContent);
setStrings(CONFIG.strings);
const pctFmt = new Intl.NumberFormat(LANG, {style: "percent", maximumFractionDigits: 1});
const intFmt = new Intl.NumberFormat(LANG);
const dec2 = new Intl.NumberFormat(LANG, {maximumFractionDigits: 2});
const DASH = "–";
let snap = null, receivedAt = 0;

function elapsed() { return snap ? (Date.now() - receivedAt) / 1000 : 0; }

function kpi(key, label, value, hint, cls) {
  return h("div", {class: `kpi ${cls || ""}`, "data-metric": key}, [
    h("span", {class: "kpi-label", text: label}),
    h("span", {class: "kpi-value", text: value}),
    h("span", {class: "kpi-hint", text: hint || "\u00a0"}),
  ]);
}

function csatOf(today) {
  const mean = today.csat_mean ?? today.csat_average ?? (today.csat && today.csat.mean);
  if (mean === undefined && !Object.keys(today).some((k) => k.startsWith("csat"))) return null;
  return {mean: mean ?? null, responses: today.csat_responses ?? today.csat_count ?? (today.csat && today.csat.count) ?? null};
}

function renderCards() {
  const s = snap, today = s.today;
  const waiting = s.queue.waiting;
  const longest = waiting ? s.queue.longest_wait_seconds + elapsed() : 0;
  const sl = today.service_level;
  const online = s.agents_by_status.online || 0;
  const cards = [
    kpi("waiting", t("waiting"), intFmt.format(waiting), "", waiting ? (longest >= 60 ? "bad" : "warn") : "good"),
    kpi("longest_wait", t("longest_wait"), waiting ? duration(longest) : DASH, "",
      waiting ? {"wait-ok": "good", "wait-warn": "warn", "wait-late": "bad"}[waitClass(longest)] : ""),
    kpi("in_progress", t("in_progress"), intFmt.format(s.chats_in_progress),
      s.chats_assigned ? t("awaiting_accept", {n: s.chats_assigned}) : ""),
    kpi("agents_online", t("agents_online"), intFmt.format(online),
      t("load") + " " + t("load_of", {n: s.load.active, cap: s.load.capacity})),
    kpi("service_level", `${t("service_level")} · ${t("today")}`, sl == null ? DASH : pctFmt.format(sl),
      t("today_sl_hint", {a: today.service_level_answered, b: today.service_level_eligible}),
      sl == null ? "" : sl >= 0.8 ? "good" : sl < 0.6 ? "bad" : "warn"),
    kpi("chats_today", `${t("chats")} · ${t("today")}`, intFmt.format(today.chats), t("today_chats_hint", {n: today.ended})),
  ];
  const csat = csatOf(today);
  if (csat) {
    cards.push(kpi("csat", `${t("csat")} · ${t("today")}`, csat.mean == null ? DASH : dec2.format(csat.mean) + " / 5",
      csat.responses != null ? t("csat_hint", {n: csat.responses}) : ""));
  }
  $("wb-cards").replaceChildren(...cards);
}

function renderQueue() {
  const rows = snap.queue.by_skill;
  if (!rows.length) return $("wb-queue").replaceChildren(h("div", {class: "empty-note", text: t("nobody_waiting")}));
  $("wb-queue").replaceChildren(
    h("div", {class: "skill-row head"}, [h("span", {text: t("queue_by_skill")}), h("span", {class: "num", text: t("waiting")}),
      h("span", {class: "num", text: t("longest_wait")})]),
    ...rows.map((row) => {
      const wait = row.longest_wait_seconds + elapsed();
      return h("div", {class: "skill-row", "data-skill": row.skill || ""}, [
        h("span", {text: row.skill ? row.name : t("any_skill")}),
        h("span", {class: "num", text: intFmt.format(row.waiting)}),
        h("span", {class: `wait ${waitClass(wait)}`, text: duration(wait)}),
      ]);
    }),
  );
}

function renderAgents() {
  const order = {online: 0, away: 1, offline: 2};
  const agents = [...snap.agents].sort((a, b) => (order[a.status] - order[b.status]) || b.active - a.active || a.name.localeCompare(b.name, LANG));
  $("wb-status").replaceChildren(...["online", "away", "offline"].map((status) =>
    h("span", {class: `pill pill-${status}`, "data-status": status, text: `${t(status)} ${snap.agents_by_status[status] || 0}`})));
  $("wb-agents").replaceChildren(
    h("thead", {}, [h("tr", {}, [h("th", {scope: "col", text: t("floor")}), h("th", {scope: "col", text: t("status")}),
      h("th", {scope: "col", text: t("load")})])]),
    h("tbody", {}, agents.map((a) => h("tr", {"data-agent": a.id}, [
      h("th", {scope: "row"}, [h("span", {class: `status-dot ${a.status}`, "aria-hidden": "true"}), a.name]),
      h("td", {}, [h("span", {class: `pill pill-${a.status}`, text: t(a.status)}),
        a.status !== "offline" && !a.connected ? h("span", {class: "muted small", text: " " + t("console_closed")}) : null]),
      h("td", {class: "load-cell"}, [
        h("span", {class: "meter", "aria-hidden": "true"}, [h("span", {class: `meter-fill${a.active >= a.cap ? " is-full" : ""}`,
          style: `width:${a.cap ? Math.round(Math.min(1, a.active / a.cap) * 100) : 0}%`})]),
        h("span", {class: "load-text", text: " " + t("load_of", {n: a.active, cap: a.cap})}),
      ]),
    ]))),
  );
}

function render() {
  if (!snap) return;
  renderCards();
  renderQueue();
  renderAgents();
  $("updated").textContent = t("updated", {time: new Date(receivedAt).toLocaleTimeString(LANG)}) + ` · ${t("today")}: ${snap.today.day} (${snap.today.tz})`;
}

function setLive(state) {
  const pill = $("live");
  pill.classList.toggle("is-live", state === "open");
  pill.textContent = state === "open" ? t("live") : state === "signed_out" ? t("signed_out")
    : state === "stopped" ? t("forbidden") : t("reconnecting");
}

const socket = window.chatdeskProtocol.socket({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${CONFIG.socket}`,
  label: "chatdesk wallboard",
  hello: () => ({type: "hello"}),
  // Signed out (4001) or not a supervisor (4003): nothing to wait for.
  onClose: (code) => (code === 4001 || code === 4003 ? false : undefined),
  onState: (state, code) => setLive(state === "stopped" && code === 4001 ? "signed_out" : state),
  onFrame(frame) {
    if (frame.type === "welcome") {
      socket.welcomed();
      setLive("open");
    }
    if (frame.type !== "wallboard") return;
    snap = frame;
    receivedAt = Date.now();
    document.body.dataset.snapshots = String(+(document.body.dataset.snapshots || 0) + 1);
    render();
  },
});
setLive("connecting");
socket.connect();
// Waits keep counting between snapshots.
setInterval(() => { if (snap && snap.queue.waiting) { renderCards(); renderQueue(); } }, 1000);
