#!/bin/bash
# SPDX-License-Identifier: MIT
# Our API (/v1) against a real loktd and store: acquire with a TTL, renew,
# release by id and by owner, force, freeze and unfreeze, status of one
# and of all (paged), why, the audit log; waiting without polling (the
# request returns when `lokt unlock` frees the lock, or its timeout
# passes); the fence in every answer; every refusal's status and body
# (the error words of `lokt --json`); bad input (names, durations,
# JSON, oversized bodies) answered 4xx with the store unchanged; a lock
# taken with curl seen by lokt at once and the other way round; /metrics
# and /healthz.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"
# An event stream open for the whole test: its pings are counted at the
# end, once the store is quiet.
curl -sN "$URL/v1/events" >"$T/events" 2>/dev/null &
EV=$!
track "$EV"

# ---- acquire, status, renew, release --------------------------------------
req POST /v1/locks/deploy '{"ttl":"10m","owner":"alice"}'
expect_status 200 "acquire deploy"
expect_jq '[.name,.owner,.pid,.ttl_sec,.state,.renewed]|@csv' '"deploy","alice",1,600,"live",false' "the record: alice, detached (pid 1), 10m"
expect_jq '.fence' 1 "the answer carries fence 1"
id=$(jq_of .lock_id)
expect_exit 0 "lokt sees it at once" "$LOKT" exists deploy
json=$("$LOKT" status deploy --json)
[ "$(jq -r .lock_id <<<"$json")" = "$id" ] && ok "lokt status: the same lock_id" || not_ok "lokt status: $json"
contains "$("$LOKT" status deploy)" "detached" "lokt status calls it detached"

req GET /v1/locks/deploy
expect_status 200 "GET one lock"
expect_jq '[.lock_id,.fence,.waiters]|@csv' "\"$id\",1,0" "GET: lock_id, fence, waiters"

req POST /v1/locks/deploy '{"ttl":"10m","owner":"alice"}'
expect_status 409 "a second acquisition, same owner: held (no re-entry over HTTP)"
expect_jq '[.error,.holder.lock_id,.fence]|@csv' "\"held\",\"$id\",1" "held: error word, holder, its fence"
contains "$(jq_of .message)" "held by alice" "held: the message names the holder"

req POST /v1/locks/deploy/renew "{\"lock_id\":\"$id\",\"ttl\":\"20m\",\"owner\":\"alice\"}"
expect_status 200 "renew by lock_id"
expect_jq '[.lock_id,.ttl_sec,.fence,.renewed]|@csv' "\"$id\",1200,1,true" "renewed: same id and fence, new TTL"
req POST /v1/locks/deploy/renew "{\"lock_id\":\"$id\",\"owner\":\"bob\"}"
expect_status 403 "renew by another owner: 403"
expect_jq '.error' not_owner "403 says not_owner"
req POST /v1/locks/deploy/renew '{"lock_id":"0123456789abcdef0123456789abcdef","owner":"alice"}'
expect_status 404 "renew of another acquisition: 404"
expect_jq '.error' lost "404 says lost"
req POST /v1/locks/deploy/renew '{"owner":"alice"}'
expect_status 400 "renew without lock_id: 400"

# A local process of the lock's owner is another holder too: the HTTP
# lock's holder is pid 1, every process descends from it, and lokt lock,
# guard and liblokt of owner alice re-entered (renewed) it and worked
# under it beside the HTTP client.
expect_exit 2 "lokt lock of the same owner: held (no re-entry of an HTTP lock)" \
	env LOKT_OWNER=alice "$LOKT" lock deploy
expect_exit 2 "... nor guard's" env LOKT_OWNER=alice "$LOKT" guard deploy -- touch "$T/ran"
check "... whose command did not run" test ! -e "$T/ran"
req GET /v1/locks/deploy
expect_jq '[.lock_id,.fence]|@csv' "\"$id\",1" "... the HTTP client's lock as it was"

