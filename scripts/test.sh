#!/usr/bin/env bash
# Runs every test: installs what is missing (apt), builds, starts a redis-server on loopback for the
# Redis suites, runs ctest, and stops the server by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
source scripts/redis-test-server.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
