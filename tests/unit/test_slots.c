// SPDX-License-Identifier: MIT
/*
 * Semaphores and shared locks in liblokt (core/slots.c), on a real store:
 * each holder its own lock_id and a fence above every fence the name had
 * in any mode; refusals in another mode leave the record byte for byte;
 * renew, keep and release act on one holder; a record of several holders
 * that does not parse is broken as corrupt; the cap of LOKT_SLOTS_MAX.
 */
#include "proto.h"

TestSuite(slots, .init = fx_setup, .fini = fx_teardown);

/* A holder in this process, told apart from the others by its agent. */
static struct lokt_who agent(const char *owner, const char *id)
{
	struct lokt_who w = who_of(getpid(), owner);

	snprintf(w.agent_id, sizeof(w.agent_id), "%s", id);
	return w;
}

static char *record_bytes(const char *name)
{
	struct lokt_info in;
	char *json = NULL;

	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, name, &in, &json), 0);
	return json;
}

Test(slots, each_holder_its_own_lock_id_and_a_higher_fence)
{
	struct lokt_acquire_opts three = { .slots = 3 }, none = { 0 };
	struct lokt_who a = agent("alice", "a"), b = agent("bob", "b");
	struct lokt_result ra, rb, rx;
	struct lokt_holders h;

	cr_assert_eq(lokt_acquire(fx.s, "n", &a, &none, &rx), 0);
	cr_assert_eq(lokt_release(fx.s, "n", &a, rx.lock.lock_id, 0, &rx), 0);
	cr_assert_eq(lokt_acquire(fx.s, "n", &a, &three, &ra), 0);
	cr_assert_eq(lokt_acquire(fx.s, "n", &b, &three, &rb), 0);
	cr_expect_str_neq(ra.lock.lock_id, rb.lock.lock_id);
	cr_expect_gt(ra.lock.fence, rx.lock.fence); /* above the exclusive one */
	cr_expect_gt(rb.lock.fence, ra.lock.fence);
	cr_assert_eq(lokt_holders(fx.s, "n", &h), 0);
	cr_expect_eq(h.slots, 3);
	cr_expect_eq(h.n, 2);
	free(h.v);
	cr_assert_eq(lokt_release(fx.s, "n", &a, ra.lock.lock_id, 0, &rx), 0);
	cr_assert_eq(lokt_release(fx.s, "n", &b, rb.lock.lock_id, 0, &rx), 0);
	cr_expect_eq(lokt_holders(fx.s, "n", &h), -LOKT_E_NOT_FOUND);
	/* exclusive again: above every slot's fence */
	cr_assert_eq(lokt_acquire(fx.s, "n", &a, &none, &rx), 0);
	cr_expect_gt(rx.lock.fence, rb.lock.fence);
}

Test(slots, another_mode_is_refused_and_changes_nothing)
{
	struct lokt_acquire_opts two = { .slots = 2 }, three = { .slots = 3 },
				 shared = { .shared = true }, none = { 0 };
	struct lokt_who a = agent("alice", "a"), b = agent("bob", "b");
	struct lokt_result res;
	char *before, *after;

	cr_assert_eq(lokt_acquire(fx.s, "m", &a, &two, &res), 0);
	before = record_bytes("m");
	cr_expect_eq(lokt_acquire(fx.s, "m", &b, &three, &res), -LOKT_E_MODE);
	cr_expect(res.have_other);
	cr_expect_eq(res.other.slots, 2);
	cr_expect_eq(lokt_acquire(fx.s, "m", &b, &shared, &res), -LOKT_E_MODE);
	cr_expect_eq(lokt_acquire(fx.s, "m", &b, &none, &res), -LOKT_E_MODE);
	after = record_bytes("m");
	cr_expect_str_eq(after, before);
	cr_expect_eq(lokt_exit_code(-LOKT_E_MODE), 2);
	cr_expect_eq(lokt_errno(-LOKT_E_MODE), EBUSY);
	cr_expect_str_eq(lokt_error_word(-LOKT_E_MODE), "mode");
	free(before);
	free(after);
	/* the other way: --slots on an exclusive lock */
	cr_assert_eq(lokt_acquire(fx.s, "x", &a, &none, &res), 0);
	cr_expect_eq(lokt_acquire(fx.s, "x", &b, &two, &res), -LOKT_E_MODE);
	cr_expect_eq(lokt_acquire(fx.s, "x", &b, &shared, &res), -LOKT_E_HELD);
}

