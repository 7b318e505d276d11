#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who holds a lock taken through the mount (README, "Who holds a lock"): `touch` run by a
# script makes the script the holder, a shell's own redirection makes that
# shell the holder; the lock stands while the holder lives and goes stale
# when it dies (broken by the next touch, removable by anyone, audited);
# a live lock of another owner is EPERM for rm and EBUSY for touch; an
# expired TTL lock can be removed by anyone.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
L=$M/locks
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"
export M L

# bg CMD...: start CMD in the background, $BG its pid, killed at exit.
BG=
bg() {
	"$@" &
	BG=$!
	at_exit "kill_child KILL $BG"
}

state_of() { "$LOKT" status "$1" --json | jfield state; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }

# audited EVENT NAME: the audit log has EVENT for NAME.
audited() {
	"$PY" - "$LOKT_ROOT/audit.log" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == sys.argv[2] and e.get("name") == sys.argv[3]:
        sys.exit(0)
sys.exit(1)
EOF
}

# ---- touch by a script: the script holds until it is killed ----------------
bg bash -c 'touch "$L/x" || exit 1; exec sleep 300'
s1=$BG
if wait_for 30 "$LOKT" exists x; then ok "bash -c 'touch locks/x; sleep' takes x"; else not_ok "bash -c 'touch locks/x' did not take x"; fi
[ "$(jfield pid <"$L/x")" = "$s1" ] && ok "cat locks/x: pid is the script ($s1), not touch" ||
	not_ok "cat locks/x: pid '$(jfield pid <"$L/x")', want the script $s1"
x_id=$(jfield lock_id <"$L/x")
expect_errno EBUSY "this shell (same owner, not in the holder's subtree) touches locks/x" create "$L/x"
expect_exit 1 "touch locks/x from another process tree fails" touch "$L/x"
contains "$ERR" "Device or resource busy" "touch locks/x of a live script: EBUSY"
[ "$(jfield lock_id <"$L/x")" = "$x_id" ] && ok "x unchanged by the refused touches" || not_ok "x changed: $(cat "$L/x")"
kill -9 "$s1"
wait "$s1" 2>/dev/null
if wait_for 30 state_is x dead; then ok "holder killed: lokt status says x is dead"; else not_ok "holder killed: x state '$(state_of x)', want dead"; fi
expect_exit 3 "lokt exists x: 3 once the holder is dead" "$LOKT" exists x
LOKT_OWNER=bob expect_errno OK "another owner (bob) touches the stale locks/x" create "$L/x"
[ "$(jfield owner <"$L/x")" = bob ] && [ "$(jfield lock_id <"$L/x")" != "$x_id" ] &&
	ok "x now held by bob with a new lock_id" || not_ok "x after the break: $(cat "$L/x")"
check "audit: stale-break of x" audited stale-break x
LOKT_OWNER=bob expect_errno OK "bob removes x" unlink "$L/x"

# ---- a script that exits normally lets go --------------------------------------
cat >"$T/toucher.sh" <<'EOF'
#!/bin/bash
touch "$L/u" || exit 1
exec sleep 300
EOF
chmod +x "$T/toucher.sh"
bg "$T/toucher.sh"
s2=$BG
if wait_for 30 "$LOKT" exists u; then ok "a script file touching locks/u takes u"; else not_ok "script file did not take u"; fi
[ "$(jfield pid <"$L/u")" = "$s2" ] && ok "cat locks/u: pid is the script file ($s2)" ||
	not_ok "cat locks/u: pid '$(jfield pid <"$L/u")', want the script $s2"
kill "$s2"
wait "$s2" 2>/dev/null
if wait_for 30 state_is u dead; then ok "script exited: u is dead"; else not_ok "script exited: u state '$(state_of u)'"; fi
expect_exit 0 "touch locks/u by this shell after the script exited" touch "$L/u"
[ "$(jfield pid <"$L/u")" = "$$" ] && ok "u now held by this shell" || not_ok "u pid '$(jfield pid <"$L/u")', want $$"
expect_exit 0 "rm locks/u" rm "$L/u"

# ---- a shell's own redirection: that shell holds -------------------------------
LOKT_OWNER=carol bg bash -c ': > "$L/y" || exit 1; exec sleep 300'
s3=$BG
if wait_for 30 "$LOKT" exists y; then ok "bash -c ': > locks/y' takes y"; else not_ok "bash -c ': > locks/y' did not take y"; fi
[ "$(jfield pid <"$L/y")" = "$s3" ] && ok "cat locks/y: pid is the bash that redirected ($s3)" ||
	not_ok "cat locks/y: pid '$(jfield pid <"$L/y")', want the bash $s3 (caller is a shell)"
