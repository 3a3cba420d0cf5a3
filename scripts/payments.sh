#!/usr/bin/env bash
# The main job: installs what is missing (apt), configures, builds only what the payments run needs
# (the core, the Redis adapter and failpipe_payments; the build's progress is shown), then runs it.
# Arguments go to failpipe_payments, e.g. ./scripts/payments.sh --redis, --messages 2000, --json, --help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-target.sh failpipe_payments
exec build/bin/failpipe_payments "$@"
