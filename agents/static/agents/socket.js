/* The console's one WebSocket (docs/protocol.md, "Agent console socket"): connect, hello, reconnect
   with a doubling delay and jitter, liveness pings. What to do with frames is the caller's. */

const SILENT_PING_MS = 25000;
const SILENT_DROP_MS = 45000;

export class ConsoleSocket {
  constructor({url, hello, onFrame, onState}) {
    this.url = url;
    this.hello = hello;         // () => the hello frame to send on every (re)connect
    this.onFrame = onFrame;
    this.onState = onState;     // ("connecting" | "open" | "lost" | "signed_out" | "stopped")
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.lastRx = 0;
    this.lastPing = 0;
    window.addEventListener("online", () => {
      if (!this.ws && this.timer) { clearTimeout(this.timer); this.timer = null; this.connect(); }
    });
    setInterval(() => this.checkLine(), 5000);
  }

  connect() {
    this.timer = null;
    if (this.stopped || this.ws) return;
    this.onState("connecting");
    let ws;
    try { ws = new WebSocket(this.url); } catch (e) { return this.retry(); }
    this.ws = ws;
    ws.onopen = () => { this.lastRx = Date.now(); this.raw(this.hello()); };
    ws.onmessage = (event) => {
      this.lastRx = Date.now();
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "welcome") { this.attempt = 0; this.greeted = true; this.onState("open"); }
      try { this.onFrame(frame); } catch (e) { console.error("chatdesk console:", e); }
    };
    ws.onclose = (event) => { if (this.ws === ws) this.lost(event.code); };
  }

  get ready() { return !!this.ws && this.ws.readyState === 1 && this.greeted; }

  raw(frame) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    try { ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  /* Frames other than hello and ping wait for the welcome; returns whether the frame went out. */
  send(frame) { return this.greeted ? this.raw(frame) : false; }

  lost(code) {
    const ws = this.ws;
    this.ws = null;
    this.greeted = false;
    if (ws) { ws.onclose = ws.onmessage = ws.onopen = null; try { ws.close(); } catch (e) { /* gone */ } }
    if (code === 4001) { this.stopped = true; return this.onState("signed_out"); }
    if (code === 4003) { this.stopped = true; return this.onState("stopped"); }
    if (code === 4008) this.attempt = Math.max(this.attempt, 5); // flooding: back off for a while
    // 4013 (the server cannot serve now) and network errors: back off and try again.
    this.onState("lost");
    this.retry();
  }

  /* Doubling from 0.5 s to 30 s, times 0.5–1.5, so consoles do not all return at once after a restart. */
  retry() {
    if (this.timer || this.stopped) return;
    const delay = Math.min(30000, 500 * Math.pow(2, this.attempt)) * (0.5 + Math.random());
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  checkLine() {
    if (!this.ws || this.ws.readyState !== 1) return;
    const now = Date.now();
    if (now - this.lastRx > SILENT_DROP_MS) return this.lost(1006);
    if (now - this.lastRx > SILENT_PING_MS && now - this.lastPing > SILENT_PING_MS) {
      this.lastPing = now;
      this.raw({type: "ping"});
    }
  }
}
