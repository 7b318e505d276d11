#!/bin/bash
# SPDX-License-Identifier: MIT
# The rest of the contract: LOKT_REQUIRE_LOCAL_FS=1 accepts a local root
# and refuses one on a FUSE mount (a loktfs mount stands in for a network
# filesystem); doctor --json
# runs every documented check; `unlock --force` never prompts without a
# terminal but does ask on one; status names the holder's command.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# --- LOKT_REQUIRE_LOCAL_FS ----------------------------------------------
expect_exit 0 "LOKT_REQUIRE_LOCAL_FS=1 with a local root: lock" \
	env LOKT_REQUIRE_LOCAL_FS=1 "$LOKT" lock m0
expect_exit 0 "LOKT_REQUIRE_LOCAL_FS=1 with a local root: unlock" \
	env LOKT_REQUIRE_LOCAL_FS=1 "$LOKT" unlock m0
# A FUSE filesystem counts as network (docs/protocol.md): a loktfs mount
# is one we can make. Every command that touches the store refuses a root
# on it, or one that would be created on it, with exit 1, and creates
# nothing; doctor says FAIL.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null && [ -x "${LOKTFS:-}" ]; then
	mkdir -p "$T/mnt" "$T/fsroot"
	"$LOKTFS" -f -o root="$T/fsroot" "$T/mnt" 2>"$T/loktfs.err" &
	fspid=$!
	at_exit "fusermount3 -u '$T/mnt' 2>/dev/null; kill $fspid 2>/dev/null; wait $fspid 2>/dev/null"
	if wait_for 30 eval "findmnt -rn -o FSTYPE -M '$T/mnt' | grep -q '^fuse'"; then
		for root in "$T/mnt" "$T/mnt/r"; do
			nfs() { env LOKT_REQUIRE_LOCAL_FS=1 LOKT_ROOT="$root" "$LOKT" "$@"; }
			for cmd in "lock n1" "lock n1 --wait" "unlock n1" "unlock --all" \
				"status" "status n1" "status --prune-expired" "exists n1" \
				"why n1" "audit" "freeze n1 --ttl 1m" "unfreeze n1" \
				"guard n1 -- touch $T/nfs.ran"; do
				# shellcheck disable=SC2086
				expect_exit 1 "LOKT_REQUIRE_LOCAL_FS=1, root ${root#"$T"/} on FUSE: $cmd → 1" nfs $cmd
				contains "$ERR" "network filesystem" "... and says why ($cmd)"
			done
			expect_exit 1 "LOKT_REQUIRE_LOCAL_FS=1, root ${root#"$T"/} on FUSE: doctor → 1" nfs doctor --json
			check "... its network_fs check fails" test \
				"$(jget '[c["level"] for c in d["checks"] if c["id"] == "network_fs"]' <<<"$OUT")" = '["fail"]'
		done
		check "the refused guard did not run its command" test ! -e "$T/nfs.ran"
		check "nothing was created on the FUSE filesystem" test ! -e "$T/mnt/r"
		check "... nor in the store behind it" test -z "$(find "$T/fsroot" -name '*.json')"
	else
		not_ok "loktfs mounted for the network filesystem test: $(cat "$T/loktfs.err")"
	fi
else
	skip "LOKT_REQUIRE_LOCAL_FS=1 refuses a network root" \
		"no FUSE here (/dev/fuse, fusermount3 or loktfs missing) to stand for one"
fi

# --- doctor --json ------------------------------------------------------
expect_exit 0 "doctor --json" "$LOKT" doctor --json
check "doctor --json: protocol_version 1" test "$(jget 'd.get("protocol_version")' <<<"$OUT")" = 1
ids=$(jget '" ".join(sorted(c["id"] for c in d["checks"]))' <<<"$OUT")
if on_etcd; then
	want_ids="etcd_endpoint etcd_cluster"
else
	want_ids="root_writable network_fs clock corrupt_files future_version audit_mode proc_visible"
