#!/bin/bash
# SPDX-License-Identifier: MIT
# The loktfs daemon keeps the locks taken through its mount alive when a
# member of a 3-member cluster stops answering (SIGSTOPped: connections
# are accepted, nothing is answered, as a member cut off): a keepalive
# to it is given up in time and the next member asked, before the lease
# runs out (a request timeout longer than the lease must not lose it).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ -z "${LOKTFS:-}" ] || [ ! -c /dev/fuse ] || [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs loktfs, /dev/fuse and root"
	exit 0
fi

. "$SRC_ROOT/tests/etcd/three_members.sh"
check "a 3-member cluster starts" healthy
l=$(leader)
check "a leader is elected (m$l)" test -n "$l"
f=$(((l + 1) % 3)) o=$(((l + 2) % 3))
# The follower first: the daemon asks it first.
export LOKT_ROOT="etcd://127.0.0.1:${cport[$f]},127.0.0.1:${cport[$l]},127.0.0.1:${cport[$o]}/lokt-bh"
export LOKT_ETCD_LEASE=3s LOKT_ETCD_TIMEOUT=6s
others="etcd://127.0.0.1:${cport[$l]},127.0.0.1:${cport[$o]}/lokt-bh"

# Two mounts on the same cluster, each with its own daemon: the first
# (lease 3 s, request timeout 6 s) for a lock kept through the silence,
# the second (lease 6 s, request timeout 20 s) for a release that meets
# it. Both wait out the same silence of the member, which is longer than
# either case needs (three leases of the first, two of the second).
M=$T/mnt M2=$T/mnt2
mkdir -p "$M" "$M2"
"$LOKTFS" -f -o "root=${LOKT_ROOT//,/\\,}" "$M" 2>"$T/loktfs.err" &
daemon=$!
track "$daemon"
at_exit "fusermount3 -u '$M' 2>/dev/null || umount -l '$M' 2>/dev/null"
check "mounted" wait_for 20 test -d "$M/locks"
env LOKT_ETCD_LEASE=6s LOKT_ETCD_TIMEOUT=20s \
	"$LOKTFS" -f -o "root=${LOKT_ROOT//,/\\,}" "$M2" 2>"$T/loktfs2.err" &
daemon2=$!
track "$daemon2"
at_exit "fusermount3 -u '$M2' 2>/dev/null || umount -l '$M2' 2>/dev/null"
check "a second mount (lease 6 s)" wait_for 20 test -d "$M2/locks"
sh -c "touch '$M/locks/k' && : >'$T/k.took' && exec sleep 600" &
h=$!
track "$h"
check "a script takes k through the mount" wait_for 20 test -e "$T/k.took"
# A holder exits while the member asked first is silent: its release must
# not hold the daemon's other keepalives back past their lease.
for n in r1 r2; do
	sh -c "touch '$M2/locks/$n' && : >'$T/$n.took' && exec sleep 600" &
	hp[${n#r}]=$!
	track $!
	check "a script takes $n" wait_for 20 test -e "$T/$n.took"
done
kill -STOP "${mpid[$f]}"
at_exit "kill -CONT ${mpid[$f]} 2>/dev/null"
kill "${hp[1]}"
sleep 10 # three leases of the first mount
expect_exit 0 "m$f silent for three leases: k is still held" env LOKT_ROOT="$others" "$LOKT" exists k
expect_exit 2 "... and refused to others" env LOKT_ROOT="$others" LOKT_OWNER=other "$LOKT" lock k
sleep 3 # two leases of the second mount since r1's holder exited, at least
expect_exit 0 "r1's release waits on m$f: r2 is still held" \
	env LOKT_ETCD_LEASE=6s LOKT_ETCD_TIMEOUT=20s LOKT_ROOT="$others" "$LOKT" exists r2
kill -CONT "${mpid[$f]}"
kill "$h" "${hp[2]}"
check "its holder exits: k is released" \
	wait_for 20 eval '! env LOKT_ROOT="$others" "$LOKT" exists k'

done_testing
