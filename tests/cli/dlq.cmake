# `failpipe dlq ...` through the real binary over the Redis test server. Included by CMakeLists.txt.
# Setup: three dead letters of orders (pushed straight into orders:dlq, so without a failure record:
# the library tests cover the record's fields and every filter on both adapters).
set(_fp_dlq_broker --redis @URL@ --prefix @PREFIX@)
set(_fp_dlq_setup
  push --channel orders:dlq --type order.created --data 1 --id a1 ${_fp_dlq_broker} &&
  push --channel orders:dlq --type order.created --data 2 --id a2 ${_fp_dlq_broker} &&
  push --channel orders:dlq --type order.created --data 3 --id a3 ${_fp_dlq_broker} &&)

failpipe_cli_test("dlq list prints a table" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq list --channel orders ${_fp_dlq_broker}
  STDOUT [[^id  time  reason  class  error type  message\na1  -[^\n]*\na2  -[^\n]*\na3  -[^\n]*\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq list --limit says more match" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq list --channel orders --limit 2 ${_fp_dlq_broker}
  STDOUT [[\na2  -[^\n]*\n\(more match: raise --limit, or narrow the filter\)\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq list as JSON" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq list --channel orders --limit 1 --format json ${_fp_dlq_broker}
  STDOUT [[^{"channel":"orders:dlq","items":\[{"id":"a1","time":"","reason":"","errorType":"","errorMessage":"","errorClass":"","fingerprint":"[0-9a-f]+","attempts":0,"originalChannel":"orders","replays":0,"undecodable":false}\],"more":true}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dlq list with a filter that matches nothing" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq list --channel orders --reason poison --since 2h ${_fp_dlq_broker}
  STDOUT [[^no dead letters match\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq groups as JSON" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq groups --channel orders --format json ${_fp_dlq_broker}
  STDOUT [[^{"channel":"orders:dlq","groups":\[{"fingerprint":"[0-9a-f]+","count":3,"firstSeen":"","lastSeen":"","sampleId":"a1","errorType":"","sampleMessage":""}\]}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dlq show prints the record and the data" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq show a2 --channel orders ${_fp_dlq_broker}
  STDOUT [[^id                a2\nchannel           orders:dlq\noriginal channel  orders\nhandler           order\.created\n]]
         [[\ndata\n  2\nmetadata\n{}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dlq show as JSON" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq show a2 --channel orders --format json ${_fp_dlq_broker}
  STDOUT [[^{"id":"a2",.*"channel":"orders:dlq","handler":"order\.created","data":2,"metadata":{}}\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq show without --channel finds the dead letter where the broker has it" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq show a3 ${_fp_dlq_broker}
  STDOUT [[^id                a3\nchannel           orders:dlq\n]] EMPTY_STDERR)
failpipe_cli_test("dlq show without --channel of an unknown id" EXIT 1 REDIS
  ARGS ${_fp_dlq_setup} dlq show nobody ${_fp_dlq_broker}
  STDERR [[^failpipe dlq show: no message with id nobody \(unknown id, or handled and forgotten\)\n$]] EMPTY_STDOUT)
failpipe_cli_test("dlq show without --channel of a message that is not a dead letter" EXIT 1 REDIS
  ARGS push --channel orders --type t --data 1 --id live ${_fp_dlq_broker} && dlq show live ${_fp_dlq_broker}
  STDERR [[^failpipe dlq show: message live is not a dead letter: it is ready in orders\n$]] EMPTY_STDOUT)
failpipe_cli_test("dlq show of an unknown id" EXIT 1 REDIS
  ARGS ${_fp_dlq_setup} dlq show nobody --channel orders ${_fp_dlq_broker}
  STDERR [[^failpipe dlq show: no message with id nobody \(unknown id, or handled and forgotten\)\n$]] EMPTY_STDOUT)
failpipe_cli_test("dlq list of an unknown channel offers the nearest" EXIT 1 REDIS
  ARGS ${_fp_dlq_setup} dlq list --channel ordres ${_fp_dlq_broker}
  STDERR [[^failpipe dlq list: no dead-letter channel "ordres:dlq" under prefix "clitest-[0-9a-f]+". did you mean "orders:dlq"\?\n$]]
  EMPTY_STDOUT)

failpipe_cli_test("dlq replay --dry-run changes nothing" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --dry-run ${_fp_dlq_broker} && stats --channel orders --format json ${_fp_dlq_broker}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":3,"parked":0,"evicted":0}\]}\n$]])
failpipe_cli_test("dlq replay --dry-run says what would happen" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --dry-run ${_fp_dlq_broker}
  STDOUT [[^dry run: would replay 3 of orders:dlq to their channels, park 0, skip 0 \(nothing changed\)\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq replay sends the dead letters back" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --limit 2 ${_fp_dlq_broker}
  STDOUT [[^replayed 2 of orders:dlq to their channels, parked 0, skipped 0\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq replay: every message once, in its channel" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --rate 100 ${_fp_dlq_broker} && stats --channel orders --format json ${_fp_dlq_broker}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":3,"delayed":0,"reserved":0,"dead":0,"parked":0,"evicted":0}\]}\n$]])
failpipe_cli_test("dlq replay --to another channel" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --to orders-retry ${_fp_dlq_broker} && stats --channel orders-retry --format json ${_fp_dlq_broker}
  STDOUT [[^{"channels":\[{"channel":"orders-retry","ready":3,]])
# With shard groups (keyLayout "groups": orders and emails are groups of their own), a replay to a
# channel of another group goes through the outbox of the dead letters' group; the workers' relay
# publishes it (tests/redis/test_redis_move.cpp shows it arrive once).
set(_fp_dlq_groups --config tests/cli/fixtures/key-layout-groups.json ${_fp_dlq_broker})
set(_fp_dlq_groups_setup
  push --channel orders:dlq --type order.created --data 1 --id g1 ${_fp_dlq_groups} &&
  push --channel orders:dlq --type order.created --data 2 --id g2 ${_fp_dlq_groups} &&)
failpipe_cli_test("dlq replay --to a channel of another shard group says it goes through the outbox" EXIT 0 REDIS
  ARGS ${_fp_dlq_groups_setup} dlq replay --channel orders --to emails ${_fp_dlq_groups}
  STDOUT [[^replayed 2 of orders:dlq to emails, parked 0, skipped 0 \(on their way through the outbox of shard group "orders": the workers' relay publishes them\)\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dlq replay --to a channel of another shard group leaves no dead letter behind" EXIT 0 REDIS
  ARGS ${_fp_dlq_groups_setup} dlq replay --channel orders --to emails ${_fp_dlq_groups} &&
       stats --channel orders --format json ${_fp_dlq_groups}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":0,"parked":0,"evicted":0}\]}\n$]])
# Its dry run says so too (a replay whose relay no worker runs would not arrive), moving nothing; to a
# channel of the same group, or without shard groups, the line is the plain one.
failpipe_cli_test("dlq replay --dry-run --to a channel of another shard group says it would go through the outbox" EXIT 0 REDIS
  ARGS ${_fp_dlq_groups_setup} dlq replay --channel orders --to emails --dry-run ${_fp_dlq_groups}
  STDOUT [[^dry run: would replay 2 of orders:dlq to emails, park 0, skip 0 \(through the outbox of shard group "orders": the workers' relay would publish them. nothing changed\)\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dlq replay --dry-run --to a channel of another shard group leaves the dead letters where they are" EXIT 0 REDIS
  ARGS ${_fp_dlq_groups_setup} dlq replay --channel orders --to emails --dry-run ${_fp_dlq_groups} &&
       stats --channel orders --format json ${_fp_dlq_groups}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":2,"parked":0,"evicted":0}\]}\n$]])
failpipe_cli_test("dlq replay --dry-run --to a channel of the same shard group does not mention the outbox" EXIT 0 REDIS
  ARGS ${_fp_dlq_groups_setup} dlq replay --channel orders --to orders --dry-run ${_fp_dlq_groups}
  STDOUT [[^dry run: would replay 2 of orders:dlq to orders, park 0, skip 0 \(nothing changed\)\n$]]
  NOT_OUTPUT [[outbox]] EMPTY_STDERR)
failpipe_cli_test("dlq replay --to a dead-letter channel is refused" EXIT 2
  ARGS dlq replay --channel orders --to billing:dlq
  STDERR [[^failpipe dlq replay: replay: `to` billing:dlq is a dead-letter or parked channel. replay into a working channel \(see "failpipe dlq replay --help"\)\n$]]
  EMPTY_STDOUT)
failpipe_cli_test("dlq replay --rate 0 is refused" EXIT 2
  ARGS dlq replay --channel orders --rate 0
  STDERR [[^failpipe dlq replay: --rate expects messages per second, a number above 0 and at most 1000000, found "0" ]]
  EMPTY_STDOUT)
failpipe_cli_test("dlq replay --rate in hexadecimal is refused" EXIT 2
  ARGS dlq replay --channel orders --rate 0x10
  STDERR [[^failpipe dlq replay: --rate expects messages per second, a number above 0 and at most 1000000, found "0x10" ]]
  EMPTY_STDOUT)
failpipe_cli_test("dlq replay --rate with a leading space is refused" EXIT 2
  ARGS dlq replay --channel orders --rate " 5"
  STDERR [[^failpipe dlq replay: --rate expects messages per second, a number above 0 and at most 1000000, found " 5" ]]
  EMPTY_STDOUT)
failpipe_cli_test("dlq without its subcommand names every dlq command" EXIT 2
  ARGS dlq
  STDERR [[^failpipe dlq: missing command. expected "list", "show", "groups", "replay" or "purge" \(see "failpipe dlq --help"\)\n$]]
  EMPTY_STDOUT)
failpipe_cli_test("dlq replay --rate absurd is refused" EXIT 2
  ARGS dlq replay --channel orders --rate 1e12
  STDERR [[^failpipe dlq replay: --rate expects messages per second]] EMPTY_STDOUT)
failpipe_cli_test("dlq replay --rate nan is refused" EXIT 2
  ARGS dlq replay --channel orders --rate nan
  STDERR [[^failpipe dlq replay: --rate expects messages per second]] EMPTY_STDOUT)
failpipe_cli_test("dlq replay --limit -1 is refused" EXIT 2
  ARGS dlq replay --channel orders --limit -1
  STDERR [[^failpipe dlq replay: --limit ]] EMPTY_STDOUT)
failpipe_cli_test("dlq list --grep that does not compile is refused" EXIT 2
  ARGS dlq list --channel orders --grep "order (["
  STDERR [[^failpipe dlq list: dead-letter filter grep "order \(\[" is not a valid regular expression: ]] EMPTY_STDOUT)
failpipe_cli_test("dlq list --since that is not a duration is refused" EXIT 2
  ARGS dlq list --channel orders --since yesterday
  STDERR [[^failpipe dlq list: --since ]] EMPTY_STDOUT)
failpipe_cli_test("dlq list without --channel" EXIT 2
  ARGS dlq list
  STDERR [[^failpipe dlq list: missing required option "--channel C"]] EMPTY_STDOUT)

failpipe_cli_test("dlq purge without --yes deletes nothing and says what it would delete" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq purge --channel orders ${_fp_dlq_broker}
  STDOUT [[^would delete a1\nwould delete a2\nwould delete a3\nwould delete 3 of orders:dlq. nothing deleted \(add --yes to delete\)\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dlq purge without --yes: all still there" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq purge --channel orders ${_fp_dlq_broker} && stats --channel orders --format json ${_fp_dlq_broker}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":3,"parked":0,"evicted":0}\]}\n$]])
failpipe_cli_test("dlq purge --yes deletes" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq purge --channel orders --limit 2 --yes ${_fp_dlq_broker}
  STDOUT [[^deleted 2 of orders:dlq\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq purge --older-than keeps dead letters without a time" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq purge --channel orders --older-than 7d --yes ${_fp_dlq_broker}
  STDOUT [[^deleted 0 of orders:dlq\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq purge --older-than that is not a duration is refused" EXIT 2
  ARGS dlq purge --channel orders --older-than 7 days
  STDERR [[^failpipe dlq purge: ]] EMPTY_STDOUT)

if(FAILPIPE_SCRIPT_PROGRAM)
  failpipe_cli_test("dlq replay of 2500 shows progress on a terminal" EXIT 0 REDIS BULK_LINES 2500
    TTY ${FAILPIPE_SCRIPT_PROGRAM}
    ARGS push --channel bulk:dlq --file @BULK@ ${_fp_dlq_broker} && dlq replay --channel bulk ${_fp_dlq_broker}
    STDOUT "^\rreplayed 0 of 2500\rreplayed 500 of 2500[^\n]*\rreplayed 2500 of 2500\r?\nreplayed 2500 of bulk:dlq to their channels, parked 0, skipped 0\r?\n$")
endif()
failpipe_cli_test("dlq replay of 2500: each once in its channel" EXIT 0 REDIS BULK_LINES 2500
  ARGS push --channel bulk:dlq --file @BULK@ ${_fp_dlq_broker} && dlq replay --channel bulk ${_fp_dlq_broker} &&
       stats --channel bulk --format json ${_fp_dlq_broker}
  STDOUT [[^{"channels":\[{"channel":"bulk","ready":2500,"delayed":0,"reserved":0,"dead":0,"parked":0,"evicted":0}\]}\n$]])

failpipe_cli_test("dlq with an unreachable broker names it without its password" EXIT 1
  ARGS dlq list --channel orders --redis redis://user:secret@127.0.0.1:@FREE_PORT@
  STDERR [[^failpipe dlq list: cannot reach the broker at redis://\*\*\*@127\.0\.0\.1:[0-9]+: [^\n]+\n$]]
  NOT_OUTPUT [[secret]] EMPTY_STDOUT)
failpipe_cli_test("dlq replay --help has examples" EXIT 0
  ARGS dlq replay --help STDOUT [[^Usage: failpipe dlq replay --channel C ]] [[\nExamples:\n  failpipe dlq replay --channel orders ]]
  EMPTY_STDERR)
failpipe_cli_test("dlq --help lists its commands" EXIT 0
  ARGS dlq --help STDOUT [[\n  failpipe dlq list ]] [[\n  failpipe dlq show ID ]] [[\n  failpipe dlq groups ]]
  [[\n  failpipe dlq replay ]] [[\n  failpipe dlq purge ]] EMPTY_STDERR)
string(ASCII 27 _fp_esc)
failpipe_cli_test("dlq list shows control characters of an id as ?" EXIT 0 REDIS
  ARGS push --channel orders:dlq --type t --data 1 --id "x${_fp_esc}Hred" ${_fp_dlq_broker} &&
       dlq list --channel orders ${_fp_dlq_broker}
  STDOUT [[\nx\?Hred  -]] NOT_OUTPUT "${_fp_esc}" EMPTY_STDERR)
# Dead letters without a record share one fingerprint: that of an empty type and message.
failpipe_cli_test("dlq replay --group moves that group only" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --group 0123456789abcdef ${_fp_dlq_broker} &&
       dlq replay --channel orders --group af63bd4c8601b7df --limit 2 ${_fp_dlq_broker}
  STDOUT [[^replayed 2 of orders:dlq to their channels, parked 0, skipped 0\n$]] EMPTY_STDERR)
failpipe_cli_test("dlq replay --group of another cause moves nothing" EXIT 0 REDIS
  ARGS ${_fp_dlq_setup} dlq replay --channel orders --group 0123456789abcdef ${_fp_dlq_broker}
  STDOUT [[^replayed 0 of orders:dlq to their channels, parked 0, skipped 0\n$]] EMPTY_STDERR)
