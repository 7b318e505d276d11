#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Which roots loktfs accepts (issue 10, item 4; docs/loktfs.8, -o root=).
# Each bad root is refused with exit 1 and a message saying what is
# wrong, nothing is mounted and nothing is created: an empty root= (it
# used to mount the working directory), a root whose parent is missing
# (it used to be created with all its parents), a root that is not a
# directory, a root on a loktfs mount, given or discovered from the
# working directory (the daemon would serve a view of a store, or
# itself), and a root that is, or is inside, the mount point. A root
# whose parent exists is created, as mkdir does.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
mkdir -p "$M" "$T/cwd"

# refused DESC WORD CMD...: CMD (a loktfs run without -f, so a mount it
# makes does not keep it running) exits 1, says WORD, mounts nothing.
refused() {
	local desc=$1 word=$2
	shift 2
	expect_exit 1 "$desc: exit 1" timeout 30 "$@"
	contains "$ERR" "$word" "$desc: says '$word'"
	if is_loktfs "$M"; then
		not_ok "$desc: nothing is mounted on $M"
		fusermount3 -u "$M"
	else
		ok "$desc: nothing is mounted on $M"
	fi
}

# nothing_in DIR DESC: DIR has no store in it.
nothing_in() {
	if [ -e "$1/locks" ] || [ -e "$1/freezes" ]; then
		not_ok "$2 (found $(ls "$1"))"
	else
		ok "$2"
	fi
}

refused "-o root= (empty)" "empty" \
	env -C "$T/cwd" "$LOKTFS" -o root= "$M"
nothing_in "$T/cwd" "-o root= created no store in the working directory"
refused "empty ROOT argument" "empty" \
	env -C "$T/cwd" "$LOKTFS" "" "$M"
nothing_in "$T/cwd" "an empty ROOT created no store in the working directory"

refused "root=$T/no/deep/x (no parent)" "mkdir -p $T/no/deep" \
	"$LOKTFS" -o "root=$T/no/deep/x" "$M"
check "root=$T/no/deep/x created nothing" test ! -e "$T/no"
refused "LOKT_ROOT=$T/no/x (discovered, no parent)" "does not exist" \
	env -C "$T/cwd" LOKT_ROOT="$T/no/x" "$LOKTFS" "$M"
check "LOKT_ROOT=$T/no/x created nothing" test ! -e "$T/no"

: >"$T/file"
refused "root that is a file" "not a directory" \
	"$LOKTFS" -o "root=$T/file" "$M"

refused "root = the mount point" "overlap" \
	"$LOKTFS" -o "root=$M" "$M"
nothing_in "$M" "root = the mount point: no store created there"
refused "root inside the mount point" "overlap" \
	"$LOKTFS" -o "root=$M/store" "$M"
check "root inside the mount point: not created" test ! -e "$M/store"

# A root whose parent exists is created, like mkdir.
expect_exit 0 "root=$T/fresh (parent exists) mounts" \
	timeout 30 "$LOKTFS" -o "root=$T/fresh" "$M"
check "root=$T/fresh was created with locks/" test -d "$T/fresh/locks"
is_loktfs "$M" && fusermount3 -u "$M"
wait_for 10 bash -c "! findmnt -rn -M '$M' >/dev/null"

# Roots on a loktfs mount: given, and found from the working directory.
V=$T/view
if ! mount_fs "$V"; then
	not_ok "mount loktfs on $V"
	done_testing
	exit 1
fi
ok "mount loktfs on $V (root $LOKT_ROOT)"
refused "root=$V (a loktfs mount)" "on a loktfs mount" \
	"$LOKTFS" -o "root=$V" "$M"
refused "root=$V/locks (inside a loktfs mount)" "on a loktfs mount" \
	"$LOKTFS" -o "root=$V/locks" "$M"
refused "root=$V/locks/new (to be created on a loktfs mount)" \
	"on a loktfs mount" "$LOKTFS" -o "root=$V/locks/new" "$M"
refused "root discovered from a working directory on a loktfs mount" \
	"on a loktfs mount" env -C "$V/locks" -u LOKT_ROOT "$LOKTFS" "$M"
check "unmount $V, and the daemon exits 0" unmount_fs "$V"

done_testing
