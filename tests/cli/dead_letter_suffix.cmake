# A config's deadLetterSuffix (docs/cli.md, "The workers' config"): with --config naming
# "deadLetterSuffix": ":dead", every command finds the dead letters in C:dead, where a real Worker
# (tests/cli/dead_letter_worker.cpp, over the same config) wrote them. Included by CMakeLists.txt.
set(_fp_sfx_broker --redis @URL@ --prefix @PREFIX@)
set(_fp_sfx --config tests/cli/fixtures/dead-suffix.json ${_fp_sfx_broker})
# Two orders whose handler always fails: sent again once, then dead-lettered by the worker into orders:dead.
set(_fp_sfx_setup
  push --channel orders --type t --data 1 --id d1 ${_fp_sfx_broker} &&
  push --channel orders --type t --data 2 --id d2 ${_fp_sfx_broker} &&
  run-worker @URL@ @PREFIX@ tests/cli/fixtures/dead-suffix.json orders 2 &&)

failpipe_cli_test("dead-letter suffix - channels names C:dead as the dead-letter channel and counts the worker's dead letters" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} channels --format json ${_fp_sfx}
  STDOUT [[{"channel":"orders","kind":"channel","ready":0,"delayed":0,"reserved":0,"deadLetterChannel":"orders:dead","dead":2}]]
         [[{"channel":"orders:dead","kind":"dead-letter","ready":2,"delayed":0,"reserved":0,"deadLetterChannel":null,"dead":null}]]
  NOT_OUTPUT [[orders:dlq]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - channels table shows C:dead as a dead-letter channel" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} channels ${_fp_sfx}
  STDOUT [[\norders +channel +0 +0 +0 +orders:dead +2\n]] [[\norders:dead +dead-letter +2 +0 +0 +- +-\n]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - stats counts C:dead as the channel's dead letters, not as a channel of its own" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} stats --format json ${_fp_sfx}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":2,"parked":0,"evicted":0}\]}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - stats --channel C:dead is the stats of C" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} stats --channel orders:dead --format json ${_fp_sfx}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":2,"parked":0,"evicted":0}\]}\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - dlq list reads the worker's dead letters from C:dead" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq list --channel orders ${_fp_sfx}
  STDOUT [[\nd1 +[^\n]* failure +[^\n]*card declined\n]] [[\nd2 +[^\n]* failure +[^\n]*card declined\n]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - dlq list as JSON names C:dead" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq list --channel orders --format json ${_fp_sfx}
  STDOUT [[^{"channel":"orders:dead","items":\[{"id":"d[12]",[^\n]*"reason":"failure",[^\n]*"originalChannel":"orders",]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - dlq show without --channel finds the dead letter in C:dead" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq show d2 ${_fp_sfx}
  STDOUT [[^id                d2\nchannel           orders:dead\noriginal channel  orders\n]] [[\nreason            failure\n]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - dlq replay sends the worker's dead letters back from C:dead" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq replay --channel orders ${_fp_sfx}
  STDOUT [[^replayed 2 of orders:dead to their channels, parked 0, skipped 0\n$]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - after dlq replay both orders wait in C and C:dead is empty" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq replay --channel orders ${_fp_sfx} && stats --channel orders --format json ${_fp_sfx}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":2,"delayed":0,"reserved":0,"dead":0,"parked":0,"evicted":0}\]}\n$]])
failpipe_cli_test("dead-letter suffix - dlq purge deletes from C:dead" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq purge --channel orders --yes ${_fp_sfx}
  STDOUT [[^deleted 2 of orders:dead\n$]] EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - health counts the dead letters of C:dead" EXIT 1 REDIS
  ARGS ${_fp_sfx_setup} health --format json ${_fp_sfx}
  STDOUT [["reasons":\["orders:dead holds 2 dead letters"\]}\],"deadLetters":{"orders:dead":2}}\n$]]
  EMPTY_STDERR)
# Where the deployment's suffix is ":dead", orders:dead is a dead-letter channel: a replay into it
# would only move dead letters between dead-letter channels. Refused before the broker is
# contacted, and the dead letters stay.
failpipe_cli_test("dead-letter suffix - dlq replay --to a channel ending in the config's suffix is refused" EXIT 2 REDIS
  ARGS ${_fp_sfx_setup} dlq replay --channel orders --to billing:dead ${_fp_sfx}
  STDERR [[^failpipe dlq replay: replay: `to` billing:dead is a dead-letter or parked channel. replay into a working channel \(see "failpipe dlq replay --help"\)\n$]]
  EMPTY_STDOUT)
failpipe_cli_test("dead-letter suffix - a refused replay --to C:dead leaves every dead letter where it was" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} dlq replay --channel orders --to orders:dead ${_fp_sfx} ||
       stats --channel orders --format json ${_fp_sfx}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":0,"delayed":0,"reserved":0,"dead":2,"parked":0,"evicted":0}\]}\n$]])
