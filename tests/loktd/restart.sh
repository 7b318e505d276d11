#!/bin/bash
# SPDX-License-Identifier: MIT
# Locks live in the store, not in loktd: a lock taken over HTTP survives
# a restart of loktd (SIGTERM, and SIGKILL), is released by its id
# afterwards, and one left alone ends by its TTL. SIGTERM while a request
# waits and an event stream is open still stops loktd at once with exit
# 0 (the waiter is told 503, its queue ticket is gone).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
req POST /v1/locks/kept '{"ttl":"10m"}'
expect_status 200 "acquire kept"
id=$(jq_of .lock_id)
req POST /v1/locks/short '{"ttl":"2s"}'
expect_status 200 "acquire short (2s)"

hold zed busy --ttl 10m
curl -s -o "$T/w.out" -w '%{http_code}' -X POST -d '{"wait":true,"timeout":"60s"}' \
	"$URL/v1/locks/busy" >"$T/w.code" &
cpid=$!
track "$cpid"
curl -sN "$URL/v1/events" >"$T/events" &
epid=$!
track "$epid"
wait_for 10 eval '[ "$(waiters busy)" = 1 ]' && ok "a request waits" || not_ok "no waiter"
t0=$(date +%s%N)
stop_loktd
t1=$(date +%s%N)
[ "$RC" = 0 ] && ok "SIGTERM with a wait and a stream open: exit 0" || not_ok "exit $RC"
[ $(((t1 - t0) / 1000000)) -lt 5000 ] && ok "stopped within 5 s" || not_ok "took $(((t1 - t0) / 1000000)) ms"
reap "$cpid"
[ "$(cat "$T/w.code")" = 503 ] && ok "the waiter is told 503" || not_ok "waiter got $(cat "$T/w.code")"
wait_for 10 eval '[ "$(waiters busy)" = 0 ]' && ok "its queue ticket is gone" || not_ok "ticket left"
reap "$epid"
ok "the event stream ended"

expect_exit 0 "kept survives loktd's exit (lokt exists)" "$LOKT" exists kept
start_loktd || { not_ok "loktd restarts"; done_testing; exit 1; }
req GET /v1/locks/kept
expect_jq '[.lock_id,.state]|@csv' "\"$id\",\"live\"" "after restart: the same lock, live"
stop_loktd KILL
start_loktd || { not_ok "loktd restarts after SIGKILL"; done_testing; exit 1; }
req GET /v1/locks/kept
expect_jq '.lock_id' "$id" "after SIGKILL and restart: the same lock"
sleep 2.2
req POST /v1/locks/short '{"ttl":"1m"}'
expect_status 200 "short ended by its TTL: taken again"
expect_jq .broke expired "the expired lock was broken (audited)"
req DELETE "/v1/locks/kept?lock_id=$id"
expect_status 200 "released by its id after restarts"
stop_loktd
[ "$RC" = 0 ] && ok "exit 0" || not_ok "exit $RC"
done_testing
