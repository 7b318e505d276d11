#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the kernel may remember of the mount (fs/ll.c, CACHING): the fixed
# tree's entries, never a lock file's. Counted in the daemon's own debug
# output (-d): five stats of locks/x cost at most one LOOKUP of locks/
# (it used to be one per stat, three requests per file of ls -l) and one
# LOOKUP of x each. Then the other half: a lock released with lokt is
# gone at once for every call, even those that ask the daemon for no
# attribute (statx with an empty mask, as `stat -c %n` makes it; open
# with O_PATH), which a remembered entry would answer alone; and
# open(O_RDONLY|O_CREAT), flock(1)'s open, takes it again.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
if ! mount_fs "$M" "" -d; then
	not_ok "mount loktfs -d on $M"
	done_testing
	exit 1
fi
ok "mount loktfs -d on $M"
LOG="$T/loktfs.$(echo "$M" | tr / _).log"

sleep 300 &
holder=$!
at_exit "kill_child KILL $holder"
expect_exit 0 "lokt lock x for a live holder" "$LOKT" lock x --holder "$holder" -q

# requests OPCODE NODEID: how many the daemon was sent since `mark`.
mark() { from=$(($(stat -c %s "$LOG") + 1)); }
requests() {
	tail -c "+$from" "$LOG" | grep -a -c "opcode: $1 ([0-9]*), nodeid: $2,"
}

stat "$M/locks/x" >/dev/null
mark
for i in 1 2 3 4 5; do
	stat "$M/locks/x" >/dev/null || not_ok "stat $i of locks/x failed"
done
n=$(requests LOOKUP 1)
[ "$n" -le 1 ] && ok "5 stats of locks/x: $n LOOKUP in / (locks/ is remembered)" ||
	not_ok "5 stats of locks/x: $n LOOKUPs in / (want at most 1: locks/ is not remembered)"
n=$(requests LOOKUP 2)
[ "$n" -eq 5 ] && ok "5 stats of locks/x: 5 LOOKUPs in locks/ (x is not remembered)" ||
	not_ok "5 stats of locks/x: $n LOOKUPs in locks/, want 5"
n=$(requests GETATTR '[0-9]*')
[ "$n" -ge 5 ] && ok "5 stats of locks/x: $n GETATTRs (attributes are not remembered)" ||
	not_ok "5 stats of locks/x: $n GETATTRs, want 5"

# Released behind the kernel's back: nothing may still show x.
expect_exit 0 "lokt unlock x" "$LOKT" unlock x -q
expect_exit 1 "stat -c %n (statx asking for no attribute) after the release" \
	stat -c %n "$M/locks/x"
cat >"$T/gone.py" <<'PY'
import errno, os, sys
path = sys.argv[1]
def word(f):
    try:
        f()
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print("opath", word(lambda: os.close(os.open(path, os.O_PATH))))
print("access", "OK" if os.access(path, os.F_OK) else "ENOENT")
print("exists", "yes" if os.path.exists(path) else "no")
PY
OUT=$("$PY" "$T/gone.py" "$M/locks/x")
for want in "opath ENOENT" "access ENOENT" "exists no"; do
	grep -qxF "$want" <<<"$OUT" && ok "after the release: $want" ||
		not_ok "after the release: want '$want', got: $OUT"
done

# flock(1) opens O_RDONLY|O_CREAT: a free name is created, so taken.
"$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o644))' \
	"$M/locks/x" && ok "open(O_RDONLY|O_CREAT) of the free x" ||
	not_ok "open(O_RDONLY|O_CREAT) of the free x failed"
check "x was taken by it (its record is in the store)" test -f "$LOKT_ROOT/locks/x.json"
expect_exit 0 "rm breaks the stale x" rm "$M/locks/x"

# Taken again with lokt: shows at once.
expect_exit 0 "lokt lock x again" "$LOKT" lock x --holder "$holder" -q
expect_exit 0 "stat -c %n shows x at once" stat -c %n "$M/locks/x"
[ "$(jfield pid <"$M/locks/x")" = "$holder" ] && ok "cat shows its holder" ||
	not_ok "cat locks/x: $(cat "$M/locks/x")"
expect_exit 0 "lokt unlock x" "$LOKT" unlock x -q

check "unmount, and the daemon exits 0" unmount_fs "$M"

# No option brings a cache back: libfuse's high-level ones are refused.
mkdir -p "$T/m2"
for o in entry_timeout=60 attr_timeout=60 kernel_cache uid=0; do
	expect_exit 1 "loktfs -o $o is refused" timeout 10 "$LOKTFS" -f -o "root=$LOKT_ROOT,$o" "$T/m2"
	contains "$ERR" "unknown option" "-o $o: libfuse says which option"
	is_loktfs "$T/m2" && not_ok "-o $o: $T/m2 was mounted"
done
# The kernel's mode checks would answer EACCES for what loktfs answers
# EBUSY, and the sticky lock directories would keep a stale lock of
# another user from being broken: refused too.
expect_exit 1 "loktfs -o default_permissions is refused" timeout 10 "$LOKTFS" -f -o "root=$LOKT_ROOT,default_permissions" "$T/m2"
contains "$ERR" "default_permissions is not supported" "... saying why"
is_loktfs "$T/m2" && not_ok "-o default_permissions: $T/m2 was mounted"

done_testing
