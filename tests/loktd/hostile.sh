#!/bin/bash
# SPDX-License-Identifier: MIT
# loktd against what a hostile page, client or reader sends (an
# adversarial review of loktd found each of these; each check fails on
# the loktd before it):
#   - a web page the user has open: a cross-site POST (Origin, or
#     Sec-Fetch-Site), Tracker's unlock by GET from an <img>, and a name
#     that resolves to 127.0.0.1 (DNS rebinding: a foreign Host) are
#     refused 403 without tokens; the dashboard's own same-origin requests
#     and curl go on;
#   - "wait": "false" (a string) and ?wait=no are 400, not a wait;
#   - a chunked body over 64 KiB is answered 413, not dropped;
#   - %00 in a path or a query value does not cut a name or lock_id short;
#   - event streams are bounded (they never time out), waits are bounded
#     by the open-file limit (never "Too many open files"): both 503 busy;
#   - a NUL inside a JSON string does not cut an owner or who short;
#     Tracker's routes refuse in Tracker's shape; the dashboard has a
#     Content-Security-Policy and may not be framed;
#   - renewals and busy answers are counted in /metrics, and acquisitions
#     list only the outcomes an acquisition can have; freezing another owner's freeze
#     is 409 "frozen"; a TTL of 0 or -5 seconds is "bad_duration", 90.0
#     or 1e3 seconds are 90 and 1000 s; methods other than GET and HEAD on /metrics and
#     /healthz, and a wrong method on a Tracker route, are 405; HEAD reads.
# Every refusal leaves the store as it was.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"

# ---- a web page -------------------------------------------------------------
before=$(store_state)
req POST /v1/freezes/prod '{"ttl":"1h","owner":"mallory"}' \
	-H 'Origin: http://evil.example' -H 'Content-Type: text/plain'
expect_status 403 "a cross-site POST (Origin of another site): 403"
expect_jq .error cross_origin "its word: cross_origin"
req POST /v1/locks/prod/force '' -H 'Sec-Fetch-Site: cross-site'
expect_status 403 "a POST a browser marks cross-site (no Origin): 403"
req POST /v1/locks/prod '{"ttl":"1h"}' -H 'Sec-Fetch-Site: same-site'
expect_status 403 "same-site is another site too: 403"
[ "$(store_state)" = "$before" ] && ok "nothing changed" || not_ok "the store changed"

req POST /v1/locks/own '{"ttl":"1h"}' -H "Origin: http://127.0.0.1:$PORT" \
	-H 'Sec-Fetch-Site: same-origin'
expect_status 200 "the page loktd serves (same origin) may act"
id=$(jq_of .lock_id)
req GET "/api/v1alpha1/unlock/$id" '' -H 'Sec-Fetch-Site: cross-site'
expect_status 403 "Tracker's unlock by GET from another site (an <img>): 403"
expect_exit 0 "the lock is still held" "$LOKT" exists own
# Runs of slashes route as one: the check went by the raw URL.
for u in "/api/v1alpha1//unlock/$id" "//api/v1alpha1/unlock/$id" "/api//v1alpha1/unlock/$id/"; do
	req GET "$u" '' -H 'Sec-Fetch-Site: cross-site'
	expect_status 403 "... by GET $u: 403 too"
done
expect_exit 0 "the lock is still held" "$LOKT" exists own
req GET /v1/locks '' -H 'Sec-Fetch-Site: cross-site'
expect_status 200 "a read from another site is answered (the browser keeps it from the page)"

req GET /v1/locks '' -H "Host: evil.example:$PORT"
expect_status 403 "without tokens, a foreign Host (DNS rebinding): 403"
expect_jq .error bad_host "its word: bad_host"
req POST /v1/locks/x '{"ttl":"1h"}' -H "Host: evil.example"
expect_status 403 "a write with a foreign Host: 403"
expect_exit 3 "x was not taken" "$LOKT" exists x
for h in "localhost:$PORT" "127.0.0.1" "LOCALHOST"; do
	req GET /healthz '' -H "Host: $h"
	expect_status 200 "Host $h is loopback: answered"
done

# ---- bad input ----------------------------------------------------------------
"$LOKT" lock busy --ttl 10m >/dev/null
before=$(store_state)
start=$(date +%s%N)
req POST /v1/locks/busy '{"wait":"false","timeout":"5s"}'
took=$((($(date +%s%N) - start) / 1000000))
expect_status 400 '"wait": "false" (a string): 400'
[ "$took" -lt 4000 ] && ok "answered at once (${took} ms), not after the timeout" ||
	not_ok "it waited ${took} ms"
