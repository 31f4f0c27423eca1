/* chatdesk agent console: many chats at once, the queue, accepting offered chats, canned responses,
   tags, notes, transfers, wrap-up, and the supervisors' board, whisper, barge and reassign.

   Plain JavaScript modules, no build step; one WebSocket speaking the agent console protocol
   (docs/protocol.md) through the widget's protocol.js (window.chatdeskProtocol, a classic script the
   page runs first), so the reliability rules are the widget's: every outgoing message has a client_id
   and stays in an outbox (localStorage) until acked or seen in a replay, and is resent after every
   reconnect; messages are keyed by seq, so a doubled frame is shown once and in order, and each names
   the seq before it (prev_seq): a frame that comes after a gap waits until the messages before it are
   there, asked for with `sync`. Text from visitors and agents is only ever set with textContent. */

import {$, clock, day, duration, h, initial, setStrings, store, t, uuid, waitClass} from "./dom.js";

const protocol = window.chatdeskProtocol;
const CONFIG = JSON.parse($("console-config").textContent);
setStrings(CONFIG.strings);
const ME = CONFIG.agent;
const KEY = `chatdesk:console:${ME.id}:`;
const DRAFTS = KEY + "drafts";
const OPEN = new Set(["queued", "assigned", "active"]);
const ACTIVE = new Set(["assigned", "active"]);

const S = {
  status: null, cap: 0,
  chats: new Map(),      // conversation_id -> chat
  order: [],             // own chats, in arrival order
  current: null,
  queue: null, queueAt: 0,
  board: null, boardAt: 0,
  pendingReplays: new Set(),
  pending: null,         // {kind, cid, dialog, errorEl}: a dialog waiting for the server's answer
  view: "console",
  muted: store.get(KEY + "muted", false),
  line: "connecting",    // the socket's state: connecting, open, lost, signed_out or stopped
  degraded: false,       // the server lost its live channel: messages still come, more slowly
};

// --- chats ---------------------------------------------------------------------------------------

function chatOf(state) {
  let chat = S.chats.get(state.conversation_id);
  if (!chat) {
    chat = {id: state.conversation_id, state, msgs: new Map(), chain: null, readSeq: state.agent_seen_seq || 0,
      unread: 0, draft: "", canned: null, mode: null, context: null, tags: [], typing: null, loaded: false,
      own: false, monitor: false, notice: null, offerDeadline: null};
    // Its history and the replay of an open or a hello answer for a gap before a sync would.
    chat.chain = protocol.chain({conversationId: chat.id, send: (frame) => socket.send(frame),
      show: (frames) => { for (const f of frames) showMessage(chat, f); },
      lastSeq: () => chat.state.last_seq, canSync: () => chat.loaded && !S.pendingReplays.has(chat.id)});
    const kept = store.get(DRAFTS, {})[chat.id];
    if (kept) { chat.draft = kept.text; chat.canned = kept.canned || null; }
    S.chats.set(chat.id, chat);
    setOfferDeadline(chat, state);
  }
  return chat;
}

/* Drafts survive a reload: kept per chat in localStorage (this agent's keys), until sent or until the
   chat leaves the console. */
function keepDraft(chat) {
  const drafts = store.get(DRAFTS, {});
  if (chat.draft) drafts[chat.id] = {text: chat.draft, canned: chat.canned};
  else delete drafts[chat.id];
  saveDrafts(drafts);
}

function dropDrafts(keep) {
  const drafts = store.get(DRAFTS, {});
  for (const cid of Object.keys(drafts)) if (!keep(cid)) delete drafts[cid];
  saveDrafts(drafts);
}

function saveDrafts(drafts) {
  store.set(DRAFTS, Object.keys(drafts).length ? drafts : null);  // no drafts: no key left behind
}

function isOwn(state) { return state.agent_id === ME.id && ACTIVE.has(state.status); }

/* An assigned chat waits for this agent to accept it: an offer, or a chat transferred or reassigned to them. */
function awaitsMe(chat) { return chat.state.status === "assigned" && chat.state.agent_id === ME.id && !chat.notice; }

/* A timed offer is taken back by the server after offer_seconds_left (counted from the frame's arrival). */
function setOfferDeadline(chat, state) {
  if ("offer_seconds_left" in state) {
    chat.offerDeadline = state.offer_seconds_left == null ? null : Date.now() + 1000 * state.offer_seconds_left;
  }
}

function offerLeft(chat) {
  return awaitsMe(chat) && chat.offerDeadline != null ? Math.max(0, (chat.offerDeadline - Date.now()) / 1000) : null;
}

function accept(chat) {
  if (!chat || !awaitsMe(chat) || (S.pending && S.pending.kind === "accept" && S.pending.cid === chat.id)) return;
  S.pending = {kind: "accept", cid: chat.id};
  socket.send({type: "accept", conversation_id: chat.id});
  if (chat.id === S.current) renderOffer(chat);
}

function visitorName(chat) {
  return (chat.state && chat.state.visitor_name) || (chat.context && chat.context.visitor && chat.context.visitor.name)
    || t("visitor");
}

function addOwn(chat) {
  chat.own = true;
  chat.monitor = false;
  chat.notice = null;
  if (!S.order.includes(chat.id)) S.order.push(chat.id);
}

function forget(cid) {
  const chat = S.chats.get(cid);
  if (chat) chat.chain.stop();
  dropDrafts((id) => id !== String(cid));
  S.order = S.order.filter((id) => id !== cid);
  S.chats.delete(cid);
  if (S.current === cid) {
    S.current = null;
    select(S.order[0] || null);
  }
  renderLists();
}

function unreadOf(chat) {
  if (!chat.loaded) return chat.unread;
  let n = 0;
  for (const m of chat.msgs.values()) if (m.author === "visitor" && m.seq > chat.readSeq) n++;
  return n;
}

/* Since when the visitor has been waiting for an answer: their first message after the last public
   agent message, or null when the agent spoke last. */
function waitingSince(chat) {
  let since = null;
  for (const seq of [...chat.msgs.keys()].sort((a, b) => a - b)) {
    const m = chat.msgs.get(seq);
    if (m.visibility !== "public") continue;
    if (m.author === "agent") since = null;
    else if (m.author === "visitor" && since == null) since = Date.parse(m.sent_at);
  }
  return since;
}

function lastPreview(chat) {
  let last = null;
  for (const m of chat.msgs.values()) if (m.visibility === "public" && (!last || m.seq > last.seq)) last = m;
  return last ? last.text : "";
}

// --- outbox ----------------------------------------------------------------------------------------

/* Messages, notes, whispers and barges not acked yet: {client_id, conversation_id, type, text, at,
   canned_response_id?}; a refused one stays, marked failed with the error code, to show it was not sent. */
const outbox = protocol.outbox({key: KEY + "outbox", send: (frame) => socket.send(frame), replies: ["ack", "message"],
  keepRefused: true, frame(item) {
    const frame = {type: item.type, conversation_id: item.conversation_id, client_id: item.client_id, text: item.text};
    if (item.canned_response_id) frame.canned_response_id = item.canned_response_id;
    return frame;
  }});
for (const item of outbox.items) track(item, outbox.settled(item.client_id));

/* Confirmed by its ack or by its message frame, shown: the message takes its place by seq instead of its
   pending row. A refusal shows it as not sent. */
function track(item, settled) {
  settled.then((f) => confirmed(item, f), () => { if (item.conversation_id === S.current) renderChat(); });
}

