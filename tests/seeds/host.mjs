// A host app for the seeds' frontend packages, written the way their READMEs and seed docs show: a page bundled
// with esbuild from `@withone/auth` (`useOneAuth`) or `@picahq/authkit` (`useAuthKit`), with `baseUrl` set to a
// Plugboard server, and the backend token endpoint each seed describes, with the CORS headers the seeds require
// (the widget's frame calls it from Plugboard's origin).
//
//   node host.mjs <plugboard url> <secret key> [<ip>[:<port>]]   (default 127.0.0.2, any free port)
//   prints "listening http://<ip>:<port>", then serves:
//   GET  /one, /pica                 the host page (query: user, title, companyName, imageUrl, appTheme,
//                                    selectedConnection, showNameInput, authWindow, wrongKey)
//   POST /api/one-auth               One Auth's way: forwards to POST /v1/authkit/token?page&limit with X-One-Secret
//   POST /api/authkit-token          Pica AuthKit's way: new AuthKitToken(secret, { baseUrl }).create({ identity, identityType })
//   GET  /logout?next=<url>          303 to <url>, whatever it is: the open redirect many real apps have
// `?wrongKey=1` on either endpoint uses a key Plugboard does not know.
import http from "node:http";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "../../scripts/node_modules");
const require = createRequire(path.join(modules, "..", "package.json"));
const esbuild = require("esbuild");
const { AuthKitToken } = require("@picahq/authkit-token");

const [plugboard, secret, bind = "127.0.0.2"] = process.argv.slice(2);
const [ip, port = "0"] = bind.split(":");
const WRONG_KEY = "sk_test_not_a_key_plugboard_knows";

const bundles = {};
for (const name of ["one", "pica"]) {
  const out = await esbuild.build({
    entryPoints: [path.join(here, `host-${name}.js`)],
    bundle: true, write: false, format: "esm", target: "es2020", nodePaths: [modules], logLevel: "error",
  });
  bundles[name] = out.outputFiles[0].text;
}

const cors = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type, Authorization, x-user-id",
};

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store", ...headers });
  res.end(body);
}

const json = (res, status, value) => send(res, status, "application/json", JSON.stringify(value), cors);

const page = (name) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host app (${name})</title></head>
<body data-plugboard="${plugboard}">
  <h1>Host app</h1>
  <button id="connect" type="button">Connect an app</button>
  <pre id="log"></pre>
  <script type="module" src="/${name}.js"></script>
</body></html>`;

async function oneAuth(req, res, url) {
  const userId = req.headers["x-user-id"];
  if (!userId) return json(res, 401, { error: "Unauthorized" });
  const key = url.searchParams.get("wrongKey") ? WRONG_KEY : secret;
  const page = url.searchParams.get("page"), limit = url.searchParams.get("limit");
  const answer = await fetch(`${plugboard}/v1/authkit/token?page=${page}&limit=${limit}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-One-Secret": key },
    body: JSON.stringify({ identity: userId, identityType: "user" }),
  });
  return json(res, answer.status, await answer.json());
}

async function picaToken(req, res, url) {
  const userId = req.headers["x-user-id"];
  if (!userId) return json(res, 401, { error: "Unauthorized" });
  const key = url.searchParams.get("wrongKey") ? WRONG_KEY : secret;
  const token = await new AuthKitToken(key, { baseUrl: plugboard }).create({ identity: userId, identityType: "user" });
  return json(res, 200, token);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://host");
  try {
    if (req.method === "OPTIONS") return send(res, 204, "text/plain", "", cors);
    if (req.method === "GET" && (url.pathname === "/one" || url.pathname === "/pica")) return send(res, 200, "text/html", page(url.pathname.slice(1)));
    if (req.method === "GET" && (url.pathname === "/one.js" || url.pathname === "/pica.js")) return send(res, 200, "text/javascript", bundles[url.pathname.slice(1, -3)]);
    if (req.method === "GET" && url.pathname === "/logout") return send(res, 303, "text/plain", "", { Location: url.searchParams.get("next") || "/" });
    if (req.method === "POST" && url.pathname === "/api/one-auth") return await oneAuth(req, res, url);
    if (req.method === "POST" && url.pathname === "/api/authkit-token") return await picaToken(req, res, url);
    send(res, 404, "text/plain", "not found");
  } catch (e) {
    json(res, 500, { error: String(e && e.message || e) });
  }
});
server.listen(Number(port), ip, () => process.stdout.write(`listening http://${ip}:${server.address().port}\n`));
