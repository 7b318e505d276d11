#!/bin/bash
# SPDX-License-Identifier: MIT
# The Tracker-compatible API as a Tracker user's CI scripts call it, with
# curl and jq against a real loktd: a pipeline acquires, runs its step
# and releases with a trap (on success and on failure); a second pipeline
# is refused while the first holds; the list pages; GET and POST unlock;
# the default TTL and ?ttl=; Cache-Control: no-store; a lock taken this
# way is the one `lokt status` shows, and the other way round.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

start_loktd --default-ttl 45m || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"

# The guide's pipeline: acquire, run, release in a trap.
pipeline() { # NAME WHO STEP...
	local service=$1 who=$2 resp id
	shift 2
	resp=$(curl -sf -X POST "$URL/api/v1alpha1/lock" \
		-H 'Content-Type: application/json' \
		-d "{\"service\":\"$service\",\"who\":\"$who\"}") || {
		echo "refused: $resp" >&2
		return 75
	}
	id=$(jq -r .id <<<"$resp")
	trap 'curl -sf "$URL/api/v1alpha1/unlock/'"$id"'" >/dev/null' EXIT
	"$@"
}
export -f pipeline
export URL

expect_exit 0 "pipeline 1 acquires, runs, releases" \
	bash -c 'pipeline production-deployment ci-1 sh -c "echo step ran; lokt_status=\$($LOKT status production-deployment --json); echo \"\$lokt_status\""'
contains "$OUT" "step ran" "the step ran"
contains "$OUT" '"owner":"ci-1"' "lokt status saw the lock during the step (owner = who without tokens)"
expect_exit 3 "released after the pipeline (lokt exists)" "$LOKT" exists production-deployment

# A who of non-ASCII UTF-8 is kept whole; one too long for the agent id
# is refused, in Tracker's shape (it was cut at 200 bytes, into a
# character maybe, and then refused "Invalid argument").
w=$(printf 'a%.0s' $(seq 199))é
req POST /api/v1alpha1/lock "{\"service\":\"tw\",\"who\":\"$w\"}"
expect_status 200 "a who of 201 bytes of UTF-8: taken"
check "... the answer's who is whole" test "$(jq_of .who)" = "$w"
req GET "/api/v1alpha1/unlock/$(jq_of .id)"
w=$(printf 'b%.0s' $(seq 250))
req POST /api/v1alpha1/lock "{\"service\":\"tw\",\"who\":\"$w\"}"
expect_status 400 "a who of 250 bytes: 400"
check "... saying why, in Tracker's shape" eval '[ "$(jq_of .success)" = false ] && grep -q "bad who: 1 to 233 bytes" <<<"$(jq_of .error)"'
expect_exit 3 "... and tw is free" "$LOKT" exists tw

expect_exit 7 "a failing step still releases (trap)" \
	bash -c 'pipeline production-deployment ci-1 sh -c "exit 7"'
expect_exit 3 "released after the failed pipeline" "$LOKT" exists production-deployment

# Two pipelines: the second is refused while the first holds.
req POST /api/v1alpha1/lock '{"service":"production-deployment","who":"ci-pipeline-123"}'
expect_status 200 "pipeline A acquires"
expect_jq .service production-deployment "answer: service"
expect_jq .who ci-pipeline-123 "answer: who"
expect_jq '.id|test("^[0-9a-f]{32}$")' true "answer: id is a lock_id"
expect_jq '.createdAt|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' true "answer: createdAt"
id_a=$(jq_of .id)
check "Cache-Control: no-store" grep -qi '^Cache-Control: no-store' "$T/headers"
json=$("$LOKT" status production-deployment --json)
[ "$(jq -r .lock_id <<<"$json")" = "$id_a" ] && ok "lokt status shows the same lock_id" || not_ok "lokt status: $json"
ttl=$(jq -r .ttl_sec <<<"$json")
[ "$ttl" = 2700 ] && ok "Tracker locks take --default-ttl (45m)" || not_ok "ttl_sec $ttl, want 2700"

req POST /api/v1alpha1/lock '{"service":"production-deployment","who":"other-pipeline"}'
expect_status 409 "pipeline B is refused"
expect_jq .error "lock already exists" "error: lock already exists"
expect_jq .existingLock.id "$id_a" "existingLock.id is A's"
expect_jq .existingLock.who ci-pipeline-123 "existingLock.who is A"
expect_exit 0 "pipeline B's script sees a refusal" bash -c '! pipeline production-deployment other-pipeline true'

