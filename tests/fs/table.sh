#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every row of the table of the README ("The filesystem") through a real mount, with the real
# tools (touch, cat, rm, ls, mv, ...) and, for the exact errno, errno.py
# (one system call, the errno name printed). The errno a refusal must give
# is the one loktfs(8) and the README document: EBUSY held or frozen,
# EINVAL bad name or unparsable duration, ENOENT free, EPERM for every
# refused operation and for dotfiles, EACCES for writing the audit log.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
L=$M/locks
F=$M/freezes
if ! mount_fs "$M" freeze_ttl=20m; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"

# strerror text the tools print for an errno name.
declare -A MSG=([EPERM]="Operation not permitted" [EINVAL]="Invalid argument"
	[EBUSY]="Device or resource busy" [ENOENT]="No such file or directory"
	[EACCES]="Permission denied")

# refused ERRNO DESC CMD...: the tool fails and says why.
refused() {
	local want=$1 desc=$2
	shift 2
	expect_exit 1 "$desc fails" "$@"
	contains "$ERR" "${MSG[$want]}" "$desc says '${MSG[$want]}' ($want)"
}

# epoch NAME: "sec.nanoseconds" of an RFC 3339 time read from stdin field.
epoch_of() {
	"$PY" -c '
import calendar, re, sys
m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d+))?Z$", sys.argv[1])
if not m:
    sys.exit(1)
g = [int(x) for x in m.groups()[:6]]
print("%d.%s" % (calendar.timegm(g), (m.group(7) or "").ljust(9, "0")[:9]))' "$1"
}

# check_record FILE NAME: the JSON of one lock file has the fields of
# docs/protocol.md (the lock file) with their types.
check_record() {
	"$PY" - "$1" "$2" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
errs = []
def need(k, t):
    if not isinstance(d.get(k), t) or isinstance(d.get(k), bool):
        errs.append("%s: %r" % (k, d.get(k)))
need("version", int); need("name", str); need("lock_id", str)
need("owner", str); need("host", str); need("pid", int)
need("pid_start_ns", int); need("acquired_ts", str); need("fence", int)
need("uid", int)
if d.get("version") != 1: errs.append("version != 1")
if d.get("name") != sys.argv[2]: errs.append("name %r" % d.get("name"))
if not re.fullmatch(r"[0-9a-f]{32}", str(d.get("lock_id"))): errs.append("lock_id")
if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(d.get("acquired_ts"))):
    errs.append("acquired_ts %r" % d.get("acquired_ts"))
if errs:
    print("; ".join(errs)); sys.exit(1)
EOF
}

# ---- touch acquires; cat, head, status show it ----------------------------
expect_exit 0 "touch locks/x (free) acquires" touch "$L/x"
cat "$L/x" >"$T/x.json" 2>"$T/x.err"
check "cat locks/x shows JSON with the fields of DESIGN §2" check_record "$T/x.json" x
head -c 65536 "$L/x" >"$T/x.head"
check "head -c 64k locks/x shows the same JSON as cat" cmp -s "$T/x.json" "$T/x.head"
expect_exit 0 "lokt status x: held after touch" "$LOKT" status x --json
st_pid=$(jfield pid <<<"$OUT")
[ "$st_pid" = "$$" ] && ok "touch by this script: the script holds (pid $$)" ||
	not_ok "touch by this script: holder pid $st_pid, want $$ (touch's parent)"
[ "$(jfield held <<<"$OUT")" = true ] && ok "lokt status x --json: held true" ||
	not_ok "lokt status x --json: held is not true: $OUT"
x_id=$(jfield lock_id <"$T/x.json")
[ -z "$(jfield ttl_sec <"$T/x.json")" ] && [ -z "$(jfield expires_at <"$T/x.json")" ] &&
	ok "touch without default_ttl: no ttl_sec, no expires_at" ||
	not_ok "touch without default_ttl has a TTL: $(cat "$T/x.json")"

# ---- ": >" and "echo 30m >" ---------------------------------------------------
if : >"$L/y"; then ok ": > locks/y acquires"; else not_ok ": > locks/y failed"; fi
expect_exit 0 "lokt exists y after : >" "$LOKT" exists y
[ "$(jfield pid <"$L/y")" = "$$" ] && ok ": > locks/y by this bash script: the script holds (pid $$)" ||
	not_ok ": > locks/y by this bash script: holder pid '$(jfield pid <"$L/y")', want $$ (a shell caller holds)"
