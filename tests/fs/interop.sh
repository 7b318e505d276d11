#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One store, many doors: locks and freezes taken through a mount are seen
# and honoured at once by the lokt CLI and by a second mount of the same
# root, and the reverse. "At once" means the very next operation, with no
# wait in between: any entry, attribute or page cache would show up here as
# a released lock still held, or a new one missing.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M1=$T/m1
M2=$T/m2
if mount_fs "$M1" && mount_fs "$M2"; then
	ok "two mounts of one root"
else
	not_ok "two mounts of one root"
	done_testing
	exit 1
fi

# ---- mount -> CLI ------------------------------------------------------------
expect_errno ENOENT "a is free before" stat "$M1/locks/a"
expect_exit 0 "touch m1/locks/a" touch "$M1/locks/a"
expect_exit 0 "lokt status a: held at once" "$LOKT" status a
expect_exit 0 "lokt exists a: 0 at once" "$LOKT" exists a
"$LOKT" status a --json >"$T/a.st"
[ "$(jfield lock_id <"$T/a.st")" = "$(jfield lock_id <"$M1/locks/a")" ] &&
	ok "lokt status a and cat m1/locks/a: same lock_id" ||
	not_ok "lokt status a lock_id '$(jfield lock_id <"$T/a.st")', mount '$(jfield lock_id <"$M1/locks/a")'"
expect_exit 2 "lokt lock a from another owner: held (exit 2)" env LOKT_OWNER=other-owner "$LOKT" lock a
expect_exit 0 "rm m1/locks/a" rm "$M1/locks/a"
expect_exit 3 "lokt exists a after rm: 3 at once" "$LOKT" exists a

# ---- CLI -> mount ------------------------------------------------------------
bash -c '"$0" lock b >/dev/null || exit 1; exec sleep 300' "$LOKT" &
holder=$!
at_exit "kill_child TERM $holder"
if wait_for 30 "$LOKT" exists b; then ok "lokt lock b from a live bash"; else not_ok "lokt lock b from a live bash"; fi
ls "$M1/locks" | grep -qx b && ok "ls m1/locks/ lists b at once" || not_ok "ls m1/locks/: $(ls "$M1/locks")"
[ "$(jfield pid <"$M1/locks/b")" = "$holder" ] && ok "cat m1/locks/b: pid is the bash that ran lokt ($holder)" ||
	not_ok "cat m1/locks/b: pid '$(jfield pid <"$M1/locks/b")', want $holder"
expect_errno OK "stat m1/locks/b (now cached if caching were on)" stat "$M1/locks/b"
expect_exit 0 "lokt unlock b" "$LOKT" unlock b
expect_errno ENOENT "stat m1/locks/b right after lokt unlock" stat "$M1/locks/b"
ls "$M1/locks" | grep -qx b && not_ok "ls m1/locks/ still lists b" || ok "ls m1/locks/ no longer lists b"
expect_errno ENOENT "cat m1/locks/b after unlock" read "$M1/locks/b"
kill "$holder" 2>/dev/null

expect_errno ENOENT "stat m1/locks/c while free (negative lookup)" stat "$M1/locks/c"
expect_exit 0 "lokt lock c" "$LOKT" lock c
expect_errno OK "stat m1/locks/c right after lokt lock" stat "$M1/locks/c"
expect_exit 0 "cat m1/locks/c right after lokt lock" cat "$M1/locks/c"
expect_exit 0 "rm m1/locks/c (lock of the CLI, same owner)" rm "$M1/locks/c"
expect_exit 3 "lokt exists c after rm through the mount" "$LOKT" exists c

# ---- mount <-> mount -----------------------------------------------------------
expect_errno ENOENT "stat m2/locks/d while free" stat "$M2/locks/d"
expect_exit 0 "touch m1/locks/d" touch "$M1/locks/d"
expect_errno OK "stat m2/locks/d right after" stat "$M2/locks/d"
ls "$M2/locks" | grep -qx d && ok "ls m2/locks/ lists d" || not_ok "ls m2/locks/: $(ls "$M2/locks")"
cmp -s "$M1/locks/d" "$M2/locks/d" && ok "cat m1/locks/d == cat m2/locks/d" || not_ok "the two mounts show different records of d"
LOKT_OWNER=other-owner expect_errno EBUSY "another owner's touch m2/locks/d" create "$M2/locks/d"
LOKT_OWNER=other-owner expect_errno EPERM "another owner's rm m2/locks/d" unlink "$M2/locks/d"
expect_exit 0 "rm m1/locks/d" rm "$M1/locks/d"
expect_errno ENOENT "stat m2/locks/d right after the rm on m1" stat "$M2/locks/d"
LOKT_OWNER=other-owner expect_errno OK "another owner's touch m2/locks/d after the release" create "$M2/locks/d"
[ "$(jfield owner <"$M1/locks/d")" = other-owner ] && ok "m1 shows d held by other-owner" ||
	not_ok "m1 shows d owner '$(jfield owner <"$M1/locks/d")'"
LOKT_OWNER=other-owner expect_errno OK "other-owner releases d through m2" unlink "$M2/locks/d"
expect_errno ENOENT "m1 sees d released" stat "$M1/locks/d"