req POST "/v1/locks/busy?wait=no&timeout=5s"
expect_status 400 "?wait=no: 400"
req POST "/v1/locks/busy?wait=0"
expect_status 409 "?wait=0: no wait, held"
req POST /v1/locks/busy '{"wait":false}'
expect_status 409 '"wait": false: no wait, held'

head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
req POST /v1/locks/b "" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big"
expect_status 413 "a chunked body over 64 KiB: 413"
expect_jq .error too_large "its word: too_large"

req POST /v1/locks/m1 '{"ttl":"10m"}'
m1=$(jq_of .lock_id)
before=$(store_state)
req GET "/v1/locks/m1%00junk"
expect_status 400 "a name with %00: 400, not the lock before the NUL"
expect_jq .error bad_name "its word: bad_name"
req DELETE "/v1/locks/m1%00junk?lock_id=$m1"
expect_status 400 "release of such a name: 400"
req DELETE "/v1/locks/m1%00..%2F..%2Fetc?lock_id=$m1"
expect_status 404 "release of such a name with slashes after: no such route"
req DELETE "/v1/locks/m1?lock_id=$m1%00x"
expect_status 404 "a lock_id with %00 is not the lock_id before it"
[ "$(store_state)" = "$before" ] && ok "m1 is still held, nothing changed" ||
	not_ok "the store changed"

req POST /v1/locks/t0 '{"ttl":0}'
expect_status 400 "ttl 0 (a number): 400"
expect_jq .error bad_duration "its word: bad_duration"
req POST /v1/locks/t0 '{"ttl":-5}'
expect_jq .error bad_duration "ttl -5: bad_duration"
req POST /v1/locks/t0 '{"ttl":"0"}'
expect_jq .error bad_duration 'ttl "0": bad_duration'
[ "$(store_state)" = "$before" ] && ok "nothing changed" || not_ok "the store changed"
req POST /v1/locks/t1 '{"ttl":90.0}'
expect_status 200 "ttl 90.0 seconds: taken"
expect_jq .ttl_sec 90 "for 90 s"
req POST /v1/locks/t2 '{"ttl":1e3}'
expect_jq .ttl_sec 1000 "ttl 1e3 seconds: for 1000 s"

before=$(store_state)
req POST /v1/locks/n '{"owner":"a\u0000b"}'
expect_status 400 "an owner with a NUL inside: 400, not owner \"a\""
req POST /api/v1alpha1/lock '{"service":"s","who":"a\u0000b"}'
expect_status 400 "Tracker: a who with a NUL inside: 400"
expect_jq .success false "... in Tracker's shape"
req POST /api/v1alpha1/lock 'not json'
expect_status 400 "Tracker: a body that is not JSON: 400"
expect_jq '[.success,(.error|type)]|@csv' 'false,"string"' "... in Tracker's shape, not /v1's"
req POST /api/v1alpha1/lock '{"service":"s","who":"w"}' -H "Host: evil.example"
expect_jq .success false "Tracker: a foreign Host, in Tracker's shape"
[ "$(store_state)" = "$before" ] && ok "nothing changed" || not_ok "the store changed"

curl -s -o /dev/null -D "$T/dash.h" "$URL/"
grep -qi "^Content-Security-Policy: default-src 'none'.*frame-ancestors 'none'" "$T/dash.h" &&
	ok "the dashboard has a Content-Security-Policy" || not_ok "no CSP: $(cat "$T/dash.h")"
grep -qi '^X-Frame-Options: DENY' "$T/dash.h" && ok "... and may not be framed" ||
	not_ok "no X-Frame-Options"

# ---- answers --------------------------------------------------------------------
req POST /v1/locks/m1/renew "{\"lock_id\":\"$m1\"}"
expect_status 200 "renew"
req GET /metrics
contains "$BODY" 'loktd_acquisitions_total{outcome="renewed"} 1' "/metrics counts the renewal"
grep -q 'loktd_acquisitions_total{outcome="not_owner"}' <<<"$BODY" &&
	not_ok "acquisitions list an outcome they cannot have (not_owner)" ||
	ok "acquisitions list only the outcomes an acquisition has"

