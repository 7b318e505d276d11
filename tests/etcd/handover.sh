#!/bin/bash
# SPDX-License-Identifier: MIT
# The hand-over on a real etcd member (docs/protocol.md, "Hand-over on
# etcd"): a guard waiting at the head of the queue offers the record it
# would create, and a release publishes it in its own transaction. The
# waiter is stopped (SIGSTOP) before the release in most checks, so that
# only the releaser can have made it the holder: without the hand-over the
# lock would be free.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

command -v etcdctl >/dev/null || {
	echo "1..0 # SKIP etcdctl is not installed (apt-get install etcd-client)"
	exit 0
}
export LOKT_ETCD_LEASE=3s LOKT_ETCD_TIMEOUT=2s
prefix=/${LOKT_ROOT##*/}

# hold NAME: another owner's detached lock, released with unlock --force.
hold() { env LOKT_OWNER=other "$LOKT" lock "$1" --holder 1 --ttl 5m -q; }

# offered NAME: the first waiter's place carries its offer.
offered() {
	_etcd get --prefix "$prefix/queue/$1/" --print-value-only 2>/dev/null |
		grep -q '"offer"'
}

# waiter NAME FILE [ARGS...]: guard --wait on NAME whose command writes
# its fence into FILE; returns once its offer is written. Its pid: $w.
waiter() {
	local name=$1 file=$2
	shift 2
	"$LOKT" guard "$name" --wait --timeout 60s "$@" -q -- \
		sh -c "echo \$LOKT_FENCE >$file.tmp; mv $file.tmp $file; sleep 0.3" \
		2>"$file.err" &
	w=$!
	track $w
	check "a guard waits for $name and offers" wait_for 20 offered "$name"
}

# stopped_waiter NAME TIMEOUT: guard --wait --timeout TIMEOUT on NAME,
# whose command writes "ran" into $T/NAME.got; stopped (SIGSTOP) once it
# offered. Its pid: $w.
stopped_waiter() {
	"$LOKT" guard "$1" --wait --timeout "$2" -q -- sh -c "echo ran >$T/$1.got" \
		2>"$T/$1.err" &
	w=$!
	track $w
	check "a guard with --timeout $2 waits for $1 and offers" wait_for 20 offered "$1"
	kill -STOP "$w"
}

# Milliseconds since the epoch, without spawning date(1).
now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }

field() { "$LOKT" status "$1" --json 2>/dev/null | jget "d[\"$2\"]"; }

# --- the release makes the stopped waiter the holder ---------------------
case_a1() {
	expect_exit 0 "hold a1" hold a1
	f0=$(field a1 fence)
	waiter a1 "$T/a1.got"
	kill -STOP "$w"
	expect_exit 0 "release a1 (the waiter is stopped)" "$LOKT" unlock a1 --force -q
	check "a1 is held by the stopped waiter (pid $w)" \
		test "$(field a1 pid)" = "$w"
	f1=$(field a1 fence)
	check "... with a fence above the last one ($f0 < $f1)" test "$f1" -gt "$f0"
	check "... nobody is left in the queue" test "$(waiters a1)" = 0
	"$LOKT" audit --name a1 --json 2>/dev/null | "$PY" -c '
import json, sys
ev = json.load(sys.stdin)
print(" ".join(e["event"] for e in ev), ev[-1]["pid"] if ev else "")' >"$T/a1.ev"
	check "... audit: acquire, force-break, then the waiter's acquire ($(cat "$T/a1.ev"))" \
		test "$(cat "$T/a1.ev")" = "acquire force-break acquire $w"
	kill -CONT "$w"
	check "the waiter runs its command" wait_for 20 test -s "$T/a1.got"
	check "... which was given the fence status shows ($(cat "$T/a1.got"))" \
		test "$(cat "$T/a1.got")" = "$f1"
	wait_for 20 eval '! "$LOKT" exists a1'
	expect_exit 3 "... then released a1" "$LOKT" exists a1
}