# ---- mount <-> mount, both directions, with attributes ---------------------------
# Each read on mount B comes right after a change made on mount A: a cached
# negative entry would hide the new lock, a cached entry or attribute would
# keep the old size and mtime, a page cache the old record.
for pair in "$M1 $M2" "$M2 $M1"; do
	read -r A B <<<"$pair"
	a=${A##*/} b=${B##*/} n=n${A##*/}
	expect_errno ENOENT "$b/locks/$n while free" stat "$B/locks/$n"
	ls "$B/locks" >/dev/null
	expect_exit 0 "touch $a/locks/$n" touch "$A/locks/$n"
	expect_errno OK "stat $b/locks/$n right after" stat "$B/locks/$n"
	ls "$B/locks" | grep -qx "$n" && ok "ls $b/locks/ lists $n right after" || not_ok "ls $b/locks/: $(ls "$B/locks")"
	size1=$(stat -c %s "$B/locks/$n") mt1=$(stat -c %.9Y "$B/locks/$n")
	[ "$size1" = "$(wc -c <"$A/locks/$n")" ] && [ "$mt1" = "$(stat -c %.9Y "$A/locks/$n")" ] &&
		ok "$b sees the size and mtime $a shows" || not_ok "$b: size $size1 mtime $mt1; $a: $(stat -c '%s %.9Y' "$A/locks/$n")"
	# A file opened before a change: read and fstat show the new record
	# (direct_io: no page cache; attribute timeout 0: fstat asks again).
	"$PY" - "$B/locks/$n" "$LOKT" "$n" >"$T/held.out" 2>&1 <<'EOF2'
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
before = os.pread(fd, 65536, 0)
# This script's child: the lock's holder (the test) is an ancestor, so
# this renews it with a TTL, which changes the record.
subprocess.run([sys.argv[2], "lock", sys.argv[3], "--ttl", "10m"], check=True,
               stdout=subprocess.DEVNULL)
size = os.fstat(fd).st_size  # first: a read would refresh the attributes
after = os.pread(fd, 65536, 0)
now = open(sys.argv[1], "rb").read()
if after == before:
    print("same bytes as before the renewal")
elif after != now:
    print("neither the old nor the new record")
elif size != len(now):
    print("fstat size %d, the record is %d bytes" % (size, len(now)))
else:
    print("fresh")
EOF2
	[ "$(cat "$T/held.out")" = fresh ] && ok "$b: an open file reads the record renewed through the CLI" ||
		not_ok "$b: an open file read: $(cat "$T/held.out")"
	sleep 0.01 # let the clock move, so that a renewal shows in the mtime
	if echo 45m >"$A/locks/$n"; then ok "echo 45m > $a/locks/$n renews"; else not_ok "echo 45m > $a/locks/$n"; fi
	size2=$(stat -c %s "$B/locks/$n") mt2=$(stat -c %.9Y "$B/locks/$n")
	[ "$size2" = "$(wc -c <"$A/locks/$n")" ] && ok "$b: size follows the renewal at once ($size2)" ||
		not_ok "$b: size $size2, $a shows $(wc -c <"$A/locks/$n") bytes"
	[ "$mt2" = "$(stat -c %.9Y "$A/locks/$n")" ] && [ "$mt2" != "$mt1" ] &&
		ok "$b: mtime follows the renewal at once" || not_ok "$b: mtime $mt2 (was $mt1), $a: $(stat -c %.9Y "$A/locks/$n")"
	[ "$(jfield ttl_sec <"$B/locks/$n")" = 2700 ] && ok "$b: cat shows ttl_sec 2700 at once" ||
		not_ok "$b: ttl_sec '$(jfield ttl_sec <"$B/locks/$n")'"
	expect_exit 0 "rm $a/locks/$n" rm "$A/locks/$n"
	expect_errno ENOENT "stat $b/locks/$n right after the rm" stat "$B/locks/$n"
	expect_errno ENOENT "cat $b/locks/$n right after the rm" read "$B/locks/$n"
	ls "$B/locks" | grep -qx "$n" && not_ok "ls $b/locks/ still lists $n" || ok "ls $b/locks/ no longer lists $n"
done

# ---- a record older than a second (whose parse loktfs keeps, core/attr.c) --------
# Changed by the CLI (a new file) and rewritten in place with the same size
# (as a lokt 1.x writer could): the very next stat through the mount shows it.
expect_exit 0 "lokt lock old" "$LOKT" lock old
sleep 1.2
mt1=$(stat -c %.9Y "$M1/locks/old")
[ "$(stat -c %.9Y "$M1/locks/old")" = "$mt1" ] && ok "stat m1/locks/old twice: the same" ||
	not_ok "stat m1/locks/old twice differs"
sleep 0.01
expect_exit 0 "lokt lock old --ttl 5m renews" "$LOKT" lock old --ttl 5m
mt2=$(stat -c %.9Y "$M1/locks/old")
[ "$mt2" != "$mt1" ] && [ "$mt2" = "$(stat -c %.9Y "$M2/locks/old")" ] &&
	ok "m1: the renewal's mtime at once" || not_ok "m1: mtime $mt2 (was $mt1)"
sleep 1.2
stat "$M1/locks/old" >/dev/null
rec=$LOKT_ROOT/locks/old.json
"$PY" - "$rec" <<'EOF2'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
d["uid"] = 4242
d["acquired_ts"] = "2030-01-01T00:00:00.000000000Z"
d.pop("expires_at", None); d.pop("ttl_sec", None)
b = json.dumps(d).encode()
old = os.path.getsize(p)
b = b + b" " * (old - len(b)) if len(b) < old else b
fd = os.open(p, os.O_WRONLY)  # in place, no truncation
os.write(fd, b)
os.close(fd)
EOF2
[ "$(stat -c %u "$M1/locks/old")" = 4242 ] && [ "$(stat -c %Y "$M1/locks/old")" = 1893456000 ] &&
	ok "m1: a record rewritten in place shows at once" ||
	not_ok "m1: after an in-place rewrite: $(stat -c '%u %Y' "$M1/locks/old")"
rm -f "$rec"
expect_errno ENOENT "m1/locks/old gone at once" stat "$M1/locks/old"

# ---- freezes, both ways ----------------------------------------------------------
expect_exit 0 "lokt freeze e --ttl 5m" "$LOKT" freeze e --ttl 5m
expect_exit 1 "touch m1/locks/e while frozen by lokt fails" touch "$M1/locks/e"
contains "$ERR" "Device or resource busy" "touch m1/locks/e while frozen: EBUSY"
expect_errno EBUSY "create m2/locks/e while frozen" create "$M2/locks/e"
ls "$M1/freezes" | grep -qx e && ok "ls m1/freezes/ lists e" || not_ok "ls m1/freezes/: $(ls "$M1/freezes")"
expect_exit 3 "e was not acquired" "$LOKT" exists e
expect_exit 0 "lokt unfreeze e" "$LOKT" unfreeze e
expect_errno ENOENT "m1/freezes/e gone after lokt unfreeze" stat "$M1/freezes/e"
expect_errno OK "touch m1/locks/e after the unfreeze" create "$M1/locks/e"

if echo 5m >"$M1/freezes/f"; then ok "echo 5m > m1/freezes/f"; else not_ok "echo 5m > m1/freezes/f"; fi
expect_exit 2 "lokt lock f while frozen through the mount: exit 2" "$LOKT" lock f
expect_exit 2 "lokt guard f -- true while frozen: exit 2" "$LOKT" guard f -- true
expect_exit 2 "lokt guard f -- touch ran: exit 2" "$LOKT" guard f -- touch "$T/guard-ran"
[ -e "$T/guard-ran" ] && not_ok "lokt guard ran its command while frozen" || ok "lokt guard did not run its command"
expect_errno OK "stat m2/freezes/f (second mount)" stat "$M2/freezes/f"
expect_exit 0 "lokt status shows the freeze" "$LOKT" status
contains "$OUT" "frozen: f " "lokt status output says f is frozen"
expect_exit 0 "rm m2/freezes/f unfreezes" rm "$M2/freezes/f"
expect_exit 0 "lokt lock f after the unfreeze" "$LOKT" lock f
expect_exit 0 "lokt unlock f" "$LOKT" unlock f

# ---- audit lines from the mount carry via loktfs ------------------------------
"$PY" - "$LOKT_ROOT/audit.log" >"$T/via.out" 2>&1 <<'EOF'
import json, sys
mount, cli = set(), set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    via = (e.get("extra") or {}).get("via")
    if e.get("event") == "acquire":
        (mount if via == "loktfs" else cli).add(e.get("name"))
print("mount:" + ",".join(sorted(mount)))
print("cli:" + ",".join(sorted(cli)))
EOF
grep -q '^mount:.*\<a\>' "$T/via.out" && grep -q '^mount:.*\<d\>' "$T/via.out" &&
	ok "audit: acquires of a and d through the mount carry via loktfs" ||
	not_ok "audit: mount acquires without via loktfs: $(cat "$T/via.out")"
grep -q '^cli:.*\<c\>' "$T/via.out" && ! grep -q '^mount:.*\<c\>' "$T/via.out" &&
	ok "audit: the CLI's acquire of c has no via loktfs" ||
	not_ok "audit: CLI acquire of c: $(cat "$T/via.out")"
grep -E '"event": *"release"' "$LOKT_ROOT/audit.log" | grep -E '"name": *"a"' | grep -Eq '"via": *"loktfs"' &&
	ok "audit: the release of a by rm carries via loktfs" || not_ok "audit: no release of a with via loktfs"
grep -E '"event": *"freeze"' "$LOKT_ROOT/audit.log" | grep -E '"name": *"f"' | grep -Eq '"via": *"loktfs"' &&
	ok "audit: the freeze of f through the mount carries via loktfs" || not_ok "audit: no freeze of f with via loktfs"

if unmount_fs "$M1"; then ok "unmount m1: daemon exits 0"; else not_ok "unmount m1"; fi
if unmount_fs "$M2"; then ok "unmount m2: daemon exits 0"; else not_ok "unmount m2"; fi
done_testing
