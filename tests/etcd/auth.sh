#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The etcd store with etcd's authentication on, as a careful operator sets
# it up (README, "Across hosts"): JWT tokens (etcd's advice for
# production), and a user whose role may read and write the store's
# prefix only, its password in a file that is a symlink (a Kubernetes
# secret is one). Long-lived holders (a guard, a lokt-keeper, loktd) go on
# through a change of etcd's users and passwords:
#   - after any user or role change, etcd refuses every token made before
#     it ("revision of auth store is old"): lokt took that for a bad
#     request (EINVAL), so the guard lost its lock and killed its command,
#     and nothing could be released until the leases ran out;
#   - a password changed with `etcdctl user passwd` and written to the
#     password file: the file was read once, so the next login failed;
#   - `lokt doctor` read the prefix's own key, outside a role granted on
#     "PREFIX/", and said no endpoint answered;
#   - a password file that is a symlink was refused.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

for t in etcd etcdctl openssl; do
	if ! command -v "$t" >/dev/null; then
		echo "1..0 # SKIP needs etcd and etcdctl (etcd-server, etcd-client) and openssl"
		exit 0
	fi
done

openssl genrsa -out "$T/jwt.key" 2048 2>/dev/null &&
	openssl rsa -in "$T/jwt.key" -pubout -out "$T/jwt.pub" 2>/dev/null ||
	{ not_ok "openssl made the JWT keys"; done_testing; exit 1; }
ETCD_EXTRA=(--auth-token "jwt,pub-key=$T/jwt.pub,priv-key=$T/jwt.key,sign-method=RS256,ttl=5m")
if ! etcd_member "$T/etcd"; then
	echo "1..0 # SKIP no etcd member: $(cat "$T/etcd.why")"
	exit 0
fi
E() { etcdctl --endpoints "$ETCD_EP" "$@" >>"$T/etcdctl.log" 2>&1; }
R() { E --user root:rootpw "$@"; }
E user add root:rootpw && E user add lk:first &&
	E role add lokt && E role grant-permission lokt --prefix=true readwrite /lokt-test/ &&
	E user grant-role lk lokt && E auth enable
check "auth on: root, and user lk with readwrite on /lokt-test/ only" test $? = 0

# The password file: a symlink to the file, as in a secret volume.
mkdir -p "$T/secret/..data"
( umask 077; echo first >"$T/secret/..data/password" )
ln -s ..data/password "$T/secret/password"
export LOKT_ROOT="etcd://$ETCD_EP/lokt-test" LOKT_ETCD_USER=lk \
	LOKT_ETCD_PASSWORD_FILE=$T/secret/password
unset LOKT_ETCD_PASSWORD

expect_exit 0 "lokt lock, the password file a symlink" "$LOKT" lock k --ttl 10m -q
"$LOKT" doctor --json >"$T/doctor.json" 2>"$T/doctor.err"
contains "$(jget '[c["level"] for c in d["checks"] if c["id"] == "etcd_endpoint"]' <"$T/doctor.json")" \
	'"ok"' "lokt doctor: the store's endpoint answers the user of the prefix"

# A guard holding across a change of users: its command runs to its end.
# (Its lease of 2 s: it asks whether the lock is still its own, with its
# token, every lease.)
LOKT_ETCD_LEASE=2s "$LOKT" guard g -- sh -c "sleep 6; echo done >$T/g.ran" >"$T/g.out" 2>"$T/g.err" &
g=$!
track "$g"
check "guard g runs its command" wait_for 20 "$LOKT" exists g
R user add bystander:pw && R role grant-permission lokt readwrite /elsewhere
check "a user added and a role changed while it holds" test $? = 0
reap "$g"
[ "$RC" = 0 ] && ok "guard g's command ran to its end (exit 0)" ||
	not_ok "guard g: exit $RC: $(cat "$T/g.err")"
