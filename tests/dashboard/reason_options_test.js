// The page's reason filter offers every reason a dead letter may have (failpipe::dead_letter_reasons),
// so that none of them (settle-error was missing) can only be found by editing the URL.
// Run: node reason_options_test.js <app.js> <failure_record.hpp>
const fs = require("fs");
const src = fs.readFileSync(process.argv[2], "utf8");
const header = fs.readFileSync(process.argv[3], "utf8");
const block = header.slice(header.indexOf("namespace dead_letter_reasons {"), header.indexOf("}  // namespace dead_letter_reasons"));
const reasons = [...block.matchAll(/= "([a-z-]+)";/g)].map((m) => m[1]).sort();
const call = src.match(/select\("reason", "reason", (\[[^\]]*\])\)/);
if (reasons.length < 5 || !call) {
  console.error("cannot find the reasons (" + reasons.length + ") or the page's reason select");
  process.exit(1);
}
const offered = JSON.parse(call[1]).filter((o) => o !== "").sort();
const missing = reasons.filter((r) => !offered.includes(r));
const unknown = offered.filter((o) => !reasons.includes(o));
if (missing.length || unknown.length) {
  console.error("reason filter: missing " + JSON.stringify(missing) + ", not a reason " + JSON.stringify(unknown));
  process.exit(1);
}
