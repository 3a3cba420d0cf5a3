#!/usr/bin/env bash
# The main job: installs what is missing (apt), builds, and runs the demo worker (in-memory adapter
# by default; pass --redis redis://127.0.0.1:6379 to use Redis). Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
exec build/bin/demo_worker "$@"
