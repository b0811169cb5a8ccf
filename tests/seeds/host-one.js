// The host page of @withone/auth, as its README shows it (without React: the hook is a plain function).
import { useOneAuth } from "@withone/auth";
import { displayOptions, log, params, tokenUrl } from "./host-log.js";

function start() {
  const { open } = useOneAuth({
    baseUrl: document.body.dataset.plugboard,
    token: { url: tokenUrl("/api/one-auth"), headers: { "x-user-id": params.get("user") ?? "user-1" } },
    ...displayOptions(),
    authWindow: params.get("authWindow") || undefined,
    onSuccess: (connection) => log("onSuccess " + JSON.stringify(connection)),
    onError: (error) => log("onError " + error),
    onClose: () => log("onClose"),
  });
  document.getElementById("connect").addEventListener("click", () => open());
}

// `?hold=1`: a test looks at the page before the package does (which it does on its first call, at load).
if (params.has("hold")) window.startOneAuth = start;
else start();
