# SPDX-License-Identifier: MIT
# Shared by the real-mount tests of loktfs. Source it after tests/lib.sh:
#   . "$SRC_ROOT/tests/lib.sh"; . "$SRC_ROOT/tests/fs/mount.sh"
#
# Sourcing it skips the whole file (one TAP skip with the reason) when this
# machine cannot mount FUSE: no /dev/fuse, no fusermount3, or no loktfs
# built. Then:
#   mount_fs DIR [OPTS [FLAG...]]  start
#                          "$LOKTFS -f [FLAG...] -o root=$LOKT_ROOT[,OPTS] DIR"
#                          in the background and wait until DIR is a loktfs
#                          mount; $MOUNT_PID is the daemon; it is unmounted
#                          and killed at exit whatever happens
#   unmount_fs DIR [SIG]   unmount (fusermount3 -u, or with SIG, e.g. term,
#                          int, hup: that signal to the daemon); succeeds
#                          only when the daemon exits with status 0 and DIR
#                          is no mount
#   errno_of OP PATH [ARG] one system call through errno.py; the errno name
#                          (or OK) in $GOT. Run in this shell, so the
#                          caller's parent (the holder) is this script.
#   expect_errno WANT DESC OP PATH [ARG]   one TAP line for errno_of
#   jfield FIELD           a field of the JSON document on stdin
#   user_mount PREFIX      a second user and an allow_other mount on $T/mnt
#   user_errno WANT DESC OP PATH [ARG]  errno.py as that user (TAP line)
#   kill_child SIG PID...  signal those PIDs that are children of this shell

if [ ! -c /dev/fuse ]; then
	skip "${0##*/}: real mount tests" "/dev/fuse is absent"
	done_testing
	exit 0
fi
if ! command -v fusermount3 >/dev/null; then
	skip "${0##*/}: real mount tests" "fusermount3 is not installed"
	done_testing
	exit 0
fi
if [ -z "${LOKTFS:-}" ] || [ ! -x "$LOKTFS" ]; then
	skip "${0##*/}: real mount tests" "loktfs was not built (no libfuse3)"
	done_testing
	exit 0
fi

# A TAP line must stay one line, and the messages here often quote a
# multi-line lock record: fold newlines (not_ok), prefix every line (diag).
not_ok() {
	local m="$*"
	_tap_n=$((_tap_n + 1))
	echo "not ok $_tap_n - ${m//$'\n'/ }"
}
diag() {
	local l
	printf '%s\n' "$@" | while IFS= read -r l; do printf '# %s\n' "$l"; done
}

# Identity comes from the caller's environment: start from none, so the
# tests' owners and holders are the ones they set.
unset LOKT_OWNER LOKT_AGENT_ID

# The system python, not a wrapper script: a wrapper that forks would
# make a short-lived shell the holder of what errno.py takes.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi
ERRNO_PY="$SRC_ROOT/tests/fs/errno.py"

declare -A _fs_pid=()
MOUNT_PID=

# is_loktfs DIR: DIR is a FUSE mount (read from mountinfo: never blocks on
# a stuck daemon).
is_loktfs() {
	findmnt -rn -o FSTYPE -M "$1" 2>/dev/null | grep -q '^fuse'
}

# proc_gone PID: exited (gone or a zombie waiting to be reaped).
proc_gone() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	[ -z "$st" ] || [[ $st == Z* ]]
}

