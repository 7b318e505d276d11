# SPDX-License-Identifier: MIT
# Shared by the tests of loktd (tests/loktd). Source it after lib.sh and
# tests/cli/common.sh:
#
#   start_loktd [ARGS...]   start loktd on a random loopback port in
#                           20000-24999 (another port when that one is
#                           taken), wait until it says it serves; $PORT,
#                           $URL, $LOKTD_PID; its stderr in $T/loktd.err
#   stop_loktd [SIG]        SIGTERM (or SIG) it and reap it; status in $RC
#   req METHOD PATH [BODY] [CURL ARGS...]
#                           one request; status in $CODE, body in $BODY,
#                           headers in $T/headers
#   jq_of EXPR              jq -r EXPR on $BODY
#   store_state             a digest of the store (files, contents, audit)
#
# Without loktd built (no libmicrohttpd), curl or jq, the script reports
# one skip and exits.

: "${LOKT:?run through meson test: LOKT is not set}"
if [ -z "${LOKTD:-}" ] || [ ! -x "${LOKTD:-}" ]; then
	skip "loktd" "loktd is not built (libmicrohttpd missing)"
	done_testing
	exit 0
fi
for _t in curl jq; do
	if ! command -v "$_t" >/dev/null; then
		skip "loktd" "$_t is not installed"
		done_testing
		exit 0
	fi
done

SCHEME=http
CURL_TLS=()
LOKTD_PID=
PORT=
URL=

start_loktd() {
	local try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		PORT=$((20000 + RANDOM % 5000))
		URL="$SCHEME://127.0.0.1:$PORT"
		"$LOKTD" --listen "127.0.0.1:$PORT" "$@" 2>"$T/loktd.err" &
		LOKTD_PID=$!
		track "$LOKTD_PID"
		# Its own line, not /healthz: another server may answer there.
		if wait_for 20 eval 'grep -q "^loktd: serving" "$T/loktd.err" || gone $LOKTD_PID' &&
			! gone "$LOKTD_PID"; then
			return 0
		fi
		wait "$LOKTD_PID" 2>/dev/null
		grep -q "in use" "$T/loktd.err" || break
	done
	diag "loktd did not start: $(cat "$T/loktd.err")"
	return 1
}

stop_loktd() {
	kill -"${1:-TERM}" "$LOKTD_PID" 2>/dev/null
	reap "$LOKTD_PID" 2>/dev/null # no "Killed" notice from bash
}

CODE= BODY=
req() {
	local method=$1 path=$2 body=${3-}
	shift 3 2>/dev/null || shift $#
	local args=(-s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method" "${CURL_TLS[@]}")
	[ -n "$body" ] && args+=(--data-binary "$body")
	CODE=$(curl "${args[@]}" "$@" "$URL$path")
	BODY=$(cat "$T/body")
}

jq_of() { jq -r "$1" <<<"$BODY"; }

# expect_status CODE DESCRIPTION: the last request's status
expect_status() {
	if [ "$CODE" = "$1" ]; then
		ok "$2"
	else
		not_ok "$2 (want HTTP $1, got $CODE)"
		diag "body: $BODY"
	fi
}

# expect_jq EXPR WANT DESCRIPTION: jq -r EXPR on the last body is WANT
expect_jq() {
	local got
	got=$(jq -r "$1" <<<"$BODY" 2>&1)
	if [ "$got" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3 ($1 is '$got', want '$2')"
		diag "body: $BODY"
	fi
}

store_state() {
	(cd "$LOKT_ROOT" 2>/dev/null && find . -type f ! -path '*/.*' -print0 |
		sort -z | xargs -0 -r sha1sum) | sha1sum
}
