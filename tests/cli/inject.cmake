# --- failpipe inject (docs/cli.md#inject) ----------------------------------------------------------
# Included by tests/cli/CMakeLists.txt when the Redis adapter is built. What a handler does with the
# messages is tested in tests/test_fault_injection.cpp and tests/redis/test_redis_inject.cpp.
set(_fp_inject_broker --redis @URL@ --prefix @PREFIX@)
failpipe_cli_test("inject says what it pushed and prints the ids" EXIT 0 REDIS
  ARGS inject --channel payments --count 3 --kind transient ${_fp_inject_broker}
  STDOUT [[^injected 3 transient messages into payments \(type payment\.charge, metadata failpipe-inject: \{"kind":"transient"\}\)\n[0-9a-f]+\n[0-9a-f]+\n[0-9a-f]+\n$]]
  EMPTY_STDERR)
failpipe_cli_test("inject pushes every message it counts" EXIT 0 REDIS
  ARGS inject --channel payments --count 1500 --kind permanent ${_fp_inject_broker} &&
       stats --channel payments --format json ${_fp_inject_broker}
  STDOUT [["channel":"payments","ready":1500,]] EMPTY_STDERR)
failpipe_cli_test("inject lists the first 10 ids and says how many more" EXIT 0 REDIS
  ARGS inject --channel payments --count 12 --kind crash ${_fp_inject_broker}
  STDOUT [[\n… and 2 more\n$]] EMPTY_STDERR)
failpipe_cli_test("inject --kind slow records how long in the header" EXIT 0 REDIS
  ARGS inject --channel orders --type order.place --kind slow --seconds 1m ${_fp_inject_broker}
  STDOUT [[^injected 1 slow message into orders \(type order\.place, metadata failpipe-inject: \{"kind":"slow","seconds":60\.0\}\)\n]]
  EMPTY_STDERR)
failpipe_cli_test("inject --kind poison pushes bytes that are not a message" EXIT 0 REDIS
  ARGS inject --channel orders --count 2 --kind poison ${_fp_inject_broker}
  STDOUT [[^injected 2 poison messages into orders \(bytes that are not a message\)\n]] EMPTY_STDERR)
failpipe_cli_test("inject with an unknown kind is refused" EXIT 2
  ARGS inject --channel orders --kind explode
  STDERR [[^failpipe inject: --kind expects "transient", "permanent", "poison", "slow" or "crash", found "explode"]]
  EMPTY_STDOUT)
failpipe_cli_test("inject without --kind is refused" EXIT 2
  ARGS inject --channel orders STDERR [[^failpipe inject: missing required option "--kind K"]] EMPTY_STDOUT)
failpipe_cli_test("inject without --channel is refused" EXIT 2
  ARGS inject --kind transient STDERR [[^failpipe inject: missing required option "--channel C"]] EMPTY_STDOUT)
failpipe_cli_test("inject --count 0 is refused" EXIT 2
  ARGS inject --channel orders --kind transient --count 0
  STDERR [[^failpipe inject: --count expects an integer from 1 to 100000, found "0"]] EMPTY_STDOUT)
failpipe_cli_test("inject --count -5 is refused" EXIT 2
  ARGS inject --channel orders --kind transient --count -5
  STDERR [[^failpipe inject: --count expects an integer from 1 to 100000, found "-5"]] EMPTY_STDOUT)
failpipe_cli_test("inject --count above 100000 is refused" EXIT 2
  ARGS inject --channel orders --kind transient --count 100001
  STDERR [[^failpipe inject: --count expects an integer from 1 to 100000, found "100001"]] EMPTY_STDOUT)
failpipe_cli_test("inject --seconds for a kind that is not slow is refused" EXIT 2
  ARGS inject --channel orders --kind transient --seconds 3
  STDERR [[^failpipe inject: --seconds is for --kind slow only]] EMPTY_STDOUT)
failpipe_cli_test("inject --seconds above an hour is refused" EXIT 2
  ARGS inject --channel orders --kind slow --seconds 2h
  STDERR [[^failpipe inject: --seconds expects at most 1h, found "2h"]] EMPTY_STDOUT)
failpipe_cli_test("inject with an unreachable broker says so and pushes nothing" EXIT 1 REDIS
  ARGS inject --channel orders --kind transient --redis redis://127.0.0.1:@FREE_PORT@
  STDERR [[^failpipe inject: cannot reach the broker at redis://127\.0\.0\.1:[0-9]+: .*Connection refused]] EMPTY_STDOUT)
