# The key layout switch through the real binary: "keyLayout" in --config or ?keyLayout= in the
# URL, and what is refused before anything is read or written. Included by CMakeLists.txt.
set(_fp_layout_config tests/cli/fixtures/key-layout-groups.json)

# With the switch, push and dlq list agree on {prefix:group}; without it, {prefix} holds nothing.
failpipe_cli_test("key layout - push and dlq list with --config and keyLayout groups see the same dead letters" EXIT 0 REDIS
  ARGS push --channel orders:dlq --type t --data 1 --id k1 --config ${_fp_layout_config} --redis @URL@ --prefix @PREFIX@ &&
       dlq list --channel orders --format json --config ${_fp_layout_config} --redis @URL@ --prefix @PREFIX@
  STDOUT [[^{"channel":"orders:dlq","items":\[{"id":"k1",]] EMPTY_STDERR)
failpipe_cli_test("key layout - the switch in the URL with a config without keyLayout reads the same keys" EXIT 0 REDIS
  ARGS push --channel orders:dlq --type t --data 1 --id k2 --config ${_fp_layout_config} --redis @URL@ --prefix @PREFIX@ &&
       stats --channel orders --format json --config tests/cli/fixtures/key-layout-plain.json --redis @URL@?keyLayout=groups --prefix @PREFIX@
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":1,]] EMPTY_STDERR)
failpipe_cli_test("key layout - without the switch the prefix layout does not see grouped dead letters" EXIT 1 REDIS
  ARGS push --channel orders:dlq --type t --data 1 --id k3 --config ${_fp_layout_config} --redis @URL@ --prefix @PREFIX@ &&
       stats --channel orders --format json --redis @URL@ --prefix @PREFIX@
  STDERR [[^failpipe stats: no channel "orders" under prefix "clitest-[0-9a-f]+"\n$]] EMPTY_STDOUT)

# Refused before any connection (port 1: nothing listens there, and nothing is tried).
failpipe_cli_test("key layout - keyLayout=groups in --redis without --config is a usage error" EXIT 2
  ARGS dlq replay --channel orders --redis redis://127.0.0.1:1?keyLayout=groups
  STDERR [[^failpipe dlq replay: --redis asks for keyLayout=groups \(each shard group's keys under {failpipe:<group>}\), but which channels form which group comes from the workers' config: add --config FILE. nothing was read or written]]
  EMPTY_STDOUT)
failpipe_cli_test("key layout - keyLayout=groups in FAILPIPE_REDIS_URL without --config is a usage error" EXIT 2
  ENV_REDIS_URL redis://127.0.0.1:1?keyLayout=groups
  ARGS stats
  STDERR [[^failpipe stats: FAILPIPE_REDIS_URL asks for keyLayout=groups ]] EMPTY_STDOUT)
failpipe_cli_test("key layout - health with keyLayout=groups and no --config is status 64" EXIT 64
  ARGS health --redis redis://127.0.0.1:1?keyLayout=groups
  STDERR [[add --config FILE]] EMPTY_STDOUT)
failpipe_cli_test("key layout - an unknown keyLayout in the URL is a usage error that hides the password" EXIT 2
  ARGS channels --redis redis://u:s3cret@127.0.0.1:1?keyLayout=grouped
  STDERR [[keyLayout must be "prefix" \(every key under {prefix}\) or "groups" \(each shard group's keys under {prefix:group}\), not "grouped"]]
  NOT_OUTPUT [[s3cret]] EMPTY_STDOUT)
failpipe_cli_test("key layout - a URL and a config naming different layouts are a usage error" EXIT 2
  ARGS push --channel orders --type t --data 1 --config ${_fp_layout_config} --redis redis://127.0.0.1:1?keyLayout=prefix
  STDERR [[the Redis URL says keyLayout=prefix but the config says "keyLayout": "groups": make them agree]] EMPTY_STDOUT)
failpipe_cli_test("key layout - an unknown keyLayout in --config is a usage error listing the problem" EXIT 2
  ARGS dlq list --channel orders --config tests/cli/fixtures/key-layout-bad.json --redis redis://127.0.0.1:1
  STDERR [[^failpipe dlq list: --config "tests/cli/fixtures/key-layout-bad.json" is not a valid config. nothing was read or written:\n  tests/cli/fixtures/key-layout-bad.json: /keyLayout: ]]
  EMPTY_STDOUT)
failpipe_cli_test("key layout - config check refuses an unknown keyLayout" EXIT 1
  ARGS config check tests/cli/fixtures/key-layout-bad.json
  STDERR [[^tests/cli/fixtures/key-layout-bad.json: /keyLayout: [^\n]*"groups"]] EMPTY_STDOUT)
