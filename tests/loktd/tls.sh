#!/bin/bash
# SPDX-License-Identifier: MIT
# HTTPS: loktd with a self-signed certificate made here (openssl, else
# GnuTLS's certtool) answers over TLS, verified against that certificate;
# plain HTTP to the TLS port gets no answer; a key that is not PEM is
# refused at start.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

cert=$T/cert.pem key=$T/key.pem
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$key" -out "$cert" \
		-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		>"$T/mk.log" 2>&1
elif command -v certtool >/dev/null; then
	certtool --generate-privkey --outfile "$key" >"$T/mk.log" 2>&1
	printf 'cn = 127.0.0.1\nip_address = 127.0.0.1\nexpiration_days = 2\ntls_www_server\n' >"$T/tpl"
	certtool --generate-self-signed --load-privkey "$key" --template "$T/tpl" \
		--outfile "$cert" >>"$T/mk.log" 2>&1
else
	skip "TLS" "neither openssl nor certtool is installed"
	done_testing
	exit 0
fi
check "a self-signed certificate" test -s "$cert"

echo "not a key" >"$T/bad.pem"
for try in 1 2 3 4 5; do
	expect_exit 1 "a key that is not PEM is refused" "$LOKTD" \
		--listen "127.0.0.1:$((20000 + RANDOM % 5000))" --tls-cert "$cert" --tls-key "$T/bad.pem"
	[[ $ERR == *"in use"* ]] || break
done
contains "$ERR" "certificate" "the message points to the certificate"

SCHEME=https
CURL_TLS=(--cacert "$cert")
start_loktd --tls-cert "$cert" --tls-key "$key" || { not_ok "loktd starts with TLS"; done_testing; exit 1; }
ok "loktd starts with TLS"
req POST /v1/locks/secure '{"ttl":"1m"}'
expect_status 200 "acquire over HTTPS (certificate verified)"
expect_jq .fence 1 "with its fence"
expect_exit 0 "lokt sees it" "$LOKT" exists secure
req POST /api/v1alpha1/lock '{"service":"secure2","who":"ci"}'
expect_status 200 "Tracker API over HTTPS"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/healthz")
[ "$code" != 200 ] && ok "plain HTTP to the TLS port gets no answer ($code)" || not_ok "plain HTTP answered 200"
stop_loktd
[ "$RC" = 0 ] && ok "exit 0" || not_ok "exit $RC"
done_testing
