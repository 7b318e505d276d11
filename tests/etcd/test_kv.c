// SPDX-License-Identifier: MIT
/*
 * Transactions and leases of the etcd backend (core/etcd/kv.c) against a
 * real etcd member: create-if-absent on a lease, the holder returned to
 * the loser in the same transaction, a renewal that keeps the create
 * revision (the fence), a compare over an empty range (an empty queue),
 * and leases kept alive, revoked and lost.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv.h"
#include "member.h"

static struct etcd_cluster cluster;
static struct lokt_gw *g;

static void start(void)
{
	const char *eps[1];
	struct lokt_gw_opts o = { .endpoints = eps, .n_endpoints = 1 };

	if (!etcd_binary())
		cr_skip_test("etcd is not installed (Debian package etcd-server)");
	cr_assert_eq(etcd_start(&cluster, 1), 0, "etcd did not start");
	eps[0] = cluster.endpoint[0];
	cr_assert_eq(lokt__gw_open(&o, &g), 0);
}

static void stop(void)
{
	lokt__gw_close(g);
	etcd_stop(&cluster);
}

/* Create key = value on lease if absent; else read the holder. */
static bool create(const char *key, const char *value, int64_t lease,
		   struct lokt_txn_answer *a)
{
	struct lokt_etcd_txn t;

	cr_assert_eq(lokt__txn_init(&t), 0);
	lokt__txn_cmp(&t, key, NULL, LOKT_CMP_CREATE, LOKT_CMP_EQ, 0);
	lokt__txn_put(&t, true, key, value, lease, false);
	lokt__txn_get(&t, false, key, NULL);
	cr_assert_eq(lokt__txn_run(g, &t, a), 0);
	lokt__txn_free(&t);
	return a->succeeded;
}

static struct lokt_kv get1(const char *key)
{
	struct lokt_kv *kvs, one;
	size_t n;

	cr_assert_eq(lokt__kv_range(g, key, NULL, 0, &kvs, &n, NULL, NULL), 0);
	cr_assert_eq(n, 1, "%s: %zu keys", key, n);
	one = kvs[0];
	free(kvs);
	return one;
}

static size_t count(const char *key)
{
	struct lokt_kv *kvs;
	size_t n;

	cr_assert_eq(lokt__kv_range(g, key, NULL, 0, &kvs, &n, NULL, NULL), 0);
	lokt__kvs_free(kvs, n);
	return n;
}

Test(kv, create_if_absent, .init = start, .fini = stop)
{
	struct lokt_txn_answer a;
	struct lokt_kv *kvs, kv;
	int64_t lease;
	size_t n;

	cr_assert_eq(lokt__lease_grant(g, 30, &lease), 0);
	cr_assert(create("p/locks/x", "alice", lease, &a));
	json_object_put(a.answer);
	cr_assert_not(create("p/locks/x", "bob", 0, &a));
	/* The loser learns the holder from the same transaction. */
	cr_assert_eq(lokt__txn_kvs(&a, 0, &kvs, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(kvs[0].value, "alice");
	cr_assert_eq(kvs[0].lease, lease);
	lokt__kvs_free(kvs, n);
	json_object_put(a.answer);

	/* A renewal: compare the mod revision, keep lease and create
	 * revision (the fence). */
	kv = get1("p/locks/x");
	{
		struct lokt_etcd_txn t;

		cr_assert_eq(lokt__txn_init(&t), 0);
		lokt__txn_cmp(&t, "p/locks/x", NULL, LOKT_CMP_MOD, LOKT_CMP_EQ,
			      kv.mod_rev);
		lokt__txn_put(&t, true, "p/locks/x", "alice2", 0, true);
		cr_assert_eq(lokt__txn_run(g, &t, &a), 0);
		cr_assert(a.succeeded);
		json_object_put(a.answer);
		lokt__txn_free(&t);
	}
	{
		struct lokt_kv again = get1("p/locks/x");

		cr_assert_eq(again.create_rev, kv.create_rev);
		cr_assert_eq(again.lease, lease);
		cr_assert_str_eq(again.value, "alice2");
		free(again.key);
		free(again.value);
	}
	free(kv.key);
	free(kv.value);
	cr_assert_eq(lokt__lease_revoke(g, lease), 0);
	cr_assert_eq(count("p/locks/x"), 0, "revoking the lease deletes it");
	cr_assert_eq(lokt__lease_revoke(g, lease), 0, "revoked twice is fine");
}

Test(kv, empty_range_compare, .init = start, .fini = stop)
{
	char *end = lokt__kv_prefix_end("p/queue/x/");
	struct lokt_txn_answer a;
	struct lokt_etcd_txn t;
	int round;

	cr_assert_str_eq(end, "p/queue/x0");
	/* A compare over a range holds when it holds for every key; over an
	 * empty range, etcd compares a zero key: CREATE == 0 holds exactly
	 * when no key is there (an empty queue), in the same transaction
	 * as a put. */
	for (round = 0; round < 2; round++) {
		cr_assert_eq(lokt__txn_init(&t), 0);
		lokt__txn_cmp(&t, "p/queue/x/", end, LOKT_CMP_CREATE,
			      LOKT_CMP_EQ, 0);
		lokt__txn_put(&t, true, "p/queue/x/1", "w", 0, false);
		cr_assert_eq(lokt__txn_run(g, &t, &a), 0);
		if (round == 0)
			cr_assert(a.succeeded, "empty: the compare holds");
		else
			cr_assert_not(a.succeeded, "a waiter: it does not");
		json_object_put(a.answer);
		lokt__txn_free(&t);
	}
	free(end);
}

Test(kv, lease_lost, .init = start, .fini = stop)
{
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	struct lokt_txn_answer a;
	int64_t lease, ttl;
	int tries = 0;

	cr_assert_eq(lokt__lease_grant(g, 1, &lease), 0);
	cr_assert_eq(lokt__lease_keepalive(g, lease, &ttl), 0);
	cr_assert_geq(ttl, 1);
	cr_assert(create("p/locks/short", "x", lease, &a));
	json_object_put(a.answer);
	/* Not kept alive: revoked by the leader within a few seconds (a
	 * bound, not a measure), with the key. Until the revoke is applied,
	 * a keepalive may still save the lease even after timetolive called
	 * it expired: so the key's absence is what is awaited. */
	while (count("p/locks/short") && tries++ < 50)
		nanosleep(&pause, NULL);
	cr_assert_eq(count("p/locks/short"), 0);
	cr_assert_eq(lokt__lease_ttl(g, lease, &ttl), -ENOENT);
	cr_assert_eq(lokt__lease_keepalive(g, lease, &ttl), -ENOENT);
}
