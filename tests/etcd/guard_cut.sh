#!/bin/bash
# SPDX-License-Identifier: MIT
# guard on etcd whose host is cut off from the cluster (the member
# stopped) stops its command within its lease, whatever it was doing:
# also a guard with --ttl, whose renewals would wait a whole request
# timeout (LOKT_ETCD_TIMEOUT=30s) for a member that does not answer.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

export LOKT_ETCD_LEASE=2s LOKT_ETCD_TIMEOUT=30s

# The four cases below are cut off by the same stop of the member: each
# is set up first, on names of its own, and each one's check then runs in
# a lane of its own (tests/cli/common.sh), timed from the stop, as if it
# were alone.

# guard --ttl 3s, cut off while it holds: it stops its command.
"$LOKT" guard cut --ttl 3s -q -- sleep 603 2>"$T/guard.err" &
track $!
check "guard --ttl 3s holds cut" wait_for 20 eval 'pgrep -fx "sleep 603" >/dev/null'
sleep 1.2 # a renewal (every second) and a check are behind it

# guard killed while cut off: its watchdog stops the command, SIGKILL
# after the grace (5 s) when it ignores SIGTERM, not after a renewal that
# waits a whole request timeout.
"$LOKT" guard cut2 --ttl 3s -q -- sh -c 'trap "" TERM; exec sleep 604' 2>"$T/guard2.err" &
gp=$!
track $gp
check "guard --ttl 3s holds cut2" wait_for 20 eval 'pgrep -fx "sleep 604" >/dev/null'

# lokt lock's keeper (lokt-keeper) cut off: it gives the lock up when the
# lease runs out, not after a keepalive that waits a request timeout.
"$LOKT" lock cut3 -q
check "lokt lock cut3: its keeper runs" \
	wait_for 10 eval 'pgrep -f "^lokt-keeper [^ ]* cut3 " >/dev/null'

# A waiter with --timeout 2s whose cluster stops answering gives up by
# its timeout (and a second), not after requests that each wait 30 s.
# Set up last: its 2 s run from its start.
LOKT_OWNER=first "$LOKT" lock busy --holder 1 --ttl 5m -q
LOKT_OWNER=second "$LOKT" lock busy --wait --timeout 2s 2>"$T/busy.err" &
bw=$!
track $bw
check "a waiter with --timeout 2s queues" \
	wait_for 10 eval '[ "$(waiters busy)" = 1 ]'

kill -STOP "$ETCD_PID"
kill -9 "$gp"
lane cut check "cluster out of reach: guard stops its command within the lease, not after a request timeout" \
	wait_for 10 eval '! pgrep -fx "sleep 603" >/dev/null'
lane cut2 check "cut off and guard killed: the watchdog kills the command after the grace" \
	wait_for 15 eval '! pgrep -fx "sleep 604" >/dev/null'
lane busy check "cluster out of reach: the waiter gives up within its timeout, not after a request timeout" \
	wait_for 8 eval '! kill -0 $bw 2>/dev/null'
lane cut3 check "cut off: the keeper gives up within the lease, not after a request timeout" \
	wait_for 10 eval '! pgrep -f "^lokt-keeper [^ ]* cut3 " >/dev/null'
lanes_done
kill -CONT "$ETCD_PID"

check "... guard cut says why (its lock cannot be confirmed: lost)" \
	wait_for 40 grep -q "lost lock \"cut\"" "$T/guard.err"
reap $bw
check "... the waiter: exit 1, saying the cluster did not answer ($RC)" \
	eval '[ "$RC" = 1 ] && grep -q "did not answer" "$T/busy.err"'
"$LOKT" unlock busy --force -q
"$LOKT" unlock cut --force -q 2>/dev/null
check "... and the lock cut3 is gone with its lease" \
	wait_for 20 eval '! "$LOKT" exists cut3'

done_testing