check "... and wrote" test -s "$T/g.ran"
expect_exit 3 "... and g was released" "$LOKT" exists g
check "... no lost event" eval '! "$LOKT" audit --name g | grep -q " lost "'
check "... nothing said" test ! -s "$T/g.err"

# The password changed, and the file rewritten: the next login reads it.
LOKT_ETCD_LEASE=2s "$LOKT" guard p -- sh -c "sleep 6; echo done >$T/p.ran" >"$T/p.out" 2>"$T/p.err" &
p=$!
track "$p"
check "guard p runs its command" wait_for 20 "$LOKT" exists p
R user passwd lk --interactive=false <<<"second"
check "lk's password changed with etcdctl user passwd" test $? = 0
( umask 077; echo second >"$T/secret/..data/password.new" &&
	mv "$T/secret/..data/password.new" "$T/secret/..data/password" )
reap "$p"
[ "$RC" = 0 ] && ok "guard p's command ran to its end (exit 0)" ||
	not_ok "guard p: exit $RC: $(cat "$T/p.err")"
check "... and wrote" test -s "$T/p.ran"
expect_exit 3 "... and p was released" "$LOKT" exists p
expect_exit 0 "k, held by its keeper since the start, is still held" "$LOKT" exists k
expect_exit 0 "... and released" "$LOKT" unlock k -q
expect_exit 3 "... gone" "$LOKT" exists k

# A wrong password is refused (exit 1), saying so, and nothing is left.
( umask 077; echo wrong >"$T/wrong" )
LOKT_ETCD_PASSWORD_FILE=$T/wrong expect_exit 1 "a wrong password: exit 1" "$LOKT" lock w --ttl 1m
contains "$ERR" "w" "... saying which lock ($ERR)"
# It said "Permission denied", as for a user whose role lacks the prefix.
contains "$ERR" "etcd refused the login: a wrong user or password" "... and that the login was refused"
expect_exit 3 "... and w was not taken" "$LOKT" exists w
LOKT_ETCD_PASSWORD_FILE=$T/wrong "$LOKT" doctor >"$T/doctor.out" 2>&1
contains "$(grep etcd_endpoint "$T/doctor.out")" "answered, but refused the store's read of /lokt-test/: etcd refused the login" \
	"lokt doctor: the member answered, and refused the login"
contains "$(grep etcd_cluster "$T/doctor.out")" "(refused the login)" \
	"... not \"no member answered\""

# A root outside the user's grant: the store's reads are denied.
LOKT_ROOT="etcd://$ETCD_EP/elsewhere" expect_exit 1 "a root outside the user's role: exit 1" "$LOKT" lock w --ttl 1m
contains "$ERR" "etcd denied the user access to the root's prefix: its role needs readwrite on PREFIX/" \
	"... saying what the role lacks"
LOKT_ROOT="etcd://$ETCD_EP/elsewhere" "$LOKT" doctor >"$T/doctor.out" 2>&1
contains "$(grep etcd_endpoint "$T/doctor.out")" "refused the store's read of /elsewhere/: etcd denied the user" \
	"lokt doctor: the read of the prefix denied"

# loktd with the wrong password: 500, word "error", the refusal said.
if [ -z "${LOKTD:-}" ] || [ ! -x "${LOKTD:-}" ] || ! command -v curl >/dev/null ||
	! command -v jq >/dev/null; then
	skip "loktd, its login refused" "loktd not built, or no curl or jq"
else
	. "$SRC_ROOT/tests/loktd/common.sh"
	if LOKT_ETCD_PASSWORD_FILE=$T/wrong start_loktd; then
		req POST /v1/locks/w '{}'
		expect_status 500 "loktd, its login refused: a lock request answers 500"
		expect_jq .error error "... word \"error\""
		contains "$(jq_of .message)" "etcd refused the login" "... saying the login was refused"
		stop_loktd
	else
		not_ok "loktd started ($(cat "$T/loktd.err"))"
	fi
fi

done_testing