req DELETE "/v1/locks/deploy?owner=bob"
expect_status 403 "release by another owner: 403"
expect_jq '[.error,.holder.owner,.fence]|@csv' '"not_owner","alice",1' "403: not_owner, the owner, the fence"
expect_exit 0 "still held" "$LOKT" exists deploy
req DELETE "/v1/locks/deploy?lock_id=$id&owner=alice"
expect_status 200 "release by lock_id"
expect_jq '[.released,.fence]|@csv' 'true,1' "released, with its fence"
expect_exit 3 "lokt sees it free at once" "$LOKT" exists deploy
req DELETE "/v1/locks/deploy?owner=alice"
expect_status 404 "release of a free lock: 404"
expect_jq '.error' not_found "404 says not_found"
req GET /v1/locks/deploy
expect_status 404 "GET a free lock: 404"

# ---- lokt -> HTTP -----------------------------------------------------------
hold carol cli-held --ttl 10m
req GET /v1/locks/cli-held
expect_jq '[.owner,.state]|@csv' '"carol","live"' "a lock taken with lokt is seen at once"
req POST /v1/locks/cli-held '{"owner":"carol"}'
expect_status 409 "and refuses an HTTP client of the same owner"
req POST /v1/locks/cli-held/force
expect_status 200 "force breaks it"
expect_jq '.broke' force "... broke: force, as lokt unlock --force --json says"
check "audited as force-break" audit_has force-break cli-held
expect_exit 3 "gone for lokt" "$LOKT" exists cli-held

# ---- waiting ----------------------------------------------------------------
hold dave waited --ttl 10m
holder=$HOLDER
start=$(date +%s%N)
curl -s -o "$T/waited" -w '%{http_code}' -X POST -d '{"wait":true,"timeout":"60s","ttl":"1m"}' \
	"$URL/v1/locks/waited" >"$T/waited.code" &
cpid=$!
track "$cpid"
wait_for 10 eval '[ "$(waiters waited)" = 1 ]' && ok "the request waits in the queue (lokt why: 1 waiter)" || not_ok "no waiter queued"
req GET /metrics
contains "$BODY" "loktd_http_waits 1" "/metrics: one request waiting"
contains "$BODY" "lokt_waiters 1" "/metrics: lokt_waiters 1"
# A waiter on a frozen name nobody holds counts too (it did not: only
# the queues of held names were counted).
"$LOKT" freeze fzw --ttl 1m -q
"$LOKT" lock fzw --wait --timeout 30s -q &
fw=$!
track "$fw"
wait_for 10 eval '[ "$(waiters fzw)" = 1 ]'
req GET /metrics
contains "$BODY" "lokt_waiters 2" "/metrics: and a waiter on a frozen name nobody holds: lokt_waiters 2"
kill "$fw"
reap "$fw"
"$LOKT" unfreeze fzw -q
LOKT_OWNER=dave "$LOKT" unlock waited >/dev/null
reap "$cpid"
[ "$(cat "$T/waited.code")" = 200 ] && ok "the waiting request acquired once released" || not_ok "waiting request: $(cat "$T/waited.code") $(cat "$T/waited")"
[ "$(jq -r .owner "$T/waited")" = http ] && ok "held by the default owner, http" || not_ok "owner: $(cat "$T/waited")"
[ "$(jq -r .fence "$T/waited")" = 2 ] && ok "with the next fence" || not_ok "fence: $(cat "$T/waited")"
kill "$holder" 2>/dev/null
req POST /v1/locks/waited '{"wait":true,"timeout":"1s"}'
expect_status 409 "a wait that times out: 409"
expect_jq '[.error,.fence]|@csv' '"timeout",2' "timeout: error word and the holder's fence"
contains "$(jq -r .message <<<"$BODY")" "still held by" "timeout: the message says who still holds it"
req GET /metrics
contains "$BODY" 'loktd_wait_seconds_count 2' "/metrics: two waits in the histogram"
contains "$BODY" 'loktd_acquisitions_total{outcome="timeout"} 1' "/metrics: one timeout"
contains "$BODY" 'lokt_locks_held 1' "/metrics: one lock held"

