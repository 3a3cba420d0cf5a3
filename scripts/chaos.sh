#!/usr/bin/env bash
# The large chaos run (docs/chaos.md): 1,000,000 messages through worker processes that are SIGKILLed
# every few hundred milliseconds, over a redis-server of its own (127.0.0.1, free port, AOF with
# fsync always) restarted by SIGKILL and SHUTDOWN every few seconds; then an audit by id. Prints
#   pushed=… handled=… dead=… duplicates=… lost=… kills=… redis_restarts=… seconds=…
# and exits non-zero when anything was lost.
#
# usage: scripts/chaos.sh [--messages N] [--workers N] [--seed N|random] [--settle per-batch|per-message]
#                         [--seconds S] [-- more failpipe_chaos options, see failpipe_chaos --help]
set -euo pipefail
cd "$(dirname "$0")/.."

messages=1000000 workers=3 seed=random settle=per-batch seconds=1800
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --messages|--workers|--seed|--settle|--seconds)
      [ $# -ge 2 ] || { echo "chaos.sh: $1 wants a value" >&2; exit 2; }
      name=${1#--}; printf -v "$name" '%s' "$2"; shift 2 ;;
    --) shift; extra+=("$@"); break ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "chaos.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

scripts/ensure-deps.sh
build_dir=${FAILPIPE_BUILD_DIR:-build}
cmake -S . -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release -DFAILPIPE_WERROR=ON >/dev/null
cmake --build "${build_dir}" -j2 --target failpipe_chaos
export FAILPIPE_REDIS_SERVER=${FAILPIPE_REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
exec "${build_dir}/tests/chaos/failpipe_chaos" --messages "${messages}" --workers "${workers}" --seed "${seed}" \
     --settle "${settle}" --seconds "${seconds}" "${extra[@]}"
