# SPDX-License-Identifier: MIT
# Shared by the process tests of `lokt` (tests/cli). Source it after lib.sh:
#   . "$SRC_ROOT/tests/lib.sh"; . "$SRC_ROOT/tests/cli/common.sh"
#
# Who holds a lock taken with `lokt lock` is lokt's parent, and anything
# started from that parent counts as inside the holder (re-entrant). So a
# test script never takes a lock that another process of the test must be
# refused: holders are background processes started by hold() below.
#
#   track PID...            kill -9 PID at exit (only processes we started)
#   hold OWNER NAME [FLAGS] start a background holder: a bash run as
#                           LOKT_OWNER=OWNER that takes NAME with
#                           `lokt lock NAME FLAGS` and then becomes
#                           `sleep 600`; its pid in $HOLDER
#   gone PID                true when PID no longer runs (zombies count)
#   reap PID                wait for our child PID (SIGKILL after 60 s, so
#                           a failing test never hangs); its status in $RC
#   jget EXPR               evaluate python EXPR with d = the JSON document
#                           on stdin; prints it (JSON unless a string)
#   waiters NAME            live waiters queued for NAME (lokt why --json)
#   lockfile NAME           path of NAME's lock file in $LOKT_ROOT
#   audit_count EVENT NAME [REASON]  how many audit.log lines have that
#                           event and name (and that extra.reason)
#   audit_has EVENT NAME [REASON]   at least one such line
#   lean_round R            in round R of a racer's loop: for R > 1, no
#                           LeakSanitizer scan when lokt exits
#   lane NAME CMD...        run CMD (independent checks, on lock names of
#                           their own) in the background, beside the script
#   lanes_done              wait for every lane; their TAP lines follow

: "${LOKT:?run through meson test: LOKT is not set}"
: "${SRC_ROOT:?run through meson test: SRC_ROOT is not set}"
export LOKT T
HERE="$SRC_ROOT/tests/cli"
WITNESS="$HERE/witness.sh"

# The system python, not a wrapper script (pyenv shims fork a shell).
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi
export PY

unset LOKT_OWNER LOKT_AGENT_ID LOKT_REQUIRE_LOCAL_FS

_tracked=()
_lane=
track() {
	_tracked+=("$@")
	# in a lane (a subshell), the script's exit kills them too
	[ -z "$_lane" ] || echo "$@" >>"$T/lane.$_lane.pids"
}
_kill_tracked() {
	local p lanes
	[ -z "$_lane" ] || return 0 # the script's exit does it
	lanes=$(cat "$T"/lane.*.pids 2>/dev/null)
	for p in "${_tracked[@]}" $lanes; do kill -9 "$p" 2>/dev/null; done
	# reap our children here, so bash prints no "Killed" notices
	for p in "${_tracked[@]}"; do wait "$p" 2>/dev/null; done
	return 0
}
at_exit _kill_tracked

gone() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "${st%% *}" = Z ]
}

# group_stopped PGID: a process of group PGID is stopped, and each of
# the others is stopped or in D (a dash waiting in vfork for a child
# stopped before its exec stays there until the child is continued).
group_stopped() {
	ps -e -o pgid=,stat= | awk -v g="$1" '
		$1 == g && $2 ~ /^[Tt]/ { t++ }
		$1 == g && $2 !~ /^[TtDZ]/ { other++ }
		END { exit !(t > 0 && !other) }'
}

RC=
reap() {
	wait_for 60 gone "$1" || kill -9 "$1" 2>/dev/null
	wait "$1"
	RC=$?
}

_hold_n=0
hold() {
	local owner=$1 name=$2 ready
	shift 2
	_hold_n=$((_hold_n + 1))
	ready="$T/.held.$_hold_n"
	LOKT_OWNER=$owner bash -c '"$LOKT" lock "$1" -q "${@:3}" || exit 1
		: >"$2"; exec sleep 600' holder "$name" "$ready" "$@" &
	HOLDER=$!
	track "$HOLDER"
	wait_for 30 eval "[ -e '$ready' ] || gone $HOLDER"
	if [ ! -e "$ready" ]; then
		diag "holder of \"$name\" ($owner) could not take it"
		return 1
	fi
}

