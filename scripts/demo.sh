#!/usr/bin/env bash
# The small demo: 40 orders on one channel, every decision of the failure pipeline logged as it is
# made (send again, back off, dead-letter). The main job is ./scripts/payments.sh. Installs what is
# missing (apt), builds only demo_worker (progress shown), runs it; arguments go to demo_worker
# (--orders N, --workers N, --redis URL, --plain, --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-target.sh demo_worker
exec build/bin/demo_worker "$@"
