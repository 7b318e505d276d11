#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmark still runs: tests/bench/bench.sh -q (stores of 10 and 100
# locks, a few rounds) prints every row of its table and the daemon's
# peak memory. Nothing is asserted about times: a row may say NO, or
# "skipped" where the machine cannot mount FUSE.
. "$SRC_ROOT/tests/lib.sh"

out=$(mktemp /tmp/lokt-bench-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT
if "$SRC_ROOT/tests/bench/bench.sh" -q -b "$BUILD_ROOT" >"$out" 2>&1; then
	ok "bench.sh -q exits 0"
else
	not_ok "bench.sh -q exits 0"
	diag "$(cat "$out")"
fi
for what in "lokt lock+unlock, 10 held" "lokt lock+unlock, 100 held" \
	"lokt status, 100 locks" "lokt status --json, 100 locks" \
	"ls -l locks/ through the mount, 100 locks" \
	"ls locks/ through the mount, 100 locks" \
	"create+unlink locks/x through the mount" \
	"liblokt acquire+release, in process" \
	"the same, the store on tmpfs" \
	"its system calls per acquire+release" \
	"liblokt slot acquire+release, 2 of 3 held" \
	"release -> waiter in, in process" \
	"lokt lock x && lokt unlock x" "lokt guard x -- /bin/true" \
	"loktfs peak RSS (VmHWM)"; do
	# a row: its label, then figures and a verdict (or "skipped: why")
	if grep -F -- "$what" "$out" | grep -Eq ' (yes|NO)$|skipped: | MiB '; then
		ok "row: $what"
	else
		not_ok "row: $what"
		diag "$(cat "$out")"
	fi
done
done_testing
