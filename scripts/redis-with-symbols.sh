#!/usr/bin/env bash
# Builds the installed redis-server's own version from Debian's source package, with symbols, so
# that a profile (scripts/bench-cluster-mode.sh with FAILPIPE_BENCH_PROFILE) can name the functions
# Redis spends its instructions in: Debian's binary is stripped, and its debug symbols are in an
# archive these machines do not reach. Usage: scripts/redis-with-symbols.sh [DIR] (default
# build/redis-with-symbols). Prints the path of the redis-server it built; then run for example
#   FAILPIPE_REDIS_SERVER=$(scripts/redis-with-symbols.sh) FAILPIPE_BENCH_PROFILE=/tmp/profiles \
#     scripts/bench-cluster-mode.sh
# Leaves the system's apt configuration alone: the source index goes to DIR, from a sources list of
# its own (deb-src of the release the machine runs). Same source, Debian patches and system
# jemalloc as the package. Needs make, gcc, dpkg-source and jemalloc's headers
# (sudo apt-get install build-essential dpkg-dev libjemalloc-dev) and the installed redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/redis-with-symbols}
say() { echo "redis-with-symbols: $*" >&2; }
for tool in make gcc dpkg-source apt-get dpkg-query; do
  command -v "${tool}" >/dev/null || { say "needs ${tool} (sudo apt-get install build-essential dpkg-dev)"; exit 1; }
done
[ -f /usr/include/jemalloc/jemalloc.h ] || { say "needs jemalloc's headers (sudo apt-get install libjemalloc-dev)"; exit 1; }
version=$(dpkg-query -W -f='${Version}' redis-server 2>/dev/null) ||
  { say "the redis-server package is not installed (sudo apt-get install redis-server)"; exit 1; }
mkdir -p "${dir}/lists/partial"
dir=$(cd "${dir}" && pwd)
upstream=${version#*:}  # without an epoch, as the source files are named
binary=${dir}/redis-${upstream}/src/redis-server
if [ -x "${binary}" ]; then echo "${binary}"; exit 0; fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "${codename}" ] || { say "cannot tell the Debian release (VERSION_CODENAME in /etc/os-release)"; exit 1; }
printf 'deb-src http://deb.debian.org/debian %s main\ndeb-src http://deb.debian.org/debian-security %s-security main\n' \
  "${codename}" "${codename}" >"${dir}/sources.list"
apt_private=(-o "Dir::Etc::SourceList=${dir}/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o "Dir::State::Lists=${dir}/lists")
say "reading Debian's source index (${codename})"
apt-get "${apt_private[@]}" update >"${dir}/apt.log" 2>&1 || { say "apt-get update failed:"; tail -n 5 "${dir}/apt.log" >&2; exit 1; }
say "fetching the source of redis ${version}"
(cd "${dir}" && apt-get "${apt_private[@]}" source --download-only "redis=${version}" >>"${dir}/apt.log" 2>&1) ||
  { say "apt-get source redis=${version} failed:"; tail -n 5 "${dir}/apt.log" >&2; exit 1; }
rm -rf "${dir}/redis-${upstream}"
(cd "${dir}" && dpkg-source -x redis_"${upstream}".dsc "redis-${upstream}" >>"${dir}/apt.log" 2>&1) ||
  { say "dpkg-source -x failed:"; tail -n 5 "${dir}/apt.log" >&2; exit 1; }
say "building (make -j2, with symbols; a minute or two)"
make -C "${dir}/redis-${upstream}" -j2 BUILD_TLS=no USE_SYSTEM_JEMALLOC=yes >"${dir}/make.log" 2>&1 ||
  { say "make failed:"; tail -n 20 "${dir}/make.log" >&2; exit 1; }
[ -x "${binary}" ] || { say "make did not leave ${binary}"; exit 1; }
echo "${binary}"
