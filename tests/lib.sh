# SPDX-License-Identifier: MIT
# TAP helpers for the process tests (tests/cli, tests/fs). Source it:
#   . "$SRC_ROOT/tests/lib.sh"
# Meson passes LOKT, LOKTFS, SRC_ROOT and BUILD_ROOT in the environment.
# Every check prints one TAP line; the plan comes last (done_testing), so
# a script that dies half-way is seen as failed by the harness.

set -u
_tap_n=0

# A description is one TAP line: newlines (a multi-line command quoted
# in a failure) become spaces.
_tap_line() { local s=$*; echo "${s//$'\n'/ }"; }
ok() { _tap_n=$((_tap_n + 1)); _tap_line "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_line "not ok $_tap_n - $*"; }
# skip DESCRIPTION REASON
skip() { _tap_n=$((_tap_n + 1)); _tap_line "ok $_tap_n - $1 # SKIP $2"; }
# diag MESSAGE...: each message, and each line of a multi-line message,
# becomes one "# " line (TAP harnesses warn about anything else).
diag() {
	local m l
	for m in "$@"; do
		while IFS= read -r l || [ -n "$l" ]; do
			printf '# %s\n' "$l"
		done <<<"$m"
	done
}

# check DESCRIPTION CMD...: passes when CMD exits 0.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc (exit $?: $*)"; fi
}

# expect_exit CODE DESCRIPTION CMD...: passes when CMD exits with CODE.
# CMD's stdout and stderr are kept in $OUT and $ERR for further checks.
OUT= ERR=
expect_exit() {
	local want=$1 desc=$2 got o e; shift 2
	o=$(mktemp) e=$(mktemp)
	"$@" >"$o" 2>"$e"; got=$?
	OUT=$(cat "$o") ERR=$(cat "$e"); rm -f "$o" "$e"
	if [ "$got" -eq "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc (want exit $want, got $got: $*)"
		diag "stdout: $OUT" "stderr: $ERR"
	fi
}

# contains HAYSTACK NEEDLE DESCRIPTION
contains() {
	case "$1" in
	*"$2"*) ok "$3" ;;
	*) not_ok "$3 (no '$2' in: $1)" ;;
	esac
}

# wait_for TIMEOUT_S CMD...: retry CMD until it succeeds or time runs out.
# For waiting on a state (a mount to appear, a process to start), never
# for asserting how fast something happened.
wait_for() {
	local deadline=$(($(date +%s) + $1)); shift
	until "$@"; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# orphan PREFIX CMD...: run CMD as an orphan (setsid -f, its parent gone
# before it starts), its stderr in PREFIX.err. True when its parent was
# pid 1 (then PREFIX.err is waited for, up to 10 s), false when a
# subreaper took it instead.
orphan() {
	local p=$1
	shift
	rm -f "$p.ppid" "$p.err"
	setsid -f sh -c 'sleep 0.3; ps -o ppid= -p $$ >"$0.ppid"; exec "$@" 2>"$0.err"' \
		"$p" "$@"
	wait_for 30 test -s "$p.ppid" && [ "$(tr -d ' ' <"$p.ppid")" = 1 ] ||
		return 1
	wait_for 10 test -s "$p.err" || true
}

done_testing() { echo "1..$_tap_n"; }

# A private scratch directory, removed at exit; LOKT_ROOT points into it.
T=$(mktemp -d "${TMPDIR:-/tmp}/lokt-test.XXXXXX")
export LOKT_ROOT="$T/root"
# The host's /etc/lokt.conf (a host-wide store) is not the tests' business.
export LOKT_CONFIG=/dev/null
_cleanup_hooks=()
at_exit() { _cleanup_hooks+=("$*"); }
_run_cleanup() {
	local h
	for h in "${_cleanup_hooks[@]}"; do eval "$h" || true; done
	rm -rf "$T"
}
trap _run_cleanup EXIT

# etcd_member DIR: start one etcd member (Debian's etcd-server) on free
# loopback ports with its data in DIR, stopped at exit; its endpoint
# ("127.0.0.1:PORT") in ETCD_EP and pid in ETCD_PID. Fails when etcd is
# not installed or will not start (the caller reports that).
# ETCD_EXTRA: more options for the member (an array).
ETCD_EXTRA=()
_etcd_run() { # DIR PORT
	local peer=$(($2 + 1))
	etcd --name m0 --data-dir "$1/data" "${ETCD_EXTRA[@]}" \
		--listen-client-urls "http://127.0.0.1:$2" \
		--advertise-client-urls "http://127.0.0.1:$2" \
		--listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "m0=http://127.0.0.1:$peer" \
		>>"$1/etcd.log" 2>&1 &
	ETCD_PID=$!
	ETCD_EP=127.0.0.1:$2
	if wait_for 20 curl -sf -X POST -d '{}' "http://$ETCD_EP/v3/maintenance/status" -o /dev/null; then
		at_exit "kill -9 $ETCD_PID 2>/dev/null; wait $ETCD_PID 2>/dev/null"
		return 0
	fi
	kill -9 "$ETCD_PID" 2>/dev/null
	wait "$ETCD_PID" 2>/dev/null
	return 1
}
etcd_member() {
	local dir=$1 try
	command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >"$T/etcd.why"; return 1; }
	mkdir -p "$dir"
	for try in 1 2 3 4 5; do
		# below 32768: etcd/three_members.sh
		_etcd_run "$dir" $((25000 + RANDOM % 7700)) && return 0
		rm -rf "$dir/data"
	done
	tail -5 "$dir/etcd.log" >"$T/etcd.why"
	return 1
}

# With LOKT_TEST_STORE=etcd (the etcd-* copies of the protocol tests,
# tests/etcd/meson.build), the store is a private etcd member instead of
# a directory: every lokt of the script locks across hosts.
if [ "${LOKT_TEST_STORE:-}" = etcd ]; then
	if ! etcd_member "$T/etcd"; then
		echo "1..0 # SKIP no etcd member: $(cat "$T/etcd.why")"
		exit 0
	fi
	export LOKT_ROOT="etcd://$ETCD_EP/lokt-test"
fi

# second_user PREFIX [own]: a system user PREFIX<pid> (no home, no login;
# with "own", a group of its own too), removed at exit; its name, uid and
# gid in U, UID2 and GID2. A failed useradd fails the script. Needs root.
second_user() {
	local group=-N
	[ "${2:-}" = own ] && group=-U
	U=$1$$
	if ! useradd -M "$group" -r -d / -s /usr/sbin/nologin "$U" 2>"$T/useradd.err"; then
		not_ok "useradd $U: $(cat "$T/useradd.err")"
		done_testing
		exit 1
	fi
	if [ "$group" = -U ]; then
		at_exit "userdel -f '$U' 2>/dev/null; groupdel '$U' 2>/dev/null"
	else
		at_exit "userdel -f '$U' 2>/dev/null"
	fi
	UID2=$(id -u "$U") GID2=$(id -g "$U")
	ok "created user $U (uid $UID2)"
}

# as_user CMD...: CMD as the second_user (its uid and gid, no other
# groups), without our LOKT_OWNER and LOKT_AGENT_ID.
as_user() {
	setpriv --reuid="$UID2" --regid="$GID2" --clear-groups \
		env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/ "$@"
}
