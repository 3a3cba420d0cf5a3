// The replay panel's note when a replay goes through another shard group's outbox (the API's
// `throughOutbox`): worded as `failpipe dlq replay --to` words it, and absent otherwise.
// Run: node outbox_note_test.js <app.js>
const src = require("fs").readFileSync(process.argv[2], "utf8");
const from = src.indexOf("  function outboxNote("), to = src.indexOf("  async function startAction(");
if (from < 0 || to < from) { console.error("outboxNote not found in " + process.argv[2]); process.exit(1); }
const outboxNote = new Function(src.slice(from, to) + "; return outboxNote;")();
const expect = [
  [{ dryRun: true, throughOutbox: "orders" }, " (through the outbox of shard group \"orders\": the workers' relay would publish them)"],
  [{ dryRun: false, throughOutbox: "orders" }, " (on their way through the outbox of shard group \"orders\": the workers' relay publishes them)"],
  [{ dryRun: true, throughOutbox: null }, ""],
  [{ dryRun: false }, ""],
];
let failed = 0;
for (const [answer, note] of expect) {
  const got = outboxNote(answer);
  if (got !== note) { console.error(JSON.stringify(answer) + ": expected " + JSON.stringify(note) + ", got " + JSON.stringify(got)); failed += 1; }
}
process.exit(failed ? 1 : 0);