function confirmed(item, f) {
  const chat = S.chats.get(f.conversation_id);
  if (f.type === "ack" && chat && !chat.msgs.has(f.seq)) {
    const m = {seq: f.seq, client_id: f.client_id, author: "agent", agent_name: ME.name, text: item.text,
      visibility: item.type === "note" ? "internal" : item.type === "whisper" ? "whisper" : "public",
      sent_at: new Date().toISOString(), conversation_id: f.conversation_id};
    addMessage(chat, m);
    if (chat.id === S.current) insertRow(chat, m);
  }
  const pendingRow = document.querySelector(`#log [data-client-id="${CSS.escape(f.client_id)}"]:not([data-seq])`);
  if (pendingRow) pendingRow.remove();
  renderLists();
}

/* Why a refused message was not sent: the error's text, or its code when there is none. */
function refusal(code) {
  const text = t("err_" + code);
  return text === "err_" + code ? code : text;
}

// --- the socket ----------------------------------------------------------------------------------

const wsUrl = location.origin.replace(/^http/, "ws") + "/ws/agent/";
const socket = protocol.socket({
  url: wsUrl,
  label: "chatdesk console",
  hello() {
    const conversations = {};
    for (const chat of S.chats.values()) if (chat.loaded) conversations[chat.id] = chat.chain.shownTo;
    S.pendingReplays = new Set(Object.keys(conversations));
    const frame = {type: "hello"};
    if (Object.keys(conversations).length) frame.conversations = conversations;
    return frame;
  },
  onFrame: handle,
  // A console signed out (4001) or refused (4003) stays closed.
  onClose: (code) => (code === 4001 || code === 4003 ? false : undefined),
  onState: (state, code) => lineChanged(state === "stopped" && code === 4001 ? "signed_out" : state),
});

function lineChanged(state) {
  S.line = state;
  if (state !== "open") {
    // The next hello's replay answers for an unanswered sync; the next server says how it is.
    S.degraded = false;
    for (const chat of S.chats.values()) chat.chain.stop();
  }
  renderConn();
  if (state === "signed_out") setTimeout(() => { location.href = "/accounts/login/?next=/console/"; }, 1500);
  if (state === "open") S.everConnected = true;
  document.body.classList.toggle("is-offline-line", state !== "open");
}

function handle(f) {
  const chat = f.conversation_id ? S.chats.get(f.conversation_id) : null;
  switch (f.type) {
    case "welcome":
      socket.welcomed();
      lineChanged("open");
      return onWelcome(f);
    case "status": S.status = f.status; S.cap = f.cap; return renderStatus();
    case "queue": S.queue = f; S.queueAt = Date.now(); return renderQueue();
    case "board": S.board = f; S.boardAt = Date.now(); return renderBoard();
    case "state": return onState(f);
    case "message": return chat && onMessage(chat, f);
    case "ack": return outbox.receive(f);
    case "replayed":
      S.pendingReplays.delete(f.conversation_id);
      if (chat) {
        chat.chain.accountFor(f.last_seq);
        chat.loaded = true;
        renderLists();
        if (chat.id === S.current) renderChat();
      }
      outbox.flush((item) => item.conversation_id === f.conversation_id);
      return;
    case "service": S.degraded = f.status === "degraded"; return renderConn();
    case "typing":
      if (!chat || f.by !== "visitor") return;
      chat.typing = f.is_typing ? {preview: f.preview || "", at: Date.now()} : null;
      if (chat.id === S.current) renderTyping();
      return;
    case "seen":
      if (!chat) return;
      if (f.by === "visitor") chat.state.visitor_seen_seq = Math.max(chat.state.visitor_seen_seq || 0, f.seq);
      else chat.readSeq = Math.max(chat.readSeq, f.seq);
      if (chat.id === S.current) refreshSeen();
      return renderLists();
    case "context":
      if (!chat) return;
      chat.context = f.visitor ? f : {...(chat.context || {}), context: f.context};
      if (f.tags) chat.tags = f.tags;
      if (chat.id === S.current) renderContext();
      return renderLists();
    case "tags":
      if (!chat) return;
      chat.tags = f.tags;
      if (chat.id === S.current) renderContext();
      return;
    case "banned":
      if (S.pending && S.pending.kind === "ban" && S.pending.cid === f.conversation_id) {
        S.pending.dialog.close();
        S.pending = null;
      }
      if (chat) chat.notice = t("visitor_banned");
      if (chat && chat.id === S.current) renderChat();
      return;
    case "error": return onError(f);
    default: return undefined;
  }
}

function onWelcome(f) {
  S.status = f.agent.status;
  S.cap = f.agent.cap;
  const listed = new Set();
  for (const state of f.chats) {
    const chat = chatOf(state);
    chat.state = state;
    setOfferDeadline(chat, state);
    if (!chat.loaded) chat.unread = state.unread || 0;
    addOwn(chat);
    listed.add(chat.id);
    if (!chat.loaded && !S.pendingReplays.has(chat.id)) socket.send({type: "open", conversation_id: chat.id});
  }
  // Chats on screen that are no longer open and ours: ask for their state again (ended or moved).
  for (const chat of S.chats.values()) {
    if (!listed.has(chat.id) && !chat.notice) socket.send({type: "open", conversation_id: chat.id});
  }
  // Drafts of chats that left the console while it was closed go too.
  const shown = new Set([...S.chats.keys()].map(String));
  dropDrafts((cid) => shown.has(cid));
  S.queue = f.queue;
  S.queueAt = Date.now();
  renderStatus();
  renderQueue();
  renderLists();
  if (!S.current && S.order.length) select(S.order[0]);
  else if (S.current) renderChat();
  if (!S.pendingReplays.size) outbox.flush();
}

function onState(f) {
  let chat = S.chats.get(f.conversation_id);
  const mine = isOwn(f);
  if (!chat) {
    if (!mine) return; // the queue and the board show everything else
    chat = chatOf(f);
    addOwn(chat);
    socket.send({type: "open", conversation_id: chat.id});
    alertUser(t("new_chat_from", {name: f.visitor_name || t("visitor")}), f.site || "", chat.id);
    if (!S.current) select(chat.id);
    renderLists();
    return;
  }
  const was = chat.state;
  chat.state = {...was, ...f};
  chat.chain.check();
  setOfferDeadline(chat, f);
  let accepted = false;
  if (S.pending && S.pending.kind === "accept" && S.pending.cid === chat.id && f.status !== "assigned") {
    S.pending = null;
    accepted = mine && f.status === "active";
  }
  if (mine && !chat.own) {
    const taken = S.pending && S.pending.kind === "take" && S.pending.cid === chat.id;
    addOwn(chat);
    if (!taken) alertUser(t("new_chat_from", {name: visitorName(chat)}), f.site || "", chat.id);
    if (taken) { S.pending = null; select(chat.id); }
  } else if (chat.own && !mine) {
    // Ended, transferred or requeued away from this agent.
    chat.own = ME.supervisor && OPEN.has(f.status);
    chat.monitor = chat.own;
    chat.notice = !OPEN.has(f.status) ? t("chat_ended") : f.status === "queued" ? t("chat_requeued")
      : t("chat_moved", {name: f.agent_name || ""});
    chat.own = false;
    if (S.pending && S.pending.cid === chat.id && ["transfer", "close", "reassign"].includes(S.pending.kind)) {
      const done = S.pending;
      S.pending = null;
      done.dialog.close();
      // The agent moved it on themselves: nothing more to do with it here.
      if (!ME.supervisor || done.kind === "close") return forget(chat.id);
    }
  } else if (!OPEN.has(f.status) && OPEN.has(was.status)) {
    chat.notice = t("chat_ended");
    if (S.pending && S.pending.cid === chat.id && S.pending.kind === "close") {
      S.pending.dialog.close();
      S.pending = null;
      if (chat.monitor || chat.own) return forget(chat.id);
    }
  } else if (S.pending && S.pending.cid === chat.id && S.pending.kind === "reassign" && f.agent_id !== was.agent_id) {
    S.pending.dialog.close();
    S.pending = null;
  }
  renderLists();
  if (chat.id === S.current) renderChat();
  if (accepted && chat.id === S.current) focusComposer();
}

