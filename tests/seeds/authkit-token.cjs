// Runs the real @picahq/authkit-token (pinned in scripts/package.json) against a Plugboard server, the way a host
// backend does: `node authkit-token.cjs <baseUrl> <secretKey> [<identity>]`. Prints what `create()` answers, as JSON.
const path = require("path");
const { AuthKitToken } = require(path.join(__dirname, "../../scripts/node_modules/@picahq/authkit-token"));

const [baseUrl, secret, identity] = process.argv.slice(2);
const token = new AuthKitToken(secret, { baseUrl });
const payload = identity ? { identity, identityType: "user" } : undefined;
token.create(payload).then(
  (answer) => process.stdout.write(JSON.stringify(answer ?? null)),
  (error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); },
);