# A keep-alive writes a line at a time on one descriptor: each renews
# (the text is not run together into "30m\n40m\n", refused, and the lock
# given back).
if { echo 30m && echo 40m; } >"$L/ka"; then ok "two lines on one descriptor of locks/ka"; else not_ok "two lines on one descriptor of locks/ka failed"; fi
[ "$(jfield ttl_sec <"$L/ka")" = 2400 ] && ok "... the second line renewed it (ttl_sec 2400)" ||
	not_ok "... ttl_sec '$(jfield ttl_sec <"$L/ka")', want 2400"
rm -f "$L/ka"
if echo 30m >"$L/z"; then ok "echo 30m > locks/z"; else not_ok "echo 30m > locks/z failed"; fi
cat "$L/z" >"$T/z.json"
[ "$(jfield ttl_sec <"$T/z.json")" = 1800 ] && ok "echo 30m: cat shows ttl_sec 1800" ||
	not_ok "echo 30m: ttl_sec is '$(jfield ttl_sec <"$T/z.json")', want 1800"
[ -n "$(jfield expires_at <"$T/z.json")" ] && ok "echo 30m: cat shows expires_at" ||
	not_ok "echo 30m: no expires_at: $(cat "$T/z.json")"
z_id=$(jfield lock_id <"$T/z.json")
if echo 45m >"$L/z"; then ok "echo 45m > locks/z by the same shell renews"; else not_ok "echo 45m > locks/z (renew) failed"; fi
cat "$L/z" >"$T/z2.json"
[ "$(jfield ttl_sec <"$T/z2.json")" = 2700 ] && [ "$(jfield lock_id <"$T/z2.json")" = "$z_id" ] &&
	ok "echo 45m renew: ttl_sec 2700, same lock_id" ||
	not_ok "echo 45m renew: ttl_sec '$(jfield ttl_sec <"$T/z2.json")' lock_id '$(jfield lock_id <"$T/z2.json")' (was $z_id)"

# ---- garbage is EINVAL and leaves nothing ---------------------------------
if { echo garbage >"$L/g"; } 2>"$T/g.err"; then
	not_ok "echo garbage > locks/g succeeded"
else
	contains "$(cat "$T/g.err")" "Invalid argument" "echo garbage > locks/g: Invalid argument (EINVAL)"
fi
expect_errno EINVAL "write 'garbage' to locks/g" write "$L/g" garbage
expect_exit 3 "locks/g is not held after the refused writes (lokt exists g)" "$LOKT" exists g
expect_errno ENOENT "locks/g does not exist after the refused writes" stat "$L/g"
expect_errno EINVAL "write '-5m' (negative duration) to locks/g" write "$L/g" "-5m"
expect_errno EINVAL "write '99999999999d' (over 100 years) to locks/g" write "$L/g" "99999999999d"
expect_exit 3 "locks/g still not held" "$LOKT" exists g

# ---- cat of a free lock, rm ------------------------------------------------
expect_exit 1 "cat locks/free fails" cat "$L/free"
contains "$ERR" "No such file or directory" "cat locks/free: No such file (ENOENT)"
expect_errno ENOENT "read locks/free" read "$L/free"
expect_exit 0 "rm -f locks/free: exit 0" rm -f "$L/free"
expect_exit 1 "rm locks/free fails" rm "$L/free"
expect_errno ENOENT "unlink locks/free" unlink "$L/free"

# ---- ls -l, stat, find -----------------------------------------------------
ls -l "$L" >"$T/ls.out" 2>&1
for n in x y z; do
	grep -q " $n\$" "$T/ls.out" && ok "ls -l locks/ lists $n" || not_ok "ls -l locks/ lacks $n: $(cat "$T/ls.out")"
done
grep -q " g\$" "$T/ls.out" && not_ok "ls -l locks/ lists g (refused)" || ok "ls -l locks/ does not list the refused g"
cat "$L/x" >"$T/x.json"
size=$(stat -c %s "$L/x")
want=$(wc -c <"$T/x.json")
[ "$size" = "$want" ] && ok "stat locks/x: size $size == bytes cat shows" ||
	not_ok "stat locks/x: size $size, cat shows $want bytes"
