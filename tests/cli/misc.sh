#!/bin/bash
# SPDX-License-Identifier: MIT
# The rest of the contract: LOKT_REQUIRE_LOCAL_FS=1 accepts a local root
# (a network filesystem cannot be faked here without one); doctor --json
# runs every documented check; `unlock --force` never prompts without a
# terminal but does ask on one; status names the holder's command.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# --- LOKT_REQUIRE_LOCAL_FS ----------------------------------------------
expect_exit 0 "LOKT_REQUIRE_LOCAL_FS=1 with a local root: lock" \
	env LOKT_REQUIRE_LOCAL_FS=1 "$LOKT" lock m0
expect_exit 0 "LOKT_REQUIRE_LOCAL_FS=1 with a local root: unlock" \
	env LOKT_REQUIRE_LOCAL_FS=1 "$LOKT" unlock m0
skip "LOKT_REQUIRE_LOCAL_FS=1 refuses a network root" \
	"no network filesystem can be mounted by the test"

# --- doctor --json ------------------------------------------------------
expect_exit 0 "doctor --json" "$LOKT" doctor --json
check "doctor --json: protocol_version 1" test "$(jget 'd.get("protocol_version")' <<<"$OUT")" = 1
ids=$(jget '" ".join(sorted(c["id"] for c in d["checks"]))' <<<"$OUT")
for id in root_writable network_fs clock corrupt_files future_version audit_mode; do
	contains " $ids " " $id " "doctor has the check $id"
done
check "doctor --json: every check has a level ok/warn/fail and a message" test \
	"$(jget 'all(c["level"] in ("ok", "warn", "fail") and c["message"] for c in d["checks"])' <<<"$OUT")" = true
check "doctor --json: every check ok on a fresh local root" test \
	"$(jget '[c["id"] for c in d["checks"] if c["level"] == "fail"]' <<<"$OUT")" = "[]"
printf 'garbage' >"$(lockfile mbad)"
"$LOKT" doctor --json >"$T/doc.json"
check "doctor flags a corrupt file" test \
	"$(jget '[c["level"] for c in d["checks"] if c["id"] == "corrupt_files"]' <"$T/doc.json")" != '["ok"]'
rm -f "$(lockfile mbad)"
chmod 0644 "$LOKT_ROOT/audit.log"
"$LOKT" doctor --json >"$T/doc.json"
check "doctor flags an audit log readable by others" test \
	"$(jget '[c["level"] for c in d["checks"] if c["id"] == "audit_mode"]' <"$T/doc.json")" != '["ok"]'
chmod 0600 "$LOKT_ROOT/audit.log"

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

done_testing
