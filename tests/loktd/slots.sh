#!/bin/bash
# SPDX-License-Identifier: MIT
# Semaphores and shared locks over /v1: "slots" and "shared" on acquire,
# each holder its own lock_id and fence, a full semaphore and another
# mode refused (409 held / mode) with the store unchanged, bad values
# answered 400, GET of the name lists every holder, renew and release by
# lock_id act on one holder, and lokt sees the same holders.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"

req POST /v1/locks/pool '{"ttl":"10m","owner":"alice","slots":2}'
expect_status 200 "a first slot of a semaphore of 2"
id1=$(jq_of .lock_id) f1=$(jq_of .fence)
req POST /v1/locks/pool '{"ttl":"10m","owner":"bob","slots":2}'
expect_status 200 "a second slot"
id2=$(jq_of .lock_id) f2=$(jq_of .fence)
check "each its own lock_id and a higher fence ($f1 < $f2)" \
	test "$id1" != "$id2" -a "$f1" -lt "$f2"
before=$(record pool)
req POST /v1/locks/pool '{"ttl":"10m","owner":"carol","slots":2}'
expect_status 409 "a third: 409"
expect_jq '.error' held "... held"
req POST /v1/locks/pool '{"ttl":"10m","owner":"carol","slots":3}'
expect_status 409 "another N: 409"
expect_jq '.error' mode "... error word mode"
req POST /v1/locks/pool '{"ttl":"10m","owner":"carol"}'
expect_status 409 "exclusive on a semaphore: 409 mode"
req POST /v1/locks/pool '{"ttl":"10m","slots":0}'
expect_status 400 "slots 0: 400"
req POST /v1/locks/pool '{"ttl":"10m","slots":2,"shared":true}'
expect_status 400 "slots and shared together: 400"
req POST /v1/locks/pool '{"ttl":"10m","slots":"2"}'
expect_status 400 "slots as a string: 400"
req POST "/v1/locks/pool?shared=nope" '{"ttl":"10m"}'
expect_status 400 "?shared=nope: 400 (not taken for true)"
check "refusals and bad requests left the store as it was" \
	test "$(record pool)" = "$before"

req GET /v1/locks/pool
expect_status 200 "GET the semaphore"
expect_jq .slots 2 "GET says the semaphore's N"
expect_jq .detached false "... the name itself is not detached (it said true)"
expect_jq '[.holders[].detached]|all' true "... each holder, taken over HTTP, is"
expect_jq '[.holders[].lock_id]|sort|join(" ")' "$(printf '%s\n' "$id1" "$id2" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"GET lists both holders"
req GET /v1/locks
expect_jq '[.locks[]|select(.name=="pool")]|length' 2 "the listing has one entry per holder"
n=$("$LOKT" status --json | jget 'len([l for l in d["locks"] if l["name"] == "pool"])')
check "lokt status sees the same 2 holders" test "$n" = 2

req POST /v1/locks/pool/renew "{\"lock_id\":\"$id2\",\"ttl\":\"20m\",\"owner\":\"bob\"}"
expect_status 200 "renew one slot by lock_id"
expect_jq '[.lock_id,.ttl_sec]|@csv' "\"$id2\",1200" "... that slot, with the new TTL"
req GET /v1/locks/pool/why
expect_jq '[.verdict,.holder,.slots,(.holders|length)]|@csv' '"held",,2,2' \
	"why of the full semaphore: held, its 2 holders (not its gate record)"
req DELETE "/v1/locks/pool?lock_id=$id1&owner=alice"
expect_status 200 "release one slot by lock_id"
req GET /v1/locks/pool
expect_jq '[.holders[].lock_id]|join(" ")' "$id2" "... the other slot is left"
req GET /v1/locks/pool/why
expect_jq '[.verdict,.slots,(.holders|length)]|@csv' '"free",2,1' \
	"why with a place left: free (as lokt why), its holder listed"

# A release by owner (no lock_id): every place of that owner, as lokt
# unlock from elsewhere; the answer is the first one's record.
req POST /v1/locks/pool '{"ttl":"10m","owner":"alice","slots":2}'
expect_status 200 "alice takes the place left"
id3=$(jq_of .lock_id)
req DELETE "/v1/locks/pool?owner=bob"
expect_status 200 "bob releases by owner"
expect_jq '[.released,.lock_id]|@csv' "true,\"$id2\"" "... his one place, its record"
req POST /v1/locks/pool '{"ttl":"10m","owner":"alice","slots":2}'
expect_status 200 "alice takes a second place"
req DELETE "/v1/locks/pool?owner=alice"
expect_status 200 "alice releases by owner"
expect_jq '.lock_id' "$id3" "... answered with her first place's record"
expect_exit 3 "... and both of her places are released" "$LOKT" exists pool
check "... each audited as a release (4 in all)" \
	test "$(audit_count release pool)" = 4 # and id1 above

req POST /v1/locks/rw '{"ttl":"10m","owner":"r1","shared":true}'
expect_status 200 "a shared holder"
req POST /v1/locks/rw '{"ttl":"10m","owner":"r2","shared":true}'
expect_status 200 "a second shared holder"
req POST /v1/locks/rw '{"ttl":"10m","owner":"w"}'
expect_status 409 "the writer is held by readers"
expect_jq '.error' held "... held"
req GET /v1/locks/rw/why
expect_jq '[.verdict,.shared,(.holders|length)]|@csv' '"shared",true,2' \
	"why of a shared name: shared (a reader joins, a writer is refused), its holders"

# One waiter on a name of two holders is one waiter in /metrics (it was
# counted once per holder).
"$LOKT" lock rw --wait --timeout 20s -q 2>/dev/null &
wt=$!
track "$wt"
check "a writer waits behind the readers" wait_for 20 eval '[ "$("$LOKT" status rw --json | jget "d[\"waiters\"]")" = 1 ]'
req POST /v1/locks/rw '{"ttl":"10m","owner":"r3","shared":true}'
expect_status 409 "a new reader behind the queued writer: 409"
check "... not told the name is free (two readers hold it)" \
	eval '! jq -r .message <<<"$BODY" | grep -q "is free"'
req GET /metrics
contains "$BODY" 'lokt_waiters 1' "/metrics: lokt_waiters 1, not one per holder"
contains "$BODY" 'loktd_acquisitions_total{outcome="error"} 0' \
	"/metrics: refusals in another mode are not errors (they are held)"
kill "$wt" 2>/dev/null

stop_loktd
check "loktd exits 0" test "$RC" = 0
done_testing
