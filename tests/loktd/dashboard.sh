#!/bin/bash
# SPDX-License-Identifier: MIT
# The dashboard in a real browser (Debian's chromium, headless, driven
# through its DevTools protocol by devtools.py): the page loads, its event
# stream goes live, and a lock then taken with `lokt` appears within a
# second without a reload. The screenshot is kept in the build's
# meson-logs/loktd-dashboard.png. Without JavaScript the page is a plain
# table that already lists the locks, freezes and the timeline.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"

# Something to show: history, held locks, a freeze.
for i in 1 2 3; do
	req POST /v1/locks/nightly-build '{"ttl":"5m","owner":"ci"}'
	id=$(jq_of .lock_id)
	sleep 0.2
	req DELETE "/v1/locks/nightly-build?lock_id=$id&owner=ci"
done
req POST /api/v1alpha1/lock '{"service":"production-deployment","who":"ci-pipeline-123"}'
req POST /v1/locks/db-migration '{"ttl":"20m","owner":"alice"}'
req POST /v1/freezes/release '{"ttl":"1h","owner":"release-manager"}'
expect_status 200 "a lock history, locks and a freeze to show"

# Without JavaScript: the page itself.
req GET /
expect_status 200 "GET / answers"
check "it is HTML" grep -qi '^Content-Type: text/html' "$T/headers"
contains "$BODY" '<table id=locks>' "the locks are a plain table"
contains "$BODY" 'db-migration' "... listing db-migration"
contains "$BODY" 'ci-pipeline-123' "... and the Tracker lock's owner"
contains "$BODY" '<table id=freezes>' "the freezes are a table"
contains "$BODY" 'class="bar' "the timeline has bars"
if grep -qE '(src|href)="?https?://' <<<"$BODY"; then
	not_ok "no asset from another site (no CDN)"
else
	ok "no asset from another site (no CDN)"
fi
req GET "/?window=day"
contains "$BODY" 'last day' "?window=day"

if [ -z "$CHROMIUM" ]; then
	skip "dashboard in a browser" "chromium is not installed"
	done_testing
	exit 0
fi
shot=$BUILD_ROOT/meson-logs/loktd-dashboard.png
mkdir -p "$(dirname "$shot")"
rm -f "$shot"
export DASH_LOCK=taken-with-lokt NOJS_EXPECT=db-migration
# TMPDIR: chromium leaves its singleton directory there at exit.
res=$(TMPDIR=$T "$PY" "$SRC_ROOT/tests/loktd/devtools.py" "$CHROMIUM" "$URL/" "$shot" -- \
	"$LOKT" lock "$DASH_LOCK" --ttl 10m --detach -q 2>"$T/devtools.err")
diag "devtools: $res"
[ "$(jq -r .live <<<"$res")" = true ] && ok "the page loads and its event stream goes live" || {
	not_ok "the page loads and its event stream goes live"
	diag "$(tail -5 "$T/devtools.err")"
}
[ "$(jq -r .nojs_tables <<<"$res")" = true ] && ok "with JavaScript off, the browser shows the locks table" || not_ok "no locks table without JavaScript"
[ "$(jq -r .nojs_status <<<"$res")" = static ] && ok "... marked static (no live updates)" || not_ok "nojs status: $(jq -r .nojs_status <<<"$res")"
seen=$(jq -r .seen_ms <<<"$res")
if [ "$seen" != null ] && [ -n "$seen" ] && [ "$seen" -le 1000 ]; then
	ok "a lock taken with lokt shows within a second ($seen ms)"
else
	not_ok "a lock taken with lokt shows within a second (seen_ms: $seen)"
fi
[ "$(jq -r .reloaded <<<"$res")" = false ] && ok "without a reload" || not_ok "the page reloaded"
check "the screenshot is kept: meson-logs/loktd-dashboard.png" test -s "$shot"
diag "screenshot: $shot"

stop_loktd
[ "$RC" = 0 ] && ok "exit 0" || not_ok "exit $RC"
done_testing
