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

# Killed (SIGTERM to its whole process group, as a cancelled CI job or a
# ^C sends it), bench.sh still removes its directory and leaves no
# process: also when its holders ended first and were reaped (made sure
# of here: they are killed before it is), so that cleanup's kill of
# them fails. Its holders, its children, carry its store in LOKT_ROOT
# ($tmp/root).
holders=()
bench_holders() {
	local p
	holders=($(pgrep -s "$sid" -x sleep))
	for p in "${holders[@]}"; do
		root=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			sed -n 's/^LOKT_ROOT=//p')
		[ -n "$root" ] && return 0
	done
	return 1
}
reaped() { local p; for p in "${holders[@]}"; do [ ! -e "/proc/$p" ] || return 1; done; }
session_gone() { ! pgrep -s "$sid" >/dev/null; }
setsid "$SRC_ROOT/tests/bench/bench.sh" -q -b "$BUILD_ROOT" >"$out" 2>&1 &
sid=$!
root=
if wait_for 60 grep -q ' held (vs ' "$out" && bench_holders; then
	kill -TERM "${holders[@]}"
	wait_for 10 reaped || diag "bench.sh did not reap its holders"
	kill -TERM -- "-$sid"
	wait "$sid" || true
	wait_for 10 session_gone || true
	if [ -e "${root%/root}" ] || ! session_gone; then
		not_ok "bench.sh killed leaves nothing behind"
		diag "left: $(ls -d "${root%/root}" 2>&1); $(pgrep -a -s "$sid")"
	else
		ok "bench.sh killed leaves nothing behind"
	fi
else
	not_ok "bench.sh killed leaves nothing behind (its first row or holders never came)"
	diag "$(cat "$out")"
fi
kill -KILL -- "-$sid" 2>/dev/null
[ -n "$root" ] && rm -rf "${root%/root}"

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
