#!/bin/bash
# SPDX-License-Identifier: MIT
# Root discovery, first match wins: $LOKT_ROOT; <git common dir>/lokt
# (the same for the top of a repository, a deep subdirectory, and every
# worktree); the nearest .lokt/ walking up; the host-wide store of the
# configuration file ($LOKT_CONFIG, else /etc/lokt.conf); else ./.lokt.
# A .git or .lokt that is neither the caller's nor root's is passed over.
# Every acquisition says which store it used. A lock taken in
# one place is seen as held from the others. The commands that only read
# (status, exists, why, audit, doctor) never create a root that does not
# exist: they answer as for an empty store, even where the user cannot
# write; lock does create it.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

unset GIT_DIR GIT_WORK_TREE GIT_COMMON_DIR GIT_CEILING_DIRECTORIES
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
git() { command git -c user.name=t -c user.email=t@example.invalid -c init.defaultBranch=main "$@"; }

R="$T/repo"
mkdir -p "$R/a/b/c/d"
git init -q "$R" && git -C "$R" commit -q --allow-empty -m init &&
	git -C "$R" worktree add -q "$T/wt" 2>/dev/null
check "a git repository with a worktree" test -e "$T/wt/.git"
mkdir -p "$T/wt/x/y"

# holder NAME DIR: a background process takes NAME from DIR (discovery)
holder_in() {
	local name=$1 dir=$2
	rm -f "$T/ready"
	(cd "$dir" && "$LOKT" lock "$name" -q && : >"$T/ready" && exec sleep 600) &
	HOLDER=$!
	track "$HOLDER"
	wait_for 30 eval "[ -e '$T/ready' ] || gone $HOLDER"
	test -e "$T/ready"
}

# --- LOKT_ROOT wins -----------------------------------------------------
export LOKT_ROOT="$T/explicit"
(cd "$R/a/b" && "$LOKT" lock e1 -q)
check "LOKT_ROOT wins inside a git repository" test -e "$T/explicit/locks/e1.json"
check "... and nothing goes to .git/lokt" test ! -e "$R/.git/lokt/locks/e1.json"
"$LOKT" unlock e1 -q
unset LOKT_ROOT

# --- git: top, deep subdirectory, worktree -----------------------------
check "lock from the top of the repository" holder_in d1 "$R"
check "the lock file is in <repo>/.git/lokt" test -e "$R/.git/lokt/locks/d1.json"
for dir in "$R" "$R/a/b/c/d" "$T/wt" "$T/wt/x/y"; do
	(cd "$dir" && "$LOKT" lock d1 >/dev/null 2>&1)
	rc=$?
	check "held as seen from ${dir#"$T"/} (lock → 2, got $rc)" test "$rc" -eq 2
	(cd "$dir" && "$LOKT" exists d1)
	rc=$?
	check "exists from ${dir#"$T"/} → 0 (got $rc)" test "$rc" -eq 0
done
kill -9 "$HOLDER"

check "lock from a deep subdirectory" holder_in d2 "$R/a/b/c/d"
check "the lock file is in <repo>/.git/lokt" test -e "$R/.git/lokt/locks/d2.json"
(cd "$T/wt" && "$LOKT" lock d2 >/dev/null 2>&1)
rc=$?
check "held as seen from the worktree (lock → 2, got $rc)" test "$rc" -eq 2
kill -9 "$HOLDER"

check "lock from a worktree subdirectory" holder_in d3 "$T/wt/x/y"
check "the worktree's lock file is in the common <repo>/.git/lokt" \
	test -e "$R/.git/lokt/locks/d3.json"
check "no lock root inside the worktree" test ! -e "$T/wt/.lokt" -a ! -e "$T/wt/x/y/.lokt"
(cd "$R/a" && "$LOKT" lock d3 >/dev/null 2>&1)
rc=$?
check "held as seen from the main checkout (lock → 2, got $rc)" test "$rc" -eq 2
out=$(cd "$T/wt" && "$LOKT" doctor --json 2>/dev/null | jget 'd["root"]')
check "doctor in the worktree reports <repo>/.git/lokt ($out)" test "$out" = "$R/.git/lokt"
kill -9 "$HOLDER"

