// SPDX-License-Identifier: MIT
/*
 * Gates (semaphores and shared locks) on a real etcd member.
 *
 * The fence of a gate's first holder (core/etcd/backend.c, e_fence):
 * issued at the transition's read revision plus one, it must be above
 * every fence the name had when the gate is created, even if the name
 * was taken and released by someone else between that read and the
 * creation. The transition is driven here through the store seam
 * (backend.h) so that the other acquisition lands exactly in that gap.
 *
 * A waiter at the head of a gate's queue wakes when a holder's lease
 * runs out (only its slot key goes).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "lokt.h"
#include "member.h"
#include "protocol.h" /* lokt__wait_recheck_ms */
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

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The lease of the one slot key of name, from etcdctl; 0 if none. */
static long long slot_lease(const char *name)
{
	char cmd[512], out[512] = "", *p;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints %s get --prefix "
		 "/gatefence/slot/%s/ --print-value-only 2>&1",
		 cluster.endpoint[0], name);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	pclose(f);
	p = strstr(out, "\"lease\":");
	return p ? strtoll(p + 8 + (p[8] == '"'), NULL, 10) : 0;
}

/* The waiter tells the test of its first refusal by a holder ('H'),
 * which it reports once it has planned what wakes it (core/wait.c). */
static void tell_refusal(const struct lokt_progress *p, void *ud)
{
	static bool said;

	if (p->holder && !p->frozen && !said)
		said = write(*(int *)ud, "H", 1) == 1;
}

/* Refused by a shared holder at the head of the queue: the waiter must
 * watch the slot keys too, and get in as soon as that holder's lease is
 * gone, not at its next look (a third of the lease: 20 s here, and no
 * periodic re-check in this process). The lease is revoked only once
 * the waiter was refused: revoked before, it gets in at its first look,
 * watch or none. (A freeze before the holder changes nothing here: a
 * held name is refused as held before its freeze is looked at.) */
Test(gate_fence, head_waiter_refused_by_a_shared_holder_sees_its_lease_end,
     .init = start, .fini = stop, .timeout = 90)
{
	struct lokt_acquire_opts shared = { .shared = true, .tend = true };
	struct lokt_store *s = NULL;
	struct lokt_result res;
	struct lokt_who who;
	long long lease;
	int64_t revoked, got = 0;
	int pfd[2], said[2], st;
	char cmd[256], c = 0;
	pid_t waiter;

	if (system("command -v etcdctl >/dev/null") != 0)
		cr_skip_test("etcdctl is not installed (Debian package etcd-client)");
	setenv("LOKT_ETCD_LEASE", "60", 1);
	cr_assert_eq(lokt_store_open(root, &s), 0);
	cr_assert_eq(lokt_who_self(getpid(), &who), 0);
	cr_assert_eq(lokt_acquire(s, "fz", &who, &shared, &res), 0);
	lease = slot_lease("fz");
	cr_assert_gt(lease, 0, "no slot key for the shared holder");

	cr_assert_eq(pipe(pfd), 0);
	cr_assert_eq(pipe(said), 0);
	waiter = fork();
	cr_assert_geq(waiter, 0);
	if (waiter == 0) {
		struct lokt_acquire_opts ex = { .wait = true,
						.timeout_ms = 60000,
						.tend = true,
						.progress = tell_refusal,
						.userdata = &said[1] };
		struct lokt_store *w = NULL;
		struct lokt_who me;
		int64_t at;

		close(said[0]);
		lokt__wait_recheck_ms = -1;
		if (lokt_store_open(root, &w) < 0 ||
		    lokt_who_self(getpid(), &me) < 0 ||
		    lokt_acquire(w, "fz", &me, &ex, &res) < 0)
			_exit(1);
		at = mono_ms();
		_exit(write(pfd[1], &at, sizeof(at)) == sizeof(at) ? 0 : 1);
	}
	close(pfd[1]);
	close(said[1]);
	cr_assert(read(said[0], &c, 1) == 1 && c == 'H',
		  "the waiter was not refused by the shared holder");
	revoked = mono_ms();
	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints %s lease revoke %llx "
		 ">/dev/null",
		 cluster.endpoint[0], lease);
	cr_assert_eq(system(cmd), 0, "etcdctl lease revoke failed");
	if (read(pfd[0], &got, sizeof(got)) != sizeof(got))
		got = 0;
	waitpid(waiter, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got > 0,
		  "the waiter did not get the lock");
	cr_assert_lt(got - revoked, 8000,
		     "the waiter got in %lld ms after the shared holder's "
		     "lease ended: it did not watch the slot keys",
		     (long long)(got - revoked));
	close(pfd[0]);
	close(said[0]);
	lokt_store_close(s);
	unsetenv("LOKT_ETCD_LEASE");
}
