#!/usr/bin/env bash
# The small demo: 40 orders on one channel, every decision of the failure pipeline logged as it is
# made (send again, back off, dead-letter). The main job is ./scripts/payments.sh. Installs what is
# missing (apt), builds only demo_worker (progress shown), runs it; arguments go to demo_worker
# (--orders N, --workers N, --redis URL, --plain, --help).
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
echo "failpipe: building demo_worker (only the targets it needs)" >&2
cmake --build build -j"$(nproc)" --target demo_worker >&2
exec build/bin/demo_worker "$@"
