#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The benchmark of loktfs: every row of "speed at scale" (listing and
# status with many locks, the cost of one lock in process, through the
# mount and from a shell, the hand-over to a waiter), each beside its
# baseline measured in the same run, with the ratio, the target and
# whether it is met; then the mount daemon's peak memory (VmHWM) after
# listing the largest store.
#
# Usage: tests/bench/bench.sh [-q] [-b BUILD_DIR] [-n N] [-r R]
#   -q   quick: stores of 10 and 100 locks, few rounds (a smoke run; its
#        figures mean little)
#   -b   the build to measure (default build/, or $BUILD_ROOT); a
#        --buildtype=release build gives the figures worth quoting
#   -n   rounds of the per-lock rows (default 200, quick 10)
#   -r   repetitions of each listing; the best is kept (default 3, quick 1)
#
# The stores (10, 1,000, 10,000 and 100,000 locks, held by four live
# local processes) are built once per run through liblokt (lokt-bench
# fill), each grown from the last, in a temporary directory under /tmp
# that is removed at the end; rows that need the mount mount loktfs on a
# temporary directory and unmount it after. Needs ~1 GB of /tmp for
# 100,000 locks (each lock is a record and a sidecar). Not a test:
# nothing is asserted, figures depend on the machine (the smoke test
# tests/bench/smoke.sh runs -q only to see every row printed).
set -euo pipefail

quick=0
n=
reps=
build=${BUILD_ROOT:-}
while getopts "qn:r:b:h" opt; do
	case $opt in
	q) quick=1 ;;
	n) n=$OPTARG ;;
	r) reps=$OPTARG ;;
	b) build=$OPTARG ;;
	*) sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	esac
done
if ((quick)); then
	sizes=(10 100)
	n=${n:-10} reps=${reps:-1}
else
	sizes=(10 1000 10000 100000)
	n=${n:-200} reps=${reps:-3}
fi
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${build:-$src/build}
lokt=${LOKT:-$build/cli/lokt}
loktfs=${LOKTFS:-$build/fs/loktfs}
bench=${LOKT_BENCH:-$build/tests/bench/lokt-bench}
for exe in "$lokt" "$bench"; do
	if [[ ! -x $exe ]]; then
		echo "error: $exe not found — build first (meson setup $build && ninja -C $build), or pass -b BUILD_DIR" >&2
		exit 1
	fi
done
for tool in flock python3; do
	command -v $tool >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done
export LC_ALL=C
unset LOKT_AGENT_ID LOKT_OWNER

