#!/bin/bash
# SPDX-License-Identifier: MIT
# The etcd store on a 3-member cluster (Debian's etcd-server, on loopback
# ports, data in the test's directory): the leader SIGKILLed while locks
# are held and taken (no lock lost, never two holders), two of three
# members stopped (clear errors from lokt and through the mount, nothing
# changed), and all well once they are back.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

. "$SRC_ROOT/tests/etcd/three_members.sh"
check "a 3-member cluster starts" healthy
export LOKT_ROOT="etcd://$eps/lokt-cluster" LOKT_ETCD_LEASE=4s LOKT_ETCD_TIMEOUT=3s

# --- the leader killed while locks are held and taken ---------------------
sleep 600 &
sp=$!
track "$sp"
for n in h1 h2 h3; do
	expect_exit 0 "hold $n (holder alive)" "$LOKT" lock "$n" --holder "$sp" -q
done
W=$T/wit
witness_reset "$W"
pids=()
for p in 1 2 3 4; do
	(
		fails=0
		for r in $(seq 10); do
			"$LOKT" guard lk --wait --timeout 60s -q -- sh "$WITNESS" "$W" \
				2>>"$T/errors.$p" || fails=$((fails + 1))
		done
		echo "$fails" >"$T/fails.$p"
	) &
	pids+=($!)
done
wait_for 30 test -s "$W/log"
l=$(leader)
check "found the leader (m$l)" test -n "$l"
member_stop "$l"
for p in "${pids[@]}"; do wait "$p"; done
read -r n ov bad <<<"$(witness_stats "$W")"
fails=$(cat "$T"/fails.* | awk '{ s += $1 } END { print s + 0 }')
check "leader killed mid-race: never two inside (overlaps $ov, order errors $bad)" \
	test "$ov" -eq 0 -a "$bad" -eq 0
check "... every section ran or was refused cleanly ($n ran, $fails refused, of 40)" \
	test $((n + fails)) -eq 40
check "... and most ran ($n of 40)" test "$n" -ge 30
cat "$T"/errors.* 2>/dev/null | sort | uniq -c | while read -r line; do diag "refused: $line"; done
for n in h1 h2 h3; do
	expect_exit 0 "$n is still held after the leader change" "$LOKT" exists "$n"
done
member_start "$l"
check "the killed member rejoins" wait_for 120 healthy
healthy || why_unhealthy # check says ok or not ok, and goes on

# --- two of three members stopped ------------------------------------------
a=$(( (l + 1) % 3 )) b=$(( (l + 2) % 3 ))
member_stop "$a"
member_stop "$b"
# Each request below waits out its request timeout: they are made side by
# side, and checked one after the other.
"$LOKT" lock y --json >"$T/y.json" 2>/dev/null &
yj=$!
track "$yj"
"$LOKT" unlock h1 >/dev/null 2>"$T/h1.err" &
uh=$!
track "$uh"
mounted=
if [ -n "${LOKTFS:-}" ] && [ -e /dev/fuse ]; then
	mkdir -p "$T/mnt"
	# Commas in an -o value are escaped with a backslash (libfuse).
	if "$LOKTFS" -o "root=${LOKT_ROOT//,/\\,}" "$T/mnt" 2>"$T/mount.err"; then
		mounted=1
		at_exit "fusermount3 -u '$T/mnt' 2>/dev/null"
		touch "$T/mnt/locks/y" >"$T/touch.err" 2>&1 &
		tp=$!
		track "$tp"
	fi
fi
expect_exit 1 "2 of 3 members down: lock fails (exit 1)" "$LOKT" lock y
contains "$ERR" "did not answer" "... saying the cluster did not answer"
wait "$yj"
contains "$(cat "$T/y.json")" '"error":"unavailable"' "... --json says the word unavailable"
wait "$uh"
rc=$?
check "... unlock fails too (exit $rc, want 1), nothing released" test "$rc" = 1
[ "$rc" = 1 ] || diag "stderr: $(cat "$T/h1.err")"
if [ -n "$mounted" ]; then
	wait "$tp"
	contains "$(cat "$T/touch.err")" "Input/output error" "... touch through the mount: EIO"
	fusermount3 -u "$T/mnt"
elif [ -n "${LOKTFS:-}" ] && [ -e /dev/fuse ]; then
	not_ok "mount on the 2-of-3-down cluster ($(cat "$T/mount.err"))"
else
	skip "... touch through the mount: EIO" "no loktfs or /dev/fuse in this build"
fi
member_start "$a"
member_start "$b"
check "both members return" wait_for 120 healthy
healthy || why_unhealthy # check says ok or not ok, and goes on
check "all well again: lock y" wait_for 30 "$LOKT" lock y -q
expect_exit 0 "... unlock y" "$LOKT" unlock y
# Locks whose lease could not be renewed through the outage are lost (a
# keeper cannot tell a dead cluster from its own host cut off); either
# way each name answers cleanly: held (0) or free (3), never an error.
for n in h1 h2 h3; do
	"$LOKT" exists "$n"
	rc=$?
	check "$n answers cleanly after the outage (exit $rc: held 0 or free 3)" \
		test "$rc" -eq 0 -o "$rc" -eq 3
done
expect_exit 0 "status lists the store again" "$LOKT" status
expect_exit 0 "doctor: the cluster is healthy" "$LOKT" doctor
contains "$OUT" "OK    etcd_keeper" "... and lokt-keeper is there"
# Without lokt-keeper, lokt lock fails saying what is missing (it said
# "No such file or directory" alone), takes nothing, and doctor names the
# path and why.
expect_exit 1 "lokt lock, lokt-keeper missing: exit 1" \
	env LOKT_KEEPER="$T/no-such-keeper" "$LOKT" lock nk
contains "$ERR" "lokt-keeper, which keeps the lease of an etcd lock" \
	"... saying lokt-keeper could not be run"
contains "$ERR" "run lokt doctor" "... and what to do"
expect_exit 3 "... and nk was not taken" "$LOKT" exists nk
expect_exit 1 "doctor, lokt-keeper missing: exit 1" \
	env LOKT_KEEPER="$T/no-such-keeper" "$LOKT" doctor
contains "$OUT" "FAIL  etcd_keeper" "... FAIL etcd_keeper"
contains "$OUT" "no-such-keeper: No such file or directory" "... naming it"

done_testing
