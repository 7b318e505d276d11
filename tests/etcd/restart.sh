#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Waiters across a cluster that stops answering (lokt(1), "--wait"; the
# waiter's loop in core/wait.c): the member killed and started again
# while `lokt lock --wait`, `lokt guard --wait` and a request to loktd
# with "wait" wait behind a holder.
# They wait on through it (lokt warns once it is gone and once it is back, not
# on a terminal), keep their places, and get the lock in turn. A cluster
# still silent at the waiter's timeout ends the wait with exit 1 (the
# cluster did not answer), not before and not as a timeout (exit 2); a
# wait begun while no member answers ends at once, with exit 1.
# Before, a waiter left with exit 1 at the first attempt that had no
# answer, whatever its --timeout.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

export LOKT_ETCD_TIMEOUT=2s

# The holder: a detached lock (pid 1), released below with lokt unlock.
expect_exit 0 "alice takes r" "$LOKT" lock r --ttl 10m --detach -q
LOKT_OWNER=bob "$LOKT" lock r --wait --timeout 120s --ttl 10m --detach \
	>"$T/bob.out" 2>"$T/bob.err" &
bob=$!
track "$bob"
check "bob waits for r" wait_for 20 eval '[ "$(waiters r)" = 1 ]'
LOKT_OWNER=carol "$LOKT" guard r --wait --timeout 120s -- \
	sh -c "echo carol-ran >$T/carol.ran" >"$T/carol.out" 2>"$T/carol.err" &
carol=$!
track "$carol"
check "carol's guard waits behind bob" wait_for 20 eval '[ "$(waiters r)" = 2 ]'
# And a request to loktd, when it is built (the same wait, in liblokt).
http=0
if [ -x "${LOKTD:-}" ] && command -v curl >/dev/null && command -v jq >/dev/null; then
	. "$SRC_ROOT/tests/loktd/common.sh"
	if start_loktd; then
		http=1
		curl -s -o "$T/http.body" -w '%{http_code}' -X POST \
			-d '{"wait":true,"timeout":"120s","ttl":"10m"}' \
			"$URL/v1/locks/r" >"$T/http.code" &
		cpid=$!
		track "$cpid"
		check "a request to loktd waits behind carol" \
			wait_for 20 eval '[ "$(waiters r)" = 3 ]'
	else
		not_ok "loktd started: $(cat "$T/loktd.err")"
	fi
else
	skip "a request to loktd waits too" "loktd, curl or jq missing"
fi

kill -9 "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null
check "with the member gone, bob warns that the cluster did not answer" \
	wait_for 20 grep -q "did not answer while waiting for \"r\"" "$T/bob.err"
check "... and so does carol" \
	wait_for 20 grep -q "did not answer while waiting for \"r\"" "$T/carol.err"
sleep 1
check "... both still wait (bob)" kill -0 "$bob"
check "... (carol)" kill -0 "$carol"

if etcd_member_again "$T/etcd"; then
	ok "the member is started again"
else
	not_ok "the member is started again: $(tail -3 "$T/etcd/etcd.log")"
fi
check "bob says the cluster answers again" \
	wait_for 20 grep -q "answers again; still waiting for \"r\"" "$T/bob.err"
check "... and carol" \
	wait_for 20 grep -q "answers again; still waiting for \"r\"" "$T/carol.err"
check "all still queued, bob first" wait_for 20 eval '[ "$(waiters r)" = $((2 + http)) ]'
check "... r still alice's" eval '"$LOKT" status r --json | grep -q "\"owner\":\"root\""'

expect_exit 0 "alice releases r" "$LOKT" unlock r -q
reap "$bob"
[ "$RC" = 0 ] && ok "bob gets r (exit 0)" || not_ok "bob gets r: exit $RC: $(cat "$T/bob.err")"
contains "$("$LOKT" status r --json)" '"owner":"bob"' "... r is bob's"
check "carol's command has not run" test ! -e "$T/carol.ran"
LOKT_OWNER=bob expect_exit 0 "bob releases r" "$LOKT" unlock r -q
reap "$carol"
[ "$RC" = 0 ] && ok "carol's guard gets r, runs and exits 0" ||
	not_ok "carol's guard: exit $RC: $(cat "$T/carol.err")"
check "... her command ran" test -s "$T/carol.ran"
if [ "$http" = 1 ]; then
	reap "$cpid"
	[ "$(cat "$T/http.code")" = 200 ] && ok "then the request to loktd gets r (200)" ||
		not_ok "the request to loktd: $(cat "$T/http.code") $(cat "$T/http.body")"
	expect_exit 0 "... and releases it" \
		curl -sf -X DELETE "$URL/v1/locks/r?lock_id=$(jq -r .lock_id "$T/http.body")"
fi
expect_exit 3 "r is free" "$LOKT" exists r

# Still silent at the timeout: exit 1, saying so, at the timeout.
expect_exit 0 "alice takes s" "$LOKT" lock s --ttl 10m --detach -q
LOKT_OWNER=bob "$LOKT" lock s --wait --timeout 6s --ttl 10m --detach \
	>"$T/s.out" 2>"$T/s.err" &
dave=$!
track "$dave"
check "bob waits for s" wait_for 20 eval '[ "$(waiters s)" = 1 ]'
kill -STOP "$ETCD_PID"
check "with the member stopped, bob warns" \
	wait_for 20 grep -q "did not answer while waiting for \"s\"" "$T/s.err"
check "... and still waits" kill -0 "$dave"
reap "$dave"
[ "$RC" = 1 ] && ok "at its timeout, exit 1 (not 2: the cluster did not answer)" ||
	not_ok "at its timeout: exit $RC, not 1: $(cat "$T/s.err")"
contains "$(cat "$T/s.err")" "cannot take lock \"s\": the etcd cluster did not answer" \
	"... saying the cluster did not answer"

# Begun while no member answers: exit 1 at once (a wrong endpoint shows).
LOKT_OWNER=bob expect_exit 1 "a wait begun with the member stopped: exit 1" \
	"$LOKT" lock s --wait --timeout 10m --ttl 10m --detach -q
kill -CONT "$ETCD_PID"
check "the member answers again" wait_for 20 "$LOKT" exists s
contains "$("$LOKT" status s --json)" '"owner":"root"' "s is still alice's"
check "... no waiter left in its queue" eval '[ "$(waiters s)" = 0 ]'

done_testing
