#!/bin/bash
# SPDX-License-Identifier: MIT
# loktd under load and abuse:
#   - 200 curl clients at once take one lock (waiting requests), each
#     runs a witness inside, then releases by lock_id: never two inside,
#     every client served, fences strictly increasing;
#   - a waiting client that hangs up leaves the queue, and is not given
#     the lock afterwards;
#   - ~1000 connections at once (idle, slow headers, a slow body, garbage,
#     dropped mid-request): /healthz and a lock still answer meanwhile,
#     the server stays up, the store is unchanged.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"

W=$T/witness
witness_reset "$W"
client() {
	local out id
	out=$(curl -s -w '\n%{http_code}' -X POST \
		-d '{"wait":true,"timeout":"100s","ttl":"2m"}' "$URL/v1/locks/race")
	if [ "${out##*$'\n'}" != 200 ]; then
		echo "client $1: ${out//$'\n'/ }" >>"$T/failures"
		return
	fi
	out=${out%$'\n'*}
	id=$(jq -r .lock_id <<<"$out")
	jq -r .fence <<<"$out" >>"$T/fences"
	sh "$WITNESS" "$W"
	curl -s -o /dev/null -X DELETE "$URL/v1/locks/race?lock_id=$id"
}
: >"$T/failures"
: >"$T/fences"
pids=()
for i in $(seq 200); do
	client "$i" &
	pids+=($!)
done
track "${pids[@]}"
for p in "${pids[@]}"; do wait "$p"; done
[ ! -s "$T/failures" ] && ok "200 concurrent clients were all served" || {
	not_ok "200 concurrent clients were all served"
	diag "$(head -5 "$T/failures")"
}
[ ! -e "$W/overlaps" ] && ok "never two inside (witness)" || not_ok "overlaps: $(wc -l <"$W/overlaps")"
n=$(grep -c enter "$W/log")
[ "$n" = 200 ] && ok "200 critical sections" || not_ok "$n critical sections"
if sort -n "$T/fences" | uniq -d | grep -q .; then
	not_ok "fences are all distinct"
else
	ok "fences are all distinct"
fi
expect_exit 3 "the lock is free at the end" "$LOKT" exists race

# A waiting client that hangs up.
hold ivy gone-waiter --ttl 10m
holder=$HOLDER
curl -s -o /dev/null --max-time 1 -X POST -d '{"wait":true,"timeout":"60s"}' "$URL/v1/locks/gone-waiter"
wait_for 10 eval '[ "$(waiters gone-waiter)" = 0 ]' && ok "a waiter that hung up leaves the queue" || not_ok "waiter still queued"
LOKT_OWNER=ivy "$LOKT" unlock gone-waiter >/dev/null
kill "$holder"
sleep 0.5
expect_exit 3 "and is not given the lock" "$LOKT" exists gone-waiter

# About a thousand connections of every kind.
before=$(store_state)
"$PY" - "$PORT" >"$T/abuse.log" 2>&1 <<'PYEOF' &
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
port = int(sys.argv[1])
socks = []
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    socks.append(s)
    return s
kinds = [
    lambda s: None,                                             # idle
    lambda s: s.sendall(b"GET /v1/locks HTTP/1.1\r\nHost: x\r\n"),  # slow headers
    lambda s: s.sendall(b"POST /v1/locks/slow HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 1000\r\n\r\n{\"ttl\":"),  # slow body
    lambda s: s.sendall(b"\x16\x03\x01garbage\r\n\r\n"),         # garbage
]
opened = 0
for i in range(1000):
    try:
        s = conn()
        kinds[i % 4](s)
        opened += 1
    except OSError as e:
        print("connect", i, e)
        break
# dropped mid-request
for i in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /v1/locks/dropped HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"tt")
        s.close()
    except OSError as e:
        print("drop", i, e)
print("opened", opened, flush=True)
open(sys.argv[0] if False else "/dev/null").close()
time.sleep(6)
for s in socks:
    s.close()
print("closed", flush=True)
PYEOF
abuser=$!
track "$abuser"
wait_for 30 grep -q opened "$T/abuse.log"
contains "$(cat "$T/abuse.log")" "opened 1000" "1000 connections opened"
t0=$(date +%s%N)
req GET /healthz
t1=$(date +%s%N)
expect_status 200 "/healthz answers while they are open"
[ $(((t1 - t0) / 1000000)) -lt 2000 ] && ok "... within 2 s ($(((t1 - t0) / 1000000)) ms)" || not_ok "healthz took $(((t1 - t0) / 1000000)) ms"
req GET /v1/locks
expect_status 200 "listing answers meanwhile"
reap "$abuser"
contains "$(cat "$T/abuse.log")" "closed" "the abuser closed its connections"
check "loktd is still running" kill -0 "$LOKTD_PID"
[ "$(store_state)" = "$before" ] && ok "the store is unchanged" || not_ok "the store changed"
expect_exit 3 "no lock 'slow' or 'dropped'" bash -c "'$LOKT' exists slow || '$LOKT' exists dropped"
req POST /v1/locks/after '{"ttl":"1m"}'
expect_status 200 "a lock is taken afterwards"

stop_loktd
[ "$RC" = 0 ] && ok "exit 0" || not_ok "exit $RC"
check "loktd wrote nothing alarming" bash -c "! grep -qiE 'sanitizer|panic|abort' '$T/loktd.err'"
done_testing
