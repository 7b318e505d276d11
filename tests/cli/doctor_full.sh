#!/bin/bash
# SPDX-License-Identifier: MIT
# `lokt doctor` on a full filesystem: a 1 MiB tmpfs mounted here, the
# store on it, then filled to the last byte. doctor must fail
# root_writable (creating an empty file still works there; writing does
# not), say the filesystem is full and what to do, and exit 1; once space
# is freed it is OK again.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "doctor on a full tmpfs" "needs root to mount a tmpfs"
	done_testing
	exit 0
fi
mkdir "$T/small"
if ! mount -t tmpfs -o size=1m,mode=0755 lkau-full "$T/small" 2>"$T/mount.err"; then
	skip "doctor on a full tmpfs" "mount -t tmpfs failed: $(cat "$T/mount.err")"
	done_testing
	exit 0
fi
at_exit "umount '$T/small'"
export LOKT_ROOT="$T/small/root"

# check_level WANT: doctor's root_writable level is WANT; its message in $MSG.
root_writable() {
	"$LOKT" doctor --json >"$T/doctor.json"
	DOCTOR_RC=$?
	LEVEL=$(jget '[c["level"] for c in d["checks"] if c["id"] == "root_writable"][0]' <"$T/doctor.json")
	MSG=$(jget '[c["message"] for c in d["checks"] if c["id"] == "root_writable"][0]' <"$T/doctor.json")
}

expect_exit 0 "a lock on the small tmpfs" "$LOKT" lock a --holder $$
expect_exit 0 "release it" "$LOKT" unlock a
root_writable
[ "$LEVEL" = ok ] && ok "doctor: root_writable ok with space" || not_ok "doctor with space: $LEVEL: $MSG"

dd if=/dev/zero of="$T/small/fill" bs=4k >/dev/null 2>&1
check "the tmpfs is full" test "$(df --output=avail -B1 "$T/small" | tail -n 1 | tr -d ' ')" = 0
check "an empty file can still be made there" touch "$LOKT_ROOT/.probe"
rm -f "$LOKT_ROOT/.probe"
root_writable
[ "$LEVEL" = fail ] && ok "doctor: root_writable fails on a full disk" || not_ok "doctor on a full disk: $LEVEL: $MSG"
contains "$MSG" "full" "the message says the filesystem is full"
contains "$MSG" "free some space" "the message says what to do"
check "doctor exits 1 ($DOCTOR_RC)" test "$DOCTOR_RC" = 1
check "doctor left no probe file behind" test -z "$(ls -A "$LOKT_ROOT" | grep '^\.doctor')"

rm -f "$T/small/fill"
root_writable
[ "$LEVEL" = ok ] && ok "doctor: root_writable ok once space is freed" || not_ok "doctor after freeing: $LEVEL: $MSG"
done_testing