# ---- freezes ----------------------------------------------------------------
req POST /v1/freezes/release '{"ttl":"5m","owner":"erin"}'
expect_status 200 "freeze"
req POST /v1/locks/release '{"owner":"frank"}'
expect_status 409 "acquire while frozen: 409"
expect_jq '.error' frozen "409 says frozen"
expect_jq '[.freeze.owner,has("holder")]|@csv' '"erin",false' "... with the freeze under \"freeze\", not \"holder\""
req POST /v1/locks/release '{"owner":"frank","wait":true,"timeout":"1s"}'
expect_status 409 "a wait that runs out against the freeze: 409"
expect_jq '[.error,.freeze.owner,has("holder")]|@csv' '"timeout","erin",false' "... timeout, the freeze under \"freeze\""
contains "$(jq -r .message <<<"$BODY")" "still frozen by erin@" "... its message says it is still frozen, by whom"
expect_exit 2 "lokt lock is refused too" "$LOKT" lock release -q
req GET /v1/freezes
expect_jq '[.total,.freezes[0].owner]|@csv' '1,"erin"' "GET /v1/freezes"
req GET /v1/locks/release/why
expect_jq '.verdict' frozen "why: frozen"
req DELETE "/v1/freezes/release?owner=frank"
expect_status 403 "unfreeze by another owner: 403"
req DELETE "/v1/freezes/release?owner=frank&force=1"
expect_status 200 "unfreeze with force"
req DELETE "/v1/freezes/release"
expect_status 404 "unfreeze of nothing: 404"

# ---- listing, why, audit ----------------------------------------------------
for n in a b c d e; do req POST "/v1/locks/page-$n" '{"ttl":"5m"}'; done
req GET "/v1/locks?per_page=2&page=2"
expect_jq '[.total,.page,.per_page,(.locks|length),.locks[0].name]|@csv' '6,2,2,2,"page-c"' "paged listing: total and page from one listing"
req GET "/v1/locks?per_page=0"
expect_status 400 "per_page=0: 400"
req GET /v1/locks/page-a/why
expect_jq '[.verdict,.holder.name,.fence]|@csv' '"held","page-a",1' "why: held, the holder, the fence"
req GET "/v1/audit?name=deploy"
expect_jq '[.events[].event]|join(",")' 'acquire,deny,renew,deny,deny,release' "the audit log of deploy"
req GET "/v1/audit?name=deploy&tail=1"
expect_jq '[.events[].event, .events[0].extra.via]|join(",")' 'release,loktd' "tail=1, audited via loktd"

# ---- refusals of bad input: 4xx, nothing changes ----------------------------
before=$(store_state)
req POST /v1/locks/..bad '{}'
expect_status 400 "bad name: 400"
expect_jq .error bad_name "400 says bad_name"
contains "$(jq_of .message)" "letters" "the message says what names may be"
req POST /v1/locks/ok-name '{"ttl":"forever"}'
expect_status 400 "bad duration: 400"
expect_jq .error bad_duration "400 says bad_duration"
req POST /v1/locks/ok-name '{"ttl":"200y"}'
expect_status 400 "a TTL over 100 years: 400"
req POST /v1/locks/ok-name '{"ttl":'
expect_status 400 "truncated JSON: 400"
expect_jq .error bad_request "400 says bad_request"
req POST /v1/locks/ok-name '[1,2]'
expect_status 400 "a JSON array: 400"
req POST /v1/locks/ok-name '{"ttl":"1m"} trailing'
expect_status 400 "trailing bytes: 400"
req POST /v1/locks/ok-name '{"ttl":true}'
expect_status 400 "ttl of the wrong type: 400"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
req POST /v1/locks/ok-name "" --data-binary "@$T/big"
expect_status 413 "a body over 64 KiB: 413"
expect_jq .error too_large "413 says too_large"
req POST /v1/locks/ok-name "" -H 'Content-Length: 100000000' --data-binary 'x'
expect_status 413 "a declared length over 64 KiB: 413 at once"
req PATCH /v1/locks/ok-name
expect_status 405 "PATCH: 405"
req GET /v1/nothing
expect_status 404 "unknown endpoint: 404"
# Text that is not UTF-8, in the body (any field) or in the owner query
# parameter: 400 bad_request (it was 400 "error", from the store).
req POST /v1/locks/ok-name "$(printf '{"ttl":"1m","owner":"a\377b"}')"
expect_status 400 "an owner not in UTF-8: 400"
expect_jq .error bad_request "... bad_request"
req POST /v1/freezes/ok-name "$(printf '{"ttl":"1m","owner":"\377"}')"
expect_status 400 "a freeze's owner not in UTF-8: 400"
req POST "/v1/locks/ok-name?owner=%FF" '{"ttl":"1m"}'
expect_status 400 "?owner= not in UTF-8: 400"
expect_jq .error bad_request "... bad_request"
[ "$(store_state)" = "$before" ] && ok "the store is unchanged by all of it" || not_ok "the store changed"
expect_exit 3 "ok-name was never taken" "$LOKT" exists ok-name

