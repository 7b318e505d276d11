#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A read-only store: the tmpfs holding it remounted read-only. Every
# transition (lock, renew, unlock, --all, --force, --break-stale, freeze,
# unfreeze, guard) is refused with exit 1 and a message naming the
# read-only filesystem; reading (status, exists, why, audit) works; the
# store is byte for byte as before. Remounted read-write: doctor is clean
# and the next lock works, its fence above every earlier one.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fault/common.sh"
need_root "read-only remount"

D=$T/tmpfs
if ! mount_tmpfs "$D" size=1m,mode=0755; then
	not_ok "mount a tmpfs on $D"
	done_testing
	exit 1
fi
export LOKT_ROOT=$D/root

hold root held
H=$HOLDER
check "freeze fz" "$LOKT" freeze fz --ttl 1h -q
bash -c '"$LOKT" lock dead -q; exit 0' # its holder, that bash, is gone
FENCE_MAX[held]=$(jnum fence "$("$LOKT" status held --json)")
FENCE_MAX[dead]=$(jnum fence "$("$LOKT" status dead --json)")
(cd "$LOKT_ROOT" && tar cf "$T/before.tar" --sort=name .)

check "remount the store read-only" mount -o remount,ro "$D"

refused() {
	local desc=$1
	shift
	expect_exit 1 "read-only: $desc" "$@"
	contains "$ERR" "Read-only file system" "read-only: $desc: says why"
}
refused "lokt lock a" "$LOKT" lock a --holder "$H"
refused "lokt lock held (renew)" "$LOKT" lock held --ttl 1h --holder "$H"
refused "lokt lock dead (break the dead holder's)" "$LOKT" lock dead
refused "lokt unlock held" "$LOKT" unlock held
refused "lokt unlock dead --break-stale" "$LOKT" unlock dead --break-stale
refused "lokt unlock held --force" "$LOKT" unlock held --force
refused "lokt unlock --all" "$LOKT" unlock --all
refused "lokt freeze f" "$LOKT" freeze f --ttl 1h
refused "lokt unfreeze fz" "$LOKT" unfreeze fz
refused "lokt guard g" "$LOKT" guard g -- true
expect_exit 0 "read-only: lokt status" "$LOKT" status
contains "$OUT" "held" "read-only: status lists held"
expect_exit 0 "read-only: lokt status held --json" "$LOKT" status held --json
expect_exit 0 "read-only: lokt exists held" "$LOKT" exists held
expect_exit 3 "read-only: lokt exists a" "$LOKT" exists a
expect_exit 2 "read-only: lokt why held (held by another: exit 2)" "$LOKT" why held
expect_exit 0 "read-only: lokt audit" "$LOKT" audit
contains "$OUT" "freeze" "read-only: the audit shows the freeze"
expect_exit 1 "read-only: lokt doctor fails" "$LOKT" doctor
contains "$OUT" "Read-only file system" "read-only: doctor says why"

check "remount the store read-write" mount -o remount,rw "$D"
(cd "$LOKT_ROOT" && tar cf "$T/after.tar" --sort=name .)
cmp -s "$T/before.tar" "$T/after.tar" && ok "the store is byte for byte as before" ||
	not_ok "the store changed: $(cd "$T" && diff <(tar tvf before.tar) <(tar tvf after.tar))"

doctor_clean "read-write again"
lock_again "read-write again" a
lock_again "read-write again" dead
expect_exit 2 "read-write again: held is still held" "$LOKT" lock held
expect_exit 0 "lokt unlock held" "$LOKT" unlock held
lock_again "read-write again" held
expect_exit 0 "lokt unfreeze fz" "$LOKT" unfreeze fz
doctor_clean "at the end"
done_testing