fi
for id in $want_ids; do
	contains " $ids " " $id " "doctor has the check $id"
done
check "doctor --json: every check has a level ok/warn/fail and a message" test \
	"$(jget 'all(c["level"] in ("ok", "warn", "fail") and c["message"] for c in d["checks"])' <<<"$OUT")" = true
check "doctor --json: every check ok on a fresh local root" test \
	"$(jget '[c["id"] for c in d["checks"] if c["level"] == "fail"]' <<<"$OUT")" = "[]"
printf 'garbage' | plant mbad
"$LOKT" doctor --json >"$T/doc.json"
check "doctor flags a corrupt file" test \
	"$(jget '[c["level"] for c in d["checks"] if c["id"] == "corrupt_files"]' <"$T/doc.json")" != '["ok"]'
unplant mbad
if on_etcd; then
	skip "doctor flags an audit log readable by others" \
		"the etcd store keeps no audit file"
else
	chmod 0644 "$LOKT_ROOT/audit.log"
	"$LOKT" doctor --json >"$T/doc.json"
	check "doctor flags an audit log readable by others" test \
		"$(jget '[c["level"] for c in d["checks"] if c["id"] == "audit_mode"]' <"$T/doc.json")" != '["ok"]'
	chmod 0600 "$LOKT_ROOT/audit.log"
fi

# --- unlock --force and terminals ---------------------------------------
hold alice m1 || not_ok "alice holds m1"
expect_exit 0 "unlock --force without a terminal does not prompt" \
	env LOKT_OWNER=bob "$LOKT" unlock m1 --force </dev/null
check "... and does not ask" eval '! grep -q "\[y/N\]" <<<"$ERR"'
expect_exit 3 "m1 was broken" "$LOKT" exists m1
check "audit: force-break of m1" audit_has force-break m1

hold alice m2 || not_ok "alice holds m2"
if script -qec true /dev/null >/dev/null 2>&1 </dev/null; then
	printf 'n\n' | LOKT_OWNER=bob script -qec "'$LOKT' unlock m2 --force; echo rc=\$?" /dev/null >"$T/tty.out" 2>&1
	contains "$(cat "$T/tty.out")" "[y/N]" "on a terminal unlock --force asks"
	contains "$(cat "$T/tty.out")" "rc=1" "answering n: exit 1"
	expect_exit 0 "answering n: the lock stays" "$LOKT" exists m2
	printf 'y\n' | LOKT_OWNER=bob script -qec "'$LOKT' unlock m2 --force; echo rc=\$?" /dev/null >"$T/tty.out" 2>&1
	contains "$(cat "$T/tty.out")" "rc=0" "answering y: exit 0"
	expect_exit 3 "answering y: the lock is broken" "$LOKT" exists m2
	check "answering y: audited force-break" audit_has force-break m2

	# The lock changes while the question waits: alice releases mq and
	# carol takes it. bob's "y" was for alice's lock, so carol's stays.
	hold alice mq || not_ok "alice holds mq"
	alice_mq=$HOLDER
	mkfifo "$T/answer"
	LOKT_OWNER=bob script -qec "'$LOKT' unlock mq --force; echo rc=\$?" /dev/null \
		<"$T/answer" >"$T/ttyq.out" 2>&1 &
	sp=$!
	track "$sp"
	exec 7>"$T/answer"
	if wait_for 30 grep -q '\[y/N\]' "$T/ttyq.out"; then
		ok "unlock --force asks about alice's mq"
		kill "$alice_mq"
		wait_for 30 eval '! "$LOKT" exists mq >/dev/null' 2>/dev/null
		hold carol mq || not_ok "carol takes mq while bob's question waits"
		echo y >&7
		exec 7>&-
		wait_for 30 grep -q 'rc=' "$T/ttyq.out"
		contains "$(cat "$T/ttyq.out")" "rc=1" "confirming a lock that changed meanwhile: exit 1"
		contains "$(cat "$T/ttyq.out")" "changed while you confirmed" "... says the lock changed"
		check "... carol's lock stands" test "$(record mq | jget 'd["owner"]')" = carol
		check "... no force-break of mq was audited" eval '! audit_has force-break mq'
		check "... and no lost event either" eval '! audit_has lost mq'
	else
		not_ok "unlock --force did not ask about mq: $(cat "$T/ttyq.out")"
		exec 7>&-
	fi
	wait "$sp" 2>/dev/null
	hold alice m3 || not_ok "alice holds m3"
	LOKT_OWNER=bob script -qec "'$LOKT' unlock m3 --force --yes; echo rc=\$?" /dev/null >"$T/tty.out" 2>&1 </dev/null
	contains "$(cat "$T/tty.out")" "rc=0" "on a terminal --force --yes does not ask"
	check "... (no prompt)" eval '! grep -q "\[y/N\]" "$T/tty.out"'
