#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# How much does a lokt lock cost next to flock? Prints, in one run:
#   1. N x `lokt lock x && lokt unlock x`  vs  N x `flock FILE true`
#      vs  N x `/bin/true`  (what a shell script pays per lock: mostly
#      process spawns)
#   2. liblokt acquire+release per second in one process vs flock(2)
#   3. time from a release to a waiter getting in: `lokt lock --wait`
#      vs `flock FILE` waiting, and the same in process (liblokt vs
#      flock(2))
# Not a test: nothing is asserted, figures depend on the machine.
#
# Usage: tests/bench/bench.sh [-n N] [-b BUILD_DIR]
#   N defaults to 200 (spawns), BUILD_DIR to build/ (or $BUILD_ROOT).
#   The store is a temporary directory, removed at the end.
set -euo pipefail

n=200
build=${BUILD_ROOT:-}
while getopts "n:b:h" opt; do
	case $opt in
	n) n=$OPTARG ;;
	b) build=$OPTARG ;;
	*) sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${build:-$src/build}
lokt=${LOKT:-$build/cli/lokt}
bench=${LOKT_BENCH:-$build/tests/bench/lokt-bench}
for exe in "$lokt" "$bench"; do
	if [[ ! -x $exe ]]; then
		echo "error: $exe not found — build first (meson setup $build && ninja -C $build), or pass -b BUILD_DIR" >&2
		exit 1
	fi
done
command -v flock >/dev/null || { echo "error: flock(1) not found (util-linux)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/lokt-bench.XXXXXX)
sleepers=()
cleanup() {
	((${#sleepers[@]})) && kill "${sleepers[@]}" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
export LOKT_ROOT=$tmp/root
unset LOKT_AGENT_ID

# Microseconds since the epoch, without spawning date(1).
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

row() { # label, total microseconds, count
	awk -v l="$1" -v t="$2" -v n="$3" \
		'BEGIN { printf "%-38s %10.0f/s %10.1f us/op\n", l, n / t * 1e6, t / n }'
}

echo "loktfs benchmark: $(nproc) CPU(s), $(uname -sr), N=$n"
echo "store: $LOKT_ROOT ($(stat -f -c %T "$tmp"))"
echo
echo "== 1. from a shell, per lock (process spawns included)"
"$lokt" lock warmup -q && "$lokt" unlock warmup -q
t0=$(now_us)
for ((i = 0; i < n; i++)); do "$lokt" lock x -q && "$lokt" unlock x -q; done
row "lokt lock x && lokt unlock x" $(($(now_us) - t0)) "$n"
t0=$(now_us)
for ((i = 0; i < n; i++)); do flock "$tmp/f" true; done
row "flock FILE true" $(($(now_us) - t0)) "$n"
t0=$(now_us)
for ((i = 0; i < n; i++)); do /bin/true; done
row "/bin/true (a bare spawn)" $(($(now_us) - t0)) "$n"

echo
echo "== 2. in one process"
"$bench" inproc $((n * 10))

echo
echo "== 3. release -> waiter holds the lock"
rounds=$(((n + 9) / 10))
# Two unrelated holders (neither inside the other's process subtree, so
# the waiter is not re-entrant).
sleep 1000 & sleepers+=($!)
sleep 1000 & sleepers+=($!)
lat_lokt=()
lat_flock=()
for ((i = 0; i < rounds; i++)); do
	# lokt: the first sleeper holds w; a waiter queues for it, on behalf
	# of the second (so its lock outlives the waiting lokt process).
	"$lokt" lock w -q --holder "${sleepers[0]}"
	( "$lokt" lock w --wait -q --holder "${sleepers[1]}"; now_us > "$tmp/t1" ) &
	w=$!
	sleep 0.2
	t0=$(now_us)
	"$lokt" unlock w -q
	wait "$w"
	lat_lokt+=($(($(< "$tmp/t1") - t0)))
	"$lokt" unlock w -q # now the waiter's lock (same owner)

	# flock(1): this shell holds fd 9; a waiter blocks in flock FILE.
	exec 9>"$tmp/f"
	flock 9
	( flock "$tmp/f" true; now_us > "$tmp/t1" ) &
	w=$!
	sleep 0.2
	t0=$(now_us)
	flock -u 9
	wait "$w"
	exec 9>&-
	lat_flock+=($(($(< "$tmp/t1") - t0)))
done
stats() { # label, values...
	local l=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v l="$l" '
		{ v[NR] = $1 }
		END {
			p = int(NR * 0.9); if (p < 1) p = 1
			printf "%-38s median %8.1f us  p90 %8.1f us  max %8.1f us\n",
				l, v[int((NR + 1) / 2)], v[p], v[NR]
		}'
}
echo "(shell: both include spawning the release command, $rounds rounds)"
stats "lokt unlock -> lokt lock --wait" "${lat_lokt[@]}"
stats "flock -u -> flock FILE" "${lat_flock[@]}"
echo "(in process, $rounds rounds)"
"$bench" wake "$rounds"
