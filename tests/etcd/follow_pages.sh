#!/bin/bash
# SPDX-License-Identifier: MIT
# lokt audit --follow on an etcd store whose history is more than one page
# (1000 keys): an event written while the history is being read, whose
# key sorts among the pages read already (its host's clock is behind), is
# still followed, once. And more than a page of events written at once,
# in txns of many keys each (one revision for all the keys of a txn), is
# followed whole, whatever the page boundary cuts. The follower is held
# by a full pipe while the events are written, then the pipe is drained.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# 1500 events of a day ago, 100 per txn.
base=$(($(date -d '1 day ago' +%s) * 1000000000))
ts=$(date -u -d '1 day ago' +%Y-%m-%dT%H:%M:%SZ)
owner=$(printf 'o%.0s' $(seq 1 200)) # lines long enough to fill a pipe
ev() { # KEYTIME NAME
	printf 'put /lokt-test/audit/%020d-0000abcd {"ts":"%s","event":"acquire","name":"%s","lock_id":"","owner":"%s","host":"h","pid":7,"agent_id":"","ttl_sec":0,"extra":{}}\n' \
		"$1" "$ts" "$2" "$owner"
}
for t in $(seq 0 14); do
	{
		echo
		for i in $(seq 1 100); do ev $((base + (t * 100 + i) * 1000000)) "old$((t * 100 + i))"; done
		echo
		echo
	} | _etcd txn >/dev/null || diag "txn $t failed"
done
check "1500 events in the history" \
	test "$("$LOKT" audit | grep -c ' old')" = 1500

# held_by_pipe PID: PID waits to write into a full pipe (a thread of it
# is in the kernel's pipe_write, or anon_pipe_write on newer kernels).
held_by_pipe() { grep -qs pipe_write /proc/"$1"/task/*/wchan; }

mkfifo "$T/pipe"
exec 3<>"$T/pipe" # nobody reads yet: the follower blocks on a full pipe
"$LOKT" audit --follow >"$T/pipe" 2>"$T/follow.err" &
FPID=$!
track "$FPID"
# The first page is read, its lines fill the pipe.
wait_for 20 held_by_pipe "$FPID" || diag "the follower is not held by the pipe"
# Between the first and the last page of the history: sorts in the first.
_etcd put "/lokt-test/audit/$(printf '%020d' $((base + 500)))-0000abcd" \
		"{\"ts\":\"$ts\",\"event\":\"acquire\",\"name\":\"skew\",\"lock_id\":\"\",\"owner\":\"x\",\"host\":\"h\",\"pid\":7,\"agent_id\":\"\",\"ttl_sec\":0,\"extra\":{}}" >/dev/null
cat <&3 >"$T/out" &
CPID=$!
track "$CPID"
check "the history is followed to its end" \
	wait_for 30 eval '[ "$(grep -c " old" "$T/out")" = 1500 ]'
check "the event written meanwhile is followed" \
	wait_for 10 grep -q " skew " "$T/out"
check "... once" test "$(grep -c " skew " "$T/out")" = 1
kill -INT "$FPID"
kill "$CPID"
wait "$FPID" "$CPID" 2>/dev/null
exec 3>&-

# 1550 new events in 16 txns (50, then 100 each): the 1000th is in the
# middle of a txn, whose keys share its revision.
exec 4<>"$T/pipe"
"$LOKT" audit --follow >"$T/pipe" 2>"$T/follow2.err" &
FPID=$!
track "$FPID"
# Inside its history, held by the full pipe.
wait_for 20 held_by_pipe "$FPID" || diag "the follower is not held by the pipe"
now=$(date +%s%N)
for t in $(seq 0 15); do
	{
		echo
		for i in $(seq $((t ? (t - 1) * 100 + 51 : 1)) $((t ? t * 100 + 50 : 50))); do
			ev $((now + i * 1000)) "new$i"
		done
		echo
		echo
	} | _etcd txn >/dev/null || diag "txn $t failed"
done
cat <&4 >"$T/out2" &
CPID=$!
track "$CPID"
check "1550 events written at once are followed" \
	wait_for 30 eval '[ "$(grep -c " new" "$T/out2")" -ge 1550 ]'
sleep 1
check "... each once ($(grep -c " new" "$T/out2") lines)" \
	test "$(grep -o " new[0-9]* " "$T/out2" | sort -u | wc -l)" = 1550 -a \
	"$(grep -c " new" "$T/out2")" = 1550
kill -INT "$FPID"
exec 4>&-

done_testing
