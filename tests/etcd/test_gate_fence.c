// SPDX-License-Identifier: MIT
/*
 * The fence of a gate's first holder on etcd (core/etcd/backend.c,
 * e_fence): issued at the transition's read revision plus one, it must
 * be above every fence the name had when the gate is created, even if
 * the name was taken and released by someone else between that read and
 * the creation. The transition is driven here through the store seam
 * (backend.h) so that the other acquisition lands exactly in that gap;
 * on a real etcd member.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "lokt.h"
#include "member.h"
#include "slots.h"

static struct etcd_cluster cluster;
static char root[128];

static void start(void)
{
	if (!etcd_binary())
		cr_skip_test("etcd is not installed (Debian package etcd-server)");
	cr_assert_eq(etcd_start(&cluster, 1), 0, "etcd did not start");
	snprintf(root, sizeof(root), "etcd://%s/gatefence",
		 cluster.endpoint[0]);
}

static void stop(void)
{
	etcd_stop(&cluster);
}

/* A shared gate of one detached holder (pid 1: no lease, no keeper). */
static char *gate_json(const char *name, uint64_t fence)
{
	struct gate *g = calloc(1, sizeof(*g));
	char *json = NULL;

	cr_assert_not_null(g);
	g->top.version = LOKT_PROTOCOL_VERSION;
	snprintf(g->top.name, sizeof(g->top.name), "%s", name);
	snprintf(g->top.owner, sizeof(g->top.owner), GATE_OWNER);
	snprintf(g->top.host, sizeof(g->top.host), GATE_HOST);
	snprintf(g->top.lock_id, sizeof(g->top.lock_id), "%s",
		 "00000000000000000000000000000001");
	g->top.pid = LOKT_DETACHED_PID;
	g->top.uid = -1;
	g->top.fence = fence;
	g->n = 1;
	g->h[0] = g->top;
	snprintf(g->h[0].owner, sizeof(g->h[0].owner), "reader");
	snprintf(g->h[0].host, sizeof(g->h[0].host), "h");
	snprintf(g->h[0].lock_id, sizeof(g->h[0].lock_id), "%s",
		 "00000000000000000000000000000002");
	g->h[0].ttl_sec = 60;
	cr_assert_eq(lokt__gate_format(g, &json), 0);
	free(g);
	return json;
}

/* A gate's creation read the name free; before it is sent, another
 * holder takes the name exclusively and releases it. The creation must
 * then fail its compare (and run again, reading), or carry a fence
 * above that holder's: never the same fence twice. */
Test(gate_fence, creation_after_a_take_and_release_between,
     .init = start, .fini = stop)
{
	struct lokt_store *s = NULL, *o = NULL;
	struct lokt_acquire_opts ao = { .ttl_sec = 60 };
	struct lokt_result got;
	struct lokt_txn *t = NULL;
	struct lokt_who who;
	uint64_t fence = 0;
	char *json;
	int r;

	cr_assert_eq(lokt_store_open(root, &s), 0);
	cr_assert_eq(lokt_store_open(root, &o), 0);
	cr_assert_eq(lokt_who_self(LOKT_DETACHED_PID, &who), 0);
	cr_assert_eq(s->be->begin(s, LOKT_LOCK, "g1", &t), 0);
	cr_assert_eq(s->be->fence(t, 0, &fence), 0);
	/* Between its read and its creation: taken and released. */
	cr_assert_eq(lokt_acquire(o, "g1", &who, &ao, &got), 0);
	cr_assert_eq(lokt_release(o, "g1", &who, got.lock.lock_id, 0, NULL),
		     0);
	json = gate_json("g1", fence);
	cr_assert_eq(s->be->put(t, json, true), 0);
	r = s->be->end(t, true);
	free(json);
	cr_assert(r == -EAGAIN || (r == 0 && fence > got.lock.fence),
		  "the gate was created with fence %llu, the exclusive "
		  "holder between had %llu (end: %d)",
		  (unsigned long long)fence,
		  (unsigned long long)got.lock.fence, r);
	lokt_store_close(o);
	lokt_store_close(s);
}
