#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The loktfs command line: --help and --version, refusals of bad options
# (a message, a non-zero exit, nothing mounted), and the mount helper form
# `loktfs ROOT MOUNTPOINT -o opts` that mount(8) and /etc/fstab use, which
# daemonizes like any FUSE file system.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

expect_exit 0 "loktfs --help: exit 0" "$LOKTFS" --help
contains "$OUT" "default_ttl" "loktfs --help names default_ttl"
contains "$OUT" "freeze_ttl" "loktfs --help names freeze_ttl"
contains "$OUT" "MOUNTPOINT" "loktfs --help shows the usage line"
expect_exit 0 "loktfs --version: exit 0" "$LOKTFS" --version
contains "$OUT$ERR" "loktfs" "loktfs --version names itself"
contains "$OUT$ERR" "$("$LOKT" version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -1)" \
	"loktfs --version gives the same version as lokt version"

D=$T/bad
mkdir -p "$D"
at_exit "is_loktfs '$D' && fusermount3 -u -z '$D'"
# refused DESC WORD ARGS...: loktfs exits non-zero at once (timeout would
# say it mounted and ran), says WORD on stderr, and mounts nothing.
refused() {
	local desc=$1 word=$2
	shift 2
	timeout 30 "$LOKTFS" "$@" >"$T/out" 2>"$T/err"
	local st=$?
	if [ "$st" -ne 0 ] && [ "$st" -ne 124 ]; then
		ok "$desc: exit $st"
	else
		not_ok "$desc: exit $st, want a refusal"
	fi
	contains "$(cat "$T/err")" "$word" "$desc: the message names '$word'"
	if is_loktfs "$D"; then
		not_ok "$desc: mounted $D anyway"
		fusermount3 -u -z "$D"
	else
		ok "$desc: nothing mounted"
	fi
}
refused "-o default_ttl=xx" default_ttl -f -o "root=$LOKT_ROOT,default_ttl=xx" "$D"
refused "-o freeze_ttl=0" freeze_ttl -f -o "root=$LOKT_ROOT,freeze_ttl=0" "$D"
refused "-o freeze_ttl=later" freeze_ttl -f -o "root=$LOKT_ROOT,freeze_ttl=later" "$D"
refused "no mount point" "mount point" -f -o "root=$LOKT_ROOT"
refused "a mount point that does not exist" "$T/nowhere" -f -o "root=$LOKT_ROOT" "$T/nowhere"
refused "an unknown option" bogus -f -o "root=$LOKT_ROOT,bogus=1" "$D"
refused "three arguments" "$T/third" -f "$LOKT_ROOT" "$D" "$T/third"

# ---- mount helper form: loktfs ROOT MOUNTPOINT -o opts (daemonizes) --------
ROOT2=$T/store2
MNT=$T/helper
mkdir -p "$MNT"
at_exit "is_loktfs '$MNT' && fusermount3 -u -z '$MNT'"
# A relative ROOT is taken from the working directory of the command.
expect_exit 0 "loktfs store2 helper -o default_ttl=1m (from $T): exit 0 once mounted" \
	sh -c "cd '$T' && exec '$LOKTFS' store2 helper -o default_ttl=1m"
if wait_for 30 is_loktfs "$MNT"; then ok "helper form: $MNT mounted"; else not_ok "helper form: $MNT not mounted"; fi
expect_exit 0 "helper form: touch locks/h" touch "$MNT/locks/h"
[ "$(jfield ttl_sec <"$MNT/locks/h")" = 60 ] && ok "helper form: default_ttl=1m gives ttl_sec 60" ||
	not_ok "helper form: ttl_sec '$(jfield ttl_sec <"$MNT/locks/h")', want 60"
expect_exit 0 "helper form: the lock is in ROOT (lokt --root $ROOT2 exists h)" "$LOKT" --root "$ROOT2" exists h
expect_exit 3 "helper form: not in the default test root" "$LOKT" exists h
findmnt -rn -o FSTYPE,SOURCE -M "$MNT" >"$T/findmnt.out"
contains "$(cat "$T/findmnt.out")" "fuse.loktfs" "helper form: mount type fuse.loktfs"
contains "$(cat "$T/findmnt.out")" "$ROOT2" "helper form: mount source is the root"
expect_exit 0 "helper form: fusermount3 -u" fusermount3 -u "$MNT"
# (The bracket keeps pgrep from matching the sh -c that runs it.)
if wait_for 30 sh -c '! pgrep -f "loktfs store[2] helper" >/dev/null'; then
	ok "helper form: the daemon exits after the unmount"
else
	not_ok "helper form: the daemon is still running after the unmount"
fi
expect_exit 0 "helper form: the lock stays in the store" "$LOKT" --root "$ROOT2" exists h

# ---- mount -t fuse (mount(8) runs the helper form) ------------------------------
# mount.fuse3 looks the program up in a fixed PATH; "PROGRAM#ROOT" names it
# by its full path, as an fstab line "loktfs#ROOT MNT fuse ..." would.
if command -v mount.fuse3 >/dev/null; then
	expect_exit 0 "mount -t fuse 'loktfs#ROOT' MNT -o default_ttl=2m" \
		mount -t fuse "$LOKTFS#$ROOT2" "$MNT" -o default_ttl=2m
	if wait_for 30 is_loktfs "$MNT"; then ok "mount -t: mounted"; else not_ok "mount -t: not mounted"; fi
	[ "$(jfield ttl_sec <"$MNT/locks/h")" = 60 ] && ok "mount -t: shows h from the store" ||
		not_ok "mount -t: h is '$(cat "$MNT/locks/h" 2>&1)'"
	expect_exit 0 "mount -t: touch locks/m" touch "$MNT/locks/m"
	[ "$(jfield ttl_sec <"$MNT/locks/m")" = 120 ] && ok "mount -t: default_ttl=2m gives ttl_sec 120" ||
		not_ok "mount -t: ttl_sec '$(jfield ttl_sec <"$MNT/locks/m")', want 120"
	expect_exit 0 "umount $MNT" umount "$MNT"
	is_loktfs "$MNT" && not_ok "still mounted after umount" || ok "umount: gone"
else
	skip "mount -t fuse.loktfs" "mount.fuse3 is not installed"
fi
done_testing
