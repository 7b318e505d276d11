#!/bin/bash
# SPDX-License-Identifier: MIT
# Mutual exclusion under contention: 8 processes race for one name, many
# rounds each, through `lokt guard --wait` and through `lokt lock --wait`
# + `lokt unlock` from a subshell. A witness in each critical section
# detects any overlap (mkdir of a shared directory fails, or the
# enter/leave log does not alternate). Zero overlaps, and exactly the
# expected number of critical sections (so the test can fail).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

PROCS=8
ROUNDS_GUARD=12
ROUNDS_LOCK=10
W="$T/wit"

# The witness itself must see an overlap: hold one section open and run a
# second one beside it, with no lock at all.
witness_reset "$W"
sh "$WITNESS" "$W" "$T/release" &
wpid=$!
track "$wpid"
wait_for 20 grep -q enter "$W/log"
sh "$WITNESS" "$W"
: >"$T/release"
wait "$wpid"
read -r n ov bad <<<"$(witness_stats "$W")"
check "witness detects a forced overlap (mkdir: $ov, order: $bad)" \
	test "$ov" -ge 1 -a "$bad" -ge 1

# Round 1: lokt guard --wait -- witness
witness_reset "$W"
pids=()
for i in $(seq "$PROCS"); do
	(
		fails=0
		for r in $(seq "$ROUNDS_GUARD"); do
			lean_round "$r"
			"$LOKT" guard cx --wait --timeout 60s -q -- \
				sh "$WITNESS" "$W" || fails=$((fails + 1))
		done
		echo "$fails" >"$T/guard-fails.$i"
	) &
	pids+=($!)
	track $!
done
wait "${pids[@]}"
fails=$(cat "$T"/guard-fails.* | awk '{ s += $1 } END { print s + 0 }')
read -r n ov bad <<<"$(witness_stats "$W")"
check "guard: every one of $((PROCS * ROUNDS_GUARD)) runs exited 0 ($fails failed)" \
	test "$fails" -eq 0
check "guard: $((PROCS * ROUNDS_GUARD)) critical sections ran (got $n)" \
	test "$n" -eq $((PROCS * ROUNDS_GUARD))
check "guard: zero overlaps (mkdir saw $ov, log misordered $bad)" \
	test "$ov" -eq 0 -a "$bad" -eq 0
expect_exit 3 "guard: lock free after the storm" "$LOKT" exists cx

# Round 2: lokt lock --wait, witness, lokt unlock, from subshells
witness_reset "$W"
pids=()
for i in $(seq "$PROCS"); do
	(
		fails=0
		for r in $(seq "$ROUNDS_LOCK"); do
			lean_round "$r"
			if "$LOKT" lock cy --wait --timeout 60s -q; then
				sh "$WITNESS" "$W"
				"$LOKT" unlock cy -q || fails=$((fails + 1))
			else
				fails=$((fails + 1))
			fi
		done
		echo "$fails" >"$T/lock-fails.$i"
	) &
	pids+=($!)
	track $!
done
wait "${pids[@]}"
fails=$(cat "$T"/lock-fails.* | awk '{ s += $1 } END { print s + 0 }')
read -r n ov bad <<<"$(witness_stats "$W")"
check "lock/unlock: every lock and unlock exited 0 ($fails failed)" \
	test "$fails" -eq 0
check "lock/unlock: $((PROCS * ROUNDS_LOCK)) critical sections ran (got $n)" \
	test "$n" -eq $((PROCS * ROUNDS_LOCK))
check "lock/unlock: zero overlaps (mkdir saw $ov, log misordered $bad)" \
	test "$ov" -eq 0 -a "$bad" -eq 0
expect_exit 3 "lock/unlock: lock free after the storm" "$LOKT" exists cy

done_testing
