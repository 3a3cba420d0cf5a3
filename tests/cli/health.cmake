# `failpipe stats --format prometheus` and `failpipe health` through the real binary. Included by
# CMakeLists.txt (after the broker tests, whose _fp_setup and _fp_broker it uses).

failpipe_cli_test("stats --format prometheus prints depth gauges per channel and state" EXIT 0 REDIS
  ARGS ${_fp_setup} stats --format prometheus ${_fp_broker}
  STDOUT [[^# HELP failpipe_channel_messages [^\n]+
# TYPE failpipe_channel_messages gauge
failpipe_channel_messages{channel="invoices",state="ready"} 0
failpipe_channel_messages{channel="invoices",state="delayed"} 1
failpipe_channel_messages{channel="invoices",state="reserved"} 0
failpipe_channel_messages{channel="invoices",state="dead"} 0
failpipe_channel_messages{channel="invoices",state="parked"} 0
failpipe_channel_messages{channel="orders",state="ready"} 1
failpipe_channel_messages{channel="orders",state="delayed"} 1
failpipe_channel_messages{channel="orders",state="reserved"} 0
failpipe_channel_messages{channel="orders",state="dead"} 2
failpipe_channel_messages{channel="orders",state="parked"} 1
# HELP failpipe_dead_letters_evicted_total [^\n]+
# TYPE failpipe_dead_letters_evicted_total counter
failpipe_dead_letters_evicted_total{channel="invoices"} 0
failpipe_dead_letters_evicted_total{channel="orders"} 0
$]]
  EMPTY_STDERR)
failpipe_cli_test("stats --format prometheus of one channel" EXIT 0 REDIS
  ARGS ${_fp_setup} stats --channel orders --format prometheus ${_fp_broker}
  STDOUT [[\nfailpipe_channel_messages{channel="orders",state="dead"} 2\n]]
  NOT_OUTPUT [[invoices]]
  EMPTY_STDERR)