# --- a root that does not exist yet: reading creates nothing -----------
# readonly ROOT WHERE [RUNNER...]: every read-only command, run by RUNNER
# (none, or a command that switches user), answers as for an empty store
# and ROOT still does not exist afterwards.
readonly_cmds() {
	local root=$1 where=$2
	shift 2
	expect_exit 0 "$where: status → 0" "$@" "$LOKT" status
	contains "$OUT" "does not exist yet" "$where: status says the root does not exist yet"
	contains "$OUT" "$root" "$where: status names the root"
	expect_exit 0 "$where: status --json → 0" "$@" "$LOKT" status --json
	check "$where: status --json: no locks, no freezes, root_exists false" test \
		"$(jget '[d["locks"], d["freezes"], d["root_exists"]]' <<<"$OUT" 2>/dev/null)" = "[[], [], false]"
	expect_exit 3 "$where: status NAME → 3 (free)" "$@" "$LOKT" status rx
	expect_exit 0 "$where: status --prune-expired → 0" "$@" "$LOKT" status --prune-expired
	expect_exit 3 "$where: exists NAME → 3" "$@" "$LOKT" exists rx
	expect_exit 0 "$where: why NAME → 0 (free)" "$@" "$LOKT" why rx
	contains "$OUT" "free" "$where: why says free"
	expect_exit 0 "$where: audit → 0, no events" "$@" "$LOKT" audit
	check "$where: audit printed nothing" test -z "$OUT"
	expect_exit 0 "$where: audit --json → 0" "$@" "$LOKT" audit --json
	check "$where: audit --json is an empty array" test "$OUT" = "[]"
	expect_exit 0 "$where: doctor → 0" "$@" "$LOKT" doctor
	contains "$OUT" "does not exist yet" "$where: doctor says the root does not exist yet"
	check "$where: nothing was created ($root)" test ! -e "$root"
}

readonly_cmds "$T/none/root" "LOKT_ROOT not created" env LOKT_ROOT="$T/none/root"
check "not even its parent" test ! -e "$T/none"
expect_exit 0 "lock creates the root" env LOKT_ROOT="$T/none/root" "$LOKT" lock rx --holder $$
check "... with locks/ and the lock file" test -e "$T/none/root/locks/rx.json"
env LOKT_ROOT="$T/none/root" "$LOKT" unlock rx -q

# A directory the user cannot write: the root cannot be created there,
# and reading must not need it.
mkdir -p "$T/ro"
chmod 0755 "$T" "$T/ro"
if [ "$(id -u)" != 0 ] || ! setpriv --reuid=65534 --regid=65534 --clear-groups \
	test -x "$LOKT" 2>/dev/null; then
	skip "read-only commands where the user cannot write" \
		"needs root and user nobody (uid 65534) able to run $LOKT"
else
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	readonly_cmds "$T/ro/.lokt" "unwritable directory (nobody)" \
		as_nobody env LOKT_ROOT="$T/ro/.lokt"
	expect_exit 1 "unwritable directory (nobody): lock → 1" \
		as_nobody env LOKT_ROOT="$T/ro/.lokt" "$LOKT" lock rx
	contains "$ERR" "$T/ro/.lokt" "the refusal names the root"
	contains "$ERR" "ermission denied" "the refusal says why"
	check "the refused lock created nothing" test ! -e "$T/ro/.lokt"
fi

# Discovery: a fresh git repository's <git dir>/lokt is not created by
# reading.
git init -q "$T/fresh" && mkdir -p "$T/fresh/sub"
cd "$T/fresh/sub" && readonly_cmds "$T/fresh/.git/lokt" "fresh git repository"
cd "$T" || exit 1
(cd "$T/fresh/sub" && "$LOKT" lock rx --holder $$ -q)
check "lock in the fresh repository creates <git dir>/lokt" test -e "$T/fresh/.git/lokt/locks/rx.json"

