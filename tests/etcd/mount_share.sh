#!/bin/bash
# SPDX-License-Identifier: MIT
# One user's share of the locks the loktfs daemon keeps on an etcd store
# (fs/keeper.c, loktfs(8)): a user of an allow_other mount who takes
# locks by the thousand gets EDQUOT past 1024 of them, and the others
# still take theirs. Before, the daemon (at the usual soft limit of 1024
# descriptors, one per kept lock) ran out of descriptors, and every
# other user's touch failed with ENOENT while that user's shell lived.
# The daemon runs at a soft limit of 1024, as under a login shell; it
# raises it itself.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ -z "${LOKTFS:-}" ] || [ ! -c /dev/fuse ] || [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs loktfs, /dev/fuse and root"
	exit 0
fi
# A long lease: 1,024 locks tended a third of it apart.
export LOKT_ETCD_LEASE=60s

second_user lksh
M=$T/mnt
mkdir -p "$M"
chmod 0755 "$T"
(ulimit -S -n 1024 && exec "$LOKTFS" -f -o "root=$LOKT_ROOT,allow_other" "$M") 2>"$T/loktfs.err" &
daemon=$!
track "$daemon"
at_exit "fusermount3 -u '$M' 2>/dev/null || umount -l '$M' 2>/dev/null"
check "mounted (allow_other)" wait_for 20 test -d "$M/locks"
check "the daemon raised its open-file limit" \
	eval '[ "$(awk "/Max open files/ { print \$4 }" /proc/$daemon/limits)" -gt 1024 ]'

# The user's locks, held by its shell (the caller's parent): 1,025 names
# taken, then one of them again (a renewal), then it waits until told.
cat >"$T/take.py" <<'PYEOF'
import errno, os, sys, time
locks, n, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def take(name):
    try:
        os.close(os.open(os.path.join(locks, name), os.O_WRONLY | os.O_CREAT, 0o644))
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]
got = [take("u%d" % i) for i in range(n)]
print("taken", got.count("OK"), "then", got[-1], "renewal", take("u0"),
      "others", take("rootheld"), flush=True)
while not os.path.exists(go):
    time.sleep(0.1)
PYEOF
chmod 0644 "$T/take.py"
"$LOKT" lock rootheld --holder $$ -q || not_ok "root holds rootheld"
touch "$T/out" && chmod 0666 "$T/out"
as_user bash -c '"$0" "$1" "$2" 1025 "$3" >"$4"; :' "$PY" "$T/take.py" "$M/locks" "$T/go" "$T/out" &
user=$!
track "$user"
if wait_for 90 test -s "$T/out"; then
	read -r _ taken _ last _ renewal _ others <"$T/out"
	check "the user takes 1024 locks ($taken)" test "$taken" = 1024
	check "... the 1025th is EDQUOT ($last)" test "$last" = EDQUOT
	check "... and may still renew one of its own ($renewal)" test "$renewal" = OK
	check "... and finds root's lock busy, as ever ($others)" test "$others" = EBUSY
	check "... no lokt-keeper process for any of them" \
		test "$(pgrep -fc "lokt-keeper $LOKT_ROOT u")" = 0
	expect_exit 0 "root takes a lock meanwhile" touch "$M/locks/rootx"
	expect_exit 0 "... held" "$LOKT" exists rootx
	rm -f "$M/locks/rootx"
else
	not_ok "the user's 1,025 locks within 90 s ($(cat "$T/out"))"
fi
: >"$T/go"
reap "$user"
check "the user's shell gone, its locks are given back" \
	wait_for 60 eval '[ "$("$LOKT" status --names | grep -c "^u")" = 0 ]'
check "the daemon keeps few descriptors again ($(ls /proc/$daemon/fd | wc -l))" \
	eval '[ "$(ls /proc/$daemon/fd | wc -l)" -lt 64 ]'
done_testing
