# SPDX-License-Identifier: MIT
# Shared by the fault tests (tests/fault). Source it after tests/lib.sh:
#   . "$SRC_ROOT/tests/lib.sh"; . "$SRC_ROOT/tests/fault/common.sh"
# It sources tests/cli/common.sh (hold, track, gone, reap, jget, ...).
#
#   need_root WHAT          skip the whole file (one TAP skip) unless root
#   mount_tmpfs DIR OPTS    mount a tmpfs with OPTS (e.g. size=512k) on DIR,
#                           unmounted at exit whatever happens
#   jnum FIELD JSON         a numeric field of a one-line JSON document
#                           (lokt ... --json), "" when absent
#   jstr FIELD JSON         a string field, likewise
#   doctor_clean DESC       one TAP line: lokt doctor exits 0 and reports
#                           no WARN and no FAIL
#   lock_again DESC NAME    one TAP line: lokt lock NAME (for this script)
#                           works and its fence is above ${FENCE_MAX[NAME]},
#                           which it then becomes; the lock is released
#                           after. Fences rise per name.
. "$SRC_ROOT/tests/cli/common.sh"

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "${0##*/}: $1" "needs root (mount)"
		done_testing
		exit 0
	fi
}

mount_tmpfs() {
	mkdir -p "$1" || return 1
	mount -t tmpfs -o "$2" lokt-fault "$1" || return 1
	at_exit "umount -l '$1'"
}

jnum() {
	[[ $2 =~ \"$1\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
	return 0
}

jstr() {
	[[ $2 =~ \"$1\":\"([^\"]*)\" ]] && echo "${BASH_REMATCH[1]}"
	return 0
}

doctor_clean() {
	local out rc
	out=$("$LOKT" doctor 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -qE '^(WARN|FAIL)' <<<"$out"; then
		ok "$1: lokt doctor clean"
	else
		not_ok "$1: lokt doctor exit $rc"
		diag "$out"
	fi
}

declare -A FENCE_MAX=()
lock_again() {
	local out rc fence max=${FENCE_MAX[$2]:-0}
	out=$("$LOKT" lock "$2" --json 2>&1)
	rc=$?
	fence=$(jnum fence "$out")
	if [ "$rc" -eq 0 ] && [ -n "$fence" ] && [ "$fence" -gt "$max" ]; then
		ok "$1: lokt lock $2 works, fence $fence > $max"
		FENCE_MAX[$2]=$fence
	else
		not_ok "$1: lokt lock $2 (exit $rc, fence '$fence', want > $max)"
		diag "$out"
	fi
	"$LOKT" unlock "$2" -q >/dev/null 2>&1
}