jget() {
	"$PY" -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

waiters() {
	"$LOKT" why "$1" --json 2>/dev/null | jget 'd["waiters"]' 2>/dev/null
}

lockfile() { echo "$LOKT_ROOT/locks/$1.json"; }

on_etcd() { [ "${LOKT_TEST_STORE:-}" = etcd ]; }

# _area [freeze]: the directory of a lock record (locks) or a freeze (freezes).
_area() { if [ "${1:-}" = freeze ]; then echo freezes; else echo locks; fi; }
# etcdctl on the store of a test on etcd (LOKT_TEST_STORE=etcd, lib.sh).
_etcd() { etcdctl --endpoints "$ETCD_EP" "$@"; }

# record NAME [freeze]: the store's record of lock (or freeze) NAME as
# JSON on stdout; fails when there is none. The directory store's file,
# or the etcd store's key.
record() {
	local f v
	f=$(_area "${2:-}")/$1
	if on_etcd; then
		v=$(_etcd get --print-value-only "/lokt-test/$f" 2>/dev/null) ||
			return 1
		[ -n "$v" ] && printf '%s\n' "$v"
	else
		cat "$LOKT_ROOT/$f.json" 2>/dev/null
	fi
}
has_record() { record "$@" >/dev/null; }

# plant NAME [freeze] <BYTES: write a record by hand (a lokt 1.x file, a
# corrupt or newer one), as another program would; unplant NAME [freeze]
# removes it again (no lokt, no audit event).
plant() {
	local a
	a=$(_area "${2:-}")
	if on_etcd; then
		_etcd put "/lokt-test/$a/$1" >/dev/null
	else
		mkdir -p "$LOKT_ROOT/$a" && cat >"$LOKT_ROOT/$a/$1.json"
	fi
}
unplant() {
	local f
	f=$(_area "${2:-}")/$1
	if on_etcd; then
		_etcd del "/lokt-test/$f" >/dev/null
	else
		rm -f "$LOKT_ROOT/$f.json"
	fi
}

# audit_count EVENT NAME [REASON]: how many such events the audit log has
# (the directory store's file as it is on disk; other stores through
# lokt audit --json).
audit_count() {
	local src=$LOKT_ROOT/audit.log
	if on_etcd; then
		src=$T/audit${_lane:+.$_lane}.json # a file per lane
		"$LOKT" audit --json >"$src" 2>/dev/null || : >"$src"
	fi
	"$PY" - "$src" "$@" <<'PYEOF'
import json, sys
path, event, name = sys.argv[1:4]
word = sys.argv[4] if len(sys.argv) > 4 else None
n = 0
try:
    text = open(path, encoding="utf-8").read()
except OSError:
    text = ""
if path.endswith(".json"):
    try:
        lines = [json.dumps(e) for e in json.loads(text or "[]")]
    except ValueError:
        lines = []
else:
    lines = text.splitlines()
for line in lines:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if not isinstance(e, dict):
        continue
    if e.get("event") != event or e.get("name") != name:
        continue
    extra = e.get("extra")
    if word is None or (isinstance(extra, dict) and extra.get("reason") == word):
        n += 1
print(n)
PYEOF
}

audit_has() { [ "$(audit_count "$@")" -gt 0 ]; }

# In the ASan build most of a lokt process's cost is LeakSanitizer's scan
# at exit (about 4/5 of it), and the races run hundreds of processes one
# after the other through one lock. Every racer's first round keeps the
# scan, so the race's code paths are leak-checked under contention (and
# every other test checks them too); later rounds skip it.
# AddressSanitizer and UBSan stay on in every process. No effect outside
# ASan builds.
lean_round() {
	if [ "$1" -gt 1 ] && [[ ${ASAN_OPTIONS:-} != *:detect_leaks=0 ]]; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
	fi
}

# is_json: stdin is exactly one JSON document
is_json() { "$PY" -c 'import json, sys; json.load(sys.stdin)'; }

# witness_reset DIR: an empty witness directory
witness_reset() { rm -rf "$1" && mkdir -p "$1" && : >"$1/log"; }

# witness_stats DIR: prints "SECTIONS OVERLAPS MISORDERED": completed
# critical sections, overlaps seen by mkdir, and log lines that break the
# enter/leave alternation.
witness_stats() {
	local ov=0
	[ -e "$1/overlaps" ] && ov=$(wc -l <"$1/overlaps")
	awk -v ov="$ov" '
		$1 == "enter" { if (cur != "") bad++; cur = $2 }
		$1 == "leave" { if (cur != $2) bad++; else n++; cur = "" }
		END { print n + 0, ov + 0, bad + 0 }' "$1/log"
}

# lane NAME CMD...: CMD in a subshell in the background, its TAP lines
# kept in $T/lane.NAME; for cases of one script that are independent of
# each other (each on lock names of its own, no check of the whole
# store) and spend their time waiting out leases and timeouts.
# lanes_done: waits for every lane, then prints the lanes' lines in the
# order they were started, numbered on from the script's. A lane that
# did not run to its end (an exit, an unset variable, a signal) is a
# failed check.
_lanes=()
lane() {
	local name=$1
	shift
	rm -f "$T/lane.$name.end"
	(
		_lane=$name _tap_n=0 _tracked=()
		"$@"
		: >"$T/lane.$name.end"
	) >"$T/lane.$name" &
	_lanes+=("$name:$!")
	track $!
}
lanes_done() {
	local l name line
	for l in "${_lanes[@]}"; do
		name=${l%%:*}
		wait "${l#*:}"
		while IFS= read -r line; do
			if [[ $line =~ ^(not )?ok\ [0-9]+\ -\ (.*)$ ]]; then
				if [ -n "${BASH_REMATCH[1]}" ]; then
					not_ok "${BASH_REMATCH[2]}"
				else
					ok "${BASH_REMATCH[2]}"
				fi
			else
				printf '%s\n' "$line"
			fi
		done <"$T/lane.$name"
		[ -e "$T/lane.$name.end" ] || not_ok "lane $name ran to its end"
	done
	_lanes=()
}
