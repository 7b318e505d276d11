#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The mount's /audit and identity through the mount, on a store a hostile
# member could tamper with (-o allow_other, a second user made here and
# deleted at exit):
#   - /audit shows audit.log's real owner and mode, write bits dropped
#     (0600 -> 0400), and refuses a user the file would refuse (EACCES);
#   - audit.log swapped for a symlink to a root-only file: neither root nor
#     the user reads that file through /audit or `lokt audit`, and appends
#     never reach it;
#   - the same for a hard link to a root-only file;
#   - a FIFO planted as audit.log hangs nothing: cat /audit, `lokt lock`,
#     `lokt audit` all return;
#   - a user who sets another uid's LOKT_AGENT_ID is not that lock's holder
#     (EBUSY, not a renewal), and an owner spoofed with LOKT_OWNER is
#     audited with the caller's real uid.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "audit.sh: a second uid" "needs root to create a user and mount with allow_other"
	done_testing
	exit 0
fi

user_mount lkau
log=$LOKT_ROOT/audit.log

# ---- /audit looks and answers like audit.log itself
expect_exit 0 "an event makes the log" "$LOKT" lock a
expect_exit 0 "release a" "$LOKT" unlock a
check "audit.log is root's, 0600" test "$(stat -c %u:%a "$log")" = 0:600
got=$(stat -c %u:%a "$M/audit")
[ "$got" = 0:400 ] && ok "/audit shows uid 0, mode 0400" || not_ok "/audit shows $got, want 0:400"
user_errno EACCES "$U reads root's 0600 log through the mount" read "$M/audit"
cmp -s "$log" "$M/audit" && ok "root reads /audit: audit.log's bytes" || not_ok "root's /audit differs from audit.log"
chmod 0644 "$log"
got=$(stat -c %a "$M/audit")
[ "$got" = 444 ] && ok "a 0644 log shows as 0444" || not_ok "a 0644 log shows as $got"
user_errno OK "$U reads a log made readable to all" read "$M/audit"
# A log its group may read: for a caller of that group, however many
# supplementary groups it has (the mount looked at the first 64 only).
chgrp 59970 "$log"
chmod 0640 "$log"
groups_errno() { # WANT DESC GROUPS
	setpriv --reuid="$UID2" --regid="$GID2" --groups="$3" \
		env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/ \
		"$PY" "$T/errno.py" read "$M/audit" >"$T/errno.out" 2>&1
	GOT=$(cat "$T/errno.out")
	[ "$GOT" = "$1" ] && ok "$2: read -> $1" || not_ok "$2: read (want $1, got $GOT)"
}
groups_errno OK "$U with the log's group 70th of 70 groups reads /audit" \
	"$(seq -s, 59901 59970)"
groups_errno EACCES "$U with 69 groups, not the log's, is refused /audit" \
	"$(seq -s, 59901 59969)"
groups_errno OK "$U with the log's group alone reads /audit" 59970
chgrp 0 "$log"
chmod 0600 "$log"

# ---- audit.log swapped for a symlink to a root-only file
printf 'SECRET-%s\n' "$$" >"$T/secret"
chmod 0600 "$T/secret"
mv "$log" "$T/old.log"
ln -s "$T/secret" "$log"
user_errno EPERM "$U reads /audit over a symlink" read "$M/audit"
errno_of read "$M/audit"
[ "$GOT" = EPERM ] && ok "root reads /audit over a symlink: EPERM" || not_ok "root reads /audit over a symlink: $GOT"
out=$(timeout 20 cat "$M/audit" 2>&1)
[[ $out != *SECRET* ]] && ok "cat /audit does not serve the symlink's target" || not_ok "cat /audit served: $out"
got=$(stat -c %s "$M/audit")
[ "$got" = 0 ] && ok "/audit over a symlink is empty to stat" || not_ok "/audit over a symlink has size $got"
expect_exit 0 "lock b with audit.log a symlink" timeout 20 "$LOKT" lock b --holder $$
expect_exit 1 "lokt audit refuses a symlinked log" timeout 20 "$LOKT" audit
contains "$ERR" "not a regular file" "lokt audit says why"
[[ $OUT != *SECRET* ]] && ok "lokt audit printed nothing of the target" || not_ok "lokt audit printed: $OUT"
check "the target was not appended to" test "$(cat "$T/secret")" = "SECRET-$$"
rm -f "$log"

# ---- audit.log a hard link to a root-only file (where protected_hardlinks
# is off a member can make one; root can anywhere)
ln "$T/secret" "$log"
errno_of read "$M/audit"
[ "$GOT" = EPERM ] && ok "root reads /audit over a hard link: EPERM" || not_ok "root reads /audit over a hard link: $GOT"
expect_exit 0 "lock e with audit.log a hard link" timeout 20 "$LOKT" lock e --holder $$
expect_exit 1 "lokt audit refuses a hard-linked log" timeout 20 "$LOKT" audit
[[ $OUT != *SECRET* ]] && ok "lokt audit printed nothing of the other file" || not_ok "lokt audit printed: $OUT"
check "the other file was not appended to" test "$(cat "$T/secret")" = "SECRET-$$"
rm -f "$log"

