#!/usr/bin/env bash
# Configures and builds failpipe into ./build (Release, warnings as errors on our own targets).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFAILPIPE_WERROR=ON >/dev/null
cmake --build build -j2
