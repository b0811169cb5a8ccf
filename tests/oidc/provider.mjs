// A real OpenID Connect / OAuth 2.0 authorization server for the integration tests: panva's certified
// oidc-provider (pinned in scripts/package.json, installed by scripts/setup-test), with one confidential client,
// accounts ("alice", and any a test adds through /_control), a one-page login+consent interaction, a tiny
// protected API and test hooks.
//
// Run: node tests/oidc/provider.mjs   (from any directory)
// Prints exactly one line to stdout once it accepts connections: `listening http://HOST:PORT`; that URL is the issuer.
// Everything else (oidc-provider notices included) goes to stderr.
//
// Environment:
//   OIDC_HOST (127.0.0.5)  OIDC_PORT (0 = any free port)
//   OIDC_CLIENT_ID (plugboard)  OIDC_CLIENT_SECRET (plugboard-secret)
//   OIDC_REDIRECT_URI (http://127.0.0.1:43210/oauth/callback), the client's one registered redirect URI
//   OIDC_TOKEN_AUTH (client_secret_basic | client_secret_post)  OIDC_ACCESS_TTL (60 seconds)
//
// Endpoints (besides oidc-provider's own, listed by /.well-known/openid-configuration):
//   GET  /interaction/:uid           the login+consent page: a form posting to /interaction/:uid/decision
//   POST /interaction/:uid/decision  form field decision=allow (log in `login`, default alice, and grant everything
//                                    asked) or deny
//   GET  /api/me                     Bearer access token -> 200 {"sub":"alice"}, else 401 {"error":"invalid_token"}
//   GET  /_stats                     {"tokenRequests","codesExchanged","refreshes","revocations","apiCalls"}
//   POST /_control                   JSON {"tokenDelayMs": n} delays every later token request; {"resetStats": true};
//                                    {"accounts": {"<id>": {claims}}} adds or replaces accounts and their claims
//                                    (email, email_verified, name, groups: scope `groups`); -> 204
//
// Exits on SIGTERM/SIGINT, and when stdin reaches end-of-file if stdin is a pipe or socket
// (spawn it with a piped stdin and keep the write end open: if the test process dies, the server goes too).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

// The ID token signing key, made in the thread pool while oidc-provider loads (RSA for RS256, the OIDC default).
const signingKey = promisify(crypto.generateKeyPair)('rsa', { modulusLength: 2048 });

// stdout carries only the `listening` line: route console output (oidc-provider's notices use console.info) to stderr.
for (const level of ['log', 'info', 'warn', 'debug']) console[level] = (...args) => console.error(...args);

const requireFromScripts = createRequire(new URL('../../scripts/package.json', import.meta.url));
const { default: Provider } = await import(pathToFileURL(requireFromScripts.resolve('oidc-provider')).href);
const { default: MemoryAdapter } = await import(
  pathToFileURL(requireFromScripts.resolve('oidc-provider/lib/adapters/memory_adapter.js')).href
);
// oidc-provider's own in-memory store, under another name so it does not warn about it (state dies with the process).
class TestMemoryAdapter extends MemoryAdapter {}

const env = (name, fallback) => process.env[name] || fallback;
const HOST = env('OIDC_HOST', '127.0.0.5');
const PORT = Number(env('OIDC_PORT', '0'));
const CLIENT_ID = env('OIDC_CLIENT_ID', 'plugboard');
const CLIENT_SECRET = env('OIDC_CLIENT_SECRET', 'plugboard-secret');
const REDIRECT_URI = env('OIDC_REDIRECT_URI', 'http://127.0.0.1:43210/oauth/callback');
const TOKEN_AUTH = env('OIDC_TOKEN_AUTH', 'client_secret_basic');
const ACCESS_TTL = Number(env('OIDC_ACCESS_TTL', '60'));
const ACCOUNT = 'alice';
const accounts = { [ACCOUNT]: { name: 'Alice Example', email: 'alice@example.test', email_verified: true } };

if (!['client_secret_basic', 'client_secret_post'].includes(TOKEN_AUTH)) {
  console.error(`OIDC_TOKEN_AUTH must be client_secret_basic or client_secret_post, not ${TOKEN_AUTH}`);
  process.exit(2);
}
if (!Number.isInteger(ACCESS_TTL) || ACCESS_TTL <= 0 || !Number.isInteger(PORT) || PORT < 0) {
  console.error('OIDC_ACCESS_TTL must be a positive integer and OIDC_PORT a port number');
  process.exit(2);
}

const stats = { tokenRequests: 0, codesExchanged: 0, refreshes: 0, revocations: 0, apiCalls: 0 };
let tokenDelayMs = 0;

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let provider; // created once the port is known: the issuer includes it
let providerCallback;

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  let m;

  if (req.method === 'GET' && (m = path.match(/^\/interaction\/([^/]+)$/))) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) throw new Error('interaction uid mismatch');
    const uid = escapeHtml(details.uid);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in to the test provider</title></head>
