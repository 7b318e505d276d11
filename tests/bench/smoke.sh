#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmarks still run: tests/bench/bench.sh -q (stores of 10 and 100
# locks, a few rounds) prints every row of its table and the daemon's
# peak memory, and tests/bench/etcd.sh -n 2 its two rows. Nothing is
# asserted about times: a row may say NO, or "skipped" where the machine
# cannot mount FUSE.
. "$SRC_ROOT/tests/lib.sh"

# In the scratch directory of tests/lib.sh, removed at exit by its trap
# (a trap of our own would replace it and leave that directory behind).
out=$T/bench.out
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
	"the same, the store on tmpfs (vs 2x /bin/true)" \
	"guard, the store on tmpfs" \
	"loktfs peak RSS (VmHWM)"; do
	# a row: its label, then figures and a verdict (or "skipped: why")
	if grep -F -- "$what" "$out" | grep -Eq ' (yes|NO)$|skipped: | MiB '; then
		ok "row: $what"
	else
		not_ok "row: $what"
		diag "$(cat "$out")"
	fi
done

# The etcd benchmark (tests/bench/etcd.sh), two rounds: both rows printed.
if [ ! -x "$BUILD_ROOT/core/etcd/lokt-keeper" ] || ! command -v etcd >/dev/null ||
	! command -v etcdctl >/dev/null; then
	skip "etcd.sh -n 2" "needs a build with the etcd store, etcd and etcdctl"
elif "$SRC_ROOT/tests/bench/etcd.sh" -n 2 -b "$BUILD_ROOT" >"$out" 2>&1 &&
	grep -q '^lokt guard x -- true .* ratio [0-9]' "$out" &&
	grep -q '^release -> next holder .* ratio [0-9]' "$out"; then
	ok "etcd.sh -n 2 prints both rows"
else
	not_ok "etcd.sh -n 2 prints both rows"
	diag "$(cat "$out")"
fi
done_testing