# A name held in another mode (a semaphore) is held, to Tracker, and
# said in Tracker's words and shape.
LOKT_OWNER=other "$LOKT" lock tsem --slots 2 --ttl 10m --detach -q
req POST /api/v1alpha1/lock '{"service":"tsem","who":"alice"}'
expect_status 409 "a semaphore's name: 409"
expect_jq '[.error,has("message")]|@csv' '"lock already exists",false' \
	"... \"lock already exists\", Tracker's shape"
"$LOKT" unlock tsem --force --yes -q

req GET "/api/v1alpha1/lock/$id_a"
expect_status 200 "GET /lock/ID"
expect_jq .service production-deployment "GET /lock/ID: the service"
req GET "/api/v1alpha1/lock/0123456789abcdef0123456789abcdef"
expect_status 404 "GET /lock/ID of no lock: 404"

# Paging: five services held, pages of two.
for s in svc-a svc-b svc-c svc-d; do
	req POST "/api/v1alpha1/lock?ttl=90s" "{\"service\":\"$s\",\"who\":\"pager\"}"
done
expect_status 200 "four more locks (ttl=90s)"
[ "$("$LOKT" status svc-d --json | jq -r .ttl_sec)" = 90 ] && ok "?ttl=90s sets the TTL" || not_ok "?ttl=90s not applied"
req GET "/api/v1alpha1/locks/list?per_page=2&page=1"
expect_status 200 "list page 1"
expect_jq '[.total,.page,.perPage,(.locks|length)]|@csv' '5,1,2,2' "page 1: total 5, 2 locks"
req GET "/api/v1alpha1/locks/list?per_page=2&page=3"
expect_jq '[.total,.page,(.locks|length),.locks[0].service]|@csv' '5,3,1,"svc-d"' "page 3: the last lock"
req GET "/api/v1alpha1/locks/list?per_page=2&page=9"
expect_jq '[.total,(.locks|length)]|@csv' '5,0' "a page past the end is empty"
req GET "/api/v1alpha1/locks/list?per_page=x"
expect_status 400 "per_page=x: 400"
req GET "/api/v1alpha1/lock/$id_a"
check "GET answers carry Cache-Control: no-store" grep -qi '^Cache-Control: no-store' "$T/headers"

# Unlock: GET, and the POST alias.
req GET "/api/v1alpha1/unlock/$id_a"
expect_status 200 "GET /unlock/ID"
expect_jq '[.success,.message]|@csv' 'true,"Lock released successfully"' "unlock answer"
check "unlock answers carry Cache-Control: no-store" grep -qi '^Cache-Control: no-store' "$T/headers"
expect_exit 3 "lokt sees it released" "$LOKT" exists production-deployment
req GET "/api/v1alpha1/unlock/$id_a"
expect_status 404 "unlock twice: 404"
expect_jq .success false "unlock twice: success false"
id=$("$LOKT" status svc-a --json | jq -r .lock_id)
req POST "/api/v1alpha1/unlock/$id"
expect_status 200 "POST /unlock/ID"
expect_exit 3 "svc-a released" "$LOKT" exists svc-a

# lokt -> Tracker: a lock taken with lokt is listed, and refuses.
expect_exit 0 "lokt lock --detach" "$LOKT" lock from-cli --ttl 5m --detach
req GET "/api/v1alpha1/locks/list?per_page=100"
expect_jq '[.locks[].service]|index("from-cli") != null' true "the list shows lokt's lock at once"
req POST /api/v1alpha1/lock '{"service":"from-cli","who":"ci"}'
expect_status 409 "lokt's lock refuses a Tracker client"

# Bad requests change nothing.
before=$(store_state)
req POST /api/v1alpha1/lock '{"service":"../etc","who":"x"}'
expect_status 400 "bad service name: 400"
req POST /api/v1alpha1/lock '{"who":"x"}'
expect_status 400 "no service: 400"
req POST /api/v1alpha1/lock '{"service":"x",'
expect_status 400 "malformed JSON: 400"
req POST "/api/v1alpha1/lock?ttl=soon" '{"service":"x","who":"y"}'
expect_status 400 "bad ttl: 400"
[ "$(store_state)" = "$before" ] && ok "the store is unchanged by bad requests" || not_ok "the store changed"

stop_loktd
[ "$RC" = 0 ] && ok "loktd exits 0 on SIGTERM" || not_ok "loktd exit $RC"
done_testing
