#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A full disk: the store on a small tmpfs, filled up (first its blocks,
# then its inodes). Every transition that must write is refused with exit
# 1 and a message that says no space is left; nothing is half-written
# (the records that were there are byte for byte as before, no record or
# temp file appears); reading works, and so does releasing (removing a
# file needs no space). Once space is freed, doctor is clean and the next
# lock works, its fence above every earlier one.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fault/common.sh"
need_root "full tmpfs"

D=$T/tmpfs
if ! mount_tmpfs "$D" size=512k,nr_inodes=256,mode=0755; then
	not_ok "mount a 512 KiB tmpfs on $D"
	done_testing
	exit 1
fi
export LOKT_ROOT=$D/root

hold root held
H=$HOLDER
check "freeze fz before the disk is full" "$LOKT" freeze fz --ttl 1h -q
check "lock rel before the disk is full" "$LOKT" lock rel -q --holder "$H"
FENCE_MAX[held]=$(jnum fence "$("$LOKT" status held --json)")
cp "$LOKT_ROOT/locks/held.json" "$T/held.before"
cp "$LOKT_ROOT/freezes/fz.json" "$T/fz.before"

# refused DESC CMD...: exit 1, and the message says no space is left.
refused() {
	local desc=$1
	shift
	expect_exit 1 "$desc" "$@"
	contains "$ERR" "No space left" "$desc: says no space is left"
}

# store_as_before WHAT: the records are those of before, and nothing else
# appeared (no record of a refused name, no temp file).
store_as_before() {
	cmp -s "$T/held.before" "$LOKT_ROOT/locks/held.json" &&
		ok "$1: held.json byte for byte as before" ||
		not_ok "$1: held.json changed: $(cat "$LOKT_ROOT/locks/held.json" 2>&1)"
	cmp -s "$T/fz.before" "$LOKT_ROOT/freezes/fz.json" &&
		ok "$1: fz.json byte for byte as before" ||
		not_ok "$1: fz.json changed"
	local extra
	extra=$(cd "$LOKT_ROOT" && find locks freezes -name '*.json' -o -name '*.tmp' |
		grep -Ev '^(locks/held|locks/rel|freezes/fz)\.json$' | tr '\n' ' ')
	[ -z "$extra" ] && ok "$1: no other record, no temp file" ||
		not_ok "$1: left in the store: $extra"
}

for what in blocks inodes; do
	if [ $what = blocks ]; then
		head -c 1M /dev/zero >"$D/filler" 2>/dev/null
	else
		mkdir -p "$D/inodes"
		i=0
		while : >"$D/inodes/$i" 2>/dev/null; do i=$((i + 1)); done
	fi
	: >"$D/probe" 2>/dev/null && [ $what = inodes ] &&
		not_ok "$what: the tmpfs still takes new files"
	refused "$what full: lokt lock a" "$LOKT" lock a --holder "$H"
	refused "$what full: lokt lock held --ttl 1h (renew)" "$LOKT" lock held --ttl 1h --holder "$H"
	refused "$what full: lokt freeze f" "$LOKT" freeze f --ttl 1h
	refused "$what full: lokt freeze fz --ttl 2h (extend)" "$LOKT" freeze fz --ttl 2h
	refused "$what full: lokt guard g" "$LOKT" guard g -- true
	expect_exit 0 "$what full: lokt status" "$LOKT" status
	contains "$OUT" "held" "$what full: status lists held"
	expect_exit 0 "$what full: lokt status held" "$LOKT" status held
	expect_exit 0 "$what full: lokt exists held" "$LOKT" exists held
	expect_exit 3 "$what full: lokt exists a" "$LOKT" exists a
	store_as_before "$what full"
	if [ $what = blocks ]; then
		# Releasing removes a file; it needs no space.
		expect_exit 0 "$what full: lokt unlock rel" "$LOKT" unlock rel
		expect_exit 3 "$what full: rel is free" "$LOKT" exists rel
	fi

	rm -rf "$D/filler" "$D/inodes" "$D/probe"
	doctor_clean "$what freed"
	lock_again "$what freed" a
	lock_again "$what freed" a
	store_as_before "$what freed"
done

expect_exit 0 "lokt unfreeze fz" "$LOKT" unfreeze fz
expect_exit 0 "lokt unlock held" "$LOKT" unlock held
lock_again "at the end" held
doctor_clean "at the end"
done_testing
