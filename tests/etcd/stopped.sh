#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A lokt process stopped (SIGSTOP, a shell's ^Z, a starved process) with a
# request on its way to etcd, for longer than its request timeout: the
# member answered while it was stopped, so on resume it goes on as if
# nothing happened (core/etcd/gateway.c, LATE), instead of saying that
# the cluster did not answer. And a member that really did not answer is
# still reported, with exit 1. A guard stopped alone past its lease asks
# whether its lock is still its own once let go.
#
# To stop a process with a request in flight, the member is stopped
# first (SIGSTOP): the request waits, unread, in the member's socket
# (seen in /proc/net/tcp); then the process is stopped and the member let
# go, and the process let go only past its request timeout.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

export LOKT_ETCD_LEASE=9s LOKT_ETCD_TIMEOUT=2s
port_hex=$(printf '%04X' "${ETCD_EP##*:}")

# unread: a request waits unread in one of the member's connections
# (an established socket on its client port whose receive queue is not
# empty).
unread() {
	awk -v p=":$port_hex" '
		$4 == "01" && substr($2, length($2) - 4) == p {
			split($5, q, ":"); if (q[2] != "00000000") f = 1
		}
		END { exit !f }' /proc/net/tcp
}

# stop_mid PID: with the member stopped, once PID's request waits unread:
# PID stopped, the member let go; PID let go 3 s later, past its 2 s
# request timeout, by which time the member has answered. Fails (and
# lets everything go) when no request shows up within 10 s.
stop_mid() {
	local ok=0
	wait_for 10 unread && ok=1
	kill -STOP "$1"
	kill -CONT "$ETCD_PID"
	[ "$ok" = 1 ] || { kill -CONT "$1"; return 1; }
	sleep 3
	kill -CONT "$1"
}

at_exit 'kill -CONT $ETCD_PID 2>/dev/null'

# hold NAME: another owner's detached lock, released with unlock --force.
hold() { env LOKT_OWNER=other "$LOKT" lock "$1" --detach --ttl 5m -q; }

# --- a waiter stopped while it reads the lock ------------------------------
# A guard waiting on a held lock reads it again at each change and now
# and then; stopped with such a read unanswered, it waits on after.
expect_exit 0 "hold s1" hold s1
"$LOKT" guard s1 --wait --timeout 60s -q -- sh -c "echo ran >$T/s1.got" \
	2>"$T/s1.err" &
w=$!
track $w
check "a guard waits for s1" wait_for 20 eval '[ "$(waiters s1)" = 1 ]'
kill -STOP "$ETCD_PID"
check "... stopped with a request of its unanswered" stop_mid $w
sleep 1
check "... waits on once let go" eval '! gone $w'
expect_exit 0 "release s1" "$LOKT" unlock s1 --force -q
reap $w
check "the waiter took s1 and ran its command (exit $RC: $(cat "$T/s1.err"))" \
	test "$RC" = 0 -a -s "$T/s1.got"

# --- lokt lock stopped in its first request --------------------------------
kill -STOP "$ETCD_PID"
"$LOKT" lock s2 --ttl 5m -q 2>"$T/s2.err" &
l=$!
track $l
check "lokt lock s2 stopped with a request unanswered" stop_mid $l
reap $l
check "... takes s2 once let go (exit $RC: $(cat "$T/s2.err"))" test "$RC" = 0
expect_exit 0 "... s2 is held" "$LOKT" exists s2
expect_exit 0 "unlock s2" "$LOKT" unlock s2 --force -q

# --- a waiter stopped past its --timeout ------------------------------------
# It times out (exit 2) when it runs again, as on a directory store, with
# or without a request on its way when it was stopped: the deadline went
# by while it could not run, not while the cluster was silent.
# The waiter stopped alone, and guard s5 below, run side by side (each
# in a lane, tests/cli/common.sh): the member is not stopped meanwhile.
case_s4() {
	expect_exit 0 "hold s4" hold s4
	"$LOKT" lock s4 --wait --timeout 3s 2>"$T/s4.err" &
	l=$!
	track $l
	check "lokt lock s4 --wait --timeout 3s waits" wait_for 20 eval '[ "$(waiters s4)" = 1 ]'
	kill -STOP $l
	sleep 5
	kill -CONT $l
	reap $l
	check "... stopped 5 s, times out once let go (exit $RC: $(cat "$T/s4.err"))" \
		test "$RC" = 2
}

