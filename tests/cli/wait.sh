#!/bin/bash
# SPDX-License-Identifier: MIT
# Waiting: waiters are served first come first served; a waiter killed
# with SIGKILL does not block the ones behind it; --timeout gives up with
# exit 2 and leaves the queue; a waiter gets in after the holder dies
# without anyone unlocking (no timing asserted: it gets in, and never
# before the release); a waiter on a lock kept by guard's watchdog
# watches the keeper (counted in syscalls, not in time).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# waiter N NAME: `lokt guard NAME --wait -- append "WN" to $T/order`,
# started only once the waiters before it are queued.
waiter() {
	"$LOKT" guard "$2" --wait --timeout 120s -q -- sh -c "echo W$1 >>'$T/order'" \
		2>"$T/w$1.err" &
	WPID=$!
	track "$WPID"
}
queued() { [ "$(waiters "$1")" = "$2" ]; }

# --- FIFO ----------------------------------------------------------------
hold other q1 || not_ok "holder took q1"
h=$HOLDER
wpids=()
for n in 1 2 3 4; do
	waiter "$n" q1
	wpids+=("$WPID")
	check "W$n is queued (waiters → $n)" wait_for 30 queued q1 "$n"
done
expect_exit 2 "a plain lock of q1 is refused while held and waiters queue" \
	env LOKT_OWNER=third "$LOKT" lock q1
check "nobody got in while the holder holds it" test ! -e "$T/order"
# Live waiters' tickets and doorbells are the store's own files.
expect_exit 0 "doctor is clean while waiters queue (their doorbells are not foreign)" \
	"$LOKT" doctor
kill -9 "$h"
wait "$h" 2>/dev/null
check "all waiters got in" wait_for 60 eval '[ "$(wc -l <"$T/order" 2>/dev/null)" = 4 ]'
for p in "${wpids[@]}"; do wait "$p"; done
check "first come first served: W1 W2 W3 W4 (got $(tr '\n' ' ' <"$T/order"))" \
	test "$(tr '\n' ' ' <"$T/order")" = "W1 W2 W3 W4 "
expect_exit 3 "q1 free after the queue drained" "$LOKT" exists q1
check "queue empty (waiters → 0)" queued q1 0

# --- a dead waiter does not block the queue -----------------------------
rm -f "$T/order"
hold other q2 || not_ok "holder took q2"
h=$HOLDER
waiter 1 q2
w1=$WPID
check "W1 queued" wait_for 30 queued q2 1
waiter 2 q2
w2=$WPID
check "W2 queued" wait_for 30 queued q2 2
kill -9 "$w1"
wait "$w1" 2>/dev/null
check "the killed waiter leaves the queue (waiters → 1)" wait_for 30 queued q2 1
check "W2 still waits while the holder lives" test ! -e "$T/order"
expect_exit 0 "the holder's owner releases q2" env LOKT_OWNER=other "$LOKT" unlock q2
check "W2 gets in after the release" wait_for 60 test -e "$T/order"
wait "$w2"
check "W2's guard exits 0 (got $?)" test $? -eq 0
check "only W2 ran (got $(tr '\n' ' ' <"$T/order"))" test "$(cat "$T/order")" = W2
kill -9 "$h"

# --- --timeout ------------------------------------------------------------
hold other q3 || not_ok "holder took q3"
h=$HOLDER
expect_exit 2 "lock --wait --timeout 300ms → 2" "$LOKT" lock q3 --wait --timeout 300ms
contains "$ERR" "timed out" "the message says it timed out"
expect_exit 2 "lock --timeout 1s (implies --wait) → 2" "$LOKT" lock q3 --timeout 1s
expect_exit 2 "guard --wait --timeout 300ms → 2" "$LOKT" guard q3 --wait --timeout 300ms -- touch "$T/ran"
check "the timed-out guard did not run its command" test ! -e "$T/ran"
check "timed-out waiters left the queue (waiters → 0)" queued q3 0
check "the holder still holds q3" test "$(record q3 | jget 'd["pid"]')" = "$h"
json=$("$LOKT" lock q3 --wait --timeout 200ms --json 2>/dev/null)
check "timeout --json: one document with error timeout" \
	test "$(jget 'd.get("error")' <<<"$json" 2>/dev/null)" = timeout
kill -9 "$h"

# --- the holder dies; nobody unlocks ------------------------------------
rm -f "$T/order"
sleep 600 &
sp=$!
track "$sp"
expect_exit 0 "lock q4 --holder (a sleep 600)" "$LOKT" lock q4 --holder "$sp"
waiter 1 q4
w1=$WPID
check "W1 queued behind the sleeping holder" wait_for 30 queued q4 1
check "W1 not in while the holder lives" test ! -e "$T/order"
kill -9 "$sp"
wait "$sp" 2>/dev/null
check "W1 gets in after the holder died (nobody unlocked)" wait_for 30 test -e "$T/order"
wait "$w1"
check "W1's guard exits 0 (got $?)" test $? -eq 0
if [ "${LOKT_TEST_STORE:-}" = etcd ]; then
	# Its keeper releases a dead holder's lock at once (core/etcd); on
	# a loaded machine the waiter, which judges the same dead local
	# holder, may break it first: either is the lock ending with its
	# holder, never an expiry of its lease. (A loaded CI run once found
	# no keeper's release here; which event it had instead was not
	# kept.)
	check "the dead holder's lock was released by its keeper, or broken by the waiter ($(audit_count release q4 dead) release, $(audit_count stale-break q4 dead) stale-break)" \
		eval 'audit_has release q4 dead || audit_has stale-break q4 dead'