else
	skip "unlock --force on a terminal" "script(1) cannot allocate a pty here"
fi

# --- status names the holder's command ----------------------------------
LOKT_OWNER=alice bash -c '"$LOKT" lock m4 -q && : >"$T/m4" && exec sleep 599' &
track $!
if wait_for 30 test -e "$T/m4"; then
	expect_exit 0 "status" "$LOKT" status
	contains "$OUT" "sleep 599" "status names the holder's command"
	expect_exit 0 "status m4" "$LOKT" status m4
	contains "$OUT" "sleep 599" "status NAME names the holder's command"
	expect_exit 2 "lock m4 (held)" "$LOKT" lock m4
	contains "$ERR" "sleep 599" "the refusal names the holder's command"
	expect_exit 0 "status m4 --json" "$LOKT" status m4 --json
	check "status --json has the command" \
		test "$(jget 'd.get("command")' <<<"$OUT")" = "sleep 599"
else
	not_ok "alice's bash took m4"
fi

# --- the progress line of a wait: on a terminal only -------------------
if script -qec true /dev/null >/dev/null 2>&1 </dev/null; then
	hold other pw || not_ok "other holds pw"
	TERM=xterm LANG=C.UTF-8 script -qec "'$LOKT' lock pw --wait --timeout 60s; echo rc=\$?" /dev/null \
		>"$T/pw.out" 2>&1 </dev/null &
	spid=$!
	track "$spid"
	check "on a terminal, a wait shows a progress line" \
		wait_for 30 grep -q 'waiting for "pw"' "$T/pw.out"
	out=$(tr -d '\r' <"$T/pw.out")
	contains "$out" "held by other@" "the progress line names the holder"
	contains "$out" "(pid $HOLDER, alive)" "... its pid, alive"
	contains "$out" "waited " "... how long we waited"
	contains "$out" "position 1 of 1" "... and our place in the queue"
	check "one updating line: no newline while waiting" \
		test "$(tr -cd '\n' <"$T/pw.out" | wc -c)" -eq 0
	LOKT_OWNER=other "$LOKT" unlock pw -q
	wait "$spid"
	contains "$(cat "$T/pw.out")" "rc=0" "the waiter gets the lock once the holder is gone"
	contains "$(cat "$T/pw.out")" $'\r\e[K' "the progress line is cleared (\\r, erase line)"

	hold other pq || not_ok "other holds pq"
	script -qec "'$LOKT' lock pq --wait --quiet --timeout 60s; echo rc=\$?" /dev/null \
		>"$T/pq.out" 2>&1 </dev/null &
	spid=$!
	track "$spid"
	check "--quiet on a terminal: the waiter is queued" wait_for 30 eval '[ "$(waiters pq)" = 1 ]'
	LOKT_OWNER=other "$LOKT" unlock pq -q
	wait "$spid"
	contains "$(cat "$T/pq.out")" "rc=0" "--quiet waiter gets the lock"
	check "--quiet: no progress line" eval '! grep -q "waiting for" "$T/pq.out"'

	# TERM=dumb: the line is redrawn with \r and blanks, no escape
	# sequence; outside a UTF-8 locale its signs are ASCII.
	hold other pd || not_ok "other holds pd"
	TERM=dumb LANG=C LC_ALL= LC_CTYPE= script -qec \
		"'$LOKT' lock pd --wait --timeout 60s; echo rc=\$?" /dev/null \
		>"$T/pd.out" 2>&1 </dev/null &
	spid=$!
	track "$spid"
	check "TERM=dumb: a progress line all the same" \
		wait_for 30 grep -q 'waiting for "pd"' "$T/pd.out"
	LOKT_OWNER=other "$LOKT" unlock pd -q
	wait "$spid"
	contains "$(cat "$T/pd.out")" "rc=0" "TERM=dumb: the waiter gets the lock"
	check "TERM=dumb: no escape sequence" eval '! grep -q $'"'"'\e'"'"' "$T/pd.out"'
	check "LANG=C: no middle dot, ASCII instead" \
		eval '! grep -q "·" "$T/pd.out" && grep -q " - waited " "$T/pd.out"'
