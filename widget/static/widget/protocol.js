/* The chatdesk WebSocket protocol in the browser (docs/protocol.md), shared by the visitor widget
   (widget/static/widget/app.js), the agent console (agents/static/agents/console.js) and the
   wallboard. It knows frames, not views; three factories:

   - socket(): one WebSocket: its hello on every (re)connect, a doubling reconnect delay with jitter,
     liveness pings, and the client's own rule for each close code;
   - outbox(): frames with a client_id, kept (in localStorage or sessionStorage) until the server
     confirms or refuses them; each send is a Promise; resent in order after a reconnect;
   - chain(): one conversation's seqs: a frame already shown is dropped, one after a gap (its
     prev_seq beyond what is shown) waits until the gap is filled, asked for with `sync`.

   Why a classic ES5 script: the widget runs on third-party pages, where it may not use modules
   and a nonce-based Content-Security-Policy may be in force; the widget's loader gives this script
   the page's nonce, as it gives app.js, which it runs after this one. There the only global is the
   loader's window.chatdesk, so the factories hang from it as chatdesk._protocol. The console and
   the wallboard, pages of this server, load it with a plain <script defer> before their modules
   and read window.chatdeskProtocol. The file lives with the widget because the widget's loader
   serves it versioned next to app.js (widget/views.py). */
