#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bound on the mount's read snapshots (docs/loktfs.8): a read at
# offset 0 of a lock file keeps the record it showed, so that the reads
# after it go on with that record; those copies take at most 64 MiB in
# all, so that a user holding many opens of a large record cannot grow
# the daemon without bound. Past the bound a read goes on with the record
# as it is then.
#
# A shared name of 31 holders with long owners and agent ids (a record of
# about 23 KB), opened 7,000 times and read one byte at offset 0 each
# (160 MB of copies without the bound); then a 32nd holder joins and the
# rest of each open is read. Within the bound, an open goes on with the
# record it first read; past it, with the new one. Both kinds must be
# there, the first about 64 MiB's worth, and the daemon must have grown
# by less than the copies would take unbounded. (Builds without
# sanitizers only: tests/fs/meson.build.)
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"
. "$SRC_ROOT/tests/cli/common.sh"

M=$T/mnt
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"

long=$(printf 'o%.0s' $(seq 240))
for i in $(seq 31); do
	LOKT_OWNER="$long$i" LOKT_AGENT_ID="$long-a$i" \
		"$LOKT" lock big --shared --holder $$ -q || break
done
size=$(stat -c %s "$M/locks/big")
check "31 shared holders: a record of $size bytes" test "${size:-0}" -gt 20000

cat >"$T/snap.py" <<'PYEOF'
import os, resource, subprocess, sys
path, n, daemon = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rss_kb():
    with open("/proc/%s/status" % daemon) as f:
        return int(f.read().split("VmRSS:")[1].split()[0])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
old = open(path, "rb").read()
before = rss_kb()
fds = []
for _ in range(n):
    fd = os.open(path, os.O_RDONLY)
    if os.pread(fd, 1, 0) != old[:1]:
        sys.exit("a first read did not show the record")
    fds.append(fd)
grown = rss_kb() - before
subprocess.check_call(sys.argv[4:])
new = open(path, "rb").read()
kept = now = torn = 0
for fd in fds:
    whole = old[:1] + os.pread(fd, 1 << 20, 1)
    if whole == old:
        kept += 1
    elif whole == new:
        now += 1
    else:
        torn += 1
    os.close(fd)
print(len(old), len(new), kept, now, torn, grown)
PYEOF
opens=7000
if ! "$PY" "$T/snap.py" "$M/locks/big" $opens "$MOUNT_PID" \
	env LOKT_OWNER=late "$LOKT" lock big --shared --holder $$ -q >"$T/snap.out" 2>&1; then
	not_ok "$opens opens of the record, each read at offset 0: $(cat "$T/snap.out")"
else
	read -r olen nlen kept now torn grown <"$T/snap.out"
	diag "record $olen -> $nlen bytes; $kept opens went on with the old one, $now with the new; daemon grew $grown kB"
	check "the 32nd holder changed the record's length" test "$olen" != "$nlen"
	check "within the bound, an open goes on with the record it read ($kept of $opens)" \
		test "$kept" -ge 2000
	check "... at most 64 MiB of them ($kept x $olen bytes)" \
		test $((kept * (olen + 1))) -le $((64 << 20))
	check "past the bound, with the record as it is ($now of $opens)" test "$now" -ge 1
	check "... never a piece of each ($torn)" test "$torn" = 0
	check "the daemon grew by less than unbounded copies ($grown kB < $((opens * olen / 1024)) kB)" \
		test "$grown" -lt $((opens * olen / 1024 * 85 / 100))
fi

"$LOKT" unlock big --force --yes -q
expect_exit 3 "the name released" "$LOKT" exists big
if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
