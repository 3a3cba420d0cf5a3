// parseRoute of the dashboard page on malformed % escapes: "malformed", not a URIError (which left
// the page on "loading…" without heartbeat). Run: node parse_route_test.js <app.js>
const src = require("fs").readFileSync(process.argv[2], "utf8");
const from = src.indexOf("  function parseRoute()"), to = src.indexOf("  function href(");
const location = { hash: "" };
const parseRoute = new Function("location", src.slice(from, to) + "; return parseRoute;")(location);
const expect = { "#/channel/%E0%A4%A/dead": "malformed", "#token=%": "malformed", "#/channel/orders/dead": "dead" };
let failed = 0;
for (const [hash, name] of Object.entries(expect)) {
  location.hash = hash;
  let got;
  try { got = parseRoute().name; } catch (e) { got = "threw " + e.name; }
  if (got !== name) { console.error(hash + ": expected " + name + ", got " + got); failed += 1; }
}
process.exit(failed ? 1 : 0);