Test(slots, renew_keep_release_act_on_one_holder)
{
	struct lokt_acquire_opts shared = { .shared = true };
	struct lokt_who a = agent("alice", "a"), b = agent("bob", "b");
	struct lokt_result ra, rb, res;
	struct lokt_holders h;

	cr_assert_eq(lokt_acquire(fx.s, "r", &a, &shared, &ra), 0);
	cr_assert_eq(lokt_acquire(fx.s, "r", &b, &shared, &rb), 0);
	cr_assert_eq(lokt_renew(fx.s, "r", rb.lock.lock_id, &b, 60, &res), 0);
	cr_expect_eq(res.lock.fence, rb.lock.fence);
	cr_expect_eq(res.lock.ttl_sec, 60);
	cr_assert_eq(lokt_keep(fx.s, "r", ra.lock.lock_id, getpid(), &res), 0);
	cr_assert_eq(lokt_holders(fx.s, "r", &h), 0);
	cr_assert_eq(h.n, 2);
	cr_expect_eq(h.v[0].rec.keeper_pid, getpid());
	cr_expect_eq(h.v[0].rec.ttl_sec, 0);
	cr_expect_eq(h.v[1].rec.keeper_pid, 0);
	cr_expect_eq(h.v[1].rec.ttl_sec, 60);
	free(h.v);
	cr_assert_eq(lokt_release(fx.s, "r", &a, ra.lock.lock_id, 0, &res), 0);
	cr_expect_eq(lokt_release(fx.s, "r", &a, ra.lock.lock_id, 0, &res),
		     -LOKT_E_LOST);
	cr_expect_eq(lokt_renew(fx.s, "r", ra.lock.lock_id, &a, 60, &res),
		     -LOKT_E_LOST);
	cr_assert_eq(lokt_holders(fx.s, "r", &h), 0);
	cr_expect_eq(h.n, 1);
	cr_expect_str_eq(h.v[0].rec.lock_id, rb.lock.lock_id);
	free(h.v);
}

Test(slots, a_bad_record_of_several_is_corrupt_and_broken)
{
	struct lokt_acquire_opts two = { .slots = 2 };
	struct lokt_who a = agent("alice", "a");
	struct lokt_result res;
	struct lokt_info in;
	const char *bad =
		"{\"version\":1,\"name\":\"c\",\"owner\":\"lokt-slots\","
		"\"host\":\"lokt-slots.invalid\",\"pid\":1,\"acquired_ts\":"
		"\"2026-01-01T00:00:00Z\",\"slots\":2,\"holders\":7}\n";

	unit_write(fx.dir, "root/locks/c.json", bad, strlen(bad));
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "c", &in, NULL), 0);
	cr_expect_eq(in.stale, LOKT_STALE_CORRUPT);
	cr_assert_eq(lokt_acquire(fx.s, "c", &a, &two, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_CORRUPT);
	cr_expect(audit_has("\"corrupt-break\""));
}

Test(slots, at_most_the_cap_of_shared_holders)
{
	struct lokt_acquire_opts shared = { .shared = true };
	struct lokt_result res;
	char id[16];
	int i;

	for (i = 0; i < LOKT_SLOTS_MAX; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		struct lokt_who w = agent("reader", id);

		cr_assert_eq(lokt_acquire(fx.s, "cap", &w, &shared, &res), 0);
	}
	struct lokt_who w = agent("reader", "one-more");

	cr_expect_eq(lokt_acquire(fx.s, "cap", &w, &shared, &res), -LOKT_E_HELD);
}

Test(slots, bad_options)
{
	struct lokt_acquire_opts both = { .slots = 2, .shared = true },
				 big = { .slots = LOKT_SLOTS_MAX + 1 };
	struct lokt_who a = agent("alice", "a");
	struct lokt_result res;

	cr_expect_eq(lokt_acquire(fx.s, "o", &a, &both, &res), -EINVAL);
	cr_expect_eq(lokt_acquire(fx.s, "o", &a, &big, &res), -EINVAL);
}
