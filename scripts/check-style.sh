#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Mechanical style rules for the C sources (docs/architecture.md, "Style"): SPDX line first,
# at most 100 columns with tabs counted as 8, no trailing whitespace, no unbounded or
# unchecked libc calls, no exit()/abort() outside main.c and the tools.
# Usage: scripts/check-style.sh    (exit 1 and one line per problem when something is off)
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files 'src/*.[ch]' 'include/*.h' 'tests/*.[ch]')
problems=0
report() {
	echo "$1"
	problems=$((problems + 1))
}

for f in "${files[@]}"; do
	head -n 1 "$f" | grep -q 'SPDX-License-Identifier: BSD-3-Clause' ||
		report "$f:1: first line must be the SPDX identifier"
	while IFS= read -r hit; do
		report "$f:${hit%%:*}: line longer than 100 columns"
	done < <(expand -t 8 "$f" | awk 'length > 100 { print FNR ":" }')
	while IFS= read -r hit; do
		report "$f:${hit%%:*}: trailing whitespace"
	done < <(grep -n '[[:space:]]$' "$f" || true)
done

for f in "${files[@]}"; do
	case "$f" in src/*|include/*) ;; *) continue ;; esac
	while IFS= read -r hit; do
		report "$f:${hit%%:*}: use a bounded or checked function instead: ${hit#*:}"
	done < <(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)\s*\(' "$f" || true)
	case "$f" in src/main.c|src/tools/*) continue ;; esac
	while IFS= read -r hit; do
		report "$f:${hit%%:*}: exit()/abort() outside main and the tools: ${hit#*:}"
	done < <(grep -nE '\b(exit|abort)\s*\(' "$f" || true)
done

if [ "$problems" -gt 0 ]; then
	echo "check-style: $problems problem(s)"
	exit 1
fi
echo "check-style: ${#files[@]} files clean"