ls_size=$(ls -ln "$L" | awk '$NF == "x" { print $5 }')
[ "$ls_size" = "$want" ] && ok "ls -l: size of x == bytes cat shows" || not_ok "ls -l: size of x '$ls_size', want $want"
ls_uid=$(ls -ln "$L" | awk '$NF == "x" { print $3 }')
[ "$ls_uid" = "$(id -u)" ] && [ "$(jfield uid <"$T/x.json")" = "$(id -u)" ] &&
	ok "ls -ln: owner of x is uid $(id -u), as in the record" ||
	not_ok "ls -ln: owner of x '$ls_uid', record uid '$(jfield uid <"$T/x.json")', want $(id -u)"
mt=$(stat -c %.9Y "$L/x")
acq=$(epoch_of "$(jfield acquired_ts <"$T/x.json")")
[ "$mt" = "$acq" ] && ok "stat locks/x: mtime == acquired_ts ($acq)" ||
	not_ok "stat locks/x: mtime $mt, acquired_ts $acq"
ls_mt=$(ls -ln --time-style=+%s.%N "$L" | awk '$NF == "x" { print $6 }')
[ "$ls_mt" = "$acq" ] && ok "ls -l: the time of x is acquired_ts" || not_ok "ls -l: time of x '$ls_mt', acquired_ts $acq"
for f in "$L/z" "$L/y"; do
	[ "$(stat -c %s "$f")" = "$(wc -c <"$f")" ] && ok "stat ${f#$M/}: size == bytes cat shows" ||
		not_ok "stat ${f#$M/}: size $(stat -c %s "$f"), cat shows $(wc -c <"$f") bytes"
done
[ "$(stat -c %F "$L/x")" = "regular file" ] && ok "stat locks/x: a regular file" ||
	not_ok "stat locks/x: $(stat -c %F "$L/x")"
# A directory's link count is 2 and its subdirectories: find and du may
# skip what it says is not there.
# (slots/ lists the K in use: 1, not counted, as btrfs says of its own)
: >"$M/slots/3/nl"
check "the mount's root has 6 links (4 subdirectories)" test "$(stat -c %h "$M")" = 6
check "slots/ has 1 (its subdirectories are not counted)" test "$(stat -c %h "$M/slots")" = 1
check "slots/3 has 2" test "$(stat -c %h "$M/slots/3")" = 2
find "$M" >"$T/find.out" 2>&1
rm -f "$M/slots/3/nl"
for p in locks freezes audit slots/3/nl shared locks/x locks/y locks/z; do
	grep -qx "$M/$p" "$T/find.out" && ok "find lists $p" || not_ok "find lacks $p: $(cat "$T/find.out")"
done

# ---- touch by the holder renews -------------------------------------------
sleep 0.05 # let the clock move so that a renewal is visible in acquired_ts
expect_exit 0 "touch locks/x again by the holder" touch "$L/x"
cat "$L/x" >"$T/x2.json"
acq2=$(epoch_of "$(jfield acquired_ts <"$T/x2.json")")
[ "$(jfield lock_id <"$T/x2.json")" = "$x_id" ] && ok "renew by touch: same lock_id" ||
	not_ok "renew by touch: lock_id $(jfield lock_id <"$T/x2.json"), was $x_id"
"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$acq2" "$acq" &&
	ok "renew by touch: acquired_ts moved ($acq -> $acq2)" ||
	not_ok "renew by touch: acquired_ts $acq2, was $acq"
[ "$(stat -c %.9Y "$L/x")" = "$acq2" ] && ok "renew by touch: mtime follows acquired_ts" ||
	not_ok "renew by touch: mtime $(stat -c %.9Y "$L/x"), acquired $acq2"

