// Runs StackOne's own SDK, @stackone/stackone-client-ts (pinned in scripts/package.json), against a Plugboard server
// with only its serverURL changed, the way a host backend that used StackOne calls it:
// `node stackone.cjs <serverURL> <apiKey> <group.method> '<request JSON>'`. Prints, as JSON, what the SDK returns
// (`{"ok": …}`: its parsed object, each Date as `{"$date": ISO}` so a test sees the SDK made it a Date) or throws
// (`{"error": {"class", "statusCode", "message", "timestamp", …}}`: the SDK's typed error).
const path = require("path");
const { StackOne } = require(path.join(__dirname, "../../scripts/node_modules/@stackone/stackone-client-ts"));

const [serverURL, apiKey, call, request] = process.argv.slice(2);
const stackOne = new StackOne({ serverURL, security: { username: apiKey, password: "" } });
const [group, method] = call.split(".");

const plain = (value) =>
  JSON.parse(JSON.stringify(value, function (key, v) {
    if (key === "rawResponse" || key === "headers" || key === "request$" || key === "response$") return undefined;
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.toISOString() } : v;
  }));

stackOne[group][method](JSON.parse(request || "{}")).then(
  (answer) => process.stdout.write(JSON.stringify({ ok: plain(answer) })),
  (error) => process.stdout.write(JSON.stringify({
    error: {
      class: error && error.constructor && error.constructor.name,
      statusCode: error.statusCode ?? null,
      message: String(error.message),
      timestamp: error.timestamp instanceof Date ? error.timestamp.toISOString() : null,
      body: error.body ?? null,
      cause: error.cause ? String(error.cause) : null,
    },
  })),
);
