#!/bin/bash
# SPDX-License-Identifier: MIT
# The etcd store over TLS, against a real etcd member that serves https
# and asks for client certificates (--client-cert-auth), with a CA and
# certificates made here by openssl: lokt locks with LOKT_ETCD_CACERT,
# LOKT_ETCD_CERT and LOKT_ETCD_KEY (or the same from LOKT_ETCD_CONFIG);
# without a client certificate, or trusting another CA, it is refused
# with exit 1 and a message, and nothing is written.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if ! command -v etcd >/dev/null || ! command -v openssl >/dev/null; then
	echo "1..0 # SKIP needs etcd (etcd-server) and openssl"
	exit 0
fi

P=$T/pki
mkdir -p "$P"
# ca NAME: a self-signed CA.
ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
		-keyout "$P/$1.key" -out "$P/$1.pem" 2>/dev/null
}
# cert NAME CA EXT: a certificate of NAME signed by CA, with extensions.
cert() {
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
		-keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null &&
		printf '%s\n' "$3" >"$P/$1.ext" &&
		openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" \
			-CAkey "$P/$2.key" -CAcreateserial -days 2 \
			-extfile "$P/$1.ext" -out "$P/$1.pem" 2>/dev/null
}
check "a CA, a server and a client certificate (openssl)" eval '
	ca ca && ca otherca &&
	# (etcd'"'"'s own gateway connects to it with the server certificate)
	cert server ca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" &&
	cert client ca "extendedKeyUsage=clientAuth" &&
	cert stranger otherca "extendedKeyUsage=clientAuth"'

started=false
for try in 1 2 3 4 5; do
	port=$((25000 + RANDOM % 7700))
	etcd --name t0 --data-dir "$T/data" \
		--listen-client-urls "https://127.0.0.1:$port" \
		--advertise-client-urls "https://127.0.0.1:$port" \
		--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-cluster "t0=http://127.0.0.1:$((port + 1))" \
		--cert-file "$P/server.pem" --key-file "$P/server.key" \
		--client-cert-auth --trusted-ca-file "$P/ca.pem" \
		>"$T/etcd.log" 2>&1 &
	epid=$!
	at_exit "kill -9 $epid 2>/dev/null; wait $epid 2>/dev/null"
	if wait_for 20 curl -sf --cacert "$P/ca.pem" --cert "$P/client.pem" \
		--key "$P/client.key" -X POST -d '{}' \
		"https://127.0.0.1:$port/v3/maintenance/status" -o /dev/null; then
		started=true
		break
	fi
	kill -9 "$epid" 2>/dev/null
	wait "$epid" 2>/dev/null
	rm -rf "$T/data"
done
check "an etcd member serving https, client certificates required" $started
$started || { diag "$(tail -5 "$T/etcd.log")"; done_testing; exit 1; }

export LOKT_ROOT="etcd://127.0.0.1:$port/tls"
tls() {
	env LOKT_ETCD_CACERT="$P/ca.pem" LOKT_ETCD_CERT="$P/client.pem" \
		LOKT_ETCD_KEY="$P/client.key" "$@"
}

expect_exit 0 "lock over TLS with the client certificate" tls "$LOKT" lock t1 --holder 1 --ttl 1m
expect_exit 0 "... status sees it" tls "$LOKT" exists t1
expect_exit 0 "guard over TLS runs its command" tls "$LOKT" guard t2 -- true
expect_exit 0 "doctor over TLS" tls "$LOKT" doctor
contains "$OUT" "127.0.0.1:$port" "... names the endpoint that answered"

printf 'cacert = %s\ncert = %s\nkey = %s\n' "$P/ca.pem" "$P/client.pem" \
	"$P/client.key" >"$T/etcd.conf"
expect_exit 0 "the same settings from LOKT_ETCD_CONFIG" \
	env LOKT_ETCD_CONFIG="$T/etcd.conf" "$LOKT" exists t1
