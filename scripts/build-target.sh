#!/usr/bin/env bash
# Installs what is missing (apt), configures ./build (Release) once, and builds only the targets
# named, with the build's progress shown. Used by the scripts that run one program.
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
echo "failpipe: building $* (only the targets it needs)" >&2
cmake --build build -j"$(nproc)" --target "$@" >&2