# --- outside git: the nearest .lokt walking up; else ./.lokt -----------
if command git -C "$T" rev-parse 2>/dev/null; then
	skip "discovery outside git" "$T is inside a git repository"
elif [ -e /tmp/.lokt ] || [ -e /.lokt ] || [ -e "$(dirname "$T")/.lokt" ]; then
	skip "discovery outside git" "a .lokt directory exists above $T"
else
	mkdir -p "$T/plain/p/.lokt" "$T/plain/p/q/r/s"
	(cd "$T/plain/p/q/r/s" && "$LOKT" lock n1 -q)
	check "the nearest .lokt walking up is used" test -e "$T/plain/p/.lokt/locks/n1.json"
	check "no .lokt created where lokt ran" test ! -e "$T/plain/p/q/r/s/.lokt"
	(cd "$T/plain/p/q" && "$LOKT" exists n1)
	check "another subdirectory sees the same lock" test $? -eq 0
	(cd "$T/plain/p/q" && "$LOKT" unlock n1 -q)
	mkdir -p "$T/bare/d"
	cd "$T/bare/d" && readonly_cmds "$T/bare/d/.lokt" "plain directory"
	cd "$T" || exit 1
	(cd "$T/bare/d" && "$LOKT" lock n2 -q)
	check "else ./.lokt is created" test -e "$T/bare/d/.lokt/locks/n2.json"

	# --- the host-wide store of the configuration file ------------------
	mkdir -p "$T/elsewhere/e"
	printf '# one store for the host\nroot = %s\n' "$T/host-store" >"$T/lokt.conf"
	(cd "$T/elsewhere/e" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock h1 --holder $$) >"$T/h1.out"
	check "outside a repository and any .lokt: the configured host store" \
		test -e "$T/host-store/locks/h1.json"
	contains "$(cat "$T/h1.out")" " in $T/host-store" "... and the message says which store"
	(cd "$T/bare/d" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" exists n2)
	check "a .lokt above still wins over the host store" test $? -eq 0
	(cd "$R/a" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock h2 --holder $$ -q)
	check "a repository still wins over the host store" test -e "$R/.git/lokt/locks/h2.json"
	json=$(cd "$T/elsewhere/e" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock h3 --holder $$ --json)
	check "--json names the store" test "$(jget 'd["root"]' <<<"$json")" = "$T/host-store"
	# A comment after the value was taken as part of it: the store was
	# "/x  # note", made on the first lock.
	for bad in 'root = relative/dir' 'rot = /x' 'no equals sign' '' \
		"root = $T/host-store  # the host's" $'root = /x\t#note'; do
		printf '%s\n' "$bad" >"$T/bad.conf"
		expect_exit 1 "a bad configuration file ('$bad'): exit 1" \
			env -C "$T/elsewhere/e" LOKT_CONFIG="$T/bad.conf" "$LOKT" lock h4
		contains "$ERR" "$T/bad.conf is not valid" "... naming the file"
	done
	# A LOKT_CONFIG naming no file was passed over: each directory got
	# its own ./.lokt, and two deploys from two directories did not
	# exclude each other.
	expect_exit 1 "LOKT_CONFIG naming a file that does not exist: exit 1" \
		env -C "$T/elsewhere/e" LOKT_CONFIG="$T/lokt.cnof" "$LOKT" lock h4
	contains "$ERR" "LOKT_CONFIG names $T/lokt.cnof, which does not exist" "... saying so"
	if [ -n "${LOKTFS:-}" ] && [ -x "$LOKTFS" ]; then
		mkdir -p "$T/no-mount"
		expect_exit 1 "... also for loktfs" env -C "$T/elsewhere/e" LOKT_CONFIG="$T/lokt.cnof" \
			"$LOKTFS" -f "$T/no-mount"
		contains "$ERR" "LOKT_CONFIG names $T/lokt.cnof, which does not exist" "... saying so"
	fi
	if [ -n "${LOKTD:-}" ] && [ -x "$LOKTD" ]; then
		expect_exit 1 "... and for loktd" env -C "$T/elsewhere/e" LOKT_CONFIG="$T/lokt.cnof" \
			"$LOKTD" --listen 127.0.0.1:1
		contains "$ERR" "LOKT_CONFIG names $T/lokt.cnof, which does not exist" "... saying so"
	fi
	check "... and nothing was created there" test ! -e "$T/elsewhere/e/.lokt"
	(cd "$T/elsewhere/e" && LOKT_CONFIG=/dev/null "$LOKT" lock h5 --holder $$ -q)
	check "LOKT_CONFIG=/dev/null: no host-wide store, ./.lokt" test -e "$T/elsewhere/e/.lokt/locks/h5.json"
	rm -rf "$T/elsewhere/e/.lokt"

	# --- a .git or .lokt someone else planted ---------------------------
	# In a directory others may write, another user's .git file (naming
	# a directory of theirs or of ours) or .lokt directory must not pick
	# the store: they are passed over, as git passes over a repository
	# of dubious ownership, and the host store is used.
	if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
		P="$T/shared"
		mkdir -m 1777 "$P" && mkdir -m 0700 "$T/victim" && mkdir "$P/work"
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			sh -c "printf 'gitdir: %s\n' '$T/victim' >'$P/.git'"
		out=$(cd "$P/work" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock p1 --holder $$ 2>&1)
		contains "$out" " in $T/host-store" "another user's .git above: passed over, the host store"
		check "... nothing made in the directory it names" test ! -e "$T/victim/lokt"
		rm -f "$P/.git"
		setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir -m 777 "$P/.lokt"
		out=$(cd "$P/work" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock p2 --holder $$ 2>&1)
		contains "$out" " in $T/host-store" "another user's .lokt above: passed over"
		check "... nothing made in it" test ! -e "$P/.lokt/locks"
		setpriv --reuid=nobody --regid=nogroup --clear-groups rmdir "$P/.lokt"
		setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$R/.git" "$P/.git"
		out=$(cd "$P/work" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock p3 --holder $$ 2>&1)
		contains "$out" " in $T/host-store" "... nor a symlink of theirs to our own repository"
		mkdir "$P/mine" "$P/mine/w" && mkdir "$P/mine/.lokt"
		out=$(cd "$P/mine/w" && LOKT_CONFIG="$T/lokt.conf" "$LOKT" lock p4 --holder $$ 2>&1)
		contains "$out" " in $P/mine/.lokt" "our own .lokt there still picks the store"
	else
		skip "planted .git and .lokt" "needs root and the user nobody"
	fi

	# --- a URL's scheme in capitals ------------------------------------
	# ETCD:// is an etcd store too (schemes are case-insensitive), never
	# a directory "ETCD:" made where lokt runs. Port 1: nothing answers.
	mkdir -p "$T/caps"
	if [ -e "${LOKT_MODULE_DIR:-$BUILD_ROOT/core/etcd}/liblokt-etcd.so" ] ||
		"$LOKT" version 2>/dev/null | grep -q etcd; then
		expect_exit 1 "LOKT_ROOT=ETCD://...: the etcd store (exit 1: nothing answers)" \
			env -C "$T/caps" LOKT_ROOT=ETCD://127.0.0.1:1/caps "$LOKT" lock c1
		contains "$ERR" "etcd cluster did not answer" "... saying the etcd cluster did not answer"
		check "... and no directory ETCD: made" test ! -e "$T/caps/ETCD:"
	else
		skip "LOKT_ROOT=ETCD://" "the etcd module is not built"
	fi
fi

done_testing