expect_errno EBUSY "touch locks/y from outside the holder's subtree" create "$L/y"
kill -9 "$s3"
wait "$s3" 2>/dev/null
if wait_for 30 state_is y dead; then ok "bash killed: y is dead"; else not_ok "bash killed: y state '$(state_of y)'"; fi
expect_exit 0 "rm locks/y: carol's dead lock is removable by root" rm "$L/y"
check "audit: the rm of a dead lock is a stale-break of y" audited stale-break y

# The same from a script file run by bash: its comm is the script's name,
# but it is still a shell making its own redirection.
cat >"$T/redirect.sh" <<'EOF'
#!/bin/bash
echo 10m >"$L/s" || exit 1
exec sleep 300
EOF
chmod +x "$T/redirect.sh"
bg "$T/redirect.sh"
s4=$BG
if wait_for 30 "$LOKT" exists s; then ok "a bash script's 'echo 10m > locks/s' takes s"; else not_ok "bash script's redirection did not take s"; fi
[ "$(jfield pid <"$L/s")" = "$s4" ] && ok "cat locks/s: pid is the bash script that redirected ($s4)" ||
	not_ok "cat locks/s: pid '$(jfield pid <"$L/s")', want the bash script $s4 (a shell caller holds; the product chose its parent)"
kill -9 "$s4"
wait "$s4" 2>/dev/null
if wait_for 30 state_is s dead; then ok "script killed: s is dead"; else not_ok "script killed: s state '$(state_of s)', want dead"; fi
"$LOKT" unlock s --force --yes >/dev/null 2>&1

# ---- another owner's live lock ---------------------------------------------------
LOKT_OWNER=alice bg bash -c 'touch "$L/a" || exit 1; exec sleep 300'
s5=$BG
if wait_for 30 "$LOKT" exists a; then ok "alice's script takes a"; else not_ok "alice's script did not take a"; fi
[ "$(jfield owner <"$L/a")" = alice ] && ok "cat locks/a: owner alice (LOKT_OWNER of the caller)" ||
	not_ok "cat locks/a: owner '$(jfield owner <"$L/a")', want alice"
expect_exit 1 "rm locks/a (alice's, live) by root fails" rm "$L/a"
contains "$ERR" "Operation not permitted" "rm of another owner's live lock: EPERM"
expect_errno EPERM "unlink locks/a by root" unlink "$L/a"
expect_errno EBUSY "touch locks/a by root" create "$L/a"
expect_errno EBUSY "echo 5m > locks/a by root" write "$L/a" 5m
expect_exit 0 "alice's lock still there" "$LOKT" exists a
[ "$(jfield owner <"$L/a")" = alice ] && ok "a still alice's" || not_ok "a changed: $(cat "$L/a")"
LOKT_OWNER=alice expect_errno OK "alice removes her lock from another process tree" unlink "$L/a"
kill -9 "$s5"

# ---- an expired TTL lock can be removed by anyone ---------------------------------
LOKT_OWNER=alice bg bash -c 'echo 1s > "$L/t" || exit 1; exec sleep 300'
if wait_for 30 "$LOKT" exists t; then ok "alice's 'echo 1s > locks/t' takes t"; else not_ok "alice's echo 1s did not take t"; fi
[ "$(jfield ttl_sec <"$L/t" 2>/dev/null)" = 1 ] && ok "t has ttl_sec 1" || not_ok "t ttl_sec '$(jfield ttl_sec <"$L/t" 2>/dev/null)'"
if wait_for 30 state_is t expired; then ok "t expires (holder still alive)"; else not_ok "t state '$(state_of t)', want expired"; fi
expect_errno OK "cat locks/t still shows the expired record" read "$L/t"
expect_exit 0 "rm locks/t (alice's, expired) by root" rm "$L/t"
expect_exit 3 "t is free after the rm" "$LOKT" exists t
check "audit: stale-break of t" audited stale-break t
LOKT_OWNER=alice bg bash -c 'echo 1s > "$L/t2" || exit 1; exec sleep 300'
wait_for 30 "$LOKT" exists t2
if wait_for 30 state_is t2 expired; then ok "t2 expires"; else not_ok "t2 state '$(state_of t2)', want expired"; fi
expect_exit 0 "touch locks/t2 by root breaks the expired lock" touch "$L/t2"
[ "$(jfield owner <"$L/t2")" = root ] && ok "t2 now root's" || not_ok "t2 after the break: $(cat "$L/t2")"

# ---- an orphan's touch: init would hold it for ever ------------------------
# Its parent is pid 1 (no default_ttl on this mount): every process
# descends from pid 1, so each would "hold" (renew) the lock, and it would
# never end. Refused with EINVAL. Run where the orphan's parent is pid 1
# (not a subreaper).
if orphan "$T/orphan" touch "$L/orph"; then
	contains "$(cat "$T/orphan.err")" "Invalid argument" "an orphan's touch (parent pid 1): EINVAL"
	expect_exit 3 "... and orph is not held" "$LOKT" exists orph
else
	skip "an orphan's touch (parent pid 1): EINVAL" "the orphan's parent is a subreaper, not pid 1"
fi

if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