# ---- refused operations ------------------------------------------------------
refused EPERM "mkdir locks/d" mkdir "$L/d"
expect_errno EPERM "mkdir locks/d" mkdir "$L/d"
refused EPERM "mkdir d (top)" mkdir "$M/d"
expect_errno EPERM "mkdir d (top)" mkdir "$M/d"
refused EPERM "rmdir locks" rmdir "$L"
expect_errno EPERM "rmdir locks" rmdir "$L"
refused EPERM "mv locks/x locks/x2" mv "$L/x" "$L/x2"
expect_errno EPERM "rename locks/x locks/x2" rename "$L/x" "$L/x2"
refused EPERM "ln locks/x locks/x3" ln "$L/x" "$L/x3"
expect_errno EPERM "link locks/x locks/x3" link "$L/x" "$L/x3"
refused EPERM "ln -s x locks/x4" ln -s x "$L/x4"
expect_errno EPERM "symlink x locks/x4" symlink x "$L/x4"
expect_errno EPERM "mknod locks/fifo" mknod "$L/fifo"
# A regular file made by mknod(2) is refused too, and takes nothing
# (libfuse's high-level API turned it into a create: it took the lock).
expect_errno EPERM "mknod locks/reg (S_IFREG)" mknodreg "$L/reg"
expect_exit 3 "mknod took no lock" "$LOKT" exists reg
refused EPERM "chmod 600 locks/x" chmod 600 "$L/x"
expect_errno EPERM "chmod locks/x" chmod "$L/x"
refused EPERM "chown 1 locks/x" chown 1 "$L/x"
expect_errno EPERM "chown locks/x" chown "$L/x" 1
refused EPERM "truncate -s 10 locks/x" truncate -s 10 "$L/x"
expect_errno EPERM "truncate locks/x to 10" truncate "$L/x" 10
expect_errno EPERM "setxattr locks/x" setxattr "$L/x"
expect_errno EPERM "removexattr locks/x" removexattr "$L/x"
expect_errno EPERM "setxattr locks/" setxattr "$L"
# No extended attributes: ENOTSUP (EOPNOTSUPP), "not supported" (so
# ls -l stops asking for ACLs), not "no such attribute" for each file
# (docs/loktfs.8).
expect_errno ENOTSUP "getxattr ACL of locks/x" getxattr "$L/x" system.posix_acl_access
expect_errno ENOTSUP "getxattr user.lokt of locks/x" getxattr "$L/x" user.lokt
expect_errno ENOTSUP "getxattr ACL of locks/" getxattr "$L" system.posix_acl_access
refused EPERM "touch foo at the top" touch "$M/foo"
expect_errno EPERM "create foo at the top" create "$M/foo"
expect_errno EPERM "write foo at the top" write "$M/foo" 30m
refused EINVAL "touch locks/a..b" touch "$L/a..b"
expect_errno EINVAL "create locks/a..b" create "$L/a..b"
expect_errno EINVAL "create 'locks/a b'" create "$L/a b"
long=$(printf 'n%.0s' $(seq 201))
refused EINVAL "touch a 201-byte name" touch "$L/$long"
expect_errno EINVAL "create a 201-byte name" create "$L/$long"
ok200=$(printf 'n%.0s' $(seq 200))
expect_errno OK "create a 200-byte name (the longest allowed)" create "$L/$ok200"
expect_errno OK "unlink the 200-byte name" unlink "$L/$ok200"
refused EPERM "touch locks/.x.swp (dotfile)" touch "$L/.x.swp"
expect_errno EPERM "create locks/.x.swp (dotfile)" create "$L/.x.swp"
expect_errno EPERM "create freezes/.x.swp (dotfile)" create "$F/.x.swp"
ls -a "$L" | grep -q '^\.[^.]' && not_ok "ls -a locks/ shows dotfiles: $(ls -a "$L")" ||
	ok "ls -a locks/ shows no dotfiles (sidecars hidden)"
# The refusals left the store as it was.
cat "$L/x" >"$T/x3.json"
[ "$(jfield lock_id <"$T/x3.json")" = "$x_id" ] && ok "after the refusals x is held with the same lock_id" ||
	not_ok "after the refusals: x is $(cat "$T/x3.json")"
for n in x2 x3 x4 fifo a..b d; do
	[ -e "$L/$n" ] && not_ok "refused $n exists" || ok "refused locks/$n does not exist"
done
[ -e "$M/foo" ] || [ -e "$M/d" ] && not_ok "refused foo or d exists at the top" || ok "refused foo, d do not exist at the top"
[ "$(ls "$LOKT_ROOT/locks" | grep -cv '^[xyz]\.json$')" = 0 ] &&
	ok "store holds only x, y, z lock files" || not_ok "store: $(ls "$LOKT_ROOT/locks")"

