#!/bin/bash
# SPDX-License-Identifier: MIT
# Two loktd on one etcd store, as behind a load balancer: a lock taken
# through one is refused through the other, seen by lokt, and released
# through the other (LOKT_TEST_STORE=etcd: a private etcd member).
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

export LOKT_ETCD_TIMEOUT=2s # the member stopped below: 2 s, not 8

start_loktd || { not_ok "first loktd started"; done_testing; exit 1; }
URL1=$URL PID1=$LOKTD_PID
start_loktd || { not_ok "second loktd started"; done_testing; exit 1; }
URL2=$URL
check "two loktd on two ports ($URL1, $URL2)" test "$URL1" != "$URL2"

URL=$URL1
req POST /api/v1alpha1/lock '{"service":"prod-deploy","who":"pipeline-1"}'
expect_status 200 "pipeline 1 locks prod-deploy through loktd 1"
id=$(jq_of .id)
URL=$URL2
req POST /api/v1alpha1/lock '{"service":"prod-deploy","who":"pipeline-2"}'
expect_status 409 "pipeline 2 is refused through loktd 2"
expect_jq .existingLock.id "$id" "... and told pipeline 1's lock id"
expect_exit 0 "lokt sees the lock" "$LOKT" exists prod-deploy
contains "$("$LOKT" status prod-deploy --json)" '"owner":"pipeline-1"' "... held by pipeline 1"
req GET "/api/v1alpha1/unlock/$id"
expect_status 200 "released by its id through loktd 2"
expect_exit 3 "lokt sees it free" "$LOKT" exists prod-deploy
URL=$URL1
req POST /api/v1alpha1/lock '{"service":"prod-deploy","who":"pipeline-2"}'
expect_status 200 "pipeline 2 locks it through loktd 1 now"

# The cluster out of reach: 503, to try again (curl --retry does), in
# Tracker's shape on its routes; not 500, as if loktd had failed.
kill -STOP "$ETCD_PID"
req POST /api/v1alpha1/lock '{"service":"cut-off","who":"pipeline-3"}'
expect_status 503 "etcd out of reach: 503"
expect_jq .success false "... in Tracker's shape"
contains "$(jq_of .error)" "did not answer" "... saying the cluster did not answer"
kill -CONT "$ETCD_PID"
req POST /api/v1alpha1/lock '{"service":"cut-off","who":"pipeline-3"}'
expect_status 200 "... and the lock is taken once etcd answers again"

done_testing