# --- guard stopped alone past its lease -------------------------------------
# Its watchdog keeps the lease meanwhile; let go, guard asks whether the
# lock is still its own (it used to give it up unasked, as if the cluster
# had not answered, and stop the command).
case_s5() {
	LOKT_ETCD_LEASE=2s "$LOKT" guard s5 -- sh -c "sleep 5; echo ran >$T/s5.got" \
		2>"$T/s5.err" &
	g=$!
	track $g
	check "guard s5 runs its command" wait_for 20 "$LOKT" exists s5
	kill -STOP $g
	sleep 3
	kill -CONT $g
	reap $g
	check "... stopped 3 s past its 2 s lease, it goes on, and so does the command (exit $RC: $(cat "$T/s5.err"))" \
		test "$RC" = 0 -a -s "$T/s5.got"
}
lane s4 case_s4
lane s5 case_s5
lanes_done

# s4 again, stopped with a request on its way (the member stopped).
"$LOKT" lock s4 --wait --timeout 3s 2>"$T/s4.err" &
l=$!
track $l
check "lokt lock s4 --wait --timeout 3s waits again" wait_for 20 eval '[ "$(waiters s4)" = 1 ]'
kill -STOP "$ETCD_PID"
check "... stopped with a request unanswered (its last, at the latest)" stop_mid $l
reap $l
check "... times out once let go (exit $RC: $(cat "$T/s4.err"))" test "$RC" = 2
expect_exit 0 "unlock s4" "$LOKT" unlock s4 --force -q

# --- a member that does not answer is still reported -----------------------
# The member stopped past the request timeout while lokt runs: its timeout
# falls due on time, and that is the cluster not answering.
kill -STOP "$ETCD_PID"
expect_exit 1 "lokt lock s3 while the member is stopped: exit 1" \
	"$LOKT" lock s3 --ttl 5m
contains "$ERR" "did not answer" "... saying the cluster did not answer"
expect_exit 1 "lokt audit while the member is stopped: exit 1" "$LOKT" audit
check "... naming no audit.log.1, which etcd has not ($ERR)" eval '! grep -q "\.1)" <<<"$ERR"'
kill -CONT "$ETCD_PID"
expect_exit 3 "... and s3 was not taken" "$LOKT" exists s3

# --- lokt audit -f follows on past a member that does not answer -----------
# It exited 1 at the first read that got no answer, as tail -F does not.
"$LOKT" audit -f --name af >"$T/af.out" 2>"$T/af.err" &
af=$!
track $af
sleep 1
kill -STOP "$ETCD_PID"
sleep 4 # past the 2 s request timeout: a read of the follower goes unanswered
kill -CONT "$ETCD_PID"
expect_exit 0 "lock af once the member answers again" "$LOKT" lock af --holder 1 --ttl 1m
check "audit -f still follows ($(cat "$T/af.err"))" kill -0 "$af"
check "... and prints af's acquisition" wait_for 20 grep -q acquire "$T/af.out"
# The member stopped (SIGTERM: it ends its connections) and started
# again: audit -f exited 1, "Input/output error".
mapfile -d '' etcd_cmd <"/proc/$ETCD_PID/cmdline"
kill "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null
sleep 2
"${etcd_cmd[@]}" >>"$T/etcd/etcd.log" 2>&1 &
ETCD_PID=$!
at_exit "kill -9 $ETCD_PID 2>/dev/null"
wait_for 20 curl -sf -X POST -d '{}' "http://$ETCD_EP/v3/maintenance/status" -o /dev/null ||
	not_ok "the member starts again: $(tail -3 "$T/etcd/etcd.log")"
expect_exit 0 "the member stopped and started again: unlock af" "$LOKT" unlock af --force
check "audit -f still follows ($(cat "$T/af.err"))" kill -0 "$af"
check "... and prints af's release" wait_for 20 grep -q " release af " "$T/af.out"
kill "$af"

done_testing
