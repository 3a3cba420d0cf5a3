#!/usr/bin/env bash
# The main job: installs what is missing (apt), configures, builds only what the payments run needs
# (the core, the Redis adapter and failpipe_payments; the build's progress is shown), then runs it.
# Arguments go to failpipe_payments, e.g. ./scripts/payments.sh --redis, --messages 2000, --json, --help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
if [ ! -f build/CMakeCache.txt ]; then
  echo "failpipe: configuring the build in ./build (Release)" >&2
  mkdir -p build
  if ! cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFAILPIPE_WERROR=ON >build/configure.log 2>&1; then
    cat build/configure.log >&2
    exit 1
  fi
fi
echo "failpipe: building failpipe_payments (only the targets it needs)" >&2
cmake --build build -j"$(nproc)" --target failpipe_payments >&2
exec build/bin/failpipe_payments "$@"