else
	skip "the progress line of a wait on a terminal" "script(1) cannot allocate a pty here"
fi
hold other pn || not_ok "other holds pn"
"$LOKT" lock pn --wait --timeout 60s >"$T/pn.out" 2>"$T/pn.err" &
wpid=$!
track "$wpid"
check "not a terminal: the waiter is queued" wait_for 30 eval '[ "$(waiters pn)" = 1 ]'
LOKT_OWNER=other "$LOKT" unlock pn -q
wait "$wpid"
check "not a terminal: the waiter gets the lock" test $? -eq 0
check "not a terminal: nothing on stderr ($(cat "$T/pn.err"))" test ! -s "$T/pn.err"
contains "$(cat "$T/pn.out")" 'acquired "pn"' "not a terminal: the acquisition is reported on stdout"

# --- messages outside a UTF-8 locale: ASCII --------------------------------
hold other pa || not_ok "other holds pa"
expect_exit 2 "LANG=C: lock of a held lock" env LANG=C LC_ALL= LC_CTYPE= "$LOKT" lock pa
contains "$ERR" " -- wait with --wait" "... says '--' for the dash"
check "... and nothing but ASCII" eval '! LC_ALL=C grep -q "[^ -~]" <<<"$ERR"'
expect_exit 2 "LC_ALL=C.UTF-8 wins over LANG=C" env LANG=C LC_ALL=C.UTF-8 "$LOKT" lock pa
contains "$ERR" " — wait with --wait" "... and keeps the dash"

