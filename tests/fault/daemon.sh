#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The mount's daemon SIGKILLed in the middle of requests: four shells keep
# taking and releasing locks and freezes through the mount (touch, rm,
# echo > freezes/, contending for one lock "shared"), and the daemon gets
# kill -9 while they do. Whatever was in flight, the store stays whole:
# no corrupt record, lokt doctor exits 0; remounted, the mount lists
# exactly the store's locks and freezes with the same bytes, the locks of
# live holders still exclude others, and the next lock works with a fence
# above every fence handed out before. (tests/fs/crash.sh kills an idle
# daemon and checks that held locks survive; this one kills a busy one.)
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fault/common.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
L=$M/locks
F=$M/freezes
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"
export L F T

# A worker: until the mount fails under it, take and release its own
# locks and freeze, and "shared" when free (its record appended to
# shared.W); then it stays alive as the holder of what it held last.
worker() {
	bash -c 'w=$1 i=0
	while [ -d "$L" ]; do
		n=w$w-$((i % 4))
		touch "$L/$n" 2>/dev/null && rm "$L/$n" 2>/dev/null
		touch "$L/$n" 2>/dev/null
		echo 1h >"$F/fw$w" 2>/dev/null && rm "$F/fw$w" 2>/dev/null
		if touch "$L/shared" 2>/dev/null; then
			cat "$L/shared" >>"$T/shared.$w" 2>/dev/null
			rm "$L/shared" 2>/dev/null
		fi
		i=$((i + 1))
	done
	echo "$i" >"$T/rounds.$w"
	exec sleep 600' worker "$1" &
	track $!
}
for w in 0 1 2 3; do worker $w; done
# Let them get going: a thousand transitions in the audit log.
wait_for 60 eval '[ "$(wc -l <"$LOKT_ROOT/audit.log" 2>/dev/null || echo 0)" -ge 1000 ]' ||
	diag "the workers were slow: $(wc -l <"$LOKT_ROOT/audit.log") audit lines"

daemon=$MOUNT_PID
kill -9 "$daemon"
wait_for 30 proc_gone "$daemon"
wait "$daemon" 2>/dev/null
if wait_for 60 eval '[ -e "$T/rounds.0" ] && [ -e "$T/rounds.1" ] && [ -e "$T/rounds.2" ] && [ -e "$T/rounds.3" ]'; then
	ok "kill -9 the daemon: the workers stopped after $(cat "$T"/rounds.* | tr '\n' ' ')rounds"
else
	not_ok "the workers did not stop after the daemon died"
fi
expect_exit 0 "fusermount3 -u -z the dead mount" fusermount3 -u -z "$M"

# ---- the store as the kill left it -----------------------------------------
expect_exit 0 "lokt status --json" "$LOKT" status --json
[[ $OUT != *corrupt* ]] && ok "no corrupt record in the store" ||
	not_ok "a corrupt record after the kill: $OUT"
expect_exit 0 "lokt doctor exits 0" "$LOKT" doctor
grep -qE '^(WARN|FAIL) +corrupt_files' <<<"$OUT" &&
	not_ok "doctor finds corrupt files: $OUT" || ok "doctor finds no corrupt file"

names() { # DIR: the record names in DIR, sorted, one line
	find "$1" -maxdepth 1 -name '*.json' ! -name '.*' -printf '%f\n' |
		sed 's/\.json$//' | sort | tr '\n' ' '
}
store_locks=$(names "$LOKT_ROOT/locks")
store_freezes=$(names "$LOKT_ROOT/freezes")
diag "left in the store: locks $store_locks; freezes $store_freezes"

# ---- remounted: the same locks -----------------------------------------------
if mount_fs "$M"; then ok "remount the same root"; else not_ok "remount the same root"; fi
[ "$(ls "$L" | sort | tr '\n' ' ')" = "$store_locks" ] &&
	ok "ls locks/ lists the store's locks" ||
	not_ok "ls locks/: '$(ls "$L" | tr '\n' ' ')', store: '$store_locks'"
[ "$(ls "$F" | sort | tr '\n' ' ')" = "$store_freezes" ] &&
	ok "ls freezes/ lists the store's freezes" ||
	not_ok "ls freezes/: '$(ls "$F" | tr '\n' ' ')', store: '$store_freezes'"
differ=
for n in $store_locks; do
	cmp -s "$L/$n" "$LOKT_ROOT/locks/$n.json" || differ+="$n "
done
for n in $store_freezes; do
	cmp -s "$F/$n" "$LOKT_ROOT/freezes/$n.json" || differ+="freeze:$n "
done
[ -z "$differ" ] && ok "every record reads through the mount as in the store" ||
	not_ok "records that differ through the mount: $differ"

# The workers live on (sleeping): their locks exclude others still.
live=0 bad=
for n in $store_locks; do
	"$LOKT" status "$n" --json >"$T/st" 2>&1
	[ "$(jfield state <"$T/st")" = live ] || continue
	live=$((live + 1))
	"$LOKT" lock "$n" -q >/dev/null 2>&1
	[ $? -eq 2 ] || bad+="$n "
done
[ -z "$bad" ] && ok "each of the $live live locks is refused to another holder" ||
	not_ok "live locks taken by another holder: $bad"

# ---- the next lock ------------------------------------------------------------
max=$(cat "$T"/shared.* "$LOKT_ROOT/locks/shared.json" 2>/dev/null |
	sed -n 's/.*"fence": *\([0-9]*\).*/\1/p' | sort -n | tail -1)
max=${max:-0}
"$LOKT" unlock shared -q --force >/dev/null 2>&1
expect_exit 0 "touch locks/shared" touch "$L/shared"
fence=$(jfield fence <"$L/shared")
[ -n "$fence" ] && [ "$fence" -gt "$max" ] &&
	ok "shared: fence $fence above every earlier one ($max)" ||
	not_ok "shared: fence '$fence', handed out before: up to $max"
expect_exit 0 "rm locks/shared" rm "$L/shared"
lock_again "after the kill" after
doctor_clean "after the next lock"
if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: no clean exit"; fi
done_testing
