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

command -v etcd >/dev/null || { echo "1..0 # SKIP etcd is not installed (apt-get install etcd-server)"; exit 0; }
command -v etcdctl >/dev/null || { echo "1..0 # SKIP etcdctl is not installed (apt-get install etcd-client)"; exit 0; }

# Six free loopback ports (nothing answers on them), far from the 20000-
# 24999 of the loktd tests.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
	local i ok
	for _ in $(seq 20); do
		base=$((25000 + RANDOM % 15000)) ok=1
		for i in 0 1 2 3 4 5; do port_free $((base + i)) || ok=0; done
		[ "$ok" = 1 ] && break
	done
	cluster=
	for i in 0 1 2; do
		cport[$i]=$((base + 2 * i)) pport[$i]=$((base + 2 * i + 1))
		cluster+="${cluster:+,}m$i=http://127.0.0.1:${pport[$i]}"
	done
	eps=127.0.0.1:${cport[0]},127.0.0.1:${cport[1]},127.0.0.1:${cport[2]}
}
pick_ports
member_start() { # I
	local i=$1
	etcd --name "m$i" --data-dir "$T/m$i" \
		--listen-client-urls "http://127.0.0.1:${cport[$i]}" \
		--advertise-client-urls "http://127.0.0.1:${cport[$i]}" \
		--listen-peer-urls "http://127.0.0.1:${pport[$i]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${pport[$i]}" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		>>"$T/m$i.log" 2>&1 &
	mpid[$i]=$!
	at_exit "kill -9 ${mpid[$i]} 2>/dev/null"
}
member_stop() { kill -9 "${mpid[$1]}" 2>/dev/null; wait "${mpid[$1]}" 2>/dev/null; }
healthy() { etcdctl --endpoints "$eps" endpoint health >"$T/health" 2>&1; }
# why_unhealthy: what etcdctl said, and each member's last words
why_unhealthy() {
	diag "$(cat "$T/health")"
	for i in 0 1 2; do diag "m$i: $(tail -2 "$T/m$i.log")"; done
}
# The member that leads now: its index.
leader() {
	local i
	for i in 0 1 2; do
		etcdctl --endpoints "127.0.0.1:${cport[$i]}" endpoint status -w json 2>/dev/null |
			"$PY" -c 'import json,sys
d = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if d["leader"] == d["header"]["member_id"] else 1)' && { echo "$i"; return; }
	done
	return 1
}

# A busy machine may be slow to elect: another set of ports, fresh data,
# a second time, before giving up (with the members' last words).
for try in 1 2; do
	for i in 0 1 2; do member_start "$i"; done
	wait_for 90 healthy && break
	for i in 0 1 2; do member_stop "$i"; diag "m$i: $(tail -3 "$T/m$i.log")"; rm -rf "$T/m$i"; done
	pick_ports
done
check "a 3-member cluster starts" healthy
l=$(leader)
check "a leader is elected (m$l)" test -n "$l"
f=$(((l + 1) % 3)) o=$(((l + 2) % 3))
# The follower first: the daemon asks it first.
export LOKT_ROOT="etcd://127.0.0.1:${cport[$f]},127.0.0.1:${cport[$l]},127.0.0.1:${cport[$o]}/lokt-bh"
export LOKT_ETCD_LEASE=3s LOKT_ETCD_TIMEOUT=6s
others="etcd://127.0.0.1:${cport[$l]},127.0.0.1:${cport[$o]}/lokt-bh"

M=$T/mnt
mkdir -p "$M"
"$LOKTFS" -f -o "root=${LOKT_ROOT//,/\\,}" "$M" 2>"$T/loktfs.err" &
daemon=$!
track "$daemon"
at_exit "fusermount3 -u '$M' 2>/dev/null || umount -l '$M' 2>/dev/null"
check "mounted" wait_for 20 test -d "$M/locks"
sh -c "touch '$M/locks/k' && : >'$T/k.took' && exec sleep 600" &
h=$!
track "$h"
check "a script takes k through the mount" wait_for 20 test -e "$T/k.took"
kill -STOP "${mpid[$f]}"
at_exit "kill -CONT ${mpid[$f]} 2>/dev/null"
sleep 10 # three leases
expect_exit 0 "m$f silent for three leases: k is still held" env LOKT_ROOT="$others" "$LOKT" exists k
expect_exit 2 "... and refused to others" env LOKT_ROOT="$others" LOKT_OWNER=other "$LOKT" lock k
kill -CONT "${mpid[$f]}"
kill "$h"
check "its holder exits: k is released" \
	wait_for 20 eval '! env LOKT_ROOT="$others" "$LOKT" exists k'

# A holder exits while the member asked first is silent: its release must
# not hold the daemon's other keepalives back past their lease.
fusermount3 -u "$M"
wait "$daemon" 2>/dev/null
export LOKT_ETCD_LEASE=6s LOKT_ETCD_TIMEOUT=20s
"$LOKTFS" -f -o "root=${LOKT_ROOT//,/\\,}" "$M" 2>"$T/loktfs2.err" &
daemon=$!
track "$daemon"
check "mounted again" wait_for 20 test -d "$M/locks"
for n in r1 r2; do
	sh -c "touch '$M/locks/$n' && : >'$T/$n.took' && exec sleep 600" &
	hp[${n#r}]=$!
	track $!
	check "a script takes $n" wait_for 20 test -e "$T/$n.took"
done
kill -STOP "${mpid[$f]}"
kill "${hp[1]}"
sleep 13 # two leases
expect_exit 0 "r1's release waits on m$f: r2 is still held" env LOKT_ROOT="$others" "$LOKT" exists r2
kill -CONT "${mpid[$f]}"
kill "${hp[2]}"

done_testing