# kill_child SIGNAL PID...: signal those PIDs that are still children of
# this shell (a pid reaped earlier may have been reused by a stranger).
kill_child() {
	local sig=$1 p
	shift
	for p in "$@"; do
		[ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$$" ] &&
			kill "-$sig" "$p" 2>/dev/null
	done
	return 0
}

_fs_teardown() {
	local dir=$1 pid=$2
	is_loktfs "$dir" && fusermount3 -u -z "$dir" 2>/dev/null
	if ! proc_gone "$pid"; then
		kill_child TERM "$pid"
		wait_for 10 proc_gone "$pid" || kill_child KILL "$pid"
	fi
	wait "$pid" 2>/dev/null
	return 0
}

mount_fs() {
	local dir=$1 o="root=$LOKT_ROOT" log
	[ -n "${2:-}" ] && o="$o,$2"
	shift $(($# < 2 ? $# : 2))
	mkdir -p "$dir"
	log="$T/loktfs.$(echo "$dir" | tr / _).log"
	"$LOKTFS" -f "$@" -o "$o" "$dir" >>"$log" 2>&1 &
	MOUNT_PID=$!
	_fs_pid[$dir]=$MOUNT_PID
	at_exit "_fs_teardown '$dir' $MOUNT_PID"
	if ! wait_for 30 _mounted_or_dead "$dir" "$MOUNT_PID" ||
	    ! is_loktfs "$dir"; then
		diag "loktfs -o $o $dir did not mount; its output:"
		diag "$(cat "$log")"
		return 1
	fi
	# The kernel lists the mount before the daemon has answered INIT;
	# a first stat waits for that.
	stat "$dir/locks" >/dev/null
}

_mounted_or_dead() {
	is_loktfs "$1" || proc_gone "$2"
}

# unmount_fs DIR [umount|term|int|hup]
unmount_fs() {
	local dir=$1 how=${2:-umount} pid=${_fs_pid[$1]:-} st
	[ -n "$pid" ] || { diag "unmount_fs: $dir was not mounted here"; return 1; }
	if [ "$how" != umount ]; then
		kill "-${how^^}" "$pid"
	else
		fusermount3 -u "$dir" || return 1
	fi
	if ! wait_for 30 proc_gone "$pid"; then
		diag "loktfs (pid $pid) still running after unmount of $dir"
		return 1
	fi
	wait "$pid"
	st=$?
	unset "_fs_pid[$dir]"
	if is_loktfs "$dir"; then
		diag "$dir is still mounted after the daemon exited"
		return 1
	fi
	[ "$st" -eq 0 ] || diag "loktfs exited with status $st"
	return "$st"
}

GOT=
errno_of() {
	"$PY" "$ERRNO_PY" "$@" >"$T/errno.out" 2>&1
	GOT=$(cat "$T/errno.out")
}

# expect_errno WANT DESC OP PATH [ARG]
expect_errno() {
	local want=$1 desc=$2
	shift 2
	errno_of "$@"
	if [ "$GOT" = "$want" ]; then
		ok "$desc: $1 -> $want"
	else
		not_ok "$desc: $1 ${2##*/} (want $want, got $GOT)"
	fi
}

# jfield FIELD < json: prints the value ("" for absent/null; numbers
# as integers; booleans as true/false).
jfield() {
	"$PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
v = d.get(sys.argv[1])
if v is None:
    v = ""
elif isinstance(v, bool):
    v = "true" if v else "false"
print(v)' "$1"
}

# user_mount PREFIX: a second user (second_user PREFIX, tests/lib.sh) who
# can reach $T and errno.py there, and a mount with -o allow_other on
# M=$T/mnt (L=$M/locks); the script ends (not ok) if it cannot mount.
user_mount() {
	second_user "$1"
	chmod 0711 "$T"
	cp "$ERRNO_PY" "$T/errno.py"
	chmod 0644 "$T/errno.py"
	M=$T/mnt L=$T/mnt/locks
	if ! mount_fs "$M" allow_other; then
		not_ok "mount loktfs -o allow_other on $M"
		done_testing
		exit 1
	fi
	ok "mount loktfs -o allow_other on $M"
}

# user_errno WANT DESC OP PATH [ARG]: errno.py as the second user.
user_errno() {
	local want=$1 desc=$2
	shift 2
	as_user "$PY" "$T/errno.py" "$@" >"$T/errno.out" 2>&1
	GOT=$(cat "$T/errno.out")
	[ "$GOT" = "$want" ] && ok "$desc: $1 -> $want" || not_ok "$desc: $1 (want $want, got $GOT)"
}
