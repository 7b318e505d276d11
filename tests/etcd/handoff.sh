#!/bin/bash
# SPDX-License-Identifier: MIT
# The handoff from a holder to the waiter at the head of the queue, on a
# real etcd member. A waiter woken by the deletion of the lock begins its
# next attempt from what the deletion says (no lock, no freeze, its own
# place alone) instead of reading the store, and a waiter whose lock is
# tended by guard takes its place's lease for the lock (docs/protocol.md,
# "The etcd store"). Every such guess is compared when the lock is made:
# here the guess is wrong on purpose (a freeze made at the release, a
# lease that expired instead of a release) and the waiter must still do
# what a reading waiter does.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

export LOKT_ETCD_LEASE=2s LOKT_ETCD_TIMEOUT=1s

# hold NAME: another owner's detached lock (the same owner's would be
# renewed by the waiter, not waited for: lokt(1), --detach).
hold() { env LOKT_OWNER=other "$LOKT" lock "$1" --holder 1 --ttl 5m -q; }

# queue_waiter NAME FILE: guard --wait on NAME whose command writes FILE;
# returns once it waits at the head of the queue.
queue_waiter() {
	"$LOKT" guard "$1" --wait --timeout 60s -q -- sh -c "date +%s%N >$2" 2>"$2.err" &
	track $!
	check "a waiter queues for $1" wait_for 20 eval "[ \"\$(waiters $1)\" = 1 ]"
	sleep 0.3 # at the head: watching the lock itself
}

# --- the plain handoff: released, the waiter holds at once ---------------
expect_exit 0 "hold h1" hold h1
queue_waiter h1 "$T/h1.got"
expect_exit 0 "release h1" "$LOKT" unlock h1 --force -q
check "the waiter got h1 and ran its command" wait_for 20 test -s "$T/h1.got"
wait_for 20 eval '! "$LOKT" exists h1'
check "... then released it" eval '! "$LOKT" exists h1'
check "... no waiter is left in the queue" test "$(waiters h1)" = 0

# --- a freeze made at the release: the guess (no freeze) is wrong --------
# The waiter is stopped meanwhile, so that it learns of both at once and
# guesses from its read before the freeze (no freeze).
expect_exit 0 "hold h2" hold h2
queue_waiter h2 "$T/h2.got"
w=$!
kill -STOP "$w"
expect_exit 0 "freeze h2" "$LOKT" freeze h2 --ttl 1m
expect_exit 0 "release h2 (frozen)" "$LOKT" unlock h2 --force -q
kill -CONT "$w"
sleep 1.5
check "the waiter does not take a frozen lock" test ! -e "$T/h2.got"
expect_exit 3 "... h2 is free" "$LOKT" exists h2
check "... and it still waits" test "$(waiters h2)" = 1
expect_exit 0 "unfreeze h2" "$LOKT" unfreeze h2
check "unfrozen: the waiter gets h2" wait_for 20 test -s "$T/h2.got"

# --- a lease that expired: the held key is left, the guess is wrong ------
# A holder whose keeper stops (its host cut off): its lease runs out and
# etcd deletes the lock with nobody releasing it. The waiter's creation
# must still see that and record the expiry once.
sleep 600 &
holder=$!
track $holder
expect_exit 0 "hold h3 (a keeper keeps its lease)" env LOKT_OWNER=other "$LOKT" lock h3 --holder "$holder" -q
kp=$(pgrep -f "lokt-keeper $LOKT_ROOT h3 " | head -1)
check "its keeper runs (pid $kp)" test -n "$kp"
queue_waiter h3 "$T/h3.got"
old=$("$LOKT" status h3 --json | jget 'd["lock_id"]')
kill -STOP "$kp"
check "the lease runs out: the waiter gets h3" wait_for 30 test -s "$T/h3.got"
check "... and the expiry is recorded once" \
	wait_for 10 eval '[ "$(audit_count expire h3)" = 1 ]'
"$LOKT" audit --json >"$T/h3.audit" 2>/dev/null
check "... with the expired lock's id" grep -q "\"event\":\"expire\",\"name\":\"h3\",\"lock_id\":\"$old\"" "$T/h3.audit"
kill -9 "$kp" 2>/dev/null
[ -s "$T/h3.got" ] || diag "waiter: $(cat "$T/h3.got.err"); $("$LOKT" status h3 2>&1)"

# --- liblokt's own threads take no signal -------------------------------
# guard reads SIGCHLD from a signalfd, blocked in every thread of its
# own; a watch thread of the store made while it waited (before guard
# blocked SIGCHLD) and still alive when the command exits took the
# SIGCHLD and dropped it, and guard hung over a zombie command. Every
# thread the store makes must block every signal.
expect_exit 0 "hold h5" hold h5
"$LOKT" guard h5 --wait --timeout 60s -q -- sleep 30 &
g=$!
track "$g"
check "a guard waits for h5" wait_for 20 eval "[ \"\$(waiters h5)\" = 1 ]"
sleep 0.3
open_blk() { # the threads of pid $1 but its main one, SIGCHLD unblocked
	local t blk
	for t in /proc/$1/task/*; do
		[ "${t##*/}" = "$1" ] && continue
		blk=$(awk '/^SigBlk:/ {print $2}' "$t/status" 2>/dev/null) || continue
		[ -n "$blk" ] && (( (0x$blk >> 16) & 1 )) || echo "${t##*/}"
	done
}
threads=$(ls /proc/$g/task | wc -l)
check "the waiting guard has threads of the store ($threads)" test "$threads" -gt 1
check "... every one blocks SIGCHLD (open: $(open_blk "$g" | tr '\n' ' '))" \
	test -z "$(open_blk "$g")"
"$LOKT" unlock h5 --force -q
kill "$g" 2>/dev/null

# --- FIFO still: three guard waiters, served in the order they came ------
: >"$T/order"
expect_exit 0 "hold h4" hold h4
for i in 1 2 3; do
	"$LOKT" guard h4 --wait --timeout 60s -q -- sh -c "echo w$i >>$T/order; sleep 0.2" &
	track $!
	check "w$i queued" wait_for 20 eval "[ \"\$(waiters h4)\" = $i ]"
done
expect_exit 0 "release h4" "$LOKT" unlock h4 --force -q
check "all three got in" wait_for 30 eval '[ "$(wc -l <"$T/order")" -eq 3 ]'
check "in the order they came ($(tr '\n' ' ' <"$T/order"))" \
	test "$(tr '\n' ' ' <"$T/order")" = "w1 w2 w3 "

done_testing