# The owner query parameter, as loktd(8) says, on every change: it was
# read on release and unfreeze only (a lock taken ?owner=alice was
# http's, and alice could not release it).
req POST "/v1/locks/qo?owner=alice" '{"ttl":"1m"}'
expect_jq .owner alice "acquire ?owner=alice: alice's"
req POST "/v1/locks/qo/renew?owner=alice&lock_id=$(jq_of .lock_id)" '{"ttl":"2m"}'
expect_status 200 "... renewed ?owner=alice"
req DELETE "/v1/locks/qo?owner=alice"
expect_status 200 "... released ?owner=alice"
req POST "/v1/freezes/qf?owner=alice" '{"ttl":"1m"}'
expect_jq .owner alice "freeze ?owner=alice: alice's"
# Refused unfreezes are counted in /metrics (they were not).
metric() { req GET /metrics && grep -F "loktd_refusals_total{outcome=\"$1\"}" <<<"$BODY" | awk '{print $2}'; }
no=$(metric not_owner) nf=$(metric not_found)
req DELETE "/v1/freezes/qf?owner=bob"
expect_status 403 "... bob may not unfreeze it"
req DELETE "/v1/freezes/never-frozen"
expect_status 404 "unfreeze of no freeze: 404"
check "/metrics counts both refusals (not_owner ${no:-0} -> $(metric not_owner), not_found ${nf:-0} -> $(metric not_found))" \
	test "$(metric not_owner):$(metric not_found)" = "$((${no:-0} + 1)):$((${nf:-0} + 1))"
req DELETE "/v1/freezes/qf?owner=alice"
expect_status 200 "... alice unfreezes it"

# The event stream is pinged after 15 s of quiet, then every 15 s (it
# was every second after the first 15).
if wait_for 25 grep -q '^: ping' "$T/events"; then
	sleep 3
	check "one ping in the first 18 s of quiet ($(grep -c '^: ping' "$T/events"))" \
		test "$(grep -c '^: ping' "$T/events")" = 1
else
	not_ok "no ping in 25 s of quiet: $(tail -c 200 "$T/events")"
fi
kill "$EV" 2>/dev/null

# The last events of a long log, in little memory: every event of the
# log was kept (about 1.5 KB each) and cut to the tail at the end: 60,000
# lines cost loktd some 90 MB for each such request.
"$PY" - "$LOKT_ROOT/audit.log" <<'PYEOF'
import json, sys
with open(sys.argv[1], "a") as f:
    for i in range(60000):
        f.write(json.dumps({"ts": "2026-01-01T00:00:00.%09dZ" % i, "event": "acquire",
            "name": "filler-%d" % (i % 100), "lock_id": "%032x" % i, "owner": "o" * 40,
            "host": "h", "pid": 1, "agent_id": "", "ttl_sec": 60, "uid": 0, "fence": i + 1,
            "extra": {}}) + "\n")
PYEOF
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$LOKTD_PID/status"; }
before=$(hwm)
req GET "/v1/audit?tail=10"
expect_jq '.events|length' 10 "tail=10 of a log of 60,000 more lines: 10 events"
after=$(hwm)
if [ "${LOKT_SANITIZE:-none}" = none ]; then
	check "... in little memory (peak $before -> $after kB)" test $((after - before)) -lt 20000
else
	skip "... in little memory" "AddressSanitizer keeps freed memory (its quarantine)"
fi

req GET /healthz
expect_status 200 "/healthz"
req GET /metrics
check "/metrics is Prometheus text" grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/headers"
contains "$BODY" 'loktd_refusals_total{outcome="bad_request"}' "/metrics: refusals by outcome"

stop_loktd
[ "$RC" = 0 ] && ok "loktd exits 0 on SIGTERM" || not_ok "loktd exit $RC"
check "loktd wrote nothing alarming" bash -c "! grep -qiE 'sanitizer|panic|abort' '$T/loktd.err'"
done_testing