req POST /v1/freezes/f '{"ttl":"1h","owner":"alice"}'
expect_status 200 "alice freezes f"
req POST /v1/freezes/f '{"ttl":"1h","owner":"bob"}'
expect_status 409 "bob freezes f: 409"
expect_jq .error frozen 'its word: frozen (not "held")'
contains "$(jq_of .message)" "already frozen by alice" "the message names the freeze's owner"
expect_jq '[.freeze.owner,has("holder")]|@csv' '"alice",false' 'the freeze in the way is under "freeze"'

for m in DELETE PUT POST; do
	req "$m" /metrics
	expect_status 405 "$m /metrics: 405"
	req "$m" /healthz
	expect_status 405 "$m /healthz: 405"
done
curl -s -o /dev/null -w '%{http_code}' -I "$URL/v1/locks" >"$T/code"
[ "$(cat "$T/code")" = 200 ] && ok "HEAD /v1/locks: 200" || not_ok "HEAD /v1/locks: $(cat "$T/code")"
# HEAD wherever GET only reads (it was 405 on these), answered at once
# (no stream for HEAD /v1/events); never on Tracker's GET unlock.
for p in /v1/events /api/v1alpha1/locks/list "/api/v1alpha1/lock/$m1"; do
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -I "$URL$p")
	check "HEAD $p: 200 at once ($code)" test "$code" = 200
done
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -I "$URL/api/v1alpha1/unlock/$m1")
check "HEAD of Tracker's unlock: 405 ($code)" test "$code" = 405
req GET "/api/v1alpha1/lock/$m1"
expect_status 200 "... and the lock is still there"
req PUT /api/v1alpha1/lock '{"service":"s","who":"w"}'
expect_status 405 "PUT on Tracker's lock route: 405"
req DELETE "/api/v1alpha1/unlock/$m1"
expect_status 405 "DELETE on Tracker's unlock route: 405"
stop_loktd

# ---- bounded by the open-file limit ------------------------------------------------
# 256 files: loktd keeps 64, gives waits half of the rest (24 waits, 4
# files each) and connections the others (96, a quarter of them event
# streams: 24).
ulimit -Sn 256 && ulimit -Hn 256 || { skip "bounds" "cannot lower the open-file limit"; done_testing; exit 0; }
start_loktd || { not_ok "loktd starts with 256 files"; done_testing; exit 1; }
streams=()
for i in $(seq 24); do
	curl -sN -o /dev/null "$URL/v1/events" &
	streams+=($!)
done
wait_for 10 eval '[ "$(curl -s "$URL/metrics" | awk "/^loktd_event_clients /{print \$2}")" = 24 ]' &&
	ok "24 event streams open" || not_ok "event streams: $(curl -s "$URL/metrics" | grep event_clients)"
req GET /v1/events '' -m 3
expect_status 503 "a 25th stream: 503"
expect_jq .error busy "its word: busy"
req POST /v1/locks/during '{"ttl":"1m"}'
expect_status 200 "requests that change state are still served"
req GET /metrics
contains "$BODY" 'loktd_refusals_total{outcome="busy"} 1' "/metrics counts the busy stream"
kill "${streams[@]}" 2>/dev/null
wait "${streams[@]}" 2>/dev/null
# Their places free within a few seconds: a stream whose reader hung up
# kept its place until the next ping, 15 s, and readers opening and
# dropping streams kept every other one out (503).
check "the streams hung up: their places are free within 5 s" wait_for 5 eval \
	'[ "$(curl -s "$URL/metrics" | awk "/^loktd_event_clients /{print \$2}")" = 0 ]'

"$LOKT" lock w --ttl 10m >/dev/null
waiters=()
for i in $(seq 30); do
	curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/locks/w" \
		--data-binary '{"wait":true,"timeout":"3s"}' >"$T/w.$i" &
	waiters+=($!)
done
wait "${waiters[@]}"
codes=$(cat "$T"/w.* | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
[ "$(grep -l 409 "$T"/w.* | wc -l)" = 24 ] && ok "24 waits ran out (409): $codes" ||
	not_ok "waits: $codes"
[ "$(grep -l 503 "$T"/w.* | wc -l)" = 6 ] && ok "6 more were busy (503)" || not_ok "busy: $codes"
grep -q 500 "$T"/w.* && not_ok "a wait failed with 500: $(cat "$T/loktd.err" | tail -3)" ||
	ok "none failed for want of files"
expect_exit 0 "w is still lokt's" "$LOKT" exists w
req GET /metrics
contains "$BODY" 'loktd_refusals_total{outcome="busy"} 7' "/metrics counts the 6 busy waits too"
stop_loktd
done_testing
