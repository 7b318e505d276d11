#!/bin/bash
# SPDX-License-Identifier: MIT
# Many waiters on the etcd store: N `lokt guard NAME --wait` started at
# once while a holder holds NAME. Every waiter queues (a key of its own
# under queue/NAME/, on its own lease), each watches only the one ahead
# of it (no thundering herd), every one is served, in the order of the
# create revisions of the queue keys (docs/protocol.md, "The etcd
# store"), never two inside at once (witness.sh), and the queue is empty
# at the end. The etcd counterpart of tests/cli/many_waiters.sh, whose
# tickets, doorbells and inotify limits are the directory store's.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

N=200 # each waiter is a guard with a watch stream: a few per core
O=$T/out
mkdir -p "$O"
witness_reset "$O/w"

# queue_pids: the pids in the queue keys, in create-revision order.
queue_pids() {
	_etcd get --prefix /lokt-test/queue/many/ -w json 2>/dev/null | "$PY" -c '
import base64, json, sys
d = json.load(sys.stdin)
kvs = sorted(d.get("kvs", []), key=lambda kv: int(kv["create_revision"]))
for kv in kvs:
    print(json.loads(base64.b64decode(kv["value"]))["pid"])'
}
queued() { [ "$(queue_pids | wc -l)" -eq "$1" ]; }

"$LOKT" guard many -q -- sh -c \
	': >"$1/held"; while [ ! -e "$1/go" ]; do sleep 0.05; done' sh "$O" \
	2>"$O/holder.err" &
holder=$!
track "$holder"
check "the holder takes the lock" wait_for 30 test -e "$O/held"

i=0
while [ "$i" -lt "$N" ]; do
	i=$((i + 1))
	lean_round "$i"
	sh -c '"$@"; echo $? >>"$0/rcs"' "$O" \
		"$LOKT" guard many --wait --timeout 600s -q -- sh -c \
		'echo "$PPID" >>"$1/order"; exec sh "$2" "$1/w"' \
		sh "$O" "$WITNESS" 2>>"$O/errors" &
	track "$!"
done
all_queued() { queued "$N" || [ -s "$O/errors" ]; }
wait_for 180 all_queued
check "all $N waiters queued ($(queue_pids | wc -l) keys)" queued "$N"
check "no waiter failed to queue" test ! -s "$O/errors"
[ -s "$O/errors" ] && diag "$(sort "$O/errors" | uniq -c | head -5)"
check "lokt why counts them ($(waiters many))" test "$(waiters many)" = "$N"
check "nobody got in while the holder holds it" test ! -e "$O/order"
queue_pids >"$T/want"

: >"$O/go"
wait "$holder"
check "the holder's guard exits 0 (got $?)" test $? -eq 0
lines() { if [ -e "$O/$1" ]; then wc -l <"$O/$1"; else echo 0; fi; }
over() { [ "$(lines rcs)" -ge "$N" ]; }
wait_for 300 over
check "all $N waiters served (got $(lines order))" test "$(lines order)" -eq "$N"
bad=$(grep -cv '^0$' "$O/rcs")
check "every waiter's guard exits 0 ($bad did not)" test "$bad" -eq 0
check "served in queue order (first come, first served)" \
	cmp -s "$T/want" "$O/order"
cmp -s "$T/want" "$O/order" || diag "$(diff "$T/want" "$O/order" | head -10)"
read -r sections overlaps misordered <<<"$(witness_stats "$O/w")"
check "$N critical sections (got $sections)" test "$sections" -eq "$N"
check "never two inside at once ($overlaps overlaps, $misordered misordered)" \
	test "$overlaps" -eq 0 -a "$misordered" -eq 0
check "the queue is empty at the end" queued 0
expect_exit 3 "the lock is free at the end" "$LOKT" exists many

done_testing