/* Messages are shown as one unbroken chain per chat, so a later one never shows before an earlier one. */
function onMessage(chat, f) {
  chat.chain.receive(f);
}

function showMessage(chat, f) {
  outbox.receive(f); // one of ours, shown: the server has it, whatever happened to the ack
  const fresh = !chat.msgs.has(f.seq);
  addMessage(chat, f);
  if (!fresh) return;
  if (chat.id === S.current) {
    insertRow(chat, f);
    if (f.author === "visitor") { chat.typing = null; renderTyping(); }
    markSeen(chat);
  } else if (f.author === "visitor" && chat.loaded) {
    chat.unread++;
  }
  if (chat.loaded && f.author === "visitor" && (chat.id !== S.current || document.hidden)) {
    alertUser(t("new_message_from", {name: visitorName(chat)}), f.text, chat.id);
  }
  if (chat.loaded && f.visibility === "whisper" && f.author === "agent" && f.agent_name !== ME.name) {
    alertUser(t("whisper_label"), f.text, chat.id);
  }
  renderLists();
}

function addMessage(chat, m) {
  chat.msgs.set(m.seq, m);
}

function onError(f) {
  if (f.code === "service_unavailable") return; // the close that follows (4013) reconnects
  if (outbox.receive(f)) return; // about a message: sent again later, or shown as not sent
  const message = errorText(f.code);
  if (S.pending && (!f.conversation_id || f.conversation_id === S.pending.cid)) {
    const pending = S.pending;
    if (pending.errorEl) {
      pending.errorEl.textContent = message;
      pending.errorEl.hidden = false;
      if (pending.submit) pending.submit.disabled = false;
      S.pending = null;
      return;
    }
    S.pending = null;
    const chat = pending.kind === "accept" && S.chats.get(pending.cid);
    if (chat && chat.id === S.current) renderOffer(chat);
  }
  if (f.code === "forbidden" || f.code === "not_found") {
    // A chat on screen that is no longer ours (moved while we were away): drop it quietly.
    const chat = f.conversation_id && S.chats.get(f.conversation_id);
    if (chat) chat.chain.stop(); // asking again cannot help
    if (chat && !chat.own && !chat.monitor) return forget(chat.id);
    if (chat && chat.own && f.field === "conversation_id") {
      chat.own = false;
      chat.notice = t("chat_moved", {name: "…"});
      renderLists();
      if (chat.id === S.current) renderChat();
      return;
    }
  }
  if (f.code === "rate_limited") return;
  toast(message);
}

/* The line to the server, in the top bar: hidden while all is well. */
function renderConn() {
  const conn = $("conn"), slow = S.line === "open" && S.degraded;
  conn.hidden = S.line === "open" && !slow;
  conn.className = "conn conn-" + (slow ? "degraded" : S.line);
  conn.textContent = slow ? t("degraded") : S.line === "signed_out" ? t("signed_out")
    : S.line === "connecting" && !S.everConnected ? t("connecting") : t("reconnecting");
}

function errorText(code) {
  const key = "err_" + code;
  const text = t(key);
  return text === key ? t("err_generic", {code}) : text;
}

// --- notifications -----------------------------------------------------------------------------

let audio = null;
function beep() {
  if (S.muted) return;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const osc = audio.createOscillator(), gain = audio.createGain(), now = audio.currentTime;
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, now);
    osc.frequency.setValueAtTime(1175, now + 0.09);
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.18, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start(now);
    osc.stop(now + 0.26);
  } catch (e) { /* no audio on this machine */ }
}

function alertUser(title, body, cid) {
  beep();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (!document.hidden && cid === S.current) return;
  try {
    const n = new Notification(title, {body: (body || "").slice(0, 140), tag: "chatdesk-" + cid});
    n.onclick = () => { window.focus(); showView("console"); select(cid); n.close(); };
  } catch (e) { /* some browsers only allow notifications from a service worker */ }
}

function renderNotifyButton() {
  const btn = $("notify-btn");
  btn.hidden = !("Notification" in window) || Notification.permission !== "default";
}

const ICON_SOUND = "M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z";
const ICON_MUTED = "M16.5 12A4.5 4.5 0 0 0 14 8v2.2l2.5 2.5v-.7zM19 12c0 .9-.2 1.8-.5 2.6l1.5 1.5A9 9 0 0 0 14 3.2v2.1a7 7 0 0 1 5 6.7zM4.3 3 3 4.3 7.7 9H3v6h4l5 5v-6.7l4.3 4.3c-.7.5-1.4.9-2.3 1.2v2.1a9 9 0 0 0 3.7-1.8l2 2 1.3-1.3L4.3 3zM12 4 9.9 6.1 12 8.2V4z";

function icon(path) {
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), p = document.createElementNS(ns, "path");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  p.setAttribute("d", path);
  svg.append(p);
  return svg;
}

function renderMute() {
  const btn = $("mute-btn");
  btn.setAttribute("aria-pressed", S.muted ? "true" : "false");
  btn.replaceChildren(icon(S.muted ? ICON_MUTED : ICON_SOUND));
  btn.title = S.muted ? t("unmute") : t("mute");
  btn.setAttribute("aria-label", S.muted ? t("unmute") : t("mute"));
}

// --- the top bar and the lists ---------------------------------------------------------------------

function renderStatus() {
  for (const input of document.querySelectorAll("#status-switch input")) input.checked = input.value === S.status;
  document.body.dataset.status = S.status || "";
  const active = S.order.filter((id) => ACTIVE.has(S.chats.get(id).state.status)).length;
  const load = $("load");
  load.textContent = t("load", {n: active, cap: S.cap});
  load.classList.toggle("is-full", active >= S.cap);
}

function renderLists() {
  renderStatus();
  const list = $("chat-list");
  const own = S.order.map((id) => S.chats.get(id)).filter(Boolean);
  list.replaceChildren(...own.map((chat, i) => chatItem(chat, i)));
  $("chats-empty").hidden = own.length > 0;
  $("chats-count").textContent = own.length ? String(own.length) : "";
  const monitored = [...S.chats.values()].filter((c) => c.monitor && !S.order.includes(c.id));
  $("monitor-section").hidden = !monitored.length;
  $("monitor-list").replaceChildren(...monitored.map((chat) => chatItem(chat, -1)));
  const unread = own.reduce((n, chat) => n + unreadOf(chat), 0);
  document.title = (unread ? `(${unread}) ` : "") + t("console") + " · chatdesk";
}

