#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lokt on the etcd store beside `etcdctl lock`, on the same etcd member,
# in one run. Prints, each beside its baseline:
#   1. acquire + run /bin/true + release, one command each time:
#      N x `lokt guard x -- true`  vs  N x `etcdctl lock x true`
#   2. release -> next holder: a holder's command ends (its tool then
#      releases), a waiting tool takes the lock and starts its command:
#      `lokt guard --wait` vs `etcdctl lock`, taken in turns, median of
#      N (at most 40) of each
# Not a test: nothing is asserted, figures depend on the machine.
#
# Usage: tests/bench/etcd.sh [-n N] [-b BUILD_DIR]
#   N defaults to 50. Starts its own etcd member on loopback ports, with
#   its data in a temporary directory, and stops it at the end.
set -euo pipefail

n=50
build=${BUILD_ROOT:-}
while getopts "n:b:h" opt; do
	case $opt in
	n) n=$OPTARG ;;
	b) build=$OPTARG ;;
	*) sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${build:-$src/build}
lokt=$build/cli/lokt
export LOKT_MODULE_DIR=$build/core/etcd LOKT_KEEPER=$build/core/etcd/lokt-keeper
for exe in "$lokt" "$LOKT_KEEPER" etcd etcdctl; do
	command -v "$exe" >/dev/null || {
		echo "error: $exe not found — build with libcurl (meson setup $build), install etcd-server and etcd-client" >&2
		exit 1
	}
done

T=$(mktemp -d "${TMPDIR:-/tmp}/lokt-bench-etcd.XXXXXX")
# Below the kernel's range of local ports (32768 on), as the tests' members.
port=$((25000 + RANDOM % 7600))
etcd --name b0 --data-dir "$T/data" \
	--listen-client-urls "http://127.0.0.1:$port" \
	--advertise-client-urls "http://127.0.0.1:$port" \
	--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
	--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
	--initial-cluster "b0=http://127.0.0.1:$((port + 1))" >"$T/etcd.log" 2>&1 &
epid=$!
trap 'kill -9 $epid 2>/dev/null; wait $epid 2>/dev/null || :; rm -rf "$T"' EXIT
ep=127.0.0.1:$port
for _ in $(seq 100); do
	etcdctl --endpoints "$ep" endpoint health >/dev/null 2>&1 && break
	sleep 0.1
done
export LOKT_ROOT=etcd://$ep/bench ETCDCTL_API=3

now_ns() { date +%s%N; }
# per MS: the mean of N runs of CMD, in ms
per() {
	local t0 t1 i
	t0=$(now_ns)
	for ((i = 0; i < n; i++)); do "$@" >/dev/null; done
	t1=$(now_ns)
	echo $(((t1 - t0) / n / 1000))
}
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

echo "etcd $(etcd --version | head -1 | awk '{print $3}') on $ep, $n runs each, $(nproc) cores"
echo
# Warm up both (first connections, the etcd binary in the page cache).
"$lokt" guard x -- true
etcdctl --endpoints "$ep" lock x true >/dev/null

a=$(per "$lokt" guard x -- true)
b=$(per etcdctl --endpoints "$ep" lock x true)
printf '%-44s %9s ms   %-26s %9s ms   ratio %s\n' \
	"lokt guard x -- true" "$(ms "$a")" "etcdctl lock x true" "$(ms "$b")" \
	"$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"

# Handoff: a holder in the background releases when told; a waiter is
# queued behind it; the waiter's command writes the time it started.
handoff() { # KIND -> ns from release to the waiter's command
	local kind=$1 r t w h
	r=$T/released w=$T/went
	rm -f "$r" "$w" "$T/go"
	if [ "$kind" = lokt ]; then
		"$lokt" guard h -- sh -c "while [ ! -e $T/go ]; do sleep 0.001; done; date +%s%N >$r" &
		h=$!
		until "$lokt" exists h; do sleep 0.01; done
		"$lokt" guard h --wait --timeout 30s -q -- sh -c "date +%s%N >$w" &
		t=$!
		until [ "$("$lokt" why h --json | sed -n 's/.*"waiters":\([0-9]*\).*/\1/p')" = 1 ]; do sleep 0.01; done
	else
		etcdctl --endpoints "$ep" lock h -- sh -c "while [ ! -e $T/go ]; do sleep 0.001; done; date +%s%N >$r" >/dev/null &
		h=$!
		until [ "$(etcdctl --endpoints "$ep" get --prefix h --keys-only | grep -c .)" -ge 1 ]; do sleep 0.01; done
		etcdctl --endpoints "$ep" lock h -- sh -c "date +%s%N >$w" >/dev/null &
		t=$!
		until [ "$(etcdctl --endpoints "$ep" get --prefix h --keys-only | grep -c .)" -ge 2 ]; do sleep 0.01; done
	fi
	sleep 0.05
	: >"$T/go"
	wait "$h" "$t"
	echo $(($(cat "$w") - $(cat "$r")))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Taken in turns, so that a busier minute weighs on both alike.
m=$((n < 40 ? n : 40))
for ((i = 0; i < m; i++)); do
	echo "$(handoff lokt)" >>"$T/ho.lokt"
	echo "$(handoff etcdctl)" >>"$T/ho.etcdctl"
done
la=$(median <"$T/ho.lokt")
lb=$(median <"$T/ho.etcdctl")
printf '%-44s %9s ms   %-26s %9s ms   ratio %s\n' \
	"release -> next holder (lokt guard --wait)" "$(ms $((la / 1000)))" \
	"etcdctl lock (waiting)" "$(ms $((lb / 1000)))" \
	"$(awk -v a="$la" -v b="$lb" 'BEGIN { printf "%.2f", a / b }')"
echo
echo "(median of $m handoffs; the release is the holder's command ending, which both tools follow with their own release)"