# ---- a FIFO planted as audit.log
mkfifo -m 0666 "$log"
expect_exit 0 "lock c with audit.log a FIFO (returns)" timeout 20 "$LOKT" lock c --holder $$
expect_exit 0 "unlock c with audit.log a FIFO" timeout 20 "$LOKT" unlock c
expect_exit 1 "lokt audit with audit.log a FIFO (returns, refuses)" timeout 20 "$LOKT" audit
expect_exit 1 "cat /audit with audit.log a FIFO (returns, refuses)" timeout 20 cat "$M/audit"
expect_exit 0 "touch locks/d through the mount with a FIFO log" timeout 20 touch "$L/d"
rm -f "$log"
expect_exit 0 "rm locks/d: the log starts anew" timeout 20 rm "$L/d"
check "a new regular audit.log" test -f "$log" -a ! -L "$log"

# ---- identity: another uid's agent id, a spoofed owner
sleep 600 &
holder=$!
at_exit "kill_child KILL $holder"
expect_exit 0 "root takes x as agent ag-$$" env LOKT_AGENT_ID="ag-$$" "$LOKT" lock x --holder "$holder"
fence_before=$(jfield fence <"$L/x")
as_user env LOKT_AGENT_ID="ag-$$" "$PY" "$T/errno.py" create "$L/x" >"$T/errno.out" 2>&1
GOT=$(cat "$T/errno.out")
[ "$GOT" = EBUSY ] && ok "$U with root's agent id touches x: EBUSY" || not_ok "$U with root's agent id touches x: $GOT (want EBUSY)"
as_user env LOKT_AGENT_ID="ag-$$" "$PY" "$T/errno.py" unlink "$L/x" >"$T/errno.out" 2>&1
GOT=$(cat "$T/errno.out")
[ "$GOT" = EPERM ] && ok "$U with root's agent id removes x: EPERM" || not_ok "$U with root's agent id removes x: $GOT (want EPERM)"
expect_exit 0 "x is still root's" "$LOKT" exists x
[ "$(jfield fence <"$L/x")" = "$fence_before" ] && [ "$(jfield pid <"$L/x")" = "$holder" ] &&
	ok "x was not renewed for $U" || not_ok "x changed: $(cat "$L/x")"
as_user env LOKT_OWNER=root "$PY" "$T/errno.py" create "$L/x" >"$T/errno.out" 2>&1
last=$(grep '"event":"deny"' "$log" | tail -n 1)
"$PY" -c 'import json,sys; e=json.loads(sys.argv[1]); sys.exit(0 if e["owner"]=="root" and e["uid"]==int(sys.argv[2]) else 1)' \
	"$last" "$UID2" && ok "a deny for owner \"root\" says uid $UID2" || not_ok "deny event: $last"
"$PY" - "$log" <<'PYEOF' && ok "every event carries an integer uid" || not_ok "an event without uid"
import json, sys
sys.exit(0 if all(isinstance(json.loads(l).get("uid"), int) for l in open(sys.argv[1])) else 1)
PYEOF

# ---- a rotation while /audit is read: the reader goes on in the file it
# opened (now audit.log.1), never splicing the new log onto it mid-line
for i in $(seq 20); do "$LOKT" lock "r$i" -q && "$LOKT" unlock "r$i" -q; done
"$PY" - "$M/audit" "$LOKT" "$T/spliced" <<'PYEOF'
import json, os, subprocess, sys
path, lokt, out = sys.argv[1:4]
with open(path, "rb", buffering=0) as f:
    head = f.read(1000)
    env = dict(os.environ, LOKT_AUDIT_MAX="4k")
    for i in range(12):
        subprocess.run([lokt, "lock", "rot%d" % i, "-q"], env=env, check=True)
        subprocess.run([lokt, "unlock", "rot%d" % i, "-q"], env=env, check=True)
    data = head + f.read()
errs = 0
for l in data.decode().splitlines():
    try:
        json.loads(l)
    except ValueError:
        errs += 1
open(out, "w").write(str(errs))
PYEOF
check "a rotation while /audit is read: every line read is whole JSON" \
	test "$(cat "$T/spliced" 2>/dev/null)" = 0
check "... and the log did rotate" test -e "$log.1"
# Each open of /audit keeps the log it opened, up to 64 at once: one
# holding many opens does not run the daemon out of descriptors.
fs_pid=${_fs_pid[$M]}
fds_before=$(ls /proc/"$fs_pid"/fd | wc -l)
"$PY" - "$M/audit" "$T/held" <<'PYEOF' &
import sys, time
fs = [open(sys.argv[1], "rb") for _ in range(300)]
open(sys.argv[2], "w").write("ok")
time.sleep(30)
PYEOF
opener=$!
at_exit "kill_child KILL $opener"
wait_for 30 test -s "$T/held"
fds_during=$(ls /proc/"$fs_pid"/fd | wc -l)
check "300 opens of /audit keep at most 64 descriptors in the daemon ($fds_before -> $fds_during)" \
	test $((fds_during - fds_before)) -le 64
cat "$M/audit" >/dev/null && ok "/audit reads while they are held" || not_ok "/audit reads while they are held"
kill_child KILL "$opener"
wait "$opener" 2>/dev/null # its opens closed before the unmount

if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount"; fi
done_testing
