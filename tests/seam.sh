#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The store seam (core/backend.h) holds: the files that decide what a
# transition does use only the backend's calls. None of them reads a
# directory, sets an inotify watch, takes a flock, opens or names a
# file, or reaches into the directory store's primitives (store.h).
set -uo pipefail
src=${SRC_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
files=(protocol.c freeze.c list.c wait.c run.c slots.c gate.c)
forbidden='readdir|opendir|inotify_|flock\(|openat\(|unlinkat\(|renameat\(|linkat\(|fstatat\(|"store\.h"|lokt__(file_|name_lock|name_unlock|kind_fd|open_in|opendir|queue_scan|ticket_|fence_next|floor_read|watch_add|watch_drain|store_follow|sidecars_prune)|\.json"|locks/|freezes/'
echo "1..$((${#files[@]} + 1))"
n=0
for f in "${files[@]}"; do
	n=$((n + 1))
	# Comments may name the directory store's files; code may not.
	hits=$(sed -e 's@//.*@@' "$src/core/$f" |
		awk '/\/\*/{c=1} !c{print NR": "$0} /\*\//{c=0}' |
		grep -E "$forbidden")
	if [ -z "$hits" ]; then
		echo "ok $n - core/$f uses only the seam"
	else
		echo "not ok $n - core/$f reaches past the seam:"
		printf '%s\n' "$hits" | sed 's/^/#   /'
	fi
done
n=$((n + 1))
# Every call of the table is filled in by the directory store, but those
# of its hand-over section, which says a store may leave them NULL.
missing=$(sed '/---- hand-over/,/---- the rest/d' "$src/core/backend.h" |
	grep -P '^\t[a-z].*\(\*[a-z_]+\)\(' |
	grep -oE '\(\*[a-z_]+\)' | tr -d '()*' |
	while read -r op; do
		grep -qE "^\s*\.$op = " "$src/core/dir.c" || echo "$op"
	done)
if [ -z "$missing" ]; then
	echo "ok $n - the directory store fills every call of backend.h"
else
	echo "not ok $n - dir.c leaves out: $missing"
fi