# --- fences go up along hand-overs, and past them -------------------------
case_a2() {
	expect_exit 0 "hold a2" hold a2
	for i in 1 2 3; do
		"$LOKT" guard a2 --wait --timeout 60s -q -- sh -c "echo \$LOKT_FENCE >>$T/a2.f; sleep 0.3" &
		track $!
		check "waiter $i queued" wait_for 20 eval "[ \"\$(waiters a2)\" = $i ]"
	done
	check "the first one offers" wait_for 20 offered a2
	expect_exit 0 "release a2" "$LOKT" unlock a2 --force -q
	check "the three waiters got a2 in turn" wait_for 30 eval '[ "$(wc -l <"$T/a2.f")" -eq 3 ]'
	wait_for 20 eval '! "$LOKT" exists a2'
	expect_exit 0 "then a plain lock of a2" "$LOKT" lock a2 -q
	field a2 fence >>"$T/a2.f"
	"$LOKT" unlock a2 -q
	check "every fence above the one before ($(tr '\n' ' ' <"$T/a2.f"))" "$PY" -c '
import sys
f = [int(x) for x in open(sys.argv[1]).read().split()]
sys.exit(0 if len(f) == 4 and all(a < b for a, b in zip(f, f[1:])) else 1)' "$T/a2.f"
}

# --- a timeout at the hand-over: the lock was handed, it is kept ----------
case_a3() {
	expect_exit 0 "hold a3" hold a3
	# Its lease 10 s: stopped past it, the lock handed over would be lost
	# (a11 below).
	LOKT_ETCD_LEASE=10s stopped_waiter a3 2s
	expect_exit 0 "release a3" "$LOKT" unlock a3 --force -q
	sleep 2.5 # past the waiter's deadline
	kill -CONT "$w"
	wait "$w"
	rc=$?
	check "the waiter, handed a3 before its timeout, ran its command (exit $rc)" \
		test "$rc" = 0 -a -s "$T/a3.got"
	expect_exit 3 "... and released a3" "$LOKT" exists a3
}

# --- ^C at the hand-over: handed, then released ---------------------------
case_a4() {
	expect_exit 0 "hold a4" hold a4
	waiter a4 "$T/a4.got"
	kill -STOP "$w"
	expect_exit 0 "release a4" "$LOKT" unlock a4 --force -q
	check "a4 is the stopped waiter's" test "$(field a4 pid)" = "$w"
	id=$(field a4 lock_id)
	kill -INT "$w"
	kill -CONT "$w"
	wait "$w"
	rc=$?
	check "the waiter stopped by ^C did not run its command (exit $rc)" \
		test "$rc" != 0 -a ! -e "$T/a4.got"
	expect_exit 3 "... and released a4" "$LOKT" exists a4
	check "... its release is audited" eval \
		"\"\$LOKT\" audit --name a4 --json | grep '\"event\":\"release\"' | grep -q '$id'"
}

# --- a waiter that timed out took its offer back: nothing is handed -------
case_a5() {
	expect_exit 0 "hold a5" hold a5
	"$LOKT" guard a5 --wait --timeout 3s -q -- touch "$T/a5.got" 2>"$T/a5.err" &
	w=$!
	track $w
	check "a guard waits for a5 and offers" wait_for 20 offered a5
	wait "$w"
	rc=$?
	check "it timed out (exit $rc)" test "$rc" = 2
	check "... its place is gone" test "$(waiters a5)" = 0
	expect_exit 0 "release a5" "$LOKT" unlock a5 --force -q
	expect_exit 3 "... a5 is free, handed to nobody" "$LOKT" exists a5
	check "... and the waiter never ran" test ! -e "$T/a5.got"
}

