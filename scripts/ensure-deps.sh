#!/usr/bin/env bash
# Installs the Debian packages failpipe builds and tests with, when any is missing.
#   --browser   also chromium and chromium-driver, for the browser tests (scripts/test.sh passes it;
#               builds, payments and chaos runs do not need a browser)
set -euo pipefail
packages=(g++ cmake make pkg-config nlohmann-json3-dev libhiredis-dev libspdlog-dev doctest-dev libcli11-dev libcpp-httplib-dev
          libbenchmark-dev redis-server redis-tools
          clang-14 libclang-rt-14-dev llvm-14 ninja-build)  # libFuzzer, symbolized sanitizer stacks, parallel targets
for arg in "$@"; do
  case "${arg}" in
    --browser) packages+=(chromium chromium-driver) ;;  # headless Chromium + chromedriver (tests/browser)
    *) echo "usage: scripts/ensure-deps.sh [--browser]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "failpipe: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
