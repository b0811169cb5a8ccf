/*! Plugboard connect.js — hosted connection sessions, as One Runtime's connect.js. Apache-2.0.
 *  import { createOneRuntime } from "https://connect.example.com/connect.js";
 *  const result = await createOneRuntime({ baseUrl }).connections.open({ sessionToken });
 *  // {status: "connected", connectionId, connection} or {status: "closed"}
 */
const served = new URL(import.meta.url).origin;

/** Opens the hosted connect page for `sessionToken` in a popup (call it from a click) and settles once the
 *  session has its connection (asked of the server, so it works even when a provider severs window.opener) or
 *  the user closes the popup. Rejects when the popup is blocked or the token is missing. */
function openHosted(base, sessionToken) {
  return new Promise((resolve, reject) => {
    if (!sessionToken) return reject(new Error("connections.open needs { sessionToken }"));
    const popup = window.open(base + "/link#token=" + encodeURIComponent(sessionToken), "plugboard-connect", "popup,width=520,height=720");
    if (!popup) return reject(new Error("The browser blocked the connection window: call open() from a click."));
    let done = false, closedAt = 0;
    const finish = (result) => { if (!done) { done = true; clearInterval(timer); resolve(result); } };
    // text/plain keeps this a simple request: no preflight; the answer allows any origin (the token is the key).
    const ask = () => fetch(base + "/v1/hosted-connection-sessions/status", { method: "POST", headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ session_token: sessionToken }) })
      .then((r) => r.json());
    const timer = setInterval(() => {
      ask().then((s) => {
        if (s.status === "connected") {
          try { popup.close(); } catch (e) { /* already closed */ }
          finish({ status: "connected", connectionId: s.connectionId, connection: s.connection });
        } else if (popup.closed) {
          closedAt = closedAt || Date.now();
          if (s.status !== "pending" || Date.now() - closedAt > 1500) finish({ status: "closed" });
        }
      }, () => { if (popup.closed) finish({ status: "closed" }); });
    }, 600);
  });
}

/** One Runtime's entry point: `createOneRuntime({ baseUrl })` (default: where this module was served from). */
export function createOneRuntime(options = {}) {
  const base = String(options.baseUrl || served).replace(/\/+$/, "");
  return { connections: { open: ({ sessionToken } = {}) => openHosted(base, sessionToken) } };
}

/** The same, under Plugboard's name. */
export const createPlugboard = createOneRuntime;