function chatItem(chat, index) {
  const unread = unreadOf(chat), since = waitingSince(chat), name = visitorName(chat);
  const waited = since ? (Date.now() - since) / 1000 : null;
  const ended = !OPEN.has(chat.state.status) || chat.notice;
  const offered = awaitsMe(chat), left = offerLeft(chat);
  const label = [name, offered ? t("awaits_accept") : "", unread ? t("unread_n", {n: unread}) : "",
    waited != null && !ended ? t("waiting_for_reply", {t: duration(waited)}) : ""].filter(Boolean).join(", ");
  const button = h("button", {
    type: "button", class: "chat-item" + (chat.id === S.current ? " is-current" : "") + (ended ? " is-ended" : ""),
    "aria-current": chat.id === S.current ? "true" : null, "aria-label": label, "data-cid": chat.id,
    onclick: () => select(chat.id),
  }, [
    h("span", {class: "avatar", "aria-hidden": "true", text: initial(name)}),
    h("span", {class: "chat-item-text"}, [
      h("span", {class: "chat-item-top"}, [
        h("span", {class: "chat-item-name", text: name}),
        offered ? h("span", {class: "offer-pill", "data-offer": chat.id,
          text: left != null ? `${t("accept")} · ${duration(left)}` : t("accept")}) : null,
        waited != null && !ended && !offered ? h("span", {class: "wait " + waitClass(waited), "data-since": since, text: duration(waited)}) : null,
      ]),
      h("span", {class: "chat-item-preview", text: chat.notice || (chat.typing ? t("typing", {name}) : lastPreview(chat)) || chat.state.site || ""}),
    ]),
    unread ? h("span", {class: "badge", "aria-hidden": "true", text: unread > 99 ? "99+" : String(unread)}) : null,
  ]);
  return h("li", {}, [button]);
}

function renderQueue() {
  const q = S.queue;
  if (!q) return;
  const elapsed = (Date.now() - S.queueAt) / 1000;
  $("queue-count").textContent = q.waiting ? String(q.waiting) : "";
  $("queue-empty").hidden = q.waiting > 0;
  $("queue-skills").replaceChildren(...q.by_skill.map((s) => h("span", {
    class: "chip " + waitClass(s.longest_wait_seconds + elapsed),
    text: `${s.skill || t("any_skill")} · ${s.waiting} · ${duration(s.longest_wait_seconds + elapsed)}`,
  })));
  $("queue-list").replaceChildren(...q.chats.map((c) => {
    const waited = c.waited_seconds + elapsed;
    return h("li", {class: "queue-item"}, [
      h("div", {class: "queue-item-text"}, [
        h("span", {class: "queue-name", text: c.visitor_name || t("visitor")}),
        h("span", {class: "muted small", text: [c.topic, c.skills.join(", ")].filter(Boolean).join(" · ") || c.site}),
      ]),
      h("span", {class: "wait " + waitClass(waited), text: duration(waited)}),
      h("button", {type: "button", class: "btn btn-small btn-primary", text: t("take"),
        "aria-label": t("take_chat", {name: c.visitor_name || t("visitor")}),
        onclick: () => { S.pending = {kind: "take", cid: c.conversation_id}; socket.send({type: "take", conversation_id: c.conversation_id}); }}),
    ]);
  }));
}

// --- the chat pane -------------------------------------------------------------------------------

function select(cid) {
  const previous = S.current && S.chats.get(S.current);
  if (previous) saveDraft(previous);
  stopTyping();
  S.current = cid;
  const chat = cid && S.chats.get(cid);
  if (chat && !chat.loaded && !chat.requested) {
    chat.requested = true;
    socket.send({type: "open", conversation_id: cid});
  }
  showView("console");
  renderLists();
  renderChat(true);
}

function modesFor(chat) {
  // Accept first: a reply to a chat not yet accepted would be lost with the offer when it expires.
  if (awaitsMe(chat)) return [];
  if (chat.own || (!ME.supervisor && chat.state.agent_id === ME.id)) return ["reply", "note"];
  if (ME.supervisor) return chat.state.agent_id ? ["whisper", "barge", "note"] : ["barge", "note"];
  return [];
}

function renderChat(switched) {
  const chat = S.current && S.chats.get(S.current);
  $("empty-state").hidden = !!chat || S.view !== "console";
  $("chat").hidden = !chat || S.view !== "console";
  $("context").hidden = !chat || S.view !== "console";
  if (!chat) return;
  const name = visitorName(chat), st = chat.state, open = OPEN.has(st.status);
  $("chat-avatar").textContent = initial(name);
  $("chat-title").textContent = name;
  $("chat-sub").textContent = [st.site, t("status_" + st.status),
    st.agent_name ? t("with_agent", {name: st.agent_name}) : t("unassigned"), chat.monitor ? t("monitoring") : ""]
    .filter(Boolean).join(" · ");
  const modes = modesFor(chat);
  const canAct = open && !chat.notice && (chat.own || ME.supervisor);
  $("transfer-btn").hidden = !canAct || !ACTIVE.has(st.status);
  $("close-btn").hidden = !canAct;
  $("reassign-btn").hidden = !(ME.supervisor && open);
  $("ban-btn").hidden = !ME.supervisor;
  $("dismiss-btn").hidden = open && !chat.notice;
  const banner = $("chat-banner");
  banner.hidden = !chat.notice;
  banner.textContent = chat.notice || "";
  renderOffer(chat);
  // The composer: modes this chat allows, the draft kept for it.
  const composer = $("composer");
  composer.hidden = !open || !!chat.notice || !modes.length;
  if (!chat.mode || !modes.includes(chat.mode)) chat.mode = modes[0] || "reply";
  for (const input of document.querySelectorAll("#modes input")) {
    input.closest("label").hidden = !modes.includes(input.value);
    input.checked = input.value === chat.mode;
  }
  renderMode();
  const input = $("composer-input");
  if (switched) {
    input.value = chat.draft;
    closeCanned();
    renderLog(chat);
  } else {
    renderLog(chat);
  }
  renderTyping();
  renderContext();
  markSeen(chat);
}

/* The offer bar: who offers what, the time left when the offer is timed, and the Accept button (Alt+A). */
function renderOffer(chat) {
  const bar = $("offer-bar"), offered = !!chat && awaitsMe(chat);
  bar.hidden = !offered;
  if (!offered) return;
  const left = offerLeft(chat);
  $("offer-text").textContent = t("offer_text", {name: visitorName(chat)});
  const leftEl = $("offer-left");
  leftEl.hidden = left == null;
  leftEl.textContent = left != null ? t("offer_left", {t: duration(left)}) : "";
  leftEl.className = "offer-left " + (left != null && left < 10 ? "wait-late" : "");
  $("accept-btn").disabled = !!(S.pending && S.pending.kind === "accept" && S.pending.cid === chat.id);
}

function renderMode() {
  const chat = S.chats.get(S.current);
  if (!chat) return;
  const input = $("composer-input"), name = visitorName(chat);
  const mode = chat.mode;
  $("composer").dataset.mode = mode;
  const placeholder = {
    reply: t("placeholder_reply", {name}), note: t("placeholder_note"),
    whisper: t("placeholder_whisper", {name: chat.state.agent_name || ""}), barge: t("placeholder_barge"),
  }[mode];
  input.placeholder = placeholder;
  $("composer-label").textContent = placeholder;
}

function messageRow(chat, m) {
  const mine = m.author === "agent" && m.agent_name === ME.name;
  let kind = m.author === "visitor" ? "visitor" : m.author === "system" ? "system" : "agent";
  let label = m.author === "visitor" ? visitorName(chat) : m.author === "agent" ? (m.agent_name || "") : "";
  if (m.visibility === "internal") {
    kind = "note";
    label = [t("internal_note"), m.author === "system" ? t("system") : m.agent_name].filter(Boolean).join(" · ");
  }
  if (m.visibility === "whisper") { kind = "whisper"; label = t("whisper_from", {name: m.agent_name || ""}); }
  return h("div", {class: `msg msg-${kind}${mine ? " msg-mine" : ""}`, "data-seq": m.seq, "data-client-id": m.client_id}, [
    h("div", {class: "msg-meta"}, [h("span", {class: "msg-author", text: label}), h("time", {datetime: m.sent_at, text: clock(m.sent_at)})]),
    h("div", {class: "msg-bubble", text: m.text}),
    h("div", {class: "msg-status"}),
  ]);
}