failpipe_cli_test("stats --format prometheus escapes label values" EXIT 0 REDIS
  ARGS push --channel "a\"b\\c" --type t --data 1 ${_fp_broker} && stats --format prometheus ${_fp_broker}
  STDOUT [[\nfailpipe_channel_messages{channel="a\\"b\\\\c",state="ready"} 1\n]]
  EMPTY_STDERR)
failpipe_cli_test("stats --format prometheus of an empty prefix has the families and no samples" EXIT 0 REDIS
  ARGS stats --format prometheus ${_fp_broker}
  STDOUT [[^# HELP failpipe_channel_messages [^\n]+\n# TYPE failpipe_channel_messages gauge\n# HELP failpipe_dead_letters_evicted_total [^\n]+\n# TYPE failpipe_dead_letters_evicted_total counter\n$]]
  EMPTY_STDERR)

failpipe_cli_test("health of a broker without dead letters is healthy (status 0)" EXIT 0 REDIS
  ARGS push --channel orders --type t --data 1 ${_fp_broker} && health ${_fp_broker}
  STDOUT [[^healthy\n  broker        healthy\n  dead-letters  healthy\n$]]
  EMPTY_STDERR)
failpipe_cli_test("health with dead letters waiting is a warning (status 1)" EXIT 1 REDIS
  ARGS ${_fp_setup} health --format json ${_fp_broker}
  STDOUT [[^{"status":"warning","checkedAt":"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9][0-9][0-9]Z","components":\[{"name":"broker","status":"healthy","reasons":\[\]},{"name":"dead-letters","status":"warning","reasons":\["orders:dlq holds 2 dead letters"\]}\],"deadLetters":{"orders:dlq":2}}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("health --channel counts only the dead letters of those channels" EXIT 0 REDIS
  ARGS ${_fp_setup} health --channel invoices,payments --format json ${_fp_broker}
  STDOUT [[^{"status":"healthy",[^\n]*"deadLetters":{"invoices:dlq":0,"payments:dlq":0}}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("health of an unreachable broker is unhealthy (status 2), its password hidden" EXIT 2
  ARGS health --redis redis://user:secret@127.0.0.1:@FREE_PORT@ --format json
  STDOUT [[^{"status":"unhealthy",[^\n]*"components":\[{"name":"broker","status":"unhealthy","reasons":\["unreachable: redis://\*\*\*@127\.0\.0\.1:[0-9]+: [^"]+"\]}\],"deadLetters":{}}\n$]]
  NOT_OUTPUT [[secret]]
  EMPTY_STDERR)
failpipe_cli_test("health text of an unreachable broker" EXIT 2
  ARGS health --redis redis://127.0.0.1:@FREE_PORT@
  STDOUT [[^unhealthy\n  broker  unhealthy\n    - unreachable: redis://127\.0\.0\.1:[0-9]+: [^\n]*Connection refused\n$]]
  EMPTY_STDERR)
failpipe_cli_test("health with an unknown option is status 64, not a verdict" EXIT 64
  ARGS health --fromat json
  STDERR [[^failpipe health: unknown option "--fromat". did you mean "--format"\? \(see "failpipe health --help"\)\n$]]
  EMPTY_STDOUT)
failpipe_cli_test("health with an unknown --format is status 64" EXIT 64
  ARGS health --format yaml
  STDERR [[^failpipe health: --format expects "text" or "json", found "yaml"]] EMPTY_STDOUT)
failpipe_cli_test("health with a --timeout of 0 is status 64" EXIT 64
  ARGS health --timeout 0
  STDERR [[^failpipe health: --timeout expects a duration greater than 0, found "0"]] EMPTY_STDOUT)
failpipe_cli_test("health with an empty channel in --channel is status 64" EXIT 64
  ARGS health --channel orders,,payments
  STDERR [[^failpipe health: --channel expects channel names separated by commas, found "orders,,payments"]] EMPTY_STDOUT)
failpipe_cli_test("health with a malformed --redis URL is status 64" EXIT 64
  ARGS health --redis redis://user:secret@127.0.0.1:99999
  STDERR [[^failpipe health: [^\n]*invalid Redis URL "redis://\*\*\*@127\.0\.0\.1:99999": ]]
  NOT_OUTPUT [[secret]]
  EMPTY_STDOUT)
failpipe_cli_test("health --state that is not a report is status 64 and the file is left alone" EXIT 64
  ARGS health --state config/yii-guide.json
  STDERR [[^failpipe health: --state "config/yii-guide\.json" is not a health report written by failpipe health \([^\n]*\). it was left as it is]]
  EMPTY_STDOUT)
failpipe_cli_test("health --state of a directory is status 64" EXIT 64
  ARGS health --state tests/cli/fixtures
  STDERR [[^failpipe health: "tests/cli/fixtures" is a directory, not a file]] EMPTY_STDOUT)
failpipe_cli_test("health --help names the exit statuses" EXIT 0
  ARGS health --help
  STDOUT [[^Usage: failpipe health ]] [[0, 1, 2]] [[status 64]] [[\nExamples:\n  failpipe health\n]] EMPTY_STDERR)
failpipe_cli_test("--help lists health" EXIT 0
  ARGS --help STDOUT [[\n  health  ]] [[64 bad arguments]] EMPTY_STDERR)

# healthy -> warning after a dead letter -> unhealthy with the broker paused and then stopped, over a
# redis-server of the test's own (started and stopped by its PID).
find_program(FAILPIPE_REDIS_SERVER_PROGRAM redis-server)
find_program(FAILPIPE_REDIS_CLI_PROGRAM redis-cli)
if(FAILPIPE_REDIS_SERVER_PROGRAM AND FAILPIPE_REDIS_CLI_PROGRAM)
  add_test(NAME "cli: health goes healthy, warning on a dead letter, unhealthy with the broker stopped"
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/health_transitions.sh $<TARGET_FILE:failpipe_cli> ${PROJECT_SOURCE_DIR})
  set_tests_properties("cli: health goes healthy, warning on a dead letter, unhealthy with the broker stopped"
                       PROPERTIES TIMEOUT 120 LABELS redis)
endif()
failpipe_cli_test("health --state that is not a report leaves it as it was" EXIT 0
  ARGS health --state config/yii-guide.json || config check config/yii-guide.json
  STDOUT [[^ok: 2 pipelines ]] EMPTY_STDERR)
failpipe_cli_test("health --state that cannot be written is status 70 after the verdict" EXIT 70
  ARGS health --redis redis://127.0.0.1:@FREE_PORT@ --state no/such/dir/health.json
  STDOUT [[^unhealthy\n]]
  STDERR [[^failpipe health: cannot write "no/such/dir/health\.json\.tmp"\n$]])
string(ASCII 27 _fp_health_esc)
failpipe_cli_test("health text prints control characters of a channel name as ?" EXIT 1 REDIS
  ARGS push --channel "ev${_fp_health_esc}Hil:dlq" --type t --data 1 ${_fp_broker} && health ${_fp_broker}
  STDOUT [[\n    - ev\?Hil:dlq holds 1 dead letter\n$]] NOT_OUTPUT "${_fp_health_esc}" EMPTY_STDERR)