(function (w) {
  "use strict";
  var SILENT_PING_MS = 25000;  // a socket that heard nothing for this long is pinged
  var SILENT_DROP_MS = 45000;  // and one silent for this long is replaced (a sleeping laptop, a dead proxy)
  var SYNC_RESEND_MS = 5000;   // a sync that no `replayed` answers by then is sent again
  var RETRY_MS = 2000;         // an error that says retry without saying when
  var FLOODING = 4008;

  function noop() {}
  function always() { return true; }

  // --- socket ------------------------------------------------------------------------------------
  // options: url; hello() -> the hello frame; onFrame(frame); onClose(code) -> false to stay closed
  // (the page may not use the socket), a delay in ms for the next attempt (0: at once, as a first
  // attempt), or nothing to back off; onState(state, code) with "connecting", "lost" (another attempt
  // is planned) or "stopped"; prepare() -> a Promise to wait for before connecting, or nothing;
  // label, naming the client in the console's log.
  function Socket(o) {
    var self = this;
    this.url = o.url;
    this.hello = o.hello;
    this.onFrame = o.onFrame;
    this.onClose = o.onClose || noop;
    this.onState = o.onState || noop;
    this.prepare = o.prepare || noop;
    this.label = o.label || "chatdesk";
    this.ws = null;
    this.ready = false;    // welcomed: frames other than hello and ping may go
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.lastRx = 0;
    this.lastPing = 0;
    w.addEventListener("online", function () {
      if (!self.ws && self.timer) { clearTimeout(self.timer); self.timer = null; self.connect(); }
    });
    setInterval(function () { self.checkLine(); }, 5000);
  }

  Socket.prototype.connect = function () {
    var self = this, ws, waiting;
    this.timer = null;
    if (this.stopped || this.ws) return;
    waiting = this.prepare();
    if (waiting) {
      // A failure to get ready counts as a failed attempt.
      waiting.then(function () { self.connect(); }, function () { self.retry(); self.onState("lost"); });
      return;
    }
    this.onState("connecting");
    try { ws = new WebSocket(this.url); } catch (e) { return this.retry(); }
    this.ws = ws;
    ws.onopen = function () { self.lastRx = Date.now(); self.raw(self.hello()); };
    ws.onmessage = function (e) {
      var frame;
      self.lastRx = Date.now();
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      try { self.onFrame(frame); } catch (err) { if (w.console) w.console.error(self.label + ":", err); }
    };
    ws.onclose = function (e) { if (self.ws === ws) self.lost(e.code); };
  };

  // The client saw the server's welcome (or, for the widget, the end of the hello's replay).
  Socket.prototype.welcomed = function () {
    this.ready = true;
    this.attempt = 0;
  };

  Socket.prototype.raw = function (frame) {
    var ws = this.ws;
    if (!ws || ws.readyState != 1) return false;
    try { ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  };

  // Frames other than hello and ping wait for the welcome; returns whether the frame went out.
  Socket.prototype.send = function (frame) { return this.ready ? this.raw(frame) : false; };

  // The socket is gone: forget it and plan the next attempt as the client's rule for the code says.
  Socket.prototype.lost = function (code) {
    var ws = this.ws, next;
    this.ws = null;
    this.ready = false;
    if (ws) { ws.onclose = ws.onmessage = ws.onopen = null; try { ws.close(); } catch (e) {} }
    next = this.onClose(code);
    if (next === false) {
      this.stopped = true;
      return this.onState("stopped", code);
    }
    if (code == FLOODING) this.attempt = Math.max(this.attempt, 5); // back off for a while
    else if (next === 0) this.attempt = 0;
    this.retry(next);
    this.onState("lost", code);
  };

  // Doubling from 0.5 s to 30 s, times 0.5-1.5, so clients do not all return at once after a restart.
  Socket.prototype.retry = function (delay) {
    var self = this;
    if (this.timer || this.stopped) return;
    if (delay == null) delay = Math.min(30000, 500 * Math.pow(2, this.attempt)) * (0.5 + Math.random());
    this.attempt++;
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  Socket.prototype.checkLine = function () {
    if (!this.ws || this.ws.readyState != 1) return;
    var now = Date.now();
    if (now - this.lastRx > SILENT_DROP_MS) return this.lost(1006);
    if (now - this.lastRx > SILENT_PING_MS && now - this.lastPing > SILENT_PING_MS) {
      this.lastPing = now;
      this.raw({type: "ping"});
    }
  };

  // --- outbox ------------------------------------------------------------------------------------
  // options: key and area ("localStorage" or "sessionStorage") to keep the items in, none to keep
  // them in memory only; frame(item) -> the frame to send; send(frame) -> whether it went;
  // canSend(item) -> whether it may go now; replies: the frame types whose client_id confirms an
  // item (["ack"]); keepRefused: a refused item stays, marked failed with the error code, so its view
  // can still show it; limit: the most items kept (the oldest go).
  function Outbox(o) {
    var self = this;
    this.key = o.key;
    this.area = o.area || "localStorage";
    this.frame = o.frame;
    this.sendFrame = o.send;
    this.canSend = o.canSend || always;
    this.replies = o.replies || ["ack"];
    this.keepRefused = !!o.keepRefused;
    this.limit = o.limit || 0;
    this.waiting = {};     // client_id -> {promise, resolve, reject}
    this.items = this.load();
    this.items.forEach(function (item) { self.track(item); });
  }

  Outbox.prototype.load = function () {
    try {
      var items = this.key && JSON.parse(w[this.area].getItem(this.key));
      // One item stored alone, by a widget from before outboxes (its unsent offline message).
      if (items && !Array.isArray(items) && items.client_id) return [items];
      return Array.isArray(items) ? items : [];
    } catch (e) { return []; }
  };

  // A browser that refuses storage still sends; only a reload loses what was not confirmed.
  Outbox.prototype.save = function () {
    if (!this.key) return;
    try {
      if (this.items.length) w[this.area].setItem(this.key, JSON.stringify(this.items));
      else w[this.area].removeItem(this.key);
    } catch (e) {}
  };

  Outbox.prototype.track = function (item) {
    var entry = {};
    entry.promise = new Promise(function (resolve, reject) { entry.resolve = resolve; entry.reject = reject; });
    // A client may ignore the outcome (a goal): an unheeded refusal is no error of the page.
    entry.promise.then(null, noop);
    this.waiting[item.client_id] = entry;
    return entry.promise;
  };

  Outbox.prototype.get = function (clientId) {
    for (var i = 0; i < this.items.length; i++) if (this.items[i].client_id == clientId) return this.items[i];
    return null;
  };

  // The Promise of an item in the outbox (also one kept from an earlier page): resolved with the
  // frame that confirms it, rejected with the error frame that refuses it.
  Outbox.prototype.settled = function (clientId) {
    var entry = this.waiting[clientId];
    return entry ? entry.promise : this.get(clientId) && this.track(this.get(clientId));
  };

  // Keeps the item until it is confirmed or refused, and sends it if it may go now.
  Outbox.prototype.add = function (item) {
    var self = this, promise = this.track(item);
    this.items.push(item);
    if (this.limit && this.items.length > this.limit) {
      this.items.splice(0, this.items.length - this.limit).forEach(function (old) { delete self.waiting[old.client_id]; });
    }
    this.save();
    this.resend(item);
    return promise;
  };

  Outbox.prototype.resend = function (item) {
    if (this.items.indexOf(item) >= 0 && !item.failed && this.canSend(item)) this.sendFrame(this.frame(item));
  };

  // Everything not confirmed goes again, oldest first (those filter() picks, if given); the server
  // keeps the first copy of each client_id.
  Outbox.prototype.flush = function (filter) {
    var self = this;
    this.items.slice().forEach(function (item) { if (!filter || filter(item)) self.resend(item); });
  };

  // A frame from the server: returns whether it confirmed or refused an item here. An error that
  // says retry sends the item again after retry_after_ms.
  Outbox.prototype.receive = function (f) {
    var self = this, item;
    if (f.type == "error") {
      item = f.ref != null && this.get(f.ref);
      if (!item) return false;
      if (f.retry) setTimeout(function () { self.resend(item); }, f.retry_after_ms || RETRY_MS);
      else this.refuse(f.ref, f);
      return true;
    }
    if (this.replies.indexOf(f.type) < 0 || f.client_id == null || !this.get(f.client_id)) return false;
    this.items = this.items.filter(function (i) { return i.client_id != f.client_id; });
    this.save();
    this.settle(f.client_id, "resolve", f);
    return true;
  };

  // Refused by the server (its error frame) or by the client (the chat it was for has ended).
  Outbox.prototype.refuse = function (clientId, error) {
    var item = this.get(clientId);
    if (!item) return;
    if (this.keepRefused) item.failed = error.code;
    else this.items = this.items.filter(function (i) { return i !== item; });
    this.save();
    this.settle(clientId, "reject", error);
  };

  Outbox.prototype.settle = function (clientId, how, frame) {
    var entry = this.waiting[clientId];
    delete this.waiting[clientId];
    if (entry) entry[how](frame);
  };

  // --- chain -------------------------------------------------------------------------------------
  // options: conversationId; send(frame) -> whether it went; show(frames): frames to show now, in seq
  // order; lastSeq() -> the conversation's last seq as its latest state says; canSync() -> whether a
  // sync may go (not while a replay that answers for it is coming).
  function Chain(o) {
    this.id = o.conversationId;
    this.sendFrame = o.send;
    this.show = o.show;
    this.lastSeq = o.lastSeq;
    this.canSync = o.canSync || always;
    this.shownTo = 0;      // every message up to this seq that this client may see is shown
    this.held = {};        // seq -> message frame that came after a gap, shown once the gap is filled
    this.syncing = false;  // a sync is unanswered
    this.timer = null;
  }

  // A message frame of this conversation.
  Chain.prototype.receive = function (f) {
    if (f.seq <= this.shownTo) return;
    this.held[f.seq] = f;
    this.release();
    this.check();
  };

  // Shows, in seq order, every held frame that follows what is shown without a gap (and any the
  // server has since accounted for), so a later message is never shown before an earlier one.
  Chain.prototype.release = function () {
    var self = this, shown = [];
    Object.keys(this.held).map(Number).sort(function (a, b) { return a - b; }).forEach(function (seq) {
      var f = self.held[seq];
      if (seq > self.shownTo && (f.prev_seq || 0) > self.shownTo) return; // still after a gap
      delete self.held[seq];
      self.shownTo = Math.max(self.shownTo, seq);
      shown.push(f);
    });
    if (shown.length) this.show(shown);
  };

  // A message is missing: one came after a gap, or the conversation counts more than is shown.
  Chain.prototype.gap = function () {
    return Object.keys(this.held).length > 0 || this.lastSeq() > this.shownTo;
  };

  // Asks for what is missing, unless it is asked for already (by a sync or a coming replay).
  Chain.prototype.check = function () {
    if (!this.syncing && this.canSync() && this.gap()) this.sync();
  };

  // Asks for every message after what is shown; again after a while until `replayed` answers.
  Chain.prototype.sync = function () {
    var self = this;
    clearTimeout(this.timer);
    this.syncing = this.sendFrame({type: "sync", conversation_id: this.id, last_seq: this.shownTo});
    if (this.syncing) this.timer = setTimeout(function () { self.sync(); }, SYNC_RESEND_MS);
  };

  // `replayed`: everything up to lastSeq is accounted for. A gap left after progress is asked for
  // at once; one the answer did not shrink only after a while, so a confused server is not flooded.
  Chain.prototype.accountFor = function (lastSeq) {
    var self = this, progress = lastSeq > this.shownTo;
    this.stop();
    this.shownTo = Math.max(this.shownTo, lastSeq);
    this.release();
    if (!this.gap()) return;
    if (progress) return this.sync();
    this.syncing = true;
    this.timer = setTimeout(function () { self.sync(); }, SYNC_RESEND_MS);
  };

  // The socket is gone: the next hello's replay answers for an unanswered sync.
  Chain.prototype.stop = function () {
    clearTimeout(this.timer);
    this.syncing = false;
  };

  var protocol = {
    socket: function (options) { return new Socket(options); },
    outbox: function (options) { return new Outbox(options); },
    chain: function (options) { return new Chain(options); }
  };
  var api = w.chatdesk;
  if (typeof api == "function" && api._root) api._protocol = protocol;
  else w.chatdeskProtocol = protocol;
})(window);