# ---- rm releases -------------------------------------------------------------
expect_exit 0 "rm locks/x releases" rm "$L/x"
expect_exit 3 "lokt exists x after rm: free" "$LOKT" exists x
expect_errno ENOENT "stat locks/x after rm" stat "$L/x"
ls "$L" | grep -qx x && not_ok "ls locks/ still lists x after rm" || ok "ls locks/ no longer lists x"

# ---- freezes -------------------------------------------------------------------
if echo 15m >"$F/x"; then ok "echo 15m > freezes/x"; else not_ok "echo 15m > freezes/x failed"; fi
cat "$F/x" >"$T/fx.json"
[ "$(jfield ttl_sec <"$T/fx.json")" = 900 ] && ok "freezes/x: ttl_sec 900" ||
	not_ok "freezes/x: ttl_sec '$(jfield ttl_sec <"$T/fx.json")', want 900"
expect_exit 0 "touch freezes/fy (freeze_ttl=20m)" touch "$F/fy"
cat "$F/fy" >"$T/fy.json"
[ "$(jfield ttl_sec <"$T/fy.json")" = 1200 ] && ok "touch freezes/fy: ttl_sec 1200 (freeze_ttl)" ||
	not_ok "touch freezes/fy: ttl_sec '$(jfield ttl_sec <"$T/fy.json")', want 1200"
ls "$F" | grep -qx x && ok "ls freezes/ lists x" || not_ok "ls freezes/ lacks x: $(ls "$F")"
[ "$(stat -c %s "$F/x")" = "$(wc -c <"$F/x")" ] && ok "stat freezes/x: size == bytes cat shows" ||
	not_ok "stat freezes/x: size $(stat -c %s "$F/x"), cat shows $(wc -c <"$F/x") bytes"
LOKT_OWNER=other-owner expect_errno EBUSY "another owner's echo 5m > freezes/x (active)" write "$F/x" 5m
LOKT_OWNER=other-owner expect_errno EBUSY "another owner's touch freezes/x (active)" create "$F/x"
LOKT_OWNER=other-owner expect_errno EPERM "another owner's rm freezes/x (active)" unlink "$F/x"
[ "$(jfield ttl_sec <"$F/x")" = 900 ] && [ "$(jfield owner <"$F/x")" = root ] &&
	ok "freezes/x unchanged by the refusals" || not_ok "freezes/x changed: $(cat "$F/x")"
expect_errno EINVAL "create freezes/a..b (bad name)" create "$F/a..b"
expect_errno EINVAL "write 5m to 'freezes/a b' (bad name)" write "$F/a b" 5m
expect_errno ENOENT "cat freezes/none (no freeze)" read "$F/none"
expect_errno ENOENT "rm freezes/none (no freeze)" unlink "$F/none"
refused EBUSY "touch locks/x while x is frozen" touch "$L/x"
expect_errno EBUSY "create locks/x while frozen" create "$L/x"
expect_exit 3 "frozen x was not acquired" "$LOKT" exists x
expect_exit 0 "rm freezes/x unfreezes" rm "$F/x"
expect_errno ENOENT "stat freezes/x after rm" stat "$F/x"
expect_errno ENOENT "unlink freezes/x again" unlink "$F/x"
expect_exit 0 "touch locks/x after the unfreeze" touch "$L/x"
expect_errno EPERM "mkdir freezes/d" mkdir "$F/d"
expect_errno EINVAL "write 'soon' to freezes/q" write "$F/q" soon
expect_errno ENOENT "freezes/q not made by the refused write" stat "$F/q"

# ---- audit -----------------------------------------------------------------------
"$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)' "$M/audit" && ok "cat audit: JSON lines" || not_ok "cat audit: not JSON lines"
tail -n +1 -f "$M/audit" >"$T/tail.out" 2>&1 &
tail_pid=$!
at_exit "kill_child TERM $tail_pid"
# First the lines already there (z was taken long ago), so that the new
# line below can only come from following the file.
if wait_for 30 grep -Eq '"name": *"z"' "$T/tail.out"; then
	ok "tail -f audit shows the existing lines"
