/*! Plugboard embed.js — opens the Plugboard widget in a modal iframe. Apache-2.0. */
(function (w, d) {
  "use strict";
  // The origin that served this script is the default Plugboard server.
  var me = d.currentScript;
  var defaultBase = me && me.src ? new URL(me.src, location.href).href.replace(/\/embed\.js.*$/, "") : location.origin;
  var defaultProject = me && me.getAttribute("data-project");
  var active = null; // one modal at a time

  // Back from a same-tab sign-in (the widget's fallback when popups cannot open): the outcome is in this page's
  // fragment. Take it out of the address bar at once; the next create() hands it to the widget, which claims it.
  var returned = (function () {
    var hash = location.hash.slice(1), at = hash.indexOf("plugboard_flow=");
    if (at < 0) return null;
    var params = new URLSearchParams(hash.slice(at)), code = params.get("plugboard_error");
    // Anyone can write a link to this page with any fragment: only Plugboard's few fixed codes are reported, in
    // words of this script's own, never text taken from the URL.
    var words = { access_denied: "You declined to connect the app.", expired: "The sign-in took too long and expired. Try again." };
    var out = { flowId: params.get("plugboard_flow"), result: params.get("plugboard_result"),
      error: code === null ? null : Object.prototype.hasOwnProperty.call(words, code) ? words[code] : "The sign-in could not be finished. Try again." };
    // Whatever fragment the page had before (a hash route) is left exactly as it was.
    var theirs = hash.slice(0, at).replace(/&$/, "");
    history.replaceState(history.state, "", location.pathname + location.search + (theirs ? "#" + theirs : ""));
    return out;
  })();

  function nonce() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  // What onError receives and open() rejects with: an Error whose `code` is stable (see the README) and whose
  // message is for the developer; the user reads plain words in the widget.
  function failure(code, message) {
    var e = new Error(message);
    e.code = code;
    return e;
  }

  function call(fn, arg) {
    if (typeof fn === "function") try { fn(arg); } catch (e) { setTimeout(function () { throw e; }); }
  }

  var hidden = null; // the handle whose hidden frame is on the page (see create's hide())

  function create(options) {
    options = options || {};
    var base = (options.baseUrl || defaultBase).replace(/\/+$/, "");
    var origin = new URL(base, location.href).origin;
    var project = options.project || defaultProject;
    var early = null; // warm(): a hidden widget frame made ahead of open(); preload(): also a token request
    // One hidden frame per page, whatever the number of create() calls (a component that re-creates its handle
    // on every mount): making one drops another handle's unopened one.
    var self = { drop: function () { if (early) { dropFrame(early.shell); early = null; } } };
    function hide(f) {
      if (hidden && hidden !== self) hidden.drop();
      hidden = self;
      f.overlay.style.display = "none";
      d.body.appendChild(f.overlay);
    }

    // The token request is made from the host page, so relative URLs and the host's cookies just work. It gets
    // `tokenTimeout` ms (default 10 s) to answer; every way it can fail is an error with a code, never a wait.
    function fetchToken() {
      var at = Date.now(), abort = w.AbortController && new AbortController(), limit = options.tokenTimeout || 8e3, what = "The token endpoint", timer;
      return Promise.race([
        Promise.resolve().then(function () {
          var u = new URL(options.token && options.token.url || "", location.href);
          what += " " + u.pathname;
          u.searchParams.set("page", "1");
          u.searchParams.set("limit", String(options.pageSize || 20));
          return fetch(u.href, { method: "POST", headers: (options.token && options.token.headers) || {}, credentials: "same-origin", signal: abort && abort.signal });
        }).then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            body = body || {};
            // @picahq/authkit-token's merged answer keeps no token: its requestId is the session (see /v1/authkit).
            if (r.ok && !body.token && /^pbs_/.test(body.requestId || "")) body = Object.assign({}, body, { token: body.requestId });
            if (!r.ok) throw failure("token_request_failed", what + " answered " + r.status + (body.error ? ": " + body.error : ""));
            if (typeof body.token != "string") throw failure("token_invalid", what + " answered " + r.status + " without a token");
            // Usable until a minute before it expires, and for 5 minutes at most (this page's clock may be off).
            return { session: body, until: Math.min(Date.parse(body.expiresAt) - 6e4 || 0, at + 3e5) };
          });
        }),
        new Promise(function (_, reject) {
          timer = setTimeout(function () {
            reject(failure("token_timeout", what + " did not answer within " + limit + " ms"));
            if (abort) abort.abort();
          }, limit);
        })
      ]).then(function (t) { clearTimeout(timer); return t; }, function (e) {
        clearTimeout(timer);
        return { error: e && e.code ? e : failure("token_request_failed", "The token request failed: " + (e && e.message || e)) };
      });
    }

    // A widget frame: loads at once, shown when open() adopts it. Its nonce ties its messages to one open.
    function makeFrame() {
      var f = { id: nonce(), overlay: d.createElement("dialog"), frame: d.createElement("iframe"), ready: false };
      f.overlay.style.cssText = "position:fixed;inset:0;z-index:2147483647;width:100%;height:100%;max-width:none;max-height:none;margin:0;padding:0;border:0;background:rgba(15,18,25,.55);display:flex;align-items:center;justify-content:center";
      f.overlay.setAttribute("aria-label", options.title || "Connect an app");
      f.frame.style.cssText = "width:min(440px,100%);height:min(680px,100%);border:0;border-radius:14px;box-shadow:0 20px 60px rgba(0,0,0,.35);background:transparent";
      f.frame.title = options.title || "Connect an app";
      f.frame.src = base + "/widget" + (project ? "?project=" + encodeURIComponent(project) : "") + "#" +
        new URLSearchParams({ origin: location.origin, nonce: f.id });
      f.overlay.appendChild(f.frame);
      f.listen = function (e) {
        var m = e.data;
        if (e.source !== f.frame.contentWindow || e.origin !== origin || !m || m.nonce !== f.id) return;
        if (m.type === "plugboard:ready") f.ready = true;
        if (f.on) f.on(m);
      };
      w.addEventListener("message", f.listen);
      return f;
    }
    function dropFrame(f) {
      w.removeEventListener("message", f.listen);
      f.overlay.remove();
    }

    // Loads the widget in a hidden frame (no token: the host's endpoint is not called), so that open() does not
    // wait for the page, its wasm and, on another site, a new renderer process. What create() does by default.
    function warm() {
      if (active || early || options.preload === "none") return;
      early = { shell: makeFrame() };
      hide(early.shell);
    }
    // warm() and the token request, so that open() shows the list at once. Cheap to call again (e.g. on every
    // hover of the button that opens it): a token about to expire is fetched anew.
    function preload() {
      if (active) return;
      if (!early) {
        early = { shell: makeFrame() };
        hide(early.shell);
      }
      if (!fresh(early)) {
        var ahead = early, mine = ahead.token = fetchToken().then(function (t) {
          if (ahead.token === mine) ahead.until = t.error ? 0 : t.until;
          return t;
        });
        ahead.until = Infinity; // in flight
      }
    }
    var leaving = null; // the frame just closed, kept a moment so that it hears "plugboard:closing"
    function gone() { if (leaving) { dropFrame(leaving); leaving = null; } }
    function fresh(ahead) { return ahead && ahead.token && Date.now() < ahead.until; }
    // What is made ahead of each open(): `preload: true` the token too, `"none"` nothing (warm() checks).
    function prepare() { if (options.preload && options.preload !== "none") preload(); else warm(); }

    function open(claim) {
      if (active) active.close();
      gone(); // a frame still closing goes now: one widget frame on the page at a time
      if (w.performance && performance.mark) performance.mark("plugboard:open");
      // A preloaded frame is adopted; its token too while it is fresh (a failed or stale one is fetched again).
      var ahead = early, f = ahead ? ahead.shell : makeFrame(), overlay = f.overlay, frame = f.frame, id = f.id;
      early = null;
      if (hidden === self) hidden = null;
      var tokenFetch = fresh(ahead) ? ahead.token.then(function (t) {
        return t.error || Date.now() > t.until ? fetchToken() : t;
      }) : fetchToken();
      // A modal <dialog>: it joins the browser's top layer above anything already there (a host's own
      // showModal() dialog included), and the browser makes the rest of the page inert while it is open.
      var opener = d.activeElement, token = null, done = false, settle, stopped = null;
      var promise = new Promise(function (resolve, reject) { settle = { resolve: resolve, reject: reject }; });

      overlay.style.display = "flex";
      // A hidden frame the page removed (a framework swapping the body) loads again: wait for its ready.
      if (!overlay.isConnected) { f.ready = false; d.body.appendChild(overlay); }
      if (overlay.showModal) overlay.showModal();
      frame.focus();

      function post(msg) {
        msg.nonce = id;
        frame.contentWindow.postMessage(msg, origin);
      }
      var shown = {
        title: options.title, companyName: options.companyName, imageUrl: options.imageUrl,
        appTheme: options.appTheme, selectedConnection: options.selectedConnection,
        showNameInput: options.showNameInput, pageSize: options.pageSize, reconnect: options.reconnect,
        returnUrl: options.returnUrl || location.href, claim: claim && claim.flowId ? claim : undefined
      };
      function start() {
        if (!f.ready || !token) return;
        post({ type: "plugboard:init", session: token.session, error: token.error && token.error.code, options: shown });
        if (token.error) fail(token.error, true);
      }
      // An error the user may still get past (a wrong key, a declined consent) is only reported; one that stops
      // the widget (`fatal`) is also what the promise rejects with if the widget closes without a connection.
      function fail(e, fatal) {
        call(options.onError, e);
        if (fatal) stopped = e;
      }
      f.on = function (m) {
        // The header, title and theme at once, while the token is still on its way.
        if (m.type === "plugboard:ready") { clearTimeout(readyTimer); post({ type: "plugboard:init", options: shown }); start(); }
        else if (m.type === "plugboard:close") close();
        else if (m.type === "plugboard:success") {
          stopped = null;
          call(options.onSuccess, m.connection);
          if (!done) { done = true; settle.resolve({ status: "connected", connection: m.connection }); }
        } else if (m.type === "plugboard:error") fail(failure(String(m.code || "connect_failed"), String(m.message)), m.fatal === true);
        // "Try again" on a start error: a new token, then a new init.
        else if (m.type === "plugboard:retry") { token = null; stopped = null; fetchToken().then(function (t) { token = t; start(); }); }
      };
      function onKey(e) { if (e.key === "Escape") close(); }
      function onBackdrop(e) { if (e.target === overlay) close(); }
      function close(failed) {
        if (active !== handle) return;
        active = null;
        clearTimeout(readyTimer);
        d.removeEventListener("keydown", onKey);
        if (overlay.open && overlay.close) overlay.close();
        // The widget is told first, so that it closes its sign-in window (it also does when its page is hidden);
        // the frame goes a moment later, out of sight meanwhile.
        overlay.style.display = "none";
        if (f.ready) { post({ type: "plugboard:closing" }); leaving = f; setTimeout(gone, 200); } else dropFrame(f);
        if (opener && opener.focus) opener.focus();
        if (failed === true) return;
        setTimeout(prepare);
        call(options.onClose);
        if (!done) { done = true; if (stopped) settle.reject(stopped); else settle.resolve({ status: "closed" }); }
      }
      var handle = { close: close };
      // A widget that never says it is ready was refused (CSP frame-ancestors: this page's origin is not one of
      // the project's allowed origins) or could not load: say so instead of leaving a broken frame up.
      var readyTimer = f.ready ? 0 : setTimeout(function () {
        if (f.ready || active !== handle) return;
        var e = failure("widget_unavailable", "The Plugboard widget could not be shown on this page (" + location.origin +
          "). Check that this origin is one of the project's allowedOrigins and that " + origin + " is reachable.");
        fail(e);
        close(true);
        if (!done) { done = true; settle.reject(e); }
      }, options.readyTimeout || 15000);
      active = handle;
      d.addEventListener("keydown", onKey);
      overlay.addEventListener("click", onBackdrop);
      // Escape on the host page: the dialog's own cancel, which closes the widget as the close button does.
      overlay.addEventListener("cancel", function (e) { e.preventDefault(); close(); });

      tokenFetch.then(function (t) { token = t; start(); });
      if (f.ready) post({ type: "plugboard:init", options: shown });
      return promise;
    }

    // Finish what a same-tab sign-in started: an error is reported, a result is claimed in the widget (whose close
    // prepares the next open); otherwise the next open is prepared.
    var back = returned;
    returned = null;
    if (back && back.error) setTimeout(function () { call(options.onError, failure("connect_failed", back.error)); });
    if (back && !back.error && back.result) setTimeout(function () { open({ flowId: back.flowId, result: back.result }).catch(function () {}); });
    else if (d.body) setTimeout(prepare); else d.addEventListener("DOMContentLoaded", prepare);
    return { open: function () { return open(); }, close: function () { if (active) active.close(); }, preload: preload };
  }

  // Hosted connection sessions (One Runtime's; docs/contract.md), as connect.js's connections.open: the session's page in a popup opened
  // from the click; settles once the server says the session has its connection, or the popup is closed.
  function openHosted(options) {
    var base = ((options && options.baseUrl) || defaultBase).replace(/\/+$/, ""), token = options && options.sessionToken;
    return new Promise(function (resolve, reject) {
      if (!token) return reject(new Error("open needs { sessionToken }"));
      var popup = w.open(base + "/link#token=" + encodeURIComponent(token), "plugboard-connect", "popup,width=520,height=720");
      if (!popup) return reject(new Error("The browser blocked the connection window: call open() from a click."));
      var done = false, closedAt = 0, timer = setInterval(function () {
        fetch(base + "/v1/hosted-connection-sessions/status", { method: "POST", headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ session_token: token }) })
          .then(function (r) { return r.json(); })
          .then(function (s) {
            if (s.status === "connected") {
              try { popup.close(); } catch (e) { /* gone */ }
              finish({ status: "connected", connectionId: s.connectionId, connection: s.connection });
            } else if (popup.closed) {
              closedAt = closedAt || Date.now();
              if (s.status !== "pending" || Date.now() - closedAt > 1500) finish({ status: "closed" });
            }
          }, function () { if (popup.closed) finish({ status: "closed" }); });
      }, 600);
      function finish(result) { if (!done) { done = true; clearInterval(timer); resolve(result); } }
    });
  }

  w.Plugboard = { create: create, open: openHosted };
})(window, document);