failpipe_cli_test("dead-letter suffix - dlq show of a message in C refuses it as no dead letter" EXIT 1 REDIS
  ARGS push --channel orders --type t --data 1 --id live ${_fp_sfx_broker} && dlq show live ${_fp_sfx}
  STDERR [[^failpipe dlq show: message live is not a dead letter: it is ready in orders\n$]] EMPTY_STDOUT)
# Without --config the CLI knows only ":dlq": the same dead letters are then a plain channel. This is
# why the commands take the workers' config.
failpipe_cli_test("dead-letter suffix - without --config, C:dead is a plain channel" EXIT 0 REDIS
  ARGS ${_fp_sfx_setup} channels ${_fp_sfx_broker}
  STDOUT [[\norders +channel +0 +0 +0 +orders:dlq +0\n]] [[\norders:dead +channel +2 ]]
  EMPTY_STDERR)
# The config reader refuses it (src/config_sections.cpp), so every command that reads a config says
# the same: the broker commands and the dashboard (exit 2, nothing served), `config check` (exit 1).
set(_fp_sfx_parked_problem [[  tests/cli/fixtures/dead-suffix-parked\.json: /deadLetterSuffix: expected a suffix other than ":parked", the suffix of parked channels \(dead letters and parked messages could not be told apart\), found ":parked" \(see "failpipe [a-z]+ --help"\)\n$]])
failpipe_cli_test("dead-letter suffix - a config whose suffix is the parked suffix is a usage error" EXIT 2
  ARGS stats --config tests/cli/fixtures/dead-suffix-parked.json --redis redis://127.0.0.1:@FREE_PORT@
  STDERR [[^failpipe stats: --config "tests/cli/fixtures/dead-suffix-parked\.json" is not a valid config. nothing was read or written:\n]]
         "${_fp_sfx_parked_problem}"
  EMPTY_STDOUT)
failpipe_cli_test("dead-letter suffix - the dashboard refuses a config whose suffix is the parked suffix" EXIT 2
  ARGS dashboard --config tests/cli/fixtures/dead-suffix-parked.json --redis redis://127.0.0.1:@FREE_PORT@ --listen 127.0.0.1:0
  STDERR [[^failpipe dashboard: --config "tests/cli/fixtures/dead-suffix-parked\.json" is not a valid config. nothing was read or written:\n]]
         "${_fp_sfx_parked_problem}"
  EMPTY_STDOUT)
failpipe_cli_test("dead-letter suffix - config check refuses a suffix that is the parked suffix" EXIT 1
  ARGS config check tests/cli/fixtures/dead-suffix-parked.json
  STDERR [[^tests/cli/fixtures/dead-suffix-parked\.json: /deadLetterSuffix: expected a suffix other than ":parked", the suffix of parked channels \(dead letters and parked messages could not be told apart\), found ":parked"\n$]]
  EMPTY_STDOUT)

# The default suffix: a worker whose config names none writes to C:dlq, found with and without --config.
set(_fp_sfx_default --config tests/cli/fixtures/key-layout-plain.json ${_fp_sfx_broker})
set(_fp_sfx_default_setup
  push --channel orders --type t --data 1 --id p1 ${_fp_sfx_broker} &&
  run-worker @URL@ @PREFIX@ tests/cli/fixtures/key-layout-plain.json orders 1 &&)
failpipe_cli_test("dead-letter suffix - the default C:dlq of a real worker, with --config" EXIT 0 REDIS
  ARGS ${_fp_sfx_default_setup} dlq replay --channel orders ${_fp_sfx_default}
  STDOUT [[^replayed 1 of orders:dlq to their channels, parked 0, skipped 0\n$]] EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - the default C:dlq of a real worker, without --config" EXIT 0 REDIS
  ARGS ${_fp_sfx_default_setup} stats --format json ${_fp_sfx_broker} && dlq list --channel orders ${_fp_sfx_broker}
  STDOUT [[^id  +time +reason +class +error type +message\np1 +[^\n]* failure +[^\n]*card declined\n$]] EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - channels without --config: the default C:dlq" EXIT 0 REDIS
  ARGS ${_fp_sfx_default_setup} channels --format json ${_fp_sfx_broker}
  STDOUT [[{"channel":"orders","kind":"channel","ready":0,"delayed":0,"reserved":0,"deadLetterChannel":"orders:dlq","dead":1}]]
         [[{"channel":"orders:dlq","kind":"dead-letter",]]
  EMPTY_STDERR)

# The help says where the suffix comes from.
failpipe_cli_test("dead-letter suffix - channels --help says the suffix comes from --config" EXIT 0
  ARGS channels --help
  STDOUT [[dead-letter \(name ending in the deadLetterSuffix of --config, default :dlq\)]]
         [[--config FILE +the workers' config: its deadLetterSuffix names the dead-letter channels \(default :dlq\)]]
  EMPTY_STDERR)
failpipe_cli_test("dead-letter suffix - dlq list --help says the suffix comes from --config" EXIT 0
  ARGS dlq list --help
  STDOUT [[\(read from C:dlq, or C \+ the deadLetterSuffix of --config\)]] EMPTY_STDERR)