<body>
<h1>Sign in?</h1>
<p>Client <code>${escapeHtml(details.params.client_id)}</code> asks for <code>${escapeHtml(details.params.scope || '')}</code>.</p>
<form method="post" action="/interaction/${uid}/decision">
<button id="allow" name="decision" value="allow" type="submit">Allow</button>
<button id="deny" name="decision" value="deny" type="submit">Deny</button>
</form>
</body></html>`);
    return;
  }

  if (req.method === 'POST' && (m = path.match(/^\/interaction\/([^/]+)\/decision$/))) {
    const form = new URLSearchParams(await readBody(req));
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) throw new Error('interaction uid mismatch');
    let result;
    if (form.get('decision') === 'allow') {
      const { params, prompt, grantId } = details;
      const login = form.get('login') || ACCOUNT;
      if (!accounts[login]) throw new Error(`no account ${login}`);
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: login, clientId: params.client_id });
      if (params.scope) grant.addOIDCScope(params.scope);
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      result = { login: { accountId: login }, consent: { grantId: await grant.save() } };
    } else {
      result = { error: 'access_denied', error_description: 'End-User denied the request' };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }

  if (req.method === 'GET' && path === '/api/me') {
    stats.apiCalls += 1;
    const auth = req.headers.authorization || '';
    const value = auth.match(/^Bearer ([^\s]+)$/i)?.[1];
    const token = value ? await provider.AccessToken.find(value) : undefined;
    if (!token || !token.isValid) {
      sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    sendJson(res, 200, { sub: token.accountId });
    return;
  }

  if (req.method === 'GET' && path === '/_stats') {
    sendJson(res, 200, stats);
    return;
  }

  if (req.method === 'POST' && path === '/_control') {
    const body = JSON.parse((await readBody(req)) || '{}');
    if (body.tokenDelayMs !== undefined) tokenDelayMs = Math.max(0, Number(body.tokenDelayMs) || 0);
    if (body.resetStats) for (const k of Object.keys(stats)) stats[k] = 0;
    if (body.accounts) Object.assign(accounts, body.accounts);
    res.writeHead(204);
    res.end();
    return;
  }

  providerCallback(req, res);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('request failed:', req.method, req.url, err);
    if (res.headersSent) {
      res.end();
      return;
    }
    const description = err.error_description || String(err.message || err);
    sendJson(res, err.statusCode || 400, { error: err.error || 'invalid_request', error_description: description });
  });
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const issuer = `http://${HOST}:${server.address().port}`;

const { privateKey } = await signingKey;
const days14 = 14 * 24 * 60 * 60;

provider = new Provider(issuer, {
  adapter: TestMemoryAdapter,
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: TOKEN_AUTH,
    // application_type defaults to "web": a confidential web client may register a plain http redirect URI for the
    // code flow (oidc-provider only forbids http / localhost for web clients using the implicit flow).
  }],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' }] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  findAccount: async (ctx, id) => (accounts[id] ? {
    accountId: id,
    // Read when a token is issued: a change through /_control shows in the next sign-in.
    claims: async () => ({ ...accounts[id], sub: id }),
  } : undefined),
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'api:read'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'], groups: ['groups'] },
  // The ID token of a code exchange carries the claims its scopes ask for (`email`, `name`), as Google's and
  // Microsoft's do, not only `sub` (oidc-provider's default keeps them for the userinfo endpoint).
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  // Refresh tokens on every code exchange (offline_access or not), rotated on every use: a refresh token works once.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: ACCESS_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: days14,
    Interaction: 3600,
    Session: days14,
    Grant: days14,
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    // No resource indicators: every access token is an opaque token whose scope is all the granted scopes.
    resourceIndicators: { enabled: false },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><body><h1>${escapeHtml(out.error)}</h1><p>${escapeHtml(out.error_description || '')}</p></body></html>`;
  },
});

// oidc-provider treats client_secret_basic and client_secret_post as interchangeable; the tests want the client to use
// exactly the registered one, so the other is refused here (before oidc-provider sees the request).
function wrongClientAuth(ctx) {
  const basic = ctx.get('authorization') !== '';
  if (basic === (TOKEN_AUTH === 'client_secret_basic')) return false;
  ctx.status = 401;
  if (TOKEN_AUTH === 'client_secret_basic') ctx.set('www-authenticate', 'Basic realm="oidc-test"');
  ctx.set('cache-control', 'no-store');
  ctx.body = { error: 'invalid_client', error_description: `client authentication failed (this client uses ${TOKEN_AUTH})` };
  return true;
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/token') {
    stats.tokenRequests += 1;
    if (tokenDelayMs > 0) await new Promise((r) => setTimeout(r, tokenDelayMs));
    if (wrongClientAuth(ctx)) return undefined;
    return next();
  }
  if (ctx.method === 'POST' && ctx.path === '/token/revocation') {
    if (wrongClientAuth(ctx)) return undefined;
    await next();
    if (ctx.status === 200) stats.revocations += 1;
    return undefined;
  }
  return next();
});
provider.on('grant.success', (ctx) => {
  const grantType = ctx.oidc.params.grant_type;
  if (grantType === 'authorization_code') stats.codesExchanged += 1;
  if (grantType === 'refresh_token') stats.refreshes += 1;
});
provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));
providerCallback = provider.callback();
// oidc-provider validates client metadata lazily; do it now so a bad OIDC_* value fails at startup, not mid-test.
try {
  if (!await provider.Client.find(CLIENT_ID)) throw new Error('client not found');
} catch (err) {
  console.error(`invalid client configuration: ${err.message}${err.error_description ? `: ${err.error_description}` : ''}`);
  process.exit(1);
}

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Only a pipe or socket on stdin is watched: with /dev/null or a terminal, EOF says nothing about the parent.
let stdinStat;
try { stdinStat = fs.fstatSync(0); } catch { /* no stdin at all */ }
if (stdinStat && (stdinStat.isFIFO() || stdinStat.isSocket())) {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

process.stdout.write(`listening ${issuer}\n`);
