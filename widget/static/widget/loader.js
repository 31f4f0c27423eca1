/* chatdesk loader: a launcher button in a shadow root. The panel (app.js, after protocol.js) loads
   on first use, or at once when this browser already has a conversation, so a reload resumes it.
   The server fills in __PROTOCOL__, __APP__ and __STRINGS__ (widget/views.py). It must never break the page:
   everything runs in try/catch and the only global is window.chatdesk. */
(function (w, d) {
  try {
    var s = d.currentScript, key = s && s.getAttribute("data-site"), old = w.chatdesk,
      // A page with a nonce-based Content-Security-Policy gives this tag its nonce: the panel's
      // <style> and script elements carry it, so the page need not allow inline styles.
      nonce = (s && (s.nonce || s.getAttribute("nonce"))) || "";
    if (!key || (old && old._root)) return;
    var P = "chatdesk:" + key + ":", q = (old && old.q) || [], loading = 0, fails = 0,
      L = (navigator.language || "").toLowerCase(), S = __STRINGS__,
      T = S[/^lt/.test(L) ? "lt" : /^zh/.test(L) ? "zh-hans" : "en"];

    // chatdesk("open"), chatdesk("close"), chatdesk("toggle"), chatdesk("goal", name, {value});
    // later commands queue until the panel code is there and then run in order (app.js installs
    // api._app). A goal loads the panel code (not the panel) to send it.
    var api = function () {
      try {
        var a = [].slice.call(arguments);
        if (api._app) return api._app(a);
        q.push(a);
        if (a[0] == "open" || a[0] == "toggle" || a[0] == "goal") load();
      } catch (e) {}
    };
    api.q = q;
    api._key = key;
    api._base = new URL(".", s.src).href;
    api._nonce = nonce;

    var host = d.createElement("div"), root, btn, tip;
    host.style.cssText = "all:initial!important;position:fixed!important;z-index:2147483000!important;" +
      "right:0!important;bottom:0!important;width:0!important;height:0!important;display:block!important";
    host.setAttribute("data-chatdesk", "");
    root = host.attachShadow({mode: "open"});
    var css = d.createElement("style");
    css.nonce = nonce;
    css.textContent = "" +
      ".cd-launch{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border:0;border-radius:50%;" +
      "background:#1f5eff;color:#fff;cursor:pointer;box-shadow:0 6px 20px rgba(15,35,95,.3);display:grid;" +
      "place-items:center;padding:0;margin:0;transition:transform .15s}" +
      ".cd-launch:hover{transform:scale(1.06)}.cd-launch:focus-visible{outline:3px solid #9db8ff;outline-offset:3px}" +
      ".cd-launch svg{width:28px;height:28px;fill:currentColor}" +
      ".cd-badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;" +
      "background:#e5484d;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center;padding:0 5px;box-sizing:border-box}" +
      ".cd-tip{position:fixed;right:20px;bottom:92px;max-width:260px;background:#fff;color:#1c2433;" +
      "font:14px/1.4 system-ui,sans-serif;padding:10px 14px;border-radius:12px;box-shadow:0 6px 24px rgba(0,0,0,.18)}" +
      "[hidden]{display:none!important}";
    root.innerHTML = "<div class=cd-tip role=status hidden></div>" +
      "<button class=cd-launch type=button aria-haspopup=dialog aria-expanded=false>" +
      "<svg viewBox='0 0 24 24' aria-hidden=true><path d='M12 3C6.5 3 2 6.9 2 11.7c0 2.5 1.2 4.7 3.2 6.3L4.5 22l4.3-2.3c1 .3 2.1.4 3.2.4 " +
      "5.5 0 10-3.9 10-8.7S17.5 3 12 3z'/></svg><span class=cd-badge hidden></span></button>";
    btn = root.lastChild;
    tip = root.firstChild;
    root.insertBefore(css, tip);
    btn.setAttribute("aria-label", T[0]);
    btn.onclick = function () { api("toggle"); };
    api._root = root;
    api._s = T;

    // Loads protocol.js and app.js, which needs it; while the server is unreachable, says so and
    // retries both with backoff.
    function load() {
      if (loading || api._app) return;
      loading = 1;
      var aborted = 0, els = ["__PROTOCOL__", "__APP__"].map(function (src) {
        var el = d.createElement("script");
        el.src = new URL(src, s.src).href;
        el.nonce = nonce;
        // Fetched at once, run in this order.
        el.async = false;
        el.onerror = function () {
          if (aborted++) return;
          els.forEach(function (e) { e.remove(); });
          loading = 0;
          tip.textContent = T[1];
          tip.hidden = false;
          setTimeout(load, Math.min(30000, 1000 * Math.pow(2, fails++)) * (0.5 + Math.random()));
        };
        (d.head || d.documentElement).appendChild(el);
        return el;
      });
      els[1].onload = function () { if (!aborted) tip.hidden = true; };
    }

    w.chatdesk = api;
    (d.body || d.documentElement).appendChild(host);
    try {
      // Time on site counts from the first page of this browser session.
      if (!sessionStorage.getItem(P + "t0")) sessionStorage.setItem(P + "t0", Date.now());
      if (localStorage.getItem(P + "conv") || localStorage.getItem(P + "outbox") || localStorage.getItem(P + "goals")) load();
    } catch (e) {}
    if (q.length) load();
  } catch (e) {}
})(window, document);