# --- a waiter handed the lock and killed: the lock goes on ---------------
case_a6() {
	expect_exit 0 "hold a6" hold a6
	waiter a6 "$T/a6.got"
	w1=$w
	kill -STOP "$w1"
	"$LOKT" guard a6 --wait --timeout 60s -q -- sh -c "echo \$LOKT_FENCE >$T/a6.2" &
	track $!
	check "a second waiter queues" wait_for 20 eval '[ "$(waiters a6)" = 2 ]'
	expect_exit 0 "release a6" "$LOKT" unlock a6 --force -q
	check "a6 is the stopped first waiter's" test "$(field a6 pid)" = "$w1"
	f1=$(field a6 fence)
	kill -KILL "$w1"
	check "the first waiter killed: the second one gets a6" wait_for 30 test -s "$T/a6.2"
	check "... with a fence above ($f1 < $(cat "$T/a6.2"))" test "$(cat "$T/a6.2")" -gt "$f1"
	check "... the first one never ran" test ! -e "$T/a6.got"
	wait_for 20 eval '! "$LOKT" exists a6'
}

# --- a guard holder hands over from what it knows ------------------------
# guard watches its name's queue while it holds, and its release hands the
# lock to the offer it saw without reading first: compared, the same.
case_a7() {
	"$LOKT" guard a7 -q -- sh -c "while [ ! -e $T/a7.go ]; do sleep 0.02; done" &
	h=$!
	track $h
	check "a guard holds a7" wait_for 20 "$LOKT" exists a7
	f0=$(field a7 fence)
	waiter a7 "$T/a7.got"
	kill -STOP "$w"
	: >"$T/a7.go"
	check "its command ended: a7 is the stopped waiter's" \
		wait_for 20 eval '[ "$(field a7 pid)" = "$w" ]'
	check "... fence above ($f0 < $(field a7 fence))" test "$(field a7 fence)" -gt "$f0"
	kill -CONT "$w"
	check "the waiter runs its command" wait_for 20 test -s "$T/a7.got"
	wait_for 20 eval '! "$LOKT" exists a7'
}

# --- a freeze made while guard holds: its guess (no freeze) is wrong ------
# The hand-over compares the freeze absent: it fails, and the release runs
# again, reading, and frees the lock without handing it over.
case_a8() {
	"$LOKT" guard a8 -q -- sh -c "while [ ! -e $T/a8.go ]; do sleep 0.02; done" &
	h=$!
	track $h
	check "a guard holds a8" wait_for 20 "$LOKT" exists a8
	waiter a8 "$T/a8.got"
	expect_exit 0 "freeze a8" "$LOKT" freeze a8 --ttl 1m
	: >"$T/a8.go"
	wait "$h"
	check "guard released a8 (exit $?)" eval '! "$LOKT" exists a8'
	sleep 1
	check "... to nobody: frozen, the waiter did not run" test ! -e "$T/a8.got"
	check "... and it still waits" test "$(waiters a8)" = 1
	expect_exit 0 "unfreeze a8" "$LOKT" unfreeze a8
	check "unfrozen: the waiter gets a8" wait_for 20 test -s "$T/a8.got"
	wait_for 20 eval '! "$LOKT" exists a8'
}

# --- a lock handed over is renewed and handed on with its own fence ------
# Its fence is written in its record (a put over the key keeps the key's
# create_revision): renewals keep it, and the next hand-over goes above.
case_a10() {
	expect_exit 0 "hold a10" hold a10
	"$LOKT" guard a10 --wait --timeout 60s --ttl 3s -q -- sh -c \
		"echo \$LOKT_FENCE >$T/a10.f1; sleep 2.5; \"\$LOKT\" status a10 --json >$T/a10.st" &
	track $!
	check "a guard with --ttl 3s waits for a10 and offers" wait_for 20 offered a10
	"$LOKT" guard a10 --wait --timeout 60s -q -- sh -c "echo \$LOKT_FENCE >$T/a10.f2" &
	track $!
	check "a second guard queues behind it" wait_for 20 eval '[ "$(waiters a10)" = 2 ]'
	expect_exit 0 "release a10" "$LOKT" unlock a10 --force -q
	check "the second guard got a10 from the first" wait_for 30 test -s "$T/a10.f2"
	f1=$(cat "$T/a10.f1" 2>/dev/null)
	check "the first one's fence was kept by its renewals ($f1, then $(jget 'd["fence"]' <"$T/a10.st" 2>/dev/null))" \
		test "$(jget 'd["fence"]' <"$T/a10.st" 2>/dev/null)" = "$f1"
	check "... which were made (audit: renew)" test "$(audit_count renew a10)" -ge 1
	check "... and the second one's fence is above it ($f1 < $(cat "$T/a10.f2"))" \
		test "$(cat "$T/a10.f2")" -gt "$f1"
	wait_for 20 eval '! "$LOKT" exists a10'
}