tmp=$(mktemp -d /tmp/lokt-bench.XXXXXX)
holders=()
mnt=
mount_pid=
shm=
cleanup() {
	# Each step whatever the last did: a ^C or kill of the whole process
	# group may have ended the daemon or the holders already, and under
	# set -e their kill failing would end cleanup there, leaving the
	# holders, $shm and $tmp behind.
	set +e
	if [[ -n $mnt ]] && findmnt -M "$mnt" >/dev/null 2>&1; then
		fusermount3 -u -z "$mnt" 2>/dev/null || true
	fi
	[[ -n $mount_pid ]] && kill "$mount_pid" 2>/dev/null
	((${#holders[@]})) && kill "${holders[@]}" 2>/dev/null
	[[ -n $shm ]] && rm -rf "$shm"
	rm -rf "$tmp"
}
trap cleanup EXIT
export LOKT_ROOT=$tmp/root

# Microseconds since the epoch, without spawning date(1).
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }

# best_us R CMD...: the shortest of R runs of CMD, microseconds.
best_us() {
	local r=$1 best= t0 t i
	shift
	for ((i = 0; i < r; i++)); do
		t0=$(now_us)
		"$@" >/dev/null
		t=$(($(now_us) - t0))
		[[ -z $best || $t -lt $best ]] && best=$t
	done
	echo "$best"
}

# per_op N CMD...: microseconds per run of CMD, the best of $reps loops
# of N runs.
loop_n() { local i; for ((i = 0; i < $1; i++)); do "${@:2}"; done; }
per_op() {
	local count=$1
	shift
	awk -v t="$(best_us "$reps" loop_n "$count" "$@")" -v n="$count" \
		'BEGIN { printf "%.1f", t / n }'
}

# row WHAT VALUE BASELINE UNIT TARGET [KIND]: one line of the table.
# KIND "ratio" (default): met when VALUE/BASELINE <= TARGET;
# "max": met when VALUE <= TARGET (an absolute bound, in UNIT).
# VALUE "-" prints the row as not measured (BASELINE says why).
row() {
	local what=$1 v=$2 b=$3 unit=$4 target=$5 kind=${6:-ratio}
	if [[ $v == - ]]; then
		printf '%-46s %12s %12s %8s %8s  %s\n' "$what" - - - - "skipped: $b"
		return
	fi
	awk -v w="$what" -v v="$v" -v b="$b" -v u="$unit" -v t="$target" \
		-v k="$kind" 'BEGIN {
		div = u == "ms" ? 1e3 : 1
		fmt = u == "ms" ? "%.0f %s" : u == "us" ? "%.1f %s" : "%d %s"
		r = b > 0 ? v / b : 0
		if (k == "max") {
			met = v <= t; ts = sprintf("<=%g%s", t, u == "us" ? "us" : "")
		} else {
			met = r <= t; ts = sprintf("<=%gx", t)
		}
		printf "%-46s %12s %12s %7.2fx %8s  %s\n", w,
			sprintf(fmt, v / div, u), b == "" ? "-" : sprintf(fmt, b / div, u),
			r, ts, met ? "yes" : "NO"
	}'
}

echo "# loktfs benchmark: $(nproc) CPU(s), $(uname -sr), $(stat -f -c %T /tmp) /tmp," \
	"rounds $n, best of $reps, build $build"

printf '%-46s %12s %12s %8s %8s  %s\n' what loktfs baseline ratio target met

# Four local holders, alive for the whole run.
for i in 1 2 3 4; do
	sleep 1000000 &
	holders+=($!)
done

# grow SIZE: the store holds lock-000000 .. lock-(SIZE-1); the new ones
# are acquired by four lokt-bench fill processes, two at a time, each for
# one of the holders.
have=0
grow() {
	local size=$1 k from to pids=()
	((size > have)) || return 0
	for k in 0 1 2 3; do
		from=$((have + (size - have) * k / 4))
		to=$((have + (size - have) * (k + 1) / 4))
		"$bench" fill "$from" "$to" "${holders[$k]}" &
		pids+=($!)
		if ((k % 2)); then wait "${pids[@]}"; pids=(); fi
	done
	have=$size
}

cli_pair() { "$lokt" lock extra -q && "$lokt" unlock extra -q; }
true_pair() { /bin/true && /bin/true; }

# ---- One more lock with many held: stays flat --------------------------
declare -A flat=()
t0=$(now_us)
for size in "${sizes[@]}"; do
	grow "$size"
	flat[$size]=$(per_op "$n" cli_pair)
done
big=${sizes[-1]}
echo "# stores built and grown: ${sizes[*]} locks, in $((($(now_us) - t0) / 1000000)) s with the rows below"
for size in "${sizes[@]}"; do
	row "lokt lock+unlock, $size held (vs ${sizes[0]} held)" \
		"${flat[$size]}" "${flat[${sizes[0]}]}" us 1.3
done

# ---- Listing: lokt status -----------------------------------------------
# The floor: read every lock file once (what any lister must do).
reader() {
	python3 -c '
import os, sys
n = 0
for e in os.scandir(sys.argv[1]):
    if e.name.endswith(".json") and not e.name.startswith("."):
        with open(e.path) as f:
            n += len(f.read())
print(n)' "$LOKT_ROOT/locks"
}
base=$(best_us "$reps" reader)
row "lokt status, $big locks (vs python reader)" \
	"$(best_us "$reps" "$lokt" status)" "$base" ms 1.0
row "lokt status --json, $big locks (vs reader)" \
	"$(best_us "$reps" "$lokt" status --json)" "$base" ms 1.0

# ---- Listing and one lock through the mount -----------------------------
why=
if [[ ! -c /dev/fuse ]]; then
	why="/dev/fuse is absent"
elif ! command -v fusermount3 >/dev/null; then
	why="fusermount3 is not installed"
elif [[ ! -x $loktfs ]]; then
	why="loktfs was not built (no libfuse3)"
fi
if [[ -z $why ]]; then
	mnt=$tmp/mnt
	mkdir -p "$mnt"
	"$loktfs" -f -o "root=$LOKT_ROOT" "$mnt" 2>"$tmp/loktfs.log" &
	mount_pid=$!
	for ((i = 0; i < 300; i++)); do
		findmnt -rn -o FSTYPE -M "$mnt" 2>/dev/null | grep -q '^fuse' && break
		kill -0 "$mount_pid" 2>/dev/null || break
		sleep 0.1
	done
	stat "$mnt/locks" >/dev/null 2>&1 ||
		why="loktfs did not mount: $(head -c 200 "$tmp/loktfs.log")"
fi
if [[ -z $why ]]; then
	row "ls -l locks/ through the mount, $big locks" \
		"$(best_us "$reps" ls -l "$mnt/locks")" \
		"$(best_us "$reps" ls -l "$LOKT_ROOT/locks")" ms 3
	row "ls locks/ through the mount, $big locks" \
		"$(best_us "$reps" ls "$mnt/locks")" \
		"$(best_us "$reps" ls "$LOKT_ROOT/locks")" ms 3
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$mount_pid/status")
	shm=$(mktemp -d /dev/shm/lokt-bench.XXXXXX)
	row "create+unlink locks/x through the mount (vs tmpfs)" \
		"$("$bench" files "$mnt/locks" $((n * 5)))" \
		"$("$bench" files "$shm" $((n * 5)))" us 10
	rmdir "$shm"
	shm=
	fusermount3 -u "$mnt"
	wait "$mount_pid" || true
	mount_pid=
else
	row "ls -l locks/ through the mount, $big locks" - "$why"
	row "ls locks/ through the mount, $big locks" - "$why"
	row "create+unlink locks/x through the mount (vs tmpfs)" - "$why"
fi

# ---- One lock in process -------------------------------------------------
read -r lokt_us flock_us < <("$bench" inproc $((n * 50)))
row "liblokt acquire+release, in process (vs flock)" \
	"$lokt_us" "$flock_us" us 30 max
# The same on tmpfs, where the default root (/run/lock/lokt) lives: on
# ext4 each acquisition allocates an inode, and ext4 skips the inodes it
# freed in the last seconds (recently_deleted), which a loop of pairs
# makes slower the longer it runs (docs/performance.md).
shm=$(mktemp -d /dev/shm/lokt-bench.XXXXXX)
read -r lokt_us flock_us < <(LOKT_ROOT=$shm "$bench" inproc $((n * 50)))
rm -rf "$shm"
shm=
row "  the same, the store on tmpfs (vs flock)" \
	"$lokt_us" "$flock_us" us 30 max
if command -v strace >/dev/null; then
	calls() { # N: system calls of lokt-bench loop N
		strace -f -c -o "$tmp/strace" "$bench" loop "$1" >/dev/null
		awk '$NF == "total" { print $(NF - 2) }' "$tmp/strace"
	}
	c1=$(calls "$n")
	c3=$(calls $((n * 3)))
	row "  its system calls per acquire+release" \
		$(((c3 - c1 + n) / (2 * n))) 2 calls 20 max
else
	row "  its system calls per acquire+release" - "strace is not installed"
fi
read -r lokt_us flock_us < <("$bench" slot $((n * 50)))
row "liblokt slot acquire+release, 2 of 3 held" \
	"$lokt_us" "$flock_us" us 30 max
read -r lokt_us flock_us < <("$bench" wake $(((n + 9) / 10)))
row "release -> waiter in, in process (vs flock)" \
	"$lokt_us" "$flock_us" us 3

# ---- From a shell ---------------------------------------------------------
row "lokt lock x && lokt unlock x (vs 2x /bin/true)" \
	"$(per_op "$n" cli_pair)" "$(per_op "$n" true_pair)" us 1.3
row "lokt guard x -- /bin/true (vs flock -n FILE)" \
	"$(per_op "$n" "$lokt" guard x -- /bin/true)" \
	"$(per_op "$n" flock -n "$tmp/f" /bin/true)" us 1.3
# The same two with the store on tmpfs, the filesystem of the default
# root (/run/lock/lokt), baselines measured again beside them. Each
# acquisition allocates an inode (its record); on an ext4 without a
# journal, as some virtual machines' disks are, the allocator passes
# over every inode freed in the last 60 s (360 s while its inode table
# block is unwritten) one at a time, so a loop of acquisitions costs more
# the longer it runs (docs/performance.md).
shm=$(mktemp -d /dev/shm/lokt-bench.XXXXXX)
row "  the same, the store on tmpfs (vs 2x /bin/true)" \
	"$(LOKT_ROOT=$shm per_op "$n" cli_pair)" "$(per_op "$n" true_pair)" us 1.3
row "  guard, the store on tmpfs (vs flock -n FILE)" \
	"$(LOKT_ROOT=$shm per_op "$n" "$lokt" guard x -- /bin/true)" \
	"$(per_op "$n" flock -n "$tmp/f" /bin/true)" us 1.3
rm -rf "$shm"
shm=

if [[ -z $why ]]; then
	echo "# loktfs peak RSS (VmHWM) after listing $big locks: $((hwm / 1024)) MiB ($hwm kB)"
else
	echo "# loktfs peak RSS (VmHWM): skipped: $why"
fi