else
	check "the dead holder's lock was broken (audit stale-break dead)" \
		audit_has stale-break q4 dead
fi

# --- a lock kept by its keeper: the waiter watches the keeper -------------
# guard is SIGKILLed; its watchdog keeps the lock while the command, which
# ignores SIGTERM, runs on. The holder's pid is gone: a waiter that watched
# it would find it gone at every attempt (pidfd_open: ESRCH) and spin.
if ! command -v strace >/dev/null; then
	skip "a waiter on a kept lock does not spin" "no strace to count its pidfd_open calls"
else
	LOKT_OWNER=other "$LOKT" guard q5 -q -- sh -c \
		'trap "" TERM; echo $$ >"$1.tmp"; mv "$1.tmp" "$1"; exec sleep 600' sh "$T/k5" >/dev/null 2>&1 &
	g=$!
	track "$g"
	wait_for 30 test -e "$T/k5"
	kill -9 "$g"
	check "q5 is kept alive by guard's watchdog" wait_for 30 eval \
		'"$LOKT" status q5 2>/dev/null | grep -q "kept alive"'
	# LeakSanitizer stops the world with ptrace, which fails under strace.
	expect_exit 2 "a waiter on the kept lock times out (1s)" \
		env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		strace -f -qq -o "$T/strace5" -e trace=pidfd_open \
		"$LOKT" lock q5 --wait --timeout 1s -q --holder $$
	check "it watched the keeper, not the dead holder (no pidfd_open ESRCH: $(grep -c ESRCH "$T/strace5"))" \
		test "$(grep -c ESRCH "$T/strace5")" -eq 0
	if [ "${LOKT_TEST_STORE:-}" = etcd ]; then
		# A waiter of the etcd store watches keys, not processes.
		skip "it watched something (a pidfd_open succeeded)" \
			"the etcd store's waiters watch its keys"
	else
		check "it watched something (a pidfd_open succeeded)" \
			grep -q "pidfd_open(.*= [0-9]" "$T/strace5"
	fi
	# The command gone, the watchdog releases q5 and exits: before this
	# test's directory is removed, which it would otherwise find gone
	# (and make again to audit the loss).
	kill -9 "$(cat "$T/k5")" 2>/dev/null
	check "the command killed, the watchdog releases q5" \
		wait_for 30 eval '! "$LOKT" exists q5'
fi

# ^C during a wait: lokt leaves the queue and ends by SIGINT, so the
# script it runs in stops there (a shell goes on after a program that
# exited 130: docs/lokt.1). Job control on: the script gets a process
# group of its own, SIGINT not ignored, as from a terminal's ^C.
hold alice q6
rm -f "$T/q6.next"
set -m
bash -c '"$LOKT" lock q6 --wait --timeout 60s -q
	echo "went on: $?" >"$1/q6.next"' script "$T" </dev/null 2>"$T/q6.err" &
spid=$!
set +m
track "$spid"
if wait_for 30 eval '[ "$(waiters q6)" = 1 ]'; then
	kill -INT -- -"$spid"
	reap "$spid"
	check "^C: the script stopped at the wait ($(cat "$T/q6.next" 2>/dev/null))" \
		test ! -e "$T/q6.next"
	check "^C: the script's shell ended by SIGINT (status $RC)" test "$RC" -eq 130
	check "^C: the waiter left the queue" eval '[ "$(waiters q6)" = 0 ]'
	expect_exit 0 "^C: q6 is still alice's" "$LOKT" exists q6
else
	not_ok "the scripted waiter queued for q6 ($(cat "$T/q6.err"))"
fi

# ^\ (SIGQUIT) the same way, and without a core file of lokt's, even
# where the caller allows one (it used to die with a core dumped).
hold alice q7
mkdir -p "$T/q7.cwd"
(cd "$T/q7.cwd" && ulimit -c unlimited && exec env --default-signal=QUIT \
	"$LOKT" lock q7 --wait --timeout 60s -q) 2>"$T/q7.err" &
w=$!
track "$w"
if wait_for 30 eval '[ "$(waiters q7)" = 1 ]'; then
	kill -QUIT "$w"
	reap "$w"
	check "SIGQUIT during a wait: lokt ends by it (131, got $RC)" test "$RC" -eq 131
	check "... the waiter left the queue" eval '[ "$(waiters q7)" = 0 ]'
	check "... no core file written ($(ls "$T/q7.cwd"))" test -z "$(ls "$T/q7.cwd")"
else
	not_ok "the waiter queued for q7 ($(cat "$T/q7.err"))"
fi

# --- the waiter's holder exits during the wait --------------------------
# It said "acquired", exit 0, for a lock stale from the start (its holder
# gone), which the next lock broke.
sleep 600 &
h8=$!
track "$h8"
sleep 600 &
p8=$!
track "$p8"
"$LOKT" lock q8 --holder "$h8" -q
"$LOKT" lock q8 --wait --timeout 30s --holder "$p8" 2>"$T/q8.err" &
w=$!
track "$w"
if wait_for 30 eval '[ "$(waiters q8)" = 1 ]'; then
	kill "$p8"
	reap "$p8"
	kill "$h8"
	reap "$w"
	check "the waiter's holder exited meanwhile: exit 1 (got $RC)" test "$RC" -eq 1
	contains "$(cat "$T/q8.err")" "exited while lokt waited" "... saying so"
	expect_exit 3 "... and the lock is given back" "$LOKT" exists q8
else
	not_ok "the waiter queued for q8 ($(cat "$T/q8.err"))"
fi

done_testing
