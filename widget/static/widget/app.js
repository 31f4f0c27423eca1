/* chatdesk panel: the chat window the loader (widget.js) fetches on first use.

   Plain JavaScript, no build step. It lives in the loader's shadow root, so the page's CSS
   cannot reach it, and it speaks the visitor WebSocket protocol (docs/protocol.md) through
   protocol.js, which the loader runs before it (chatdesk._protocol).

   Delivery rules: every outgoing message, goal, offline message and transcript request has a
   client_id and stays in an outbox (messages, goals and the offline message in localStorage, so a
   reload mid-send still delivers them) until the server confirms it; the outboxes are resent after
   every (re)connect and the server drops the copies it already has. Incoming messages are keyed by
   seq, so a replayed or doubled frame is shown once and in order, and each names the seq before it
   (prev_seq): a frame that comes after a gap waits until the messages before it are there, asked
   for with `sync`. Message text is only ever set with textContent. */
(function (w, d) {
  "use strict";
  var api = w.chatdesk;
  // Without the protocol (protocol.js failed to load) the loader tries both again.
  if (!api || !api._root || api._app || !api._protocol) return;

  var protocol = api._protocol, root = api._root, key = api._key, base = api._base, P = "chatdesk:" + key + ":";
  var lang = (navigator.language || "").toLowerCase();
  var LANG = /^lt/.test(lang) ? "lt" : /^zh/.test(lang) ? "zh-hans" : "en";
  var WS_URL = base.replace(/^http/, "ws") + "ws/widget/" + encodeURIComponent(key) + "/";
  var OPEN = {queued: 1, assigned: 1, active: 1};
  var START_REFUSALS = {invalid_topic: 1, invalid_field: 1, message_empty: 1, message_too_long: 1, rate_limited: 1,
    queue_full: 1, site_closed: 1, too_many_chats: 1};
  var REASONS = {message_too_long: "too_long", message_empty: "empty", conversation_closed: "chat_closed",
    illegal_transition: "chat_closed", no_conversation: "chat_closed"};
  var S = null; // UI strings, from /widget/strings/<lang>.json

  var FONT = 'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif';
  var CSS = [
    ".cd-panel{position:fixed;right:20px;bottom:92px;width:370px;height:min(600px,calc(100vh - 112px));display:flex;",
    "flex-direction:column;background:#fff;color:#1c2433;border-radius:16px;overflow:hidden;font:14px/1.45 " + FONT + ";",
    "box-shadow:0 12px 48px rgba(15,30,70,.22),0 2px 6px rgba(15,30,70,.08);text-align:left;letter-spacing:normal;",
    "animation:cd-in .18s ease-out}",
    "@keyframes cd-in{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}",
    ".cd-panel *{box-sizing:border-box;font-family:inherit}",
    ".cd-head{display:flex;align-items:center;gap:12px;padding:16px 14px 16px 18px;color:#fff;",
    "background:linear-gradient(135deg,#1f5eff,#3b82f6)}",
    ".cd-avatar{flex:none;width:40px;height:40px;border-radius:50%;background:rgba(255,255,255,.2);display:grid;",
    "place-items:center;font-weight:700;font-size:17px}.cd-avatar svg{width:22px;height:22px;fill:#fff}",
    ".cd-head-text{flex:1;min-width:0}",
    ".cd-title{margin:0;font-size:16px;font-weight:650;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".cd-sub{margin:2px 0 0;font-size:12.5px;opacity:.88}",
    ".cd-head button{border:0;color:#fff;background:rgba(255,255,255,.16);cursor:pointer;border-radius:8px;font:600 12.5px " + FONT + "}",
    ".cd-head button:hover{background:rgba(255,255,255,.28)}",
    ".cd-head button:focus-visible,.cd-panel button:focus-visible{outline:2px solid #9db8ff;outline-offset:2px}",
    ".cd-end{padding:7px 10px}.cd-end:disabled{opacity:.5;cursor:default}",
    ".cd-min{width:32px;height:32px;display:grid;place-items:center;padding:0}.cd-min svg{width:22px;height:22px;fill:#fff}",
    ".cd-status{padding:8px 16px;font-size:13px;background:#eef3ff;color:#23408f;border-bottom:1px solid #dbe4ff}",
    ".cd-status.cd-bad{background:#fff4e5;color:#8a4b00;border-color:#ffe1b3}",
    ".cd-body{flex:1;min-height:0;display:flex;flex-direction:column;background:#f6f7fb}",
    ".cd-form{padding:20px 18px;overflow:auto;display:flex;flex-direction:column;gap:14px}",
    ".cd-intro{margin:0 0 2px;color:#3b4455}",
    ".cd-notice{margin:0;padding:8px 10px;border-radius:8px;background:#fff4e5;color:#7a4100;font-size:13px}",
    ".cd-field{display:flex;flex-direction:column;gap:5px}",
    ".cd-field label{font-size:12.5px;font-weight:600;color:#3b4455}",
    ".cd-field input,.cd-field select,.cd-field textarea{width:100%;padding:10px 12px;border:1px solid #cfd5e1;",
    "border-radius:10px;background:#fff;color:#1c2433;font-size:14px;outline:none;resize:vertical;margin:0}",
    ".cd-field input:focus,.cd-field select:focus,.cd-field textarea:focus{border-color:#1f5eff;box-shadow:0 0 0 3px rgba(31,94,255,.15)}",
    ".cd-field [aria-invalid=true]{border-color:#d93036}",
    ".cd-field-error{font-size:12px;color:#c0262c}",
    ".cd-primary{border:0;border-radius:10px;padding:11px 16px;background:#1f5eff;color:#fff;font:600 14px " + FONT + ";cursor:pointer}",
    ".cd-primary:hover{background:#184fdb}.cd-primary:disabled{background:#9aaee6;cursor:default}",
    ".cd-thanks{margin:auto 24px;text-align:center;color:#3b4455;font-size:15px}",
    ".cd-form.cd-offer{flex:none;max-height:62%;gap:10px;padding:14px 16px;background:#fff;border-bottom:1px solid #e6e9f0}",
    ".cd-link{border:0;background:none;color:#1f5eff;font:600 13px " + FONT + ";cursor:pointer;padding:4px;align-self:center}",
    ".cd-chat{flex:1;min-height:0;display:flex;flex-direction:column}",
    ".cd-log{flex:1;overflow-y:auto;padding:16px 14px 6px;outline:none}",
    ".cd-row{display:flex;flex-direction:column;margin:0 0 10px;max-width:82%}",
    ".cd-visitor{margin-left:auto;align-items:flex-end}.cd-agent{align-items:flex-start}",
    ".cd-system{max-width:100%;align-items:center}",
    ".cd-bubble{padding:9px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    ".cd-visitor .cd-bubble{background:#1f5eff;color:#fff;border-bottom-right-radius:5px}",
    ".cd-agent .cd-bubble{background:#fff;color:#1c2433;border:1px solid #e3e7ef;border-bottom-left-radius:5px}",
    ".cd-system .cd-bubble{background:none;color:#6b7385;font-size:12.5px;padding:2px 8px;text-align:center}",
    ".cd-meta{font-size:11.5px;color:#8a91a1;margin:3px 4px 0}.cd-meta:empty{display:none}",
    ".cd-row[data-status=sending] .cd-bubble{opacity:.65}",
    ".cd-row[data-status=failed] .cd-bubble{background:#fde8e8;color:#8c1d22;border:1px solid #f5b5b8}",
    ".cd-row[data-status=failed] .cd-meta{color:#c0262c}",
    ".cd-note{margin:0 14px 8px;padding:8px 12px;border-radius:10px;background:#eef3ff;color:#23408f;font-size:13px;text-align:center}",
    ".cd-typing{min-height:22px;padding:0 18px 6px;font-size:12.5px;color:#6b7385;font-style:italic}",
    ".cd-ended{padding:14px 18px 18px;border-top:1px solid #e6e9f0;text-align:center;background:#fff}",
    ".cd-ended p{margin:0 0 10px;color:#3b4455}",
    ".cd-rate{display:flex;flex-direction:column;gap:10px;text-align:left;max-height:46vh;overflow:auto;margin:0 0 12px}",
    ".cd-rate fieldset{border:0;margin:0;padding:0}.cd-rate legend{font-size:12.5px;font-weight:600;color:#3b4455;margin:0 0 5px}",
    ".cd-scale{display:flex;flex-wrap:wrap;gap:4px}.cd-scale label{display:inline-flex;align-items:center;gap:3px;",
    "padding:4px 7px;border:1px solid #cfd5e1;border-radius:8px;cursor:pointer;font-size:13px}",
    ".cd-scale input{margin:0}.cd-rate textarea,.cd-transcript input{width:100%;padding:8px 10px;border:1px solid #cfd5e1;",
    "border-radius:10px;font:14px " + FONT + ";margin:0}",
    ".cd-transcript{display:flex;flex-direction:column;gap:6px;margin:0 0 12px}",
    ".cd-composer{position:relative;display:flex;align-items:flex-end;gap:8px;padding:10px 10px 10px 14px;",
    "border-top:1px solid #e6e9f0;background:#fff}",
    ".cd-composer textarea{flex:1;border:0;outline:none;resize:none;font:14px/1.45 " + FONT + ";color:#1c2433;",
    "padding:8px 0;max-height:120px;background:transparent;margin:0}",
    ".cd-send{flex:none;width:38px;height:38px;border:0;border-radius:50%;background:#1f5eff;cursor:pointer;display:grid;place-items:center;padding:0}",
    ".cd-send svg{width:19px;height:19px;fill:#fff}.cd-send:hover{background:#184fdb}",
    ".cd-counter{position:absolute;right:60px;top:-20px;font-size:11.5px;color:#8a91a1;background:#fff;padding:0 4px}",
    ".cd-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".cd-launch.cd-is-open svg{transform:rotate(-8deg)}",
    "@media (max-width:480px){.cd-panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}.cd-launch.cd-is-open{display:none}}",
    "@media (prefers-reduced-motion:reduce){.cd-panel{animation:none}}"
  ].join("");

  // --- storage (a browser that refuses storage still gets a working widget) ---------------
  function store(area, k, v) {
    try {
      var s = w[area];
      if (v === undefined) return s.getItem(P + k);
      if (v === null) s.removeItem(P + k); else s.setItem(P + k, v);
    } catch (e) { return null; }
  }
  function local(k, v) { return store("localStorage", k, v); }
  function session(k, v) { return store("sessionStorage", k, v); }
  function readJSON(k, fallback) {
    try { return JSON.parse(local(k)) || fallback; } catch (e) { return fallback; }
  }

  function t(k, vars) {
    var s = (S && S[k]) || k;
    for (var name in vars || {}) s = s.split("{" + name + "}").join(vars[name]);
    return s;
  }

  function uuid() {
    var c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID(); // secure contexts only
    var b = new Uint8Array(16), i, h = "";
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) h += (i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "") + (b[i] + 256).toString(16).slice(1);
    return h;
  }

  // --- state ---------------------------------------------------------------------------------
  var st = {
    everConnected: false,
    site: null, visitor: null,
    conv: null,            // the latest `state` frame of the shown conversation
    chain: null,           // its seqs: what is shown, what waits after a gap (protocol.js)
    msgs: {},              // seq -> row element
    maxSeq: 0,
    degraded: false,       // the server lost its live channel: messages still come, more slowly
    agentSeen: 0,
    queue: null,
    starting: false,
    offlineDone: false,
    offerFor: local("offerFor"), // the waiting chat whose offline_offer is shown (the chat stays open)
    open: false,
    agentTyping: null
  };

  // The socket is made further down (with the handlers it calls); the outboxes send through it.
  function sendFrame(frame) { return socket.send(frame); }
  // [{client_id, text, at}] not yet acked; they go only to an open chat.
  var outbox = protocol.outbox({key: P + "outbox", send: sendFrame, canSend: convOpen, replies: ["ack", "message"],
    frame: function (m) { return {type: "message", client_id: m.client_id, text: m.text}; }});
  // [{client_id, name, value?}] not yet recorded by the server.
  var goals = protocol.outbox({key: P + "goals", send: sendFrame, replies: ["goal_recorded"], limit: 20,
    frame: function (g) { return {type: "goal", client_id: g.client_id, name: g.name, value: g.value}; }});
  // The offline message being sent: [{client_id, name, email, text}].
  var offline = protocol.outbox({key: P + "offline", send: sendFrame, replies: ["offline_received"],
    frame: function (m) { return {type: "offline_message", client_id: m.client_id, name: m.name, email: m.email, text: m.text}; }});
  // The transcript request being sent (st.transcript), in memory only.
  var transcripts = protocol.outbox({send: sendFrame, replies: ["transcript_requested"], frame: function (r) {
    var frame = {type: "transcript", client_id: r.client_id, conversation_id: r.conversation_id};
    if (r.to) frame.email = r.to;
    return frame;
  }});

  // --- DOM -----------------------------------------------------------------------------------
  function h(tag, attrs, kids) {
    var el = d.createElement(tag);
    for (var a in attrs || {}) {
      if (a == "text") el.textContent = attrs[a];
      else if (a == "hidden") el.hidden = !!attrs[a];
      else el.setAttribute(a, attrs[a]);
    }
    (kids || []).forEach(function (k) { if (k) el.appendChild(k); });
    return el;
  }
  function svg(path) {
    var s = d.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    var p = d.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    s.appendChild(p);
    return s;
  }
  var ICON_SEND = "M3.4 20.4 21 12 3.4 3.6 3.4 10.1 15 12 3.4 13.9z";
  var ICON_DOWN = "M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z";
  var ICON_CHAT = "M12 3C6.5 3 2 6.9 2 11.7c0 2.5 1.2 4.7 3.2 6.3L4.5 22l4.3-2.3c1 .3 2.1.4 3.2.4 5.5 0 10-3.9 10-8.7S17.5 3 12 3z";

  var launcher = root.querySelector(".cd-launch"), badge = root.querySelector(".cd-badge");
  var tip = root.querySelector(".cd-tip");
  var ui = {};

  function field(id, labelKey, input) {
    input.id = id;
    ui[id] = input;
    ui[id + "-label"] = h("label", {"for": id});
    ui[id + "-error"] = h("span", {"class": "cd-field-error", id: id + "-error", hidden: true});
    return h("div", {"class": "cd-field", "data-label": labelKey}, [ui[id + "-label"], input, ui[id + "-error"]]);
  }

  function build() {
    var style = h("style");
    style.nonce = api._nonce || ""; // the page's nonce, when its CSP asks for one (loader.js)
    style.textContent = CSS;
    ui.title = h("h2", {"class": "cd-title", id: "cd-title"});
    ui.sub = h("p", {"class": "cd-sub"});
    ui.avatar = h("div", {"class": "cd-avatar", "aria-hidden": "true"});
    ui.end = h("button", {"class": "cd-end", type: "button", hidden: true});
    ui.min = h("button", {"class": "cd-min", type: "button"}, [svg(ICON_DOWN)]);
    ui.status = h("div", {"class": "cd-status", role: "status", hidden: true});

    ui.prechat = h("form", {"class": "cd-form cd-prechat", novalidate: "", hidden: true}, [
      ui.prechatIntro = h("p", {"class": "cd-intro"}),
      field("cd-name", "name", h("input", {type: "text", maxlength: "100", autocomplete: "name", required: ""})),
      field("cd-email", "email_optional", h("input", {type: "email", maxlength: "254", autocomplete: "email"})),
      ui.topicField = field("cd-topic", "topic", h("select", {})),
      field("cd-question", "question", h("textarea", {rows: "3", required: ""})),
      ui.startNotice = h("p", {"class": "cd-notice", role: "alert", hidden: true}),
      ui.startBtn = h("button", {"class": "cd-primary", type: "submit"})
    ]);
    ui.offlineForm = h("form", {"class": "cd-form cd-offline", novalidate: "", hidden: true}, [
      ui.offlineIntro = h("p", {"class": "cd-intro"}),
      field("cd-oname", "name", h("input", {type: "text", maxlength: "100", autocomplete: "name", required: ""})),
      field("cd-oemail", "email", h("input", {type: "email", maxlength: "254", autocomplete: "email", required: ""})),
      field("cd-otext", "message", h("textarea", {rows: "4", required: ""})),
      ui.offlineNotice = h("p", {"class": "cd-notice", role: "alert", hidden: true}),
      ui.offlineBtn = h("button", {"class": "cd-primary", type: "submit"}),
      ui.keepWaiting = h("button", {"class": "cd-link", type: "button", hidden: true})
    ]);
    ui.thanks = h("div", {"class": "cd-thanks", role: "status", hidden: true});

    ui.msgs = h("div", {"class": "cd-msgs"});
    ui.pending = h("div", {"class": "cd-msgs cd-outbox"});
    ui.log = h("div", {"class": "cd-log", role: "log", "aria-live": "polite", tabindex: "0"}, [ui.msgs, ui.pending]);
    ui.queue = h("div", {"class": "cd-note cd-queue", role: "status", hidden: true});
    ui.typing = h("div", {"class": "cd-typing", "aria-live": "polite"});
    ui.chat = h("div", {"class": "cd-chat", hidden: true}, [ui.log, ui.queue, ui.typing]);

    ui.endedText = h("p");
    ui.newChat = h("button", {"class": "cd-primary", type: "button"});
    // After the chat: the rating (CSAT 1-5, and NPS 0-10 / CES 1-7 when the site asks) and the transcript.
    ui.rate = h("form", {"class": "cd-rate", novalidate: "", hidden: true}, [
      scale("csat", 1, 5), scale("nps", 0, 10), scale("ces", 1, 7),
      field("cd-comment", "rate_comment", h("textarea", {rows: "2", maxlength: "2000"})),
      ui.rateError = h("span", {"class": "cd-field-error", role: "alert", hidden: true}),
      ui.rateBtn = h("button", {"class": "cd-primary", type: "submit"})
    ]);
    ui.rateThanks = h("p", {"class": "cd-rate-thanks", role: "status", hidden: true});
    ui.transcript = h("div", {"class": "cd-transcript"}, [
      ui.transcriptEmail = h("input", {type: "email", maxlength: "254", autocomplete: "email"}),
      ui.transcriptBtn = h("button", {"class": "cd-link", type: "button"}),
      ui.transcriptDone = h("p", {role: "status", hidden: true})
    ]);
    ui.ended = h("div", {"class": "cd-ended", hidden: true}, [ui.endedText, ui.rate, ui.rateThanks, ui.transcript, ui.newChat]);

    ui.input = h("textarea", {id: "cd-input", rows: "1"});
    ui.inputLabel = h("label", {"class": "cd-sr", "for": "cd-input"});
    ui.counter = h("span", {"class": "cd-counter", "aria-live": "polite", hidden: true});
    ui.send = h("button", {"class": "cd-send", type: "submit"}, [svg(ICON_SEND)]);
    ui.composer = h("form", {"class": "cd-composer", hidden: true}, [ui.inputLabel, ui.input, ui.send, ui.counter]);

    ui.panel = h("div", {"class": "cd-panel", role: "dialog", "aria-labelledby": "cd-title", hidden: true}, [
      h("header", {"class": "cd-head"}, [ui.avatar, h("div", {"class": "cd-head-text"}, [ui.title, ui.sub]), ui.end, ui.min]),
      ui.status,
      h("div", {"class": "cd-body"}, [ui.prechat, ui.offlineForm, ui.thanks, ui.chat]),
      ui.ended,
      ui.composer
    ]);
    root.appendChild(style);
    root.appendChild(ui.panel);
    ui.avatar.appendChild(svg(ICON_CHAT));

    ui.min.onclick = function () { closePanel(); };
    ui.panel.addEventListener("keydown", function (e) {
      if (e.key == "Escape") { e.preventDefault(); closePanel(); }
    });
    ui.end.onclick = function () { if (st.conv && socket.send({type: "close"})) ui.end.disabled = true; };
    ui.newChat.onclick = newChat;
    ui.rate.onsubmit = submitRating;
    ui.transcriptBtn.onclick = requestTranscript;
    ui.prechat.onsubmit = submitPrechat;
    ui.offlineForm.onsubmit = submitOffline;
    ui.keepWaiting.onclick = function () { dropOffer(); render(); focusView(); };
    ui.composer.onsubmit = function (e) { e.preventDefault(); submitMessage(); };
    ui.input.addEventListener("keydown", function (e) {
      if (e.key == "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitMessage(); }
    });
    ui.input.addEventListener("input", onInput);
  }

  function applyStrings() {
    ui.title.textContent = st.site && st.site.name ? st.site.name : t("title");
    ui.min.setAttribute("aria-label", t("minimise"));
    ui.end.textContent = t("end_chat");
    ui.prechatIntro.textContent = t("prechat_intro");
    ui.offlineIntro.textContent = t("offline_intro");
    root.querySelectorAll(".cd-field").forEach(function (f) {
      f.querySelector("label").textContent = t(f.getAttribute("data-label"));
    });
    ui.startBtn.textContent = t("start_chat");
    ui.offlineBtn.textContent = t("send_offline");
    ui.keepWaiting.textContent = t("keep_waiting");
    ui.thanks.textContent = t("offline_thanks");
    ui.log.setAttribute("aria-label", t("messages"));
    ui.endedText.textContent = t("chat_ended");
    ["csat", "nps", "ces"].forEach(function (n) { ui[n + "Legend"].textContent = t("rate_" + n); });
    ui.rateBtn.textContent = t("rate_send");
    ui.rateThanks.textContent = t("rate_thanks");
    ui.transcriptEmail.setAttribute("aria-label", t("email"));
    ui.transcriptEmail.placeholder = t("email");
    ui.transcriptBtn.textContent = t("transcript");
    ui.newChat.textContent = t("new_chat");
    ui.inputLabel.textContent = t("composer_label");
    ui.input.placeholder = t("composer_placeholder");
    ui.send.setAttribute("aria-label", t("send"));
    updateBadge();
  }

  // --- views -----------------------------------------------------------------------------------
  function convOpen() { return !!(st.conv && OPEN[st.conv.status]); }

  function render() {
    var connected = socket.ready, site = st.site, conv = st.conv, slow = connected && st.degraded;
    ui.status.hidden = connected && !socket.stopped && !slow;
    ui.status.className = "cd-status" + (!slow && (st.everConnected || socket.attempt > 1) ? " cd-bad" : "");
    ui.status.textContent = st.banned ? t("banned") : socket.stopped ? t("not_available") : slow ? t("degraded") :
      (socket.attempt > 1 || st.everConnected) ? (S ? t("cant_connect") : api._s[1]) : (S ? t("connecting") : "…");
    if (!S) return;
    ui.title.textContent = site && site.name ? site.name : t("title");
    var agent = conv && conv.agent_name;
    ui.avatar.textContent = "";
    if (agent) ui.avatar.textContent = agent.trim().charAt(0).toUpperCase();
    else ui.avatar.appendChild(svg(ICON_CHAT));
    ui.sub.textContent = agent && convOpen() ? agent : conv && conv.status == "queued" ? t("waiting") :
      site && !site.can_chat ? t("subtitle_offline") : t("subtitle_online");

    var view = conv ? "chat" : st.offlineDone ? "thanks" : !site || st.banned ? "none" :
      site.can_chat && !st.queueFull ? "prechat" : "offline";
    // Waited past the site's limit: the offline form above the chat, which stays open below it.
    var offer = view == "chat" && conv.status == "queued" && st.offerFor == conv.conversation_id;
    ui.prechat.hidden = view != "prechat";
    ui.offlineForm.hidden = view != "offline" && !offer;
    ui.offlineForm.classList.toggle("cd-offer", offer);
    ui.offlineIntro.textContent = t(offer ? "offline_offer_intro" : st.queueFull ? "queue_full" : "offline_intro");
    showNotice(ui.startNotice, st.startNotice);
    showNotice(ui.offlineNotice, st.offlineNotice);
    ui.keepWaiting.hidden = !offer;
    ui.thanks.hidden = view != "thanks";
    ui.chat.hidden = view != "chat";
    ui.composer.hidden = !(view == "chat" && convOpen());
    ui.ended.hidden = !(view == "chat" && !convOpen());
    // The rating is offered for chats that reached an agent (closed or missed), once.
    var rateable = view == "chat" && conv && (conv.status == "closed" || conv.status == "missed");
    var rated = rateable && ratedIds().indexOf(conv.conversation_id) >= 0;
    var survey = (site && site.survey) || {};
    ui.rate.hidden = !rateable || rated;
    ui.npsField.hidden = !survey.nps;
    ui.cesField.hidden = !survey.ces;
    ui.rateBtn.disabled = !connected || !!st.rating;
    ui.rateThanks.hidden = !rated;
    var sent = st.transcript && conv && st.transcript.conversation_id == conv.conversation_id && st.transcript.email;
    ui.transcript.hidden = !(view == "chat" && conv && conv.status != "abandoned");
    // Prefilled with the email the visitor gave (pre-chat form or earlier); they may change it.
    ui.transcriptEmail.hidden = !!sent;
    if (!ui.transcriptEmail.value) ui.transcriptEmail.value = (st.visitor && st.visitor.email) || ui["cd-email"].value || "";
    ui.transcriptBtn.hidden = !!sent;
    ui.transcriptBtn.disabled = !connected || !!(st.transcript && !sent);
    ui.transcriptDone.hidden = !sent;
    if (sent) ui.transcriptDone.textContent = t(st.transcript.confirm ? "transcript_confirm" : "transcript_sent",
      {email: st.transcript.email});
    else if (st.transcriptNotice) {
      ui.transcriptDone.hidden = false;
      ui.transcriptDone.textContent = st.transcriptNotice;
    }
    ui.end.hidden = !convOpen();
    ui.end.disabled = !connected;
    ui.startBtn.disabled = !connected || st.starting;
    ui.offlineBtn.disabled = !connected || offline.items.length > 0;
    ui.send.disabled = false; // a message written offline waits in the outbox
    if (site) ui.input.maxLength = site.max_message_chars;

    var q = conv && conv.status == "queued" && st.queue;
    ui.queue.hidden = !q;
    if (q) {
      var wait = q.estimated_wait_seconds;
      ui.queue.textContent = t("queue_position", {n: q.position}) +
        (wait != null ? " · " + t("estimated_wait", {n: Math.max(1, Math.round(wait / 60))}) : "");
    }
    if (!convOpen()) showTyping(null);
    refreshMeta();
  }

  function focusView() {
    var target = !ui.prechat.hidden ? ui["cd-name"] : !ui.offlineForm.hidden ? ui["cd-oname"] :
      !ui.composer.hidden ? ui.input : !ui.ended.hidden ? ui.newChat : ui.min;
    if (target.value) {
      var next = [ui["cd-email"], ui["cd-topic"], ui["cd-question"], ui["cd-oemail"], ui["cd-otext"]].filter(function (f) {
        return f.closest("form") == target.closest("form") && !f.value && !f.closest("[hidden]");
      })[0];
      if (next) target = next;
    }
    try { target.focus(); } catch (e) {}
  }

  function openPanel() {
    st.open = true;
    ui.panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.classList.add("cd-is-open");
    session("open", "1");
    focusView();
    scrollDown();
    markSeen();
    updateBadge();
  }

  function closePanel() {
    if (!st.open) return;
    st.open = false;
    ui.panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.classList.remove("cd-is-open");
    session("open", null);
    launcher.focus();
  }

  // --- messages ----------------------------------------------------------------------------------
  function time(iso) {
    var date = iso ? new Date(iso) : new Date();
    try { return date.toLocaleTimeString(LANG, {hour: "2-digit", minute: "2-digit"}); } catch (e) { return ""; }
  }

  function row(author, text, extra) {
    var el = h("div", {"class": "cd-row cd-" + author}, [
      h("div", {"class": "cd-bubble", text: text}),
      h("div", {"class": "cd-meta"})
    ]);
    for (var a in extra || {}) if (extra[a] != null) el.setAttribute("data-" + a, extra[a]);
    return el;
  }

  function scrollDown() { ui.log.scrollTop = ui.log.scrollHeight; }

  // Puts a stored message in its place by seq; a seq already shown is skipped.
  function addMessage(m) {
    if (st.msgs[m.seq]) return false;
    var author = m.author == "agent" || m.author == "system" ? m.author : "visitor";
    var el = row(author, m.text, {seq: m.seq, "client-id": m.client_id, status: author == "visitor" ? "delivered" : null,
      time: time(m.sent_at), name: m.agent_name});
    st.msgs[m.seq] = el;
    var after = null;
    Array.prototype.some.call(ui.msgs.children, function (other) {
      if (+other.getAttribute("data-seq") > m.seq) { after = other; return true; }
      return false;
    });
    ui.msgs.insertBefore(el, after);
    if (m.seq > st.maxSeq) st.maxSeq = m.seq;
    if (m.client_id) {
      var pending = ui.pending.querySelector('[data-client-id="' + cssEscape(m.client_id) + '"]');
      if (pending) pending.remove();
    }
    if (author == "agent") showTyping(null);
    return true;
  }

  // Frames the chain lets through, in seq order. One of the visitor's, shown, is confirmed: the
  // server has it, whatever happened to the ack.
  function showMessages(frames) {
    var added = false;
    frames.forEach(function (f) {
      outbox.receive(f);
      added = addMessage(f) || added;
    });
    if (added) {
      refreshMeta();
      scrollDown();
      markSeen();
      updateBadge();
    }
  }

  // A note from the widget itself (such as "Alice joined"), placed after the messages so far.
  function addNote(text) {
    var el = row("system", text, {seq: st.maxSeq + 0.5, local: "1"});
    ui.msgs.appendChild(el);
  }

  function cssEscape(v) { return String(v).replace(/["\\]/g, "\\$&"); }

  function refreshMeta() {
    var rows = ui.msgs.querySelectorAll(".cd-row"), lastVisitor = null;
    Array.prototype.forEach.call(rows, function (el) {
      var meta = el.querySelector(".cd-meta"), tm = el.getAttribute("data-time") || "";
      if (el.classList.contains("cd-agent")) meta.textContent = [el.getAttribute("data-name") || t("agent"), tm].join(" · ");
      else if (el.classList.contains("cd-visitor")) { meta.textContent = tm; lastVisitor = el; }
    });
    if (lastVisitor && !ui.pending.children.length) {
      var seen = st.agentSeen >= +lastVisitor.getAttribute("data-seq");
      lastVisitor.querySelector(".cd-meta").textContent = (lastVisitor.getAttribute("data-time") || "") + " · " +
        t(seen ? "seen" : "delivered");
      lastVisitor.setAttribute("data-seen", seen ? "1" : "0");
    }
    Array.prototype.forEach.call(ui.pending.children, function (el) {
      var reason = el.getAttribute("data-reason");
      el.querySelector(".cd-meta").textContent = reason ? t("not_sent", {reason: t(reason)}) : t("sending");
    });
  }

  // --- outbox ----------------------------------------------------------------------------------
  function showPending(item) {
    if (ui.pending.querySelector('[data-client-id="' + cssEscape(item.client_id) + '"]')) return;
    ui.pending.appendChild(row("visitor", item.text, {"client-id": item.client_id, status: "sending"}));
  }

  // The ack puts the message in its place by seq (unless its message frame came first); a refusal
  // leaves it in the pending list, marked as not sent.
  function trackMessage(item, settled) {
    settled.then(function (f) {
      if (f.type == "ack" && st.conv && f.conversation_id == st.conv.conversation_id) {
        addMessage({seq: f.seq, author: "visitor", text: item.text, client_id: item.client_id});
      }
      refreshMeta();
    }, function (f) { failMessage(item, REASONS[f.code] || "send_failed"); });
  }

  function failMessage(item, reason) {
    var el = ui.pending.querySelector('[data-client-id="' + cssEscape(item.client_id) + '"]');
    if (!el) {
      showPending(item);
      el = ui.pending.lastChild;
    }
    el.setAttribute("data-status", "failed");
    el.setAttribute("data-reason", reason);
    refreshMeta();
  }

  function submitMessage() {
    var text = ui.input.value, max = st.site ? st.site.max_message_chars : 4000;
    if (!text.trim() || !convOpen()) return;
    if (text.length > max) text = text.slice(0, max);
    var item = {client_id: uuid(), text: text, at: Date.now()};
    showPending(item);
    ui.input.value = "";
    onInput();
    stopTyping();
    refreshMeta();
    scrollDown();
    trackMessage(item, outbox.add(item));
  }

  // --- typing ------------------------------------------------------------------------------------
  var typing = {on: false, last: 0, timer: null, idle: null};

  function onInput() {
    var el = ui.input, max = st.site ? st.site.max_message_chars : 4000, left = max - el.value.length;
    el.style.height = "auto";
    el.style.height = Math.min(el.scrollHeight, 120) + "px";
    ui.counter.hidden = left > 100;
    ui.counter.textContent = t("chars_left", {n: Math.max(0, left)});
    if (!convOpen()) return;
    clearTimeout(typing.idle);
    if (!el.value) return stopTyping();
    typing.idle = setTimeout(stopTyping, 3000);
    var wait = typing.last + 1000 - Date.now();
    if (wait <= 0) sendTyping();
    else if (!typing.timer) typing.timer = setTimeout(sendTyping, wait);
  }

  function sendTyping() {
    typing.timer = null;
    if (!ui.input.value || !convOpen()) return;
    typing.last = Date.now();
    typing.on = socket.send({type: "typing", is_typing: true, preview: ui.input.value.slice(0, 200)});
  }

  function stopTyping() {
    clearTimeout(typing.timer);
    clearTimeout(typing.idle);
    typing.timer = null;
    if (typing.on) {
      typing.on = false;
      socket.send({type: "typing", is_typing: false});
    }
  }

  function showTyping(name) {
    clearTimeout(st.agentTyping);
    ui.typing.textContent = name ? t("agent_typing", {name: name}) : "";
    ui.typing.classList.toggle("cd-on", !!name);
    // A lost "stopped typing" frame must not leave the indicator on forever.
    if (name) st.agentTyping = setTimeout(function () { showTyping(null); }, 8000);
  }

  // --- seen and unread ---------------------------------------------------------------------------
  function agentSeqs() {
    return Array.prototype.filter.call(ui.msgs.querySelectorAll(".cd-agent"), function (el) {
      return !el.hasAttribute("data-local");
    }).map(function (el) { return +el.getAttribute("data-seq"); });
  }

  function markSeen() {
    if (!st.open || d.visibilityState == "hidden" || !socket.ready || !st.conv) return;
    var newest = Math.max.apply(null, [0].concat(agentSeqs()));
    if (newest > (+local("seen") || 0) || newest > (st.sentSeen || 0)) {
      if (socket.send({type: "seen", seq: newest})) {
        st.sentSeen = newest;
        local("seen", newest);
      }
    }
    updateBadge();
  }

  function updateBadge() {
    var seen = +local("seen") || 0;
    var unread = st.open ? 0 : agentSeqs().filter(function (s) { return s > seen; }).length;
    badge.hidden = !unread;
    badge.textContent = unread > 9 ? "9+" : unread;
    launcher.setAttribute("aria-label", S ? (st.open ? t("close_chat") : t("open_chat")) +
      (unread ? " (" + t("new_messages", {n: unread}) + ")" : "") : api._s[0]);
  }

  // --- forms -------------------------------------------------------------------------------------
  function fieldError(id, show) {
    ui[id + "-error"].textContent = show ? (id == "cd-topic" ? t("invalid_topic") : t("check_field")) : "";
    ui[id + "-error"].hidden = !show;
    if (show) ui[id].setAttribute("aria-invalid", "true"); else ui[id].removeAttribute("aria-invalid");
    ui[id].setAttribute("aria-describedby", id + "-error");
  }

  function validate(ids) {
    var first = null;
    ids.forEach(function (id) {
      var el = ui[id], bad = !el.checkValidity() || (el.required && !el.value.trim());
      fieldError(id, bad);
      if (bad && !first) first = el;
    });
    if (first) first.focus();
    return !first;
  }

  function showNotice(el, text) {
    el.hidden = !text;
    el.textContent = text || "";
  }

  // A refusal that asks to wait: in how many minutes the visitor may try again.
  function waitNotice(f) {
    return t("try_later", {n: Math.max(1, Math.ceil((f.retry_after_ms || 60000) / 60000))});
  }

  function submitPrechat(e) {
    e.preventDefault();
    var hasTopics = st.site && st.site.topics.length;
    ui["cd-topic"].required = !!hasTopics;
    if (!validate(["cd-name", "cd-email"].concat(hasTopics ? ["cd-topic"] : []).concat(["cd-question"]))) return;
    var max = st.site ? st.site.max_message_chars : 4000;
    st.startNotice = null;
    // The chat starts with the question in it (docs/protocol.md, start).
    var frame = {type: "start", name: ui["cd-name"].value.trim(), client_id: uuid(),
      text: ui["cd-question"].value.slice(0, max)};
    if (ui["cd-email"].value.trim()) frame.email = ui["cd-email"].value.trim();
    if (hasTopics && ui["cd-topic"].value) frame.topic = +ui["cd-topic"].value;
    if (socket.send(frame)) {
      st.starting = true;
      render();
    }
  }

  function submitOffline(e) {
    e.preventDefault();
    if (!validate(["cd-oname", "cd-oemail", "cd-otext"])) return;
    st.offlineNotice = null;
    trackOffline(offline.add({client_id: uuid(), name: ui["cd-oname"].value.trim(), email: ui["cd-oemail"].value.trim(),
      text: ui["cd-otext"].value}));
    render();
  }

  function trackOffline(settled) {
    settled.then(function () {
      ui["cd-otext"].value = "";
      if (convOpen()) {
        // Left from the wait-limit offer: the chat goes on; say so in it.
        dropOffer();
        addNote(t("offline_thanks"));
        render();
        return scrollDown();
      }
      st.offlineDone = true;
      render();
      if (st.open) {
        ui.thanks.setAttribute("tabindex", "-1");
        ui.thanks.focus();
      }
    }, function (f) {
      if (f.code == "offline_limited") st.offlineNotice = waitNotice(f);
      else fieldError(f.field == "email" ? "cd-oemail" : f.field == "name" ? "cd-oname" : "cd-otext", true);
      render();
    });
  }

  function fillForms() {
    var v = st.visitor || {}, select = ui["cd-topic"];
    if (!ui["cd-name"].value) ui["cd-name"].value = v.name || "";
    if (!ui["cd-email"].value) ui["cd-email"].value = v.email || "";
    if (!ui["cd-oname"].value) ui["cd-oname"].value = v.name || "";
    if (!ui["cd-oemail"].value) ui["cd-oemail"].value = v.email || "";
    var topics = (st.site && st.site.topics) || [], chosen = select.value;
    select.textContent = "";
    select.appendChild(h("option", {value: "", text: t("choose_topic")}));
    topics.forEach(function (topic) { select.appendChild(h("option", {value: topic.id, text: topic.label})); });
    select.value = chosen;
    ui.topicField.hidden = !topics.length;
  }

  function newChat() {
    if (st.conv) local("dismissed", st.conv.conversation_id);
    resetConversation(null);
    render();
    focusView();
  }

  function dropOffer() {
    st.offerFor = null;
    local("offerFor", null);
  }

  function resetConversation(conv) {
    if (!conv || conv.conversation_id != st.offerFor) dropOffer();
    if (st.chain) st.chain.stop();
    st.conv = conv;
    st.chain = conv && protocol.chain({conversationId: conv.conversation_id, send: sendFrame, show: showMessages,
      lastSeq: function () { return st.conv.last_seq; }});
    st.msgs = {};
    st.maxSeq = 0;
    st.agentSeen = conv ? conv.agent_seen_seq : 0;
    st.queue = null;
    st.sentSeen = 0;
    ui.msgs.textContent = "";
    Array.prototype.forEach.call(ui.pending.querySelectorAll('[data-status="failed"]'), function (el) { el.remove(); });
    local("conv", conv ? conv.conversation_id : null);
    local("seen", null);
  }

  // --- the socket ----------------------------------------------------------------------------------
  function hello() {
    var t0 = +session("t0") || Date.now(), page = {
      url: location.href.slice(0, 2000), title: (d.title || "").slice(0, 300), referrer: (d.referrer || "").slice(0, 2000)
    };
    var frame = {type: "hello", language: (navigator.language || "").slice(0, 35),
      time_on_site: Math.max(0, Math.floor((Date.now() - t0) / 1000)), new_visit: !session("visited"),
      screen: (screen.width + "x" + screen.height).slice(0, 20), page: page};
    var token = local("token"), conv = local("conv");
    if (token) frame.token = token;
    // Within one page the history is in memory: ask only for what came after the part shown
    // without a gap. A new page asks for the whole conversation.
    if (conv && st.conv && st.conv.conversation_id == conv) {
      frame.conversation_id = conv;
      frame.last_seq = st.chain.shownTo;
    }
    return frame;
  }

  // What a close code means for the next attempt (protocol.js, socket).
  function closed(code) {
    if (code == 4003 || code == 4004) return false; // this page may not use the widget
    if (code == 4009) { st.banned = true; return false; } // a supervisor banned this visitor or network
    if (code == 4029) return st.retryAfter || 60000; // too many new visitors from this network
    if (code == 4001) return 0; // bad token: reconnect at once without it
    // 4013 (the server cannot serve now), 4008 and network errors: back off and try again.
  }

  // The socket is gone (or could not be made).
  function lineLost() {
    showTyping(null);
    typing.on = false;
    // The next hello's replay answers for an unanswered sync; the next server says how it is.
    if (st.chain) st.chain.stop();
    st.degraded = false;
    render();
  }

  // The strings come first: the panel says nothing before them.
  function loadStrings() {
    return fetch(base + "widget/strings/" + LANG + ".json").then(function (r) {
      if (!r.ok) throw new Error("strings " + r.status);
      return r.json();
    }).then(function (data) {
      S = data.strings;
      applyStrings();
      fillForms();
      render();
    });
  }

  var socket = protocol.socket({
    url: WS_URL,
    hello: hello,
    onFrame: handle,
    onClose: closed,
    onState: function (state) { if (state != "connecting") lineLost(); },
    prepare: function () { return S ? null : loadStrings(); }
  });

  // --- survey and transcript ---------------------------------------------------------------------
  function scale(name, from, to) {
    var box = h("div", {"class": "cd-scale"});
    for (var n = from; n <= to; n++) {
      box.appendChild(h("label", {}, [h("input", {type: "radio", name: "cd-" + name, value: String(n)}),
        h("span", {text: String(n)})]));
    }
    ui[name + "Legend"] = h("legend");
    return (ui[name + "Field"] = h("fieldset", {"class": "cd-scale-field"}, [ui[name + "Legend"], box]));
  }

  function picked(name) {
    var el = ui.rate.querySelector('input[name="cd-' + name + '"]:checked');
    return el && !el.closest("[hidden]") ? +el.value : null;
  }

  function ratedIds() { return readJSON("rated", []); }

  function markRated(id) {
    var ids = ratedIds();
    if (ids.indexOf(id) < 0) local("rated", JSON.stringify(ids.concat([id]).slice(-20)));
    st.rating = false;
    render();
  }

  function submitRating(e) {
    e.preventDefault();
    var csat = picked("csat");
    ui.rateError.hidden = csat != null;
    ui.rateError.textContent = csat == null ? t("rate_required") : "";
    if (csat == null || !st.conv) return;
    var frame = {type: "rate", conversation_id: st.conv.conversation_id, csat: csat};
    var nps = picked("nps"), ces = picked("ces"), comment = ui["cd-comment"].value.trim();
    if (nps != null) frame.nps = nps;
    if (ces != null) frame.ces = ces;
    if (comment) frame.comment = comment.slice(0, 2000);
    if (socket.send(frame)) { st.rating = true; render(); }
  }

  function requestTranscript() {
    var email = ui.transcriptEmail.value.trim();
    if (!st.conv || !email || !ui.transcriptEmail.checkValidity()) {
      ui.transcriptEmail.setAttribute("aria-invalid", "true");
      return ui.transcriptEmail.focus();
    }
    ui.transcriptEmail.removeAttribute("aria-invalid");
    st.transcriptNotice = null;
    var request = st.transcript = {client_id: uuid(), conversation_id: st.conv.conversation_id, email: null, to: email};
    transcripts.add(request).then(function (f) {
      request.email = f.email;
      request.confirm = f.needs_confirmation;
      render();
    }, function (f) {
      if (st.transcript !== request) return;
      st.transcript = null;
      if (f.code == "email_limited") st.transcriptNotice = waitNotice(f);
      else {
        ui.transcriptEmail.hidden = false;
        ui.transcriptEmail.setAttribute("aria-invalid", "true");
      }
      render();
    });
    render();
  }

  function ready() {
    socket.welcomed();
    st.everConnected = true;
    session("visited", "1");
    // Everything not acked goes again; the server keeps the first copy of each client_id.
    outbox.items.forEach(showPending);
    if (convOpen()) outbox.flush();
    else outbox.items.slice().forEach(function (item) { outbox.refuse(item.client_id, {type: "error", code: "conversation_closed"}); });
    offline.flush();
    goals.flush();
    transcripts.flush();
    markSeen();
    render();
  }

  function handle(f) {
    var type = f.type;
    if (type == "welcome") {
      local("token", f.token);
      st.site = f.site;
      st.visitor = f.visitor;
      st.queueFull = false;
      var conv = f.conversation;
      if (conv && !OPEN[conv.status] && conv.conversation_id == local("dismissed")) conv = null;
      if (!conv || !st.conv || conv.conversation_id != st.conv.conversation_id) resetConversation(conv);
      else st.conv = conv;
      st.agentSeen = conv ? Math.max(st.agentSeen, conv.agent_seen_seq) : 0;
      st.starting = false;
      fillForms();
      applyStrings();
      if (!f.conversation) ready();
      else render();
    } else if (type == "replayed") {
      // After the hello's replay the socket is ready; later ones answer a sync.
      if (!socket.ready) ready();
      if (st.conv && f.conversation_id == st.conv.conversation_id) st.chain.accountFor(f.last_seq);
      scrollDown();
    } else if (type == "message") {
      if (!st.conv || f.conversation_id != st.conv.conversation_id || f.visibility == "internal") return;
      st.chain.receive(f);
    } else if (type == "ack") {
      outbox.receive(f);
    } else if (type == "state") {
      onState(f);
    } else if (type == "queue") {
      if (st.conv && f.conversation_id == st.conv.conversation_id) st.queue = f;
      else st.pendingQueue = f; // `start` may answer with the queue before the state frame
      render();
    } else if (type == "typing") {
      if (f.by == "agent" && st.conv && f.conversation_id == st.conv.conversation_id) {
        showTyping(f.is_typing ? (f.agent_name || st.conv.agent_name || t("agent")) : null);
      }
    } else if (type == "seen") {
      if (!st.conv || f.conversation_id != st.conv.conversation_id) return;
      if (f.by == "agent") st.agentSeen = Math.max(st.agentSeen, f.seq);
      else if (f.seq > (+local("seen") || 0)) local("seen", f.seq); // read in another tab
      refreshMeta();
      updateBadge();
    } else if (type == "offline_offer") {
      if (st.conv && f.conversation_id == st.conv.conversation_id && st.conv.status == "queued") {
        st.offerFor = f.conversation_id;
        local("offerFor", f.conversation_id);
        render();
      }
    } else if (type == "rated") {
      markRated(f.conversation_id);
    } else if (type == "transcript_requested") {
      transcripts.receive(f);
    } else if (type == "offline_received") {
      offline.receive(f);
    } else if (type == "goal_recorded") {
      goals.receive(f);
    } else if (type == "service") {
      st.degraded = f.status == "degraded";
      render();
    } else if (type == "error") {
      onError(f);
    }
  }

  function onState(f) {
    var current = st.conv, started = st.starting;
    if (!current || f.conversation_id != current.conversation_id) {
      // A new chat: ours, or one started in another tab. An old chat's news is ignored.
      if (!OPEN[f.status]) return;
      resetConversation(f);
      if (st.pendingQueue && st.pendingQueue.conversation_id == f.conversation_id) st.queue = st.pendingQueue;
    } else {
      st.conv = f;
    }
    st.pendingQueue = null;
    if (started) ui["cd-question"].value = ""; // it is the chat's first message now
    st.starting = false;
    st.chain.check();
    st.agentSeen = Math.max(st.agentSeen, f.agent_seen_seq || 0);
    if (f.status != "queued") st.queue = null;
    if (f.agent_name && OPEN[f.status] && (!current || current.agent_name != f.agent_name)) {
      addNote(t("agent_joined", {name: f.agent_name}));
    }
    render();
    if (started && st.open) focusView();
    if (current && OPEN[current.status] && !OPEN[f.status] && st.open) focusView();
  }

  function onError(f) {
    var code = f.code, ref = f.ref;
    if (code == "already_rated" && f.conversation_id) return markRated(f.conversation_id);
    if (st.rating && !ref && f.conversation_id) {
      st.rating = false;
      ui.rateError.textContent = t("check_field");
      ui.rateError.hidden = false;
      return render();
    }
    if (code == "too_many_visitors") st.retryAfter = f.retry_after_ms; // the close (4029) follows
    // About a frame in an outbox: sent again later, or refused for good (a goal with a bad name or
    // value is dropped: sending it again cannot help).
    if (transcripts.receive(f) || offline.receive(f) || goals.receive(f) || outbox.receive(f)) return;
    if (code == "bad_token") {
      // The server closes with 4001 next; the reconnect starts as a new visitor.
      local("token", null);
      local("conv", null);
      st.conv = null;
      return;
    }
    if (st.starting && START_REFUSALS[code]) {
      st.starting = false;
      if (code == "invalid_topic") fieldError("cd-topic", true);
      else if (f.field == "email" || f.field == "name") fieldError("cd-" + f.field, true);
      else if (f.field == "text") fieldError("cd-question", true);
      else if (code == "queue_full" || code == "site_closed") st.queueFull = true; // leave a message instead
      else if (code == "too_many_chats" || code == "rate_limited") st.startNotice = waitNotice(f);
      render();
    }
  }

  // --- commands from the page (window.chatdesk) ---------------------------------------------------
  function run(args) {
    var cmd = args[0];
    if (cmd == "open") openPanel();
    else if (cmd == "close") closePanel();
    else if (cmd == "toggle") (st.open ? closePanel : openPanel)();
    else if (cmd == "goal") addGoal(args[1], args[2]);
    // Unknown commands are ignored, so a page written for a newer widget does not break.
  }

  // --- goals (conversion, docs/metrics.md) ---------------------------------------------------------
  // Kept in localStorage until the server confirms, so a goal reported just before the page
  // navigates away is sent from the next page; the client_id makes a resend harmless.
  function addGoal(name, opts) {
    if (typeof name != "string" || !name) return;
    var goal = {client_id: uuid(), name: name.slice(0, 64)};
    if (opts && typeof opts.value == "number" && isFinite(opts.value)) goal.value = opts.value;
    goals.add(goal);
  }

  function pageChanged() {
    if (socket.ready && convOpen()) socket.send({type: "page", url: location.href.slice(0, 2000), title: (d.title || "").slice(0, 300)});
  }

  // --- start ---------------------------------------------------------------------------------------
  build();
  render();
  d.addEventListener("visibilitychange", markSeen);
  w.addEventListener("hashchange", pageChanged);
  w.addEventListener("popstate", pageChanged);
  outbox.items.forEach(function (item) {
    showPending(item);
    trackMessage(item, outbox.settled(item.client_id));
  });
  offline.items.forEach(function (item) { trackOffline(offline.settled(item.client_id)); });
  socket.connect();
  api._app = function (args) { try { return run(args); } catch (e) {} };
  var queued = api.q.splice(0);
  if (session("open") && !queued.some(function (a) { return a[0] == "open" || a[0] == "toggle"; })) queued.unshift(["open"]);
  queued.forEach(api._app);
})(window, document);