function renderLog(chat) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const rows = [...chat.msgs.keys()].sort((a, b) => a - b).map((seq) => messageRow(chat, chat.msgs.get(seq)));
  const pending = outbox.items.filter((item) => item.conversation_id === chat.id).map((item) => {
    const row = messageRow(chat, {seq: "", client_id: item.client_id, author: "agent", agent_name: ME.name, text: item.text,
      visibility: item.type === "note" ? "internal" : item.type === "whisper" ? "whisper" : "public",
      sent_at: new Date(item.at).toISOString()});
    row.removeAttribute("data-seq");
    row.classList.add(item.failed ? "is-failed" : "is-sending");
    row.querySelector(".msg-status").textContent = item.failed ? t("not_sent", {reason: refusal(item.failed)}) : t("sending");
    return row;
  });
  log.replaceChildren(...rows, ...pending);
  if (!chat.loaded) log.append(h("p", {class: "muted center", text: t("loading")}));
  refreshSeen();
  if (atBottom || rows.length) log.scrollTop = log.scrollHeight;
}

function insertRow(chat, m) {
  const log = $("log");
  if (log.querySelector(`[data-seq="${m.seq}"]`)) return;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
  const row = messageRow(chat, m);
  const after = [...log.querySelectorAll("[data-seq]")].find((el) => +el.dataset.seq > m.seq)
    || log.querySelector(".is-sending, .is-failed");
  log.insertBefore(row, after || null);
  refreshSeen();
  if (atBottom || m.author === "agent") log.scrollTop = log.scrollHeight;
}

function refreshSeen() {
  const chat = S.chats.get(S.current);
  if (!chat) return;
  const rows = [...document.querySelectorAll("#log .msg-agent[data-seq]")];
  rows.forEach((row) => { row.querySelector(".msg-status").textContent = ""; });
  const last = rows[rows.length - 1];
  if (last) last.querySelector(".msg-status").textContent =
    (chat.state.visitor_seen_seq || 0) >= +last.dataset.seq ? t("seen") : t("delivered");
}

function renderTyping() {
  const chat = S.chats.get(S.current), el = $("typing");
  const typing = chat && chat.typing && Date.now() - chat.typing.at < 8000 ? chat.typing : null;
  el.replaceChildren();
  el.classList.toggle("is-on", !!typing);
  if (!typing) return;
  const name = visitorName(chat);
  el.append(h("span", {class: "dots", "aria-hidden": "true"}, [h("i"), h("i"), h("i")]),
    h("span", {text: typing.preview ? t("typing_preview", {name, text: ""}) : t("typing", {name})}),
    typing.preview ? h("q", {class: "typing-preview", text: typing.preview}) : null);
}

function markSeen(chat) {
  if (!chat || chat.id !== S.current || document.hidden || !chat.loaded || S.view !== "console") return;
  let newest = 0;
  for (const m of chat.msgs.values()) if (m.author === "visitor" && m.seq > newest) newest = m.seq;
  if (newest > chat.readSeq) {
    chat.readSeq = newest;
    chat.unread = 0;
    if (chat.state.agent_id === ME.id) socket.send({type: "seen", conversation_id: chat.id, seq: newest});
    renderLists();
  }
}

// --- composer: send, typing, drafts, canned responses ------------------------------------------------

function saveDraft(chat) {
  chat.draft = $("composer-input").value;
  if (!chat.draft) chat.canned = null;
  keepDraft(chat);
}

function submit() {
  const chat = S.chats.get(S.current), input = $("composer-input");
  const text = input.value;
  if (!chat || !text.trim()) return;
  const type = {reply: "message", note: "note", whisper: "whisper", barge: "barge"}[chat.mode];
  const item = {client_id: uuid(), conversation_id: chat.id, type, text, at: Date.now()};
  if ((type === "message" || type === "barge") && chat.canned) item.canned_response_id = chat.canned;
  input.value = "";
  chat.draft = "";
  chat.canned = null;
  keepDraft(chat);
  closeCanned();
  stopTyping();
  track(item, outbox.add(item));
  renderLog(chat);
}

const typing = {on: false, last: 0, idle: null, cid: null};

function onComposerInput() {
  const chat = S.chats.get(S.current);
  if (!chat) return;
  chat.draft = $("composer-input").value;
  if (!chat.draft) chat.canned = null;
  keepDraft(chat);
  updateCanned();
  // Only what the visitor will read is announced as typing: notes and whispers stay silent.
  if (chat.mode !== "reply" && chat.mode !== "barge") return;
  clearTimeout(typing.idle);
  if (!chat.draft) return stopTyping();
  typing.idle = setTimeout(stopTyping, 3000);
  if (Date.now() - typing.last > 1500) {
    typing.last = Date.now();
    typing.cid = chat.id;
    typing.on = socket.send({type: "typing", conversation_id: chat.id, is_typing: true});
  }
}

function stopTyping() {
  clearTimeout(typing.idle);
  if (typing.on && typing.cid) socket.send({type: "typing", conversation_id: typing.cid, is_typing: false});
  typing.on = false;
  typing.last = 0;
}

const canned = {open: false, items: [], index: 0, start: 0};