# --- untrusted strings: one line per lock, no terminal control ---------
# A holder whose command line has a newline, a tab and an escape
# sequence (as `bash -c $'sleep 100\necho hi'` would, without leaving a
# child behind), and whose owner has some too; then lock and freeze files
# written by hand (a lock file is untrusted input) with such owner, host
# and agent strings. Every output stays one line per lock, with the
# control characters escaped, never printed raw.
ctl=$'\e'
no_ctl() { # DESCRIPTION TEXT: no ESC, CR, other C0 control but \n, or C1
	if LC_ALL=C grep -q "[$ctl"$'\r\t\x01-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f'"]" <<<"$2" ||
		LC_ALL=C grep -q $'\xc2[\x80-\x9f]' <<<"$2"; then
		not_ok "$1: raw control characters in: $(printf %q "$2")"
	else
		ok "$1"
	fi
}
cat >"$T/m5.sh" <<'SHEOF'
"$LOKT" lock m5 -q && : >"$T/m5" && exec -a $'sleep 597\necho\thi\e[2J' sleep 597
SHEOF
LOKT_OWNER=$'ev\til\e[31m\nx\xc2\x9b' bash "$T/m5.sh" &
track $!
if wait_for 30 test -e "$T/m5"; then
	nl=$("$LOKT" status --json | jget 'len(d["locks"])')
	expect_exit 0 "status with a multi-line command" "$LOKT" status
	check "status: one line per lock ($(wc -l <<<"$OUT") lines for $nl locks)" \
		test "$(wc -l <<<"$OUT")" -eq $((nl + 1))
	no_ctl "status: control characters escaped" "$OUT"
	contains "$OUT" 'sleep 597\necho\thi\x1b[2J' "status shows the command escaped"
	contains "$OUT" 'ev\til\x1b[31m\nx\u009b@' "status shows the owner escaped"
	expect_exit 0 "status m5" "$LOKT" status m5
	no_ctl "status m5: escaped" "$OUT"
	contains "$OUT" 'command:  sleep 597\necho\thi' "status m5 shows the command on one line"
	expect_exit 2 "lock m5 (held)" "$LOKT" lock m5
	no_ctl "the refusal: escaped" "$ERR"
	check "the refusal is one line" test "$(wc -l <<<"$ERR")" -eq 1
	expect_exit 2 "why m5" "$LOKT" why m5
	no_ctl "why m5: escaped" "$OUT"
	check "why m5 is one line" test "$(wc -l <<<"$OUT")" -eq 1
	expect_exit 0 "audit --name m5" "$LOKT" audit --name m5
	no_ctl "audit: escaped" "$OUT"
	check "audit: one line per event (acquire, deny)" test "$(wc -l <<<"$OUT")" -eq 2
else
	not_ok "a holder with a multi-line command took m5"
fi
host=$(uname -n)
printf '{"version":1,"name":"m6","lock_id":"%s\\u001b[2J","owner":"a\\nb\\u001b[2J","host":"%s","pid":%d,"agent_id":"ag\\tent\\r","acquired_ts":"%s"}\n' \
	0123456789abcdef0123456789ab "$host" $$ "$(date -u +%Y-%m-%dT%H:%M:%SZ)" | plant m6
printf '{"version":1,"name":"m7","lock_id":"%s","owner":"f\\u001b]0;pwned\\u0007r","host":"h\\nx","pid":1,"acquired_ts":"%s","ttl_sec":3600,"expires_at":"%s"}\n' \
	0123456789abcdef0123456789abcdef "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" |
	plant m7 freeze
nl=$("$LOKT" status --json | jget 'len(d["locks"]) + len(d["freezes"])')
expect_exit 0 "status with hand-written files" "$LOKT" status
no_ctl "status: owner, host of hand-written files escaped" "$OUT"
check "status: one line per lock and per freeze ($(wc -l <<<"$OUT") lines for $nl)" \
	test "$(wc -l <<<"$OUT")" -eq $((nl + 1))
expect_exit 0 "status m6" "$LOKT" status m6
no_ctl "status m6: owner, agent and lock_id escaped" "$OUT"
contains "$OUT" 'agent:    ag\tent\r' "status m6 shows the agent escaped"
expect_exit 2 "lock m6 (held by the hand-written record)" "$LOKT" lock m6
no_ctl "refusal naming a hand-written holder: escaped" "$ERR"
expect_exit 2 "lock m7 (frozen by the hand-written freeze)" "$LOKT" lock m7
no_ctl "refusal naming a hand-written freeze: escaped" "$ERR"
expect_exit 2 "why m7" "$LOKT" why m7
no_ctl "why m7: escaped" "$OUT"
expect_exit 3 "status m7 (free, frozen) → 3" "$LOKT" status m7 --json
check "--json keeps the raw strings (JSON escapes them)" test \
	"$(jget 'd["freeze"]["owner"]' <<<"$OUT")" = $'f\e]0;pwned\ar'
if script -qec true /dev/null >/dev/null 2>&1 </dev/null; then
	printf 'n\n' | script -qec "'$LOKT' unlock m6 --force" /dev/null >"$T/tty.out" 2>&1
	no_ctl "the --force prompt: escaped" "$(tr -d '\r' <"$T/tty.out")"
