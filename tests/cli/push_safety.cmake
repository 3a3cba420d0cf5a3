# --- push and inject: a push the replicas did not confirm, and the config's maxMessageBytes --------
# Included by tests/cli/CMakeLists.txt when the Redis adapter is built (docs/cli.md, push and inject).
set(_fp_safe_broker --redis @URL@ --prefix @PREFIX@)
# The test server has no replica, so WAIT never confirms: the push is stored on the master only.
set(_fp_unconfirmed --redis "@URL@?durability=replicas&replicas=1&waitMs=20" --prefix @PREFIX@)
set(_fp_unconfirmed_text [[NOT confirmed by 1 replica\(s\) within 20 ms \(durability "replicas"\), so a failover now could lose]])

failpipe_cli_test("push that the replicas do not confirm prints its id, says it is stored and exits 3" EXIT 3 REDIS
  ARGS push --channel orders --type t --data 1 ${_fp_unconfirmed}
  STDOUT [[^[0-9a-f]+\n$]]
  STDERR "^failpipe push: message [0-9a-f]+ IS stored in orders but ${_fp_unconfirmed_text} it. pushing again stores a second copy: check with \"failpipe stats\" instead\n$")
failpipe_cli_test("push that the replicas do not confirm prints the id it was given" EXIT 3 REDIS
  ARGS push --channel orders --type t --data 1 --id order-7 ${_fp_unconfirmed}
  STDOUT [[^order-7\n$]] STDERR [[^failpipe push: message order-7 IS stored in orders but NOT confirmed]])