function cannedQuery() {
  const input = $("composer-input"), before = input.value.slice(0, input.selectionStart);
  const match = /(^|\s)([/#])([\w-]*)$/.exec(before);
  return match ? {query: match[3].toLowerCase(), start: before.length - match[3].length - 1} : null;
}

function updateCanned() {
  const found = cannedQuery();
  if (!found) return closeCanned();
  const q = found.query;
  const items = CONFIG.canned.filter((c) => !q || c.shortcut.toLowerCase().startsWith(q)
    || c.title.toLowerCase().includes(q) || c.text.toLowerCase().includes(q));
  items.sort((a, b) => (b.shortcut.toLowerCase().startsWith(q) ? 1 : 0) - (a.shortcut.toLowerCase().startsWith(q) ? 1 : 0));
  canned.open = true;
  canned.items = items;
  canned.start = found.start;
  canned.index = Math.min(canned.index, Math.max(0, items.length - 1));
  renderCanned();
}

function renderCanned() {
  const pop = $("canned-pop"), list = $("canned-list"), input = $("composer-input");
  const chat = S.chats.get(S.current);
  pop.hidden = !canned.open;
  input.setAttribute("aria-expanded", canned.open ? "true" : "false");
  if (!canned.open) return input.removeAttribute("aria-activedescendant");
  if (!canned.items.length) {
    list.replaceChildren(h("li", {class: "canned-empty", role: "option", "aria-disabled": "true", text: t("no_canned")}));
    return input.removeAttribute("aria-activedescendant");
  }
  list.replaceChildren(...canned.items.map((c, i) => h("li", {
    id: "canned-" + c.id, role: "option", class: "canned-item", "aria-selected": i === canned.index ? "true" : "false",
    onmousedown: (e) => { e.preventDefault(); canned.index = i; insertCanned(); },
  }, [
    h("span", {class: "canned-top"}, [h("kbd", {text: "/" + c.shortcut}), h("strong", {text: c.title})]),
    h("span", {class: "canned-text", text: fill(c.text, chat)}),
  ])));
  input.setAttribute("aria-activedescendant", "canned-" + canned.items[canned.index].id);
  const active = list.children[canned.index];
  if (active && active.scrollIntoView) active.scrollIntoView({block: "nearest"});
}

function closeCanned() {
  canned.open = false;
  canned.index = 0;
  renderCanned();
}

/* {{visitor.name}}, {{agent.name}}, {{site.name}}: filled before sending, so the agent sees what goes. */
function fill(text, chat) {
  const values = {visitor: chat ? visitorName(chat) : "", agent: ME.name, site: chat ? chat.state.site || "" : ""};
  return text.replace(/\{\{\s*(visitor|agent|site)\.name\s*\}\}/g, (_, key) => values[key]);
}

function insertCanned() {
  const chosen = canned.items[canned.index], chat = S.chats.get(S.current), input = $("composer-input");
  if (!chosen || !chat) return;
  const end = input.selectionStart, text = fill(chosen.text, chat);
  input.value = input.value.slice(0, canned.start) + text + input.value.slice(end);
  const caret = canned.start + text.length;
  input.setSelectionRange(caret, caret);
  chat.canned = chosen.id;
  chat.draft = input.value;
  keepDraft(chat);
  closeCanned();
  input.focus();
}

// --- context panel: visitor, tags, earlier chats --------------------------------------------------------

function row(label, value) {
  if (value == null || value === "") return null;
  return h("div", {class: "kv"}, [h("dt", {text: label}), h("dd", {}, [value instanceof Node ? value : document.createTextNode(String(value))])]);
}

function safeLink(url) {
  if (!/^https?:\/\//i.test(url || "")) return url || "";
  return h("a", {href: url, target: "_blank", rel: "noopener noreferrer", text: url.replace(/^https?:\/\//, "")});
}

function renderContext() {
  const chat = S.chats.get(S.current), aside = $("context");
  if (!chat) return;
  const info = chat.context || {}, visitor = info.visitor || {}, ctx = info.context || {};
  const pages = (ctx.pages || []).slice().reverse();
  const browser = [ctx.browser, ctx.browser_version].filter(Boolean).join(" ");
  const tagsOfSite = CONFIG.tags[chat.state.site_id] || [];
  const canTag = chat.own || ME.supervisor;
  const tagInput = h("input", {id: "tag-input", type: "text", list: "tag-options", placeholder: t("add_tag"),
    "aria-label": t("add_tag"), autocomplete: "off", maxlength: "50", disabled: !canTag || null});
  tagInput.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const name = tagInput.value.trim();
    if (!name) return;
    if (!tagsOfSite.includes(name)) return toast(t("err_unknown_tag"));
    socket.send({type: "tag", conversation_id: chat.id, tag: name});
    tagInput.value = "";
  });
  tagInput.addEventListener("change", () => {
    // Picking from the list (mouse) adds at once.
    const name = tagInput.value.trim();
    if (tagsOfSite.includes(name)) { socket.send({type: "tag", conversation_id: chat.id, tag: name}); tagInput.value = ""; }
  });
  const focusedTag = document.activeElement && document.activeElement.id === "tag-input";
  aside.replaceChildren(
    h("section", {class: "panel"}, [
      h("h2", {text: t("details")}),
      h("dl", {class: "kvs"}, [
        row(t("name"), visitor.name || chat.state.visitor_name),
        row(t("email"), visitor.email ? h("a", {href: "mailto:" + visitor.email, text: visitor.email}) : null),
        row(t("page"), ctx.page_title || ctx.page_url ? h("span", {}, [
          ctx.page_title ? h("span", {class: "page-title", text: ctx.page_title}) : null,
          ctx.page_url ? safeLink(ctx.page_url) : null]) : null),
        row(t("browser"), browser),
        row(t("os"), ctx.os),
        row(t("device"), [ctx.device_class, ctx.device !== "Other" ? ctx.device : ""].filter(Boolean).join(" · ")),
        row(t("language"), ctx.language),
        row(t("time_on_site"), ctx.time_on_site != null ? duration(ctx.time_on_site) : null),
        row(t("visits"), visitor.visits),
      ]),
      pages.length ? h("details", {class: "pages"}, [
        h("summary", {text: `${t("pages_visited")} (${pages.length})`}),
        h("ol", {}, pages.map((p) => h("li", {}, [h("span", {class: "muted small", text: clock(p.at)}), " ", safeLink(p.url)]))),
      ]) : null,
    ]),
    h("section", {class: "panel"}, [
      h("h2", {text: t("tags")}),
      h("ul", {class: "tags", "aria-label": t("tags")}, chat.tags.length ? chat.tags.map((name) => h("li", {class: "tag"}, [
        h("span", {text: name}),
        canTag ? h("button", {type: "button", class: "tag-x", "aria-label": t("remove_tag", {name}), text: "×",
          onclick: () => socket.send({type: "untag", conversation_id: chat.id, tag: name})}) : null,
      ])) : [h("li", {class: "muted small", text: t("no_tags")})]),
      tagInput,
      h("datalist", {id: "tag-options"}, tagsOfSite.filter((name) => !chat.tags.includes(name)).map((name) => h("option", {value: name}))),
    ]),
    h("section", {class: "panel"}, [
      h("h2", {text: t("earlier")}),
      (info.earlier || []).length ? h("ul", {class: "earlier"}, info.earlier.map((c) => h("li", {}, [
        h("button", {type: "button", class: "earlier-item", onclick: () => openTranscript(c.conversation_id, chat.id)}, [
          h("span", {class: "earlier-top"}, [h("strong", {text: day(c.created_at)}), h("span", {class: "pill pill-" + c.status, text: t("status_" + c.status)})]),
          h("span", {class: "muted small", text: [c.topic, c.agent_name, t("messages_n", {n: c.messages})].filter(Boolean).join(" · ")}),
        ]),
      ]))) : h("p", {class: "muted small", text: chat.context ? t("no_earlier") : t("loading")}),
    ]),
  );
  if (focusedTag) $("tag-input").focus();
}

async function openTranscript(cid, via) {
  const dialog = $("transcript-dialog"), log = $("transcript-log");
  $("transcript-title").textContent = t("loading");
  log.replaceChildren();
  dialog.showModal();
  try {
    const response = await fetch(`${CONFIG.urls.transcript}${cid}.json?via=${encodeURIComponent(via)}`, {credentials: "same-origin"});
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    $("transcript-title").textContent = t("transcript", {date: day(data.created_at)});
    const fake = {state: {visitor_name: data.visitor_name}, context: null};
    log.replaceChildren(...data.messages.map((m) => messageRow(fake, m)));
  } catch (e) {
    $("transcript-title").textContent = errorText("not_found");
  }
}

// --- dialogs: transfer, close with wrap-up, reassign ---------------------------------------------------

function option(value, text, disabled) { return h("option", {value, text, disabled: disabled || null}); }

async function openTransfer() {
  const chat = S.chats.get(S.current);
  if (!chat) return;
  const dialog = $("transfer-dialog"), select = $("transfer-agent");
  $("transfer-error").hidden = true;
  $("transfer-note").value = "";
  $("transfer-submit").disabled = false;
  $("transfer-department").replaceChildren(...CONFIG.departments.map((d) => option(d.id, d.name)));
  $("transfer-skill").replaceChildren(...CONFIG.skills.map((s) => option(s.id, s.name)));
  select.replaceChildren(option("", t("loading"), true));
  setTarget("agent");
  dialog.showModal();
  try {
    const response = await fetch(CONFIG.urls.agents, {credentials: "same-origin"});
    const data = await response.json();
    const agents = data.agents.filter((a) => a.id !== chat.state.agent_id);
    agents.sort((a, b) => (b.status === "online") - (a.status === "online") || (b.cap - b.active) - (a.cap - a.active));
    select.replaceChildren(...agents.map((a) => option(a.id,
      `${a.name} · ${t(a.status)} · ${t("free_slots", {free: Math.max(0, a.cap - a.active), cap: a.cap})}`,
      a.status !== "online" || a.active >= a.cap)));
    const first = agents.find((a) => a.status === "online" && a.active < a.cap);
    if (first) select.value = String(first.id);
  } catch (e) {
    select.replaceChildren(option("", errorText("server_error"), true));
  }
}

function setTarget(kind) {
  for (const input of document.querySelectorAll("#transfer-form input[name=target]")) input.checked = input.value === kind;
  for (const name of ["agent", "department", "skill"]) $(`transfer-${name}-field`).hidden = name !== kind;
}

function submitTransfer(e) {
  e.preventDefault();
  const chat = S.chats.get(S.current);
  const kind = document.querySelector("#transfer-form input[name=target]:checked").value;
  const value = +$(`transfer-${kind}`).value;
  if (!chat || !value) return;
  const frame = {type: "transfer", conversation_id: chat.id, [kind]: value};
  const note = $("transfer-note").value.trim();
  if (note) frame.note = note;
  S.pending = {kind: "transfer", cid: chat.id, dialog: $("transfer-dialog"), errorEl: $("transfer-error"), submit: $("transfer-submit")};
  $("transfer-submit").disabled = true;
  $("transfer-error").hidden = true;
  socket.send(frame);
}

const closing = {tags: []};

function openClose() {
  const chat = S.chats.get(S.current);
  if (!chat) return;
  closing.tags = [];
  $("close-error").hidden = true;
  $("close-summary").value = "";
  $("close-submit").disabled = false;
  document.querySelector("#close-form input[name=resolved][value=yes]").checked = true;
  renderCloseTags();
  // The after-chat work starts now (handle time counts it).
  if (ACTIVE.has(chat.state.status)) socket.send({type: "wrapup", conversation_id: chat.id});
  $("close-dialog").showModal();
}

function renderCloseTags() {
  const chat = S.chats.get(S.current);
  const site = CONFIG.tags[chat.state.site_id] || [];
  const all = [...new Set([...chat.tags, ...closing.tags])].sort();
  const input = h("input", {id: "close-tag-input", type: "text", list: "close-tag-options", placeholder: t("add_tag"), autocomplete: "off", maxlength: "50"});
  const add = () => {
    const name = input.value.trim();
    if (!name) return;
    if (!site.includes(name)) { $("close-error").textContent = t("err_unknown_tag"); $("close-error").hidden = false; return; }
    if (!closing.tags.includes(name)) closing.tags.push(name);
    renderCloseTags();
    $("close-tag-input").focus();
  };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); add(); } });
  input.addEventListener("change", () => { if (site.includes(input.value.trim())) add(); });
  $("close-tags").replaceChildren(
    h("ul", {class: "tags"}, all.map((name) => h("li", {class: "tag"}, [
      h("span", {text: name}),
      closing.tags.includes(name) ? h("button", {type: "button", class: "tag-x", "aria-label": t("remove_tag", {name}), text: "×",
        onclick: () => { closing.tags = closing.tags.filter((n) => n !== name); renderCloseTags(); }}) : null,
    ]))),
    input,
    h("datalist", {id: "close-tag-options"}, site.filter((name) => !all.includes(name)).map((name) => h("option", {value: name}))),
  );
}

