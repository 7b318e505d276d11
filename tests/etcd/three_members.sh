# SPDX-License-Identifier: MIT
# Sourced by the tests of a 3-member etcd cluster (cluster.sh,
# mount_blackhole.sh), after tests/lib.sh and tests/cli/common.sh: skips
# without etcd, picks six free loopback ports, defines member_start I,
# member_stop I, healthy, why_unhealthy and leader, and starts the three
# members (the caller checks healthy). The members are killed at exit.

command -v etcd >/dev/null || { echo "1..0 # SKIP etcd is not installed (apt-get install etcd-server)"; exit 0; }
command -v etcdctl >/dev/null || { echo "1..0 # SKIP etcdctl is not installed (apt-get install etcd-client)"; exit 0; }

# Six free loopback ports (nothing answers on them), far from the 20000-
# 24999 of the loktd tests, and below the kernel's range of local ports
# for outgoing connections (32768-60999 by default): a member killed and
# started again on its ports must not find one taken meanwhile by a
# client's connection (CI once saw a member never come back).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
	local i ok
	for _ in $(seq 20); do
		base=$((25000 + RANDOM % 7700)) ok=1
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