failpipe_cli_test("push that the replicas do not confirm has stored the message once" EXIT 0 REDIS
  ARGS push --channel orders --type t --data 1 ${_fp_unconfirmed} ||
       stats --channel orders --format json ${_fp_safe_broker}
  STDOUT [[^{"channels":\[{"channel":"orders","ready":1,"delayed":0,]] EMPTY_STDERR)
failpipe_cli_test("push --file that the replicas do not confirm says every line is stored and exits 3" EXIT 3 REDIS
  ARGS push --channel orders --type order.updated --file tests/cli/fixtures/messages.jsonl ${_fp_unconfirmed}
  STDERR "^failpipe push: 3 of 3 messages are stored. the last 3 \\(messages 1 to 3 of the file\\) ARE stored in orders but ${_fp_unconfirmed_text} them. pushing again stores second copies: "
  EMPTY_STDOUT)

# maxMessageBytes of --config (200 in the fixture): refused before the broker is contacted.
string(REPEAT "x" 300 _fp_big)
failpipe_cli_test("push refuses --data over the config's maxMessageBytes, naming the limit" EXIT 2
  ARGS push --channel orders --type t --data "{\"note\": \"${_fp_big}\"}" --id big-1
       --config tests/cli/fixtures/max-message-bytes.json --redis redis://127.0.0.1:@FREE_PORT@
  STDERR [[^failpipe push: message "big-1" is 361 bytes, more than maxMessageBytes 200 \(its encoded size. the limit of --config\) \(nothing pushed\) \(see "failpipe push --help"\)\n$]]
  EMPTY_STDOUT)
failpipe_cli_test("push over the config's maxMessageBytes pushes nothing" EXIT 0 REDIS
  ARGS push --channel orders --type t --data "{\"note\": \"${_fp_big}\"}" --config tests/cli/fixtures/max-message-bytes.json
       ${_fp_safe_broker} || channels ${_fp_safe_broker}
  STDOUT [[^no channels\n$]] EMPTY_STDERR)
failpipe_cli_test("push within the config's maxMessageBytes is pushed" EXIT 0 REDIS
  ARGS push --channel orders --type t --data 1 --id small-1 --config tests/cli/fixtures/max-message-bytes.json ${_fp_safe_broker}
  STDOUT [[^small-1\n$]] EMPTY_STDERR)
failpipe_cli_test("push --file names the line over the config's maxMessageBytes" EXIT 2
  ARGS push --channel orders --file tests/cli/fixtures/big-line-2.jsonl --config tests/cli/fixtures/max-message-bytes.json
       --redis redis://127.0.0.1:@FREE_PORT@
  STDERR [[^failpipe push: tests/cli/fixtures/big-line-2\.jsonl:2: message "big-2" is 373 bytes, more than maxMessageBytes 200 \(its encoded size. the limit of --config\) \(nothing pushed\)]]
  EMPTY_STDOUT)
failpipe_cli_test("push --file with a line over the config's maxMessageBytes pushes no line" EXIT 0 REDIS
  ARGS push --channel orders --file tests/cli/fixtures/big-line-2.jsonl --config tests/cli/fixtures/max-message-bytes.json
       ${_fp_safe_broker} || channels ${_fp_safe_broker}
  STDOUT [[^no channels\n$]] EMPTY_STDERR)
string(REPEAT "y" 150 _fp_long_type)
failpipe_cli_test("inject refuses messages over the config's maxMessageBytes, naming the limit" EXIT 2
  ARGS inject --channel orders --kind transient --count 12 --type ${_fp_long_type}
       --config tests/cli/fixtures/max-message-bytes.json --redis redis://127.0.0.1:@FREE_PORT@
  STDERR [[^failpipe inject: message 12 of 12 is 295 bytes, more than maxMessageBytes 200 \(its encoded size. the limit of --config. nothing pushed\) \(see "failpipe inject --help"\)\n$]]
  EMPTY_STDOUT)
failpipe_cli_test("inject over the config's maxMessageBytes pushes nothing" EXIT 0 REDIS
  ARGS inject --channel orders --kind transient --count 12 --type ${_fp_long_type}
       --config tests/cli/fixtures/max-message-bytes.json ${_fp_safe_broker} || channels ${_fp_safe_broker}
  STDOUT [[^no channels\n$]] EMPTY_STDERR)
failpipe_cli_test("inject within the config's maxMessageBytes is pushed" EXIT 0 REDIS
  ARGS inject --channel orders --kind transient --count 2 --config tests/cli/fixtures/max-message-bytes.json ${_fp_safe_broker}
  STDOUT [[^injected 2 transient messages into orders ]] EMPTY_STDERR)

# The help says what --redis and --delay accept (docs/cli.md).
failpipe_cli_test("push --help names the cluster seed list and the query options of --redis" EXIT 0
  ARGS help push
  STDOUT [[\n  --redis URL +the broker [^\n]*a comma-separated seed list redis://\[user:password@\]host1:port1,host2:port2\[/db\][^\n]*durability=master\|replicas, replicas=N and waitMs=T [^\n]*keyLayout=prefix\|groups\n]]
  EMPTY_STDERR)
failpipe_cli_test("push --help and docs agree on --delay D, a duration" EXIT 0
  ARGS help push
  STDOUT [[^Usage: failpipe push --channel C \[--type T\] \[--data JSON\] \[--delay D\] ]]
         [[\n  --delay D +due after this long: a duration, seconds \(90, 1\.5\) or a number and one unit s, m, h or d \(90s, 15m, 2h, 7d\). default 0\n]]
  EMPTY_STDERR)

# inject: the same, for the test messages (each chunk is stored before the replicas are asked).
failpipe_cli_test("inject that the replicas do not confirm prints the ids, says they are stored and exits 3" EXIT 3 REDIS
  ARGS inject --channel payments --kind transient --count 3 ${_fp_unconfirmed}
  STDOUT [[^[0-9a-f]+\n[0-9a-f]+\n[0-9a-f]+\n$]]
  STDERR "^failpipe inject: 3 of 3 messages ARE stored in payments but ${_fp_unconfirmed_text} them. pushing again stores second copies: check with \"failpipe stats\" instead\n$")
failpipe_cli_test("inject that the replicas do not confirm has stored each message once" EXIT 0 REDIS
  ARGS inject --channel payments --kind transient --count 3 ${_fp_unconfirmed} ||
       stats --channel payments --format json ${_fp_safe_broker}
  STDOUT [[^{"channels":\[{"channel":"payments","ready":3,"delayed":0,]] EMPTY_STDERR)