else
	skip "the --force prompt: escaped" "script(1) cannot allocate a pty here"
fi
unplant m6
unplant m7 freeze

# --- status's table: a header, a line per lock, columns aligned ------------
# Each column as wide as its widest cell: every field of the header and
# of each row starts at the same column.
LOKT_ROOT=$LOKT_ROOT-table # a store of its own (a directory, or a prefix)
export LOKT_ROOT
hold alice t1
hold bob a-much-longer-name-here --ttl 10m
hold carol-with-a-long-owner t3
expect_exit 0 "status with three locks" "$LOKT" status
check "... a header and three lines" test "$(wc -l <<<"$OUT")" = 4
check "... the header first" test "$(head -1 <<<"$OUT" | awk '{print $1, $2, $NF}')" = "NAME OWNER@HOST COMMAND"
for n in t1 a-much-longer-name-here t3; do
	check "... $n on its own line" test "$(grep -c "^$n " <<<"$OUT")" = 1
done
# The column where field k starts, on every line, up to EXPIRES (the first
# cell that may hold a space: "in 9m59s").
for k in 2 3 4 5 6; do
	starts=$(awk -v k="$k" '{
		p = 0; rest = $0
		for (i = 1; i < k; i++) {
			m = match(rest, /[^ ]+ +/); p += RLENGTH; rest = substr(rest, RLENGTH + 1)
		}
		print p }' <<<"$OUT" | sort -u | wc -l)
	check "... column $k starts at the same place on every line" test "$starts" = 1
done
contains "$(grep '^a-much' <<<"$OUT")" "bob@" "... the long name's line is bob's"
contains "$(grep '^a-much' <<<"$OUT")" " in " "... with its expiry"

# Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) in
# a field could reorder the rest of the line on a terminal: escaped too.
LOKT_OWNER=$'ev\xe2\x80\xaeil\xe2\x81\xa6x\xe2\x80\x8f' "$LOKT" lock m9 --ttl 1h --detach -q
expect_exit 0 "status with bidirectional controls in an owner" "$LOKT" status m9
if LC_ALL=C grep -q $'\xe2\x80[\xaa-\xae\x8e\x8f]\|\xe2\x81[\xa6-\xa9]' <<<"$OUT"; then
	not_ok "status printed a bidirectional control raw"
else
	ok "status prints no bidirectional control raw"
fi
contains "$OUT" 'ev\u202eil\u2066x\u200f' "... but escaped, as \\u202e"
"$LOKT" unlock m9 --force --yes -q

# An owner or agent id a record could not carry (not UTF-8: the record
# would read as corrupt, and the next lock would break it): usage, 64.
expect_exit 64 "lock with LOKT_OWNER not UTF-8 → 64" env LOKT_OWNER=$'caf\xe9' "$LOKT" lock m11
contains "$ERR" "LOKT_OWNER" "... naming LOKT_OWNER"
expect_exit 64 "freeze with LOKT_AGENT_ID not UTF-8 → 64" env LOKT_AGENT_ID=$'a\xff' "$LOKT" freeze m11 --ttl 1m
expect_exit 3 "... and nothing was written" "$LOKT" exists m11
# A reader whose answer cannot be written (a full disk): exit 1, saying
# so, as cat does. It exited 0, a `lokt audit --json > file` on a full
# disk left an empty file. A command that changed the store keeps its
# status (the change is made).
for c in "status" "status --json" "audit --json" "why m11" "doctor --json"; do
	expect_exit 1 "lokt $c > /dev/full → 1" bash -c '"$0" $1 >/dev/full' "$LOKT" "$c"
	contains "$ERR" "cannot write to standard output" "... saying so"
