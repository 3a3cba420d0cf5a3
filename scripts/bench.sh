#!/usr/bin/env bash
# Core benchmarks: builds (Release) and runs bench_core on the in-memory adapter, single thread.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
exec build/bin/bench_core "$@"