function submitClose(e) {
  e.preventDefault();
  const chat = S.chats.get(S.current);
  if (!chat) return;
  const typed = $("close-tag-input").value.trim();
  if (typed && (CONFIG.tags[chat.state.site_id] || []).includes(typed) && !closing.tags.includes(typed)) closing.tags.push(typed);
  const frame = {type: "close", conversation_id: chat.id,
    resolved: document.querySelector("#close-form input[name=resolved]:checked").value === "yes"};
  const summary = $("close-summary").value.trim();
  if (summary) frame.summary = summary;
  if (closing.tags.length) frame.tags = closing.tags;
  S.pending = {kind: "close", cid: chat.id, dialog: $("close-dialog"), errorEl: $("close-error"), submit: $("close-submit")};
  $("close-submit").disabled = true;
  $("close-error").hidden = true;
  socket.send(frame);
}

function openReassign() {
  const chat = S.chats.get(S.current);
  if (!chat || !S.board) return;
  $("reassign-error").hidden = true;
  $("reassign-agent").replaceChildren(...S.board.agents.filter((a) => a.id !== chat.state.agent_id).map((a) =>
    option(a.id, `${a.name} · ${t(a.status)} · ${t("free_slots", {free: Math.max(0, a.cap - a.active), cap: a.cap})}`)));
  $("reassign-dialog").showModal();
}

function submitReassign(e) {
  e.preventDefault();
  const chat = S.chats.get(S.current), agent = +$("reassign-agent").value;
  if (!chat || !agent) return;
  S.pending = {kind: "reassign", cid: chat.id, dialog: $("reassign-dialog"), errorEl: $("reassign-error")};
  socket.send({type: "reassign", conversation_id: chat.id, agent});
}

function openBan() {
  if (!S.chats.get(S.current)) return;
  $("ban-error").hidden = true;
  $("ban-dialog").showModal();
}

function submitBan(e) {
  e.preventDefault();
  const chat = S.chats.get(S.current);
  if (!chat) return;
  const hours = +$("ban-hours").value;
  S.pending = {kind: "ban", cid: chat.id, dialog: $("ban-dialog"), errorEl: $("ban-error")};
  socket.send({type: "ban", conversation_id: chat.id, scope: $("ban-scope").value,
    reason: $("ban-reason").value.trim(), ...(hours ? {hours} : {})});
}

// --- supervisors' board ---------------------------------------------------------------------------------

function showView(view) {
  if (!ME.supervisor) view = "console";
  S.view = view;
  const board = $("board");
  if (board) board.hidden = view !== "board";
  for (const [id, name] of [["view-console", "console"], ["view-board", "board"]]) {
    const tab = $(id);
    if (tab) tab.setAttribute("aria-pressed", view === name ? "true" : "false");
  }
  renderChat();
  if (view === "board") renderBoard();
}

function monitor(cid) {
  let chat = S.chats.get(cid);
  const state = S.board && S.board.conversations.find((c) => c.conversation_id === cid);
  if (!chat) {
    chat = chatOf(state || {conversation_id: cid, status: "queued"});
    if (isOwn(chat.state)) addOwn(chat); else chat.monitor = true;
  }
  select(cid);
}