done
expect_exit 0 "lokt lock m12 > /dev/full: taken, exit 0" bash -c '"$0" lock m12 --ttl 1m >/dev/full' "$LOKT"
"$LOKT" unlock m12 -q
# Nor one whose reader has gone: `lokt lock x | true` died of SIGPIPE
# (141) after taking the lock. The pipe's read end is closed before lokt
# starts (Python gives the child SIGPIPE's default action).
pipe_gone() {
	"$PY" -c '
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
rc = subprocess.call(sys.argv[1:], stdout=w)
sys.exit(128 - rc if rc < 0 else rc)' "$@"
}
expect_exit 0 "lokt lock m12 into a pipe with no reader: taken, exit 0" pipe_gone "$LOKT" lock m12 --holder $$
expect_exit 0 "... held" "$LOKT" exists m12
expect_exit 0 "lokt unlock m12 into it: released, exit 0" pipe_gone "$LOKT" unlock m12
expect_exit 3 "... gone" "$LOKT" exists m12
expect_exit 141 "lokt status into it: SIGPIPE, as cat" pipe_gone "$LOKT" status
"$LOKT" lock m14 --ttl 1s -q && sleep 1.2
expect_exit 1 "lokt status --prune-expired into it: pruned, then the output error (1, not 141)" \
	pipe_gone "$LOKT" status --prune-expired
expect_exit 3 "... m14 was pruned" "$LOKT" status m14
# A host name a record could not carry (sethostname(2) takes any bytes):
# said so, exit 1. It blamed LOKT_OWNER and LOKT_AGENT_ID, set or not.
if [ "$(id -u)" = 0 ] && unshare --uts true 2>/dev/null; then
	expect_exit 1 "lock on a host named a\\xffb → 1" unshare --uts "$PY" -c '
import os, socket, sys
socket.sethostname(b"a\xffb")
os.execvp(sys.argv[1], sys.argv[1:])' "$LOKT" lock m11
	contains "$ERR" "this host's name is not valid UTF-8" "... saying it is the host's name"
	expect_exit 3 "... and nothing was written" "$LOKT" exists m11
else
	skip "a host name not in UTF-8" "needs root and unshare --uts"
fi

# lokt orphaned (its parent pid 1, not a subreaper), without --ttl: a
# lock of pid 1 is judged by its TTL alone and would never end, every
# process its holder. Refused; with --holder 1 too. (guard as pid 1 holds
# its own: tests/cli/habits.sh.)
if orphan "$T/orphan" "$LOKT" lock m12; then
	contains "$(cat "$T/orphan.err")" "lokt was orphaned" "an orphaned lokt lock is refused"
	expect_exit 3 "... and m12 is not held" "$LOKT" exists m12
else
	skip "an orphaned lokt lock is refused" "the orphan's parent is a subreaper, not pid 1"
fi
expect_exit 1 "lock --holder 1 without --ttl → 1" "$LOKT" lock m12 --holder 1
contains "$ERR" "would never end" "... saying the lock would never end"
LOKT_OWNER=other "$LOKT" lock m13 --ttl 1h --detach -q
expect_exit 1 "... refused at once with --wait too (never queued for what it cannot hold)" \
	timeout 10 "$LOKT" lock m13 --holder 1 --wait --timeout 60s
"$LOKT" unlock m13 --force --yes -q
expect_exit 0 "lock --holder 1 --ttl 1m → 0 (detached)" "$LOKT" lock m12 --holder 1 --ttl 1m -q
"$LOKT" unlock m12 -q

# Times left are rounded to the nearest second: a TTL of 1h read at once
# is "in 1h", not "59m59s" (unless this took half a second or more).
t0=$(date +%s%N)
"$LOKT" lock m10 --ttl 1h -q
expect_exit 0 "status m10 right after lock --ttl 1h" "$LOKT" status m10
took=$((($(date +%s%N) - t0) / 1000000))
if [ "$took" -lt 400 ]; then
	contains "$OUT" "(in 1h)" "a TTL of 1h read at once expires in 1h"
else
	skip "a TTL of 1h read at once expires in 1h" "lock and status took ${took} ms"
fi
"$LOKT" unlock m10 -q

done_testing
