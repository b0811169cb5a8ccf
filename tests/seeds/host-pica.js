// The host page of @picahq/authkit, as its README shows it (without React: the hook is a plain function).
import { useAuthKit } from "@picahq/authkit";
import { displayOptions, log, params, tokenUrl } from "./host-log.js";

const { open } = useAuthKit({
  baseUrl: document.body.dataset.plugboard,
  token: { url: tokenUrl("/api/authkit-token"), headers: { "x-user-id": params.get("user") ?? "user-1" } },
  ...displayOptions(),
  onSuccess: (connection) => log("onSuccess " + JSON.stringify(connection)),
  onError: (error) => log("onError " + error),
  onClose: () => log("onClose"),
});
document.getElementById("connect").addEventListener("click", () => open());