# What is wrong with the settings, said: the message named neither the
# file nor the setting ("Operation not permitted — check its
# permissions", "the settings do not parse"), and doctor no more.
printf 'user = u\npassword = p\n' >"$T/pw.conf"
chmod 0644 "$T/pw.conf"
expect_exit 1 "a password in a file others may read: refused" \
	env LOKT_ETCD_CONFIG="$T/pw.conf" "$LOKT" exists t1
contains "$ERR" "$T/pw.conf holds a password and is readable by others: chmod 600 it" "... naming the file and what to do"
printf 'cacert = %s\nbogus = 1\n' "$P/ca.pem" >"$T/bad.conf"
expect_exit 1 "an unknown setting: refused" env LOKT_ETCD_CONFIG="$T/bad.conf" "$LOKT" exists t1
contains "$ERR" "$T/bad.conf:2: unknown setting \"bogus\"" "... naming the file, line and setting"
expect_exit 1 "... doctor too" env LOKT_ETCD_CONFIG="$T/bad.conf" "$LOKT" doctor
contains "$OUT" "$T/bad.conf:2: unknown setting \"bogus\"" "... saying the same"
expect_exit 1 "a port that is no number: refused" "$LOKT" --root "etcd://127.0.0.1:x/tls" exists t1
contains "$ERR" '"127.0.0.1:x": the port must be a number' "... naming the part of the URL"
if [ -n "${LOKTD:-}" ] && [ -x "$LOKTD" ]; then
	expect_exit 1 "loktd with an unknown setting: refuses to start" \
		env LOKT_ETCD_CONFIG="$T/bad.conf" "$LOKTD" --listen 127.0.0.1:1
	contains "$ERR" "$T/bad.conf:2: unknown setting \"bogus\"" "... saying what is wrong"
fi

expect_exit 1 "no client certificate: refused" \
	env LOKT_ETCD_CACERT="$P/ca.pem" "$LOKT" lock t3 --holder 1 --ttl 1m
check "... with a message ($(head -c 160 <<<"$ERR"))" test -n "$ERR"
expect_exit 1 "... doctor says why" env LOKT_ETCD_CACERT="$P/ca.pem" "$LOKT" doctor
# (TLS 1.3 tells a refused client certificate after the handshake: curl
# then says "bad certificate", or what the closed connection did.)
check "... naming the member and what curl saw, not \"No route to host\"" \
	eval 'grep -q "127.0.0.1:$port: [A-Za-z]" <<<"$OUT$ERR" && ! grep -q "No route to host" <<<"$OUT$ERR"'
expect_exit 1 "a client certificate of another CA: refused" \
	env LOKT_ETCD_CACERT="$P/ca.pem" LOKT_ETCD_CERT="$P/stranger.pem" \
	LOKT_ETCD_KEY="$P/stranger.key" "$LOKT" lock t3 --holder 1 --ttl 1m
expect_exit 1 "trusting another CA than the member's: refused" \
	env LOKT_ETCD_CACERT="$P/otherca.pem" LOKT_ETCD_CERT="$P/client.pem" \
	LOKT_ETCD_KEY="$P/client.key" "$LOKT" lock t3 --holder 1 --ttl 1m
expect_exit 1 "... doctor says why" env LOKT_ETCD_CACERT="$P/otherca.pem" \
	LOKT_ETCD_CERT="$P/client.pem" LOKT_ETCD_KEY="$P/client.key" "$LOKT" doctor
contains "$OUT$ERR" "certificate" "... the member's certificate is not trusted (TLS)"
expect_exit 1 "plain http to an https member: refused" "$LOKT" lock t3 --holder 1 --ttl 1m
expect_exit 3 "... none of them wrote t3" tls "$LOKT" exists t3
expect_exit 0 "unlock over TLS" tls "$LOKT" unlock t1 --force -q

done_testing