# --- a hand-over lost while the waiter was stopped: it queues again -------
# Handed a11, the waiter is stopped past its lease (3 s): the lock goes
# with the lease, and another owner takes it. Let go, the waiter finds
# the lock it was handed gone and queues again, within the --timeout it
# was given at the start (10 s), not a new one from the requeue: it ends
# at 10 s from its start (plus a second's grace for the last request),
# never 10 s after it was let go.
case_a11() {
	expect_exit 0 "hold a11" hold a11
	t0=$(now_ms)
	# Stopped 4 to 5 s, past its 2 s request timeout: a request it had on its
	# way then is sent again on resume (tests/etcd/stopped.sh).
	stopped_waiter a11 10s
	expect_exit 0 "release a11 (the waiter is stopped)" "$LOKT" unlock a11 --force -q
	check "a11 is the stopped waiter's" test "$(field a11 pid)" = "$w"
	check "... and goes with its lease" wait_for 20 eval '! "$LOKT" exists a11'
	expect_exit 0 "another owner takes a11" hold a11
	sleep 1
	t1=$(now_ms)
	kill -CONT "$w"
	reap "$w"
	t2=$(now_ms)
	check "the waiter times out (exit $RC: $(cat "$T/a11.err"))" test "$RC" = 2
	check "... never having run its command" test ! -e "$T/a11.got"
	check "... 10 s from its start ($((t2 - t0)) ms), not from the requeue ($((t2 - t1)) ms after it was let go)" \
		test $((t2 - t1)) -lt 8500
	check "... the other owner holds a11" test "$(field a11 owner)" = other
	expect_exit 0 "release a11" "$LOKT" unlock a11 --force -q
}

# The cases run side by side in three lanes (tests/cli/common.sh), each
# on its own names: most of their time is spent waiting out leases and
# timeouts. The lease case (a9) runs alone after them: it checks that no
# lease at all is left in the store.
lane_2() { case_a5; case_a10; case_a3; }
lane_3() { case_a1; case_a2; case_a4; case_a6; case_a7; case_a8; }
lane a11 case_a11
lane 2 lane_2
lane 3 lane_3
lanes_done

# --- the lease: the new holder keeps it, the old one's is revoked ---------
# A lock of a shell's (lokt-keeper keeps its lease) handed over to guard:
# the lock lives on the waiter's lease, which guard keeps alive past its
# 3 s; the old lease goes with the release (its keeper sees the lock
# taken over).
lease_of() {
	_etcd get "$prefix/locks/$1" -w json 2>/dev/null |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["kvs"][0].get("lease", 0))'
}
sleep 600 &
sh=$!
track $sh
expect_exit 0 "lock a9 for a shell" env LOKT_OWNER=other "$LOKT" lock a9 --holder $sh -q
old=$(lease_of a9)
"$LOKT" guard a9 --wait --timeout 60s -q -- sh -c "while [ ! -e $T/a9.go ]; do sleep 0.05; done" &
w=$!
track $w
check "a guard waits for a9 and offers" wait_for 20 offered a9
expect_exit 0 "its owner unlocks a9" env LOKT_OWNER=other "$LOKT" unlock a9 -q
check "a9 is the guard's" wait_for 20 eval '[ "$(field a9 pid)" = "$w" ]'
id=$(field a9 lock_id)
check "... the shell's lease is revoked" \
	wait_for 10 eval "_etcd lease timetolive \$(printf %x $old) | grep -q expired"
sleep 4.5 # past the lease, and half of it again
check "... the guard still holds a9 past its lease" test "$(field a9 lock_id)" = "$id"
: >"$T/a9.go"
wait "$w"
check "... and released it (exit $?)" eval '! "$LOKT" exists a9'
check "... no lease is left" eval '[ -z "$(_etcd lease list | grep -v "^found")" ]'

done_testing