function renderBoard() {
  const b = S.board;
  if (!b || !$("board") || S.view !== "board") return;
  const elapsed = (Date.now() - S.boardAt) / 1000;
  const open = b.conversations.length, waiting = b.conversations.filter((c) => c.status === "queued").length;
  const online = b.agents.filter((a) => a.status === "online").length;
  const stat = (label, value, cls) => h("div", {class: "stat " + (cls || "")}, [h("span", {class: "stat-value", text: value}), h("span", {class: "stat-label", text: label})]);
  $("board-stats").replaceChildren(
    stat(t("open_chats"), String(open)),
    stat(t("queue"), String(waiting)),
    stat(t("longest_wait", {t: ""}).trim(), duration(b.longest_wait_seconds + (waiting ? elapsed : 0)), waiting ? waitClass(b.longest_wait_seconds + elapsed) : ""),
    stat(t("online"), `${online}/${b.agents.length}`),
  );
  $("board-agents").tBodies[0].replaceChildren(...b.agents.map((a) => h("tr", {}, [
    h("th", {scope: "row"}, [h("span", {class: "avatar avatar-sm", "aria-hidden": "true", text: initial(a.name)}), " ", a.name]),
    h("td", {}, [h("span", {class: "pill pill-" + a.status, text: t(a.status)})]),
    h("td", {}, [h("span", {class: "meter", role: "img", "aria-label": `${a.active}/${a.cap}`}, [
      h("span", {class: "meter-fill" + (a.active >= a.cap ? " is-full" : ""), style: `width:${a.cap ? Math.min(100, 100 * a.active / a.cap) : 100}%`})]),
    h("span", {class: "small", text: ` ${a.active}/${a.cap}`})]),
    h("td", {class: "small " + (a.connected ? "ok" : "muted"), text: a.connected ? t("connected") : t("disconnected")}),
  ])));
  $("board-chats").tBodies[0].replaceChildren(...b.conversations.map((c) => {
    const waited = c.waited_seconds + elapsed;
    return h("tr", {"data-cid": c.conversation_id}, [
      h("th", {scope: "row"}, [h("span", {text: c.visitor_name || t("visitor")}), h("span", {class: "muted small block", text: c.site})]),
      h("td", {}, [h("span", {class: "pill pill-" + c.status, text: t("status_" + c.status)}),
        c.agent_replied === false && c.status !== "queued" ? h("span", {class: "muted small block", text: t("not_replied")}) : null]),
      h("td", {}, [c.agent_name || "—", c.agent_connected === false ? h("span", {class: "late small block", text: t("disconnected")}) : null]),
      h("td", {}, [h("span", {class: "wait " + waitClass(c.status === "queued" ? waited : 0), text: duration(waited)})]),
      h("td", {class: "right"}, [h("button", {type: "button", class: "btn btn-small", text: t("monitor"),
        "aria-label": `${t("monitor")}: ${c.visitor_name || t("visitor")}`, onclick: () => monitor(c.conversation_id)})]),
    ]);
  }));
}

// --- toasts --------------------------------------------------------------------------------------------

function toast(text) {
  const el = h("div", {class: "toast", text});
  $("toasts").append(el);
  setTimeout(() => el.remove(), 6000);
}

// --- wiring -------------------------------------------------------------------------------------------

function ownList() { return S.order.filter((id) => S.chats.has(id)); }

function step(delta) {
  const list = ownList().concat([...S.chats.values()].filter((c) => c.monitor && !S.order.includes(c.id)).map((c) => c.id));
  if (!list.length) return;
  const i = list.indexOf(S.current);
  select(list[(i + delta + list.length) % list.length]);
  focusComposer();
}

function focusComposer() {
  const input = $("composer-input");
  if (!$("composer").hidden) input.focus();
  else if (!$("offer-bar").hidden) $("accept-btn").focus();
}

function wire() {
  for (const input of document.querySelectorAll("#status-switch input")) {
    input.addEventListener("change", () => { if (input.checked) socket.send({type: "status", status: input.value}); });
  }
  for (const input of document.querySelectorAll("#modes input")) {
    input.addEventListener("change", () => {
      const chat = S.chats.get(S.current);
      if (!chat || !input.checked) return;
      if (chat.mode === "reply" || chat.mode === "barge") stopTyping();
      chat.mode = input.value;
      renderMode();
    });
  }
  const input = $("composer-input");
  input.addEventListener("input", onComposerInput);
  input.addEventListener("click", updateCanned);
  // Later, and only if focus did not come back ("/" from elsewhere refocuses at once).
  input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) closeCanned(); }, 150));
  input.addEventListener("keydown", (e) => {
    if (canned.open && canned.items.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        canned.index = (canned.index + (e.key === "ArrowDown" ? 1 : -1) + canned.items.length) % canned.items.length;
        return renderCanned();
      }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); return insertCanned(); }
    }
    if (e.key === "Escape" && canned.open) { e.preventDefault(); return closeCanned(); }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  $("accept-btn").addEventListener("click", () => accept(S.chats.get(S.current)));
  $("transfer-btn").addEventListener("click", openTransfer);
  $("close-btn").addEventListener("click", openClose);
  $("reassign-btn").addEventListener("click", openReassign);
  $("dismiss-btn").addEventListener("click", () => S.current && forget(S.current));
  $("transfer-form").addEventListener("submit", submitTransfer);
  $("close-form").addEventListener("submit", submitClose);
  $("reassign-form").addEventListener("submit", submitReassign);
  $("ban-btn").addEventListener("click", openBan);
  $("ban-form").addEventListener("submit", submitBan);
  for (const input of document.querySelectorAll("#transfer-form input[name=target]")) {
    input.addEventListener("change", () => setTarget(input.value));
  }
  for (const dialog of document.querySelectorAll("dialog")) {
    for (const btn of dialog.querySelectorAll("[data-cancel]")) btn.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { if (S.pending && S.pending.dialog === dialog) S.pending = null; focusComposer(); });
  }
  $("mute-btn").addEventListener("click", () => {
    S.muted = !S.muted;
    store.set(KEY + "muted", S.muted);
    renderMute();
    if (!S.muted) beep();
  });
  $("notify-btn").addEventListener("click", async () => {
    try { await Notification.requestPermission(); } catch (e) { /* refused */ }
    renderNotifyButton();
  });
  if ($("view-console")) {
    $("view-console").addEventListener("click", () => showView("console"));
    $("view-board").addEventListener("click", () => showView("board"));
  }
  document.addEventListener("keydown", (e) => {
    const typingInField = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
    if (e.altKey && !e.ctrlKey && e.code === "KeyA" && !document.querySelector("dialog[open]")) {
      const chat = S.chats.get(S.current);
      if (chat && awaitsMe(chat)) { e.preventDefault(); accept(chat); }
    } else if (e.altKey && !e.ctrlKey && /^(Digit|Numpad)[1-9]$/.test(e.code)) {
      // By key position: with some layouts (macOS Option) Alt+1 types another character.
      const id = ownList()[+e.code.slice(-1) - 1];
      if (id) { e.preventDefault(); select(id); focusComposer(); }
    } else if (e.ctrlKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      step(e.key === "ArrowDown" ? 1 : -1);
    } else if ((e.key === "/" || e.key === "#") && !typingInField && !document.querySelector("dialog[open]")) {
      const chat = S.chats.get(S.current);
      if (!chat || $("composer").hidden) return;
      e.preventDefault();
      input.focus();
      const at = input.selectionStart ?? input.value.length;
      const pad = at > 0 && !/\s$/.test(input.value.slice(0, at)) ? " " : "";
      input.setRangeText(pad + e.key, at, at, "end");
      onComposerInput();
    }
  });
  document.addEventListener("visibilitychange", () => markSeen(S.chats.get(S.current)));
  window.addEventListener("focus", () => markSeen(S.chats.get(S.current)));
  // Waits tick every second; a lost "stopped typing" frame must not leave the indicator on.
  setInterval(() => {
    for (const el of document.querySelectorAll(".chat-item .wait[data-since]")) {
      const waited = (Date.now() - +el.dataset.since) / 1000;
      el.textContent = duration(waited);
      el.className = "wait " + waitClass(waited);
    }
    for (const el of document.querySelectorAll(".chat-item .offer-pill[data-offer]")) {
      const left = offerLeft(S.chats.get(el.dataset.offer) || {state: {}});
      el.textContent = left != null ? `${t("accept")} · ${duration(left)}` : t("accept");
    }
    const current = S.chats.get(S.current);
    if (current && awaitsMe(current)) renderOffer(current);
    renderQueue();
    if (S.view === "board") renderBoard();
    const chat = S.chats.get(S.current);
    if (chat && chat.typing && Date.now() - chat.typing.at > 8000) { chat.typing = null; renderTyping(); }
  }, 1000);
  $("shortcuts").textContent = t("shortcuts");
  renderMute();
  renderNotifyButton();
}

wire();
renderLists();
renderChat();
socket.connect();
