#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Temporary files left by a writer SIGKILLed between creating its temp
# file and linking it into place (docs/protocol.md: temporary files).
# Each name has one fixed temp name, written only under its sidecar flock:
# the next rewrite of that name (a renewal) replaces a leftover (and never
# writes through a symlink planted there); an acquisition publishes from
# an unnamed file and leaves it alone; doctor reports leftovers older
# than a minute; lokt status --prune-expired removes them, and temp files
# of the older random naming once they are an hour old, but not younger
# ones.
. "$SRC_ROOT/tests/lib.sh"

R=$LOKT_ROOT
"$LOKT" lock warm >/dev/null && "$LOKT" unlock warm >/dev/null
# leftover FILE AGE: a temp file with a partial record, AGE old.
leftover() {
	printf '{"version":1,"na' >"$1" && touch -d "$2" "$1"
}

leftover "$R/locks/.x.json.tmp" "-2 min"
expect_exit 0 "doctor with a leftover temp file" "$LOKT" doctor
contains "$OUT" "WARN  temp_files" "doctor warns about it"
contains "$OUT" "locks/.x.json.tmp" "doctor names it"
expect_exit 0 "lock x" "$LOKT" lock x
expect_exit 0 "x's record is whole" "$LOKT" status x --json
contains "$OUT" '"fence"' "status x shows a full record"
expect_exit 0 "lock x again (renewed)" "$LOKT" lock x
[ ! -e "$R/locks/.x.json.tmp" ] && ok "the renewal removed x's leftover" ||
	not_ok "the renewal left .x.json.tmp behind"
"$LOKT" unlock x >/dev/null

# A symlink planted at the temp name is removed, never written through.
echo keep >"$T/outside"
ln -s "$T/outside" "$R/locks/.x.json.tmp"
expect_exit 0 "lock x with a symlink at its temp name" "$LOKT" lock x
expect_exit 0 "lock x renewed with a symlink at its temp name" "$LOKT" lock x
[ "$(cat "$T/outside")" = keep ] && ok "nothing written through the symlink" ||
	not_ok "the symlink's target changed: $(cat "$T/outside")"
"$LOKT" unlock x >/dev/null

# A directory planted at the temp name (not a file anyone may remove):
# every rewrite of the name failed "foreign" (a renewal; joining or
# leaving a semaphore), and doctor said all was well. Now the rewrite
# writes a temp file of its own beside it, and doctor names the
# directory.
mkdir "$R/locks/.v.json.tmp" && : >"$R/locks/.v.json.tmp/x"
expect_exit 0 "lock v with a directory at its temp name" "$LOKT" lock v --ttl 1m
expect_exit 0 "... renewed (a rewrite of its record)" "$LOKT" lock v --ttl 2m
expect_exit 0 "... its record whole" "$LOKT" status v --json
check "... with the renewal's TTL" eval 'grep -q "\"ttl_sec\": *120" <<<"$OUT"'
expect_exit 0 "... released" "$LOKT" unlock v
mkdir "$R/locks/.sv.json.tmp"
sleep 60 &
S=$!
sleep 60 &
S2=$!
at_exit "kill $S $S2 2>/dev/null"
expect_exit 0 "a semaphore's first place, a directory at its temp name" "$LOKT" lock sv --slots 2 --holder $S
expect_exit 0 "... a second place (a rewrite)" "$LOKT" lock sv --slots 2 --holder $S2
check "... two places held" test "$("$LOKT" status --json | grep -o '"name": *"sv"' | wc -l)" = 2
check "... no temp file of ours left beside it" \
	test -z "$(cd "$R/locks" && ls -a | grep -E '^\.(v|sv)\.json\..+\.tmp$')"
expect_exit 1 "doctor fails" "$LOKT" doctor
contains "$OUT" "FAIL  foreign_files" "... on foreign files"
contains "$OUT" "locks/.v.json.tmp" "... naming the directory at v's temp name"
"$LOKT" unlock sv -q
# The same at a queue's ticket: a waiter used to fail "foreign" (exit 1).
"$LOKT" lock qx --holder "$S" -q
mkdir -p "$R/locks/.qx.q/.ticket.tmp"
expect_exit 2 "a waiter, a directory at the queue's .ticket.tmp: it queues and times out (exit 2)" \
	"$LOKT" lock qx --wait --timeout 1s
"$LOKT" doctor >"$T/doctor.out" 2>&1
contains "$(cat "$T/doctor.out")" "locks/.qx.q/.ticket.tmp" "... doctor names it"
"$LOKT" unlock qx -q
kill "$S" "$S2"
rm -rf "$R/locks/.v.json.tmp" "$R/locks/.sv.json.tmp" "$R/locks/.qx.q/.ticket.tmp"

# Leftovers of names nobody touches again: --prune-expired.
leftover "$R/locks/.y.json.tmp" "-2 min"
leftover "$R/freezes/.f.json.tmp" "-2 min"
leftover "$R/locks/.z.json.0123456789abcdef.tmp" "-2 hours"
leftover "$R/locks/.z.json.fedcba9876543210.tmp" "-1 min"
mkdir -p "$R/locks/.q.q"
leftover "$R/locks/.q.q/.ticket.tmp" "-2 min"
leftover "$R/locks/.q.q/.0123456789abcdef0123456789abcdef.tmp" "-2 hours"
echo junk >"$R/locks/.keep.lk" # not a temp file: left alone
expect_exit 0 "status --prune-expired" "$LOKT" status --prune-expired
for f in locks/.y.json.tmp freezes/.f.json.tmp \
    locks/.z.json.0123456789abcdef.tmp locks/.q.q/.ticket.tmp \
    locks/.q.q/.0123456789abcdef0123456789abcdef.tmp; do
	[ ! -e "$R/$f" ] && ok "pruned $f" || not_ok "$f left behind"
done
[ -e "$R/locks/.z.json.fedcba9876543210.tmp" ] &&
	ok "an old-style temp file younger than an hour is kept" ||
	not_ok "a young old-style temp file was removed"
[ -e "$R/locks/.keep.lk" ] && ok "a sidecar is not a temp file" ||
	not_ok "prune removed a sidecar"
rm -f "$R/locks/.z.json.fedcba9876543210.tmp"
expect_exit 0 "doctor after the prune" "$LOKT" doctor
contains "$OUT" "OK    temp_files" "doctor: no leftover temp file"

# A leftover whose name carries a terminal's escape sequence (anyone who
# may write the store may name one): doctor names it escaped.
esc=$(printf '.d\033[5m.json.tmp')
leftover "$R/locks/$esc" "2 hours ago"
"$LOKT" doctor >"$T/doctor.out" 2>&1
grep -q "$(printf '\033')" "$T/doctor.out" && not_ok "doctor printed an ESC byte: $(cat -v "$T/doctor.out")" ||
	ok "doctor prints no ESC byte from a file name"
contains "$(cat "$T/doctor.out")" '.d\x1b[5m.json.tmp' "... but the name, escaped"
rm -f "$R/locks/$esc"
done_testing