else
	not_ok "tail -f audit shows no existing line: $(cat "$T/tail.out")"
fi
touch "$L/tailed"
if wait_for 30 grep -Eq '"name": *"tailed"' "$T/tail.out"; then
	ok "tail -f audit sees the new acquire of 'tailed'"
else
	not_ok "tail -f audit did not see 'tailed': $(cat "$T/tail.out")"
fi
kill "$tail_pid" 2>/dev/null
grep -E '"name": *"tailed"' "$M/audit" | grep -Eq '"via": *"loktfs"' && ok "audit line from the mount has via loktfs" ||
	not_ok "audit line of 'tailed' lacks \"via\":\"loktfs\": $(grep tailed "$M/audit")"
refused EACCES "echo x >> audit" bash -c "echo x >> '$M/audit'"
expect_errno EACCES "append to audit" append "$M/audit" x
expect_errno EACCES "open audit for writing" openw "$M/audit"
expect_errno EPERM "unlink audit" unlink "$M/audit"
expect_errno EPERM "chmod audit" chmod "$M/audit"
expect_errno EPERM "truncate audit to 10" truncate "$M/audit" 10

# Each write is a value of its own, wherever it writes: a second "30s"
# without a newline renewed with 60 s (the text was kept and summed),
# pwrite at 0 likewise; 22 writes of "30s" (past 64 bytes kept) gave the
# lock back; two lines in one write were refused.
cat >"$T/writes.py" <<'PYEOF'
import errno, json, os, sys
path, lokt = sys.argv[1], sys.argv[2]
def ttl():
    return json.loads(os.popen(lokt + " status wv --json").read())["ttl_sec"]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
for _ in range(4):
    os.pwrite(fd, b"30s", 0)
print("pwrite", ttl())
for _ in range(30):
    os.write(fd, b"40s")
for _ in range(70):
    os.write(fd, b"\n")
print("writes", ttl())
os.write(fd, b"5m\n6m\n")
print("lines", ttl())
try:
    os.write(fd, b"7m\nxx\n")
    print("garbage", "written")
except OSError as e:
    print("garbage", errno.errorcode[e.errno])
os.close(fd)
PYEOF
"$PY" "$T/writes.py" "$L/wv" "$LOKT" >"$T/writes.out" 2>&1
check "four pwrite of 30s at 0: TTL 30 s ($(grep pwrite "$T/writes.out"))" grep -qx "pwrite 30" "$T/writes.out"
check "30 writes of 40s, 70 of a newline: still held, TTL 40 s ($(grep writes "$T/writes.out"))" grep -qx "writes 40" "$T/writes.out"
check "two lines in one write: each renews, the last TTL 360 s ($(grep lines "$T/writes.out"))" grep -qx "lines 360" "$T/writes.out"
check "a write with a line that is no duration: EINVAL ($(grep garbage "$T/writes.out"))" grep -qx "garbage EINVAL" "$T/writes.out"
expect_exit 3 "... and the lock this open took is given back" "$LOKT" exists wv

# A reader of a few bytes at a time while the record changes: each read
# at offset 0 shows the record then, and the reads after it go on with
# that record, never a piece of a later one (it read 2 to 5 records in
# 100 out of pieces of two).
bash -c 'exec 3>"$0/rd"; while :; do echo 9s >&3; echo 100m >&3; done' "$L" &
rdw=$!
at_exit "kill $rdw 2>/dev/null"
wait_for 10 "$LOKT" exists rd
"$PY" - "$L/rd" >"$T/small.out" 2>&1 <<'PYEOF'
import json, os, sys
bad = 0
for _ in range(300):
    fd = os.open(sys.argv[1], os.O_RDONLY)
    data = b""
    while True:
        b = os.read(fd, 7)
        if not b:
            break
        data += b
    os.close(fd)
    try:
        json.loads(data)
    except ValueError:
        bad += 1
print(bad)
PYEOF
check "300 reads of 7 bytes at a time while it is renewed: every record whole ($(cat "$T/small.out") not)" \
	test "$(cat "$T/small.out")" = 0
kill "$rdw" 2>/dev/null
wait "$rdw" 2>/dev/null
rm -f "$L/rd" 2>/dev/null

if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
