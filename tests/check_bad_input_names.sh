#!/usr/bin/env bash
# Every test that docs/bad-input.md names as its proof (the last column, `prefix:name`) is a test
# ctest knows. A name ending in "…" names the tests that start with it.
set -euo pipefail
doc="$1"; build="$2"
names=$(mktemp)
trap 'rm -f "$names"' EXIT
ctest --test-dir "$build" -N | sed -n 's/^ *Test *#[0-9]*: //p' >"$names"
[ -s "$names" ] || { echo "ctest -N listed no tests in $build"; exit 1; }
missing=0 checked=0
while IFS= read -r name; do
  checked=$((checked + 1))
  case "$name" in
    *…*) prefix=${name%%…*}; prefix=${prefix%" "}
         grep -qF -- "$prefix" "$names" && awk -v p="$prefix" 'index($0, p) == 1 { found = 1 } END { exit !found }' "$names" ||
           { echo "no test starts with: $prefix"; missing=$((missing + 1)); } ;;
    *) grep -qxF -- "$name" "$names" || { echo "no such test: $name"; missing=$((missing + 1)); } ;;
  esac
done < <(grep '^|' "$doc" | grep -v -e '^| case' -e '^| ---' |
         awk -F'|' '{ print $(NF-1) }' | grep -o '`[^`]*`' | tr -d '`' |
         grep -E '^(core|redis|cluster|http|cli|payments|example|chaos|tests|browser):')
echo "$checked test names checked, $missing missing"
[ "$checked" -gt 50 ] || { echo "too few names found: is the table format still the same?"; exit 1; }
[ "$missing" -eq 0 ]
