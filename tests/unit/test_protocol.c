// SPDX-License-Identifier: MIT
/*
 * The transitions of liblokt one by one, on a real store in a temporary
 * directory, with real processes as holders: fences, re-entrance,
 * release rules, renew, freezes, corrupt and future-version files, prune,
 * lokt_with_lock.
 */
#include "proto.h"

TestSuite(fence, .init = fx_setup, .fini = fx_teardown);
TestSuite(acquire, .init = fx_setup, .fini = fx_teardown);
TestSuite(release, .init = fx_setup, .fini = fx_teardown);
TestSuite(freeze, .init = fx_setup, .fini = fx_teardown);
TestSuite(files, .init = fx_setup, .fini = fx_teardown);
TestSuite(with_lock, .init = fx_setup, .fini = fx_teardown);

static const struct lokt_acquire_opts no_opts = { 0 };

static void put_lock_file(const char *name, const char *json)
{
	char file[LOKT_NAME_MAX + 16];

	snprintf(file, sizeof(file), "root/locks/%s.json", name);
	unit_write(fx.dir, file, json, strlen(json));
}

Test(fence, increases_across_acquire_release)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	uint64_t last = 0;

	for (int i = 0; i < 5; i++) {
		cr_assert_eq(lokt_acquire(fx.s, "f", &me, &no_opts, &res), 0);
		cr_expect_gt(res.lock.fence, last);
		last = res.lock.fence;
		cr_assert_eq(lokt_release(fx.s, "f", &me, res.lock.lock_id, 0,
					  &res),
			     0);
	}
	cr_expect_eq(last, 5);
}

Test(fence, renew_keeps_fence_and_lock_id)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result a, b;

	cr_assert_eq(lokt_acquire(fx.s, "f", &me, &no_opts, &a), 0);
	cr_expect_not(a.renewed);
	cr_assert_eq(lokt_acquire(fx.s, "f", &me, &no_opts, &b), 0);
	cr_expect(b.renewed);
	cr_expect_eq(b.lock.fence, a.lock.fence);
	cr_expect_str_eq(b.lock.lock_id, a.lock.lock_id);
	cr_assert_eq(lokt_renew(fx.s, "f", a.lock.lock_id, &me, 60, &b), 0);
	cr_expect_eq(b.lock.fence, a.lock.fence);
	cr_expect_eq(b.lock.ttl_sec, 60);
}

Test(fence, increases_across_stale_break)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_record dead = leave_dead_lock("f");
	struct lokt_result res;

	cr_assert_eq(lokt_acquire(fx.s, "f", &me, &no_opts, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_DEAD);
	cr_expect_str_eq(res.broken.lock_id, dead.lock_id);
	cr_expect_eq(res.lock.fence, dead.fence + 1);
	cr_expect(audit_has("\"stale-break\""));
}

Test(fence, never_below_existing_file)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	char side[PATH_MAX];

	/* An expired lock of another host carrying fence 1000, and no
	 * sidecar at all (as if the counter had been lost). */
	put_lock_file("f", "{\"version\":1,\"name\":\"f\",\"owner\":\"bob\","
			   "\"host\":\"elsewhere\",\"pid\":1,"
			   "\"acquired_ts\":\"2001-01-01T00:00:00Z\","
			   "\"ttl_sec\":1,\"fence\":1000}");
	fx_path(side, sizeof(side), "root/locks/.f.lk");
	unlink(side);
	cr_assert_eq(lokt_acquire(fx.s, "f", &me, &no_opts, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_EXPIRED);
	cr_expect_eq(res.lock.fence, 1001);
}

Test(acquire, held_by_other_process_then_reentrant_child)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	pid_t pid;

	cr_assert_eq(lokt_acquire(fx.s, "h", &me, &no_opts, &res), 0);
	/* Same owner, but not our descendant: held. */
	struct lokt_who other = who_of(getppid(), "alice");

	cr_expect_eq(lokt_acquire(fx.s, "h", &other, &no_opts, &res),
		     -LOKT_E_HELD);
	cr_expect(res.have_other);
	cr_expect_eq(res.other.rec.pid, getpid());
	cr_expect(audit_has("\"deny\""));
	/* Our child asking for itself: re-entrant, holder stays us. */
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct lokt_who c = who_of(getpid(), "alice");
		int r = lokt_acquire(fx.s, "h", &c, &no_opts, &res);

		_exit(r == 0 && res.renewed && res.lock.pid == getppid() ?
			      CHILD_WON : CHILD_ERROR);
	}
	cr_expect_eq(reap(pid), CHILD_WON);
}

Test(acquire, agent_id_reenters)
{
	struct lokt_who a = who_of(getpid(), "alice");
	struct lokt_who b = who_of(getppid(), "bob");
	struct lokt_result res;

	strcpy(a.agent_id, "agent-7");
	strcpy(b.agent_id, "agent-7");
	cr_assert_eq(lokt_acquire(fx.s, "g", &a, &no_opts, &res), 0);
	cr_expect_eq(lokt_acquire(fx.s, "g", &b, &no_opts, &res), 0);
	cr_expect(res.renewed);
	strcpy(b.agent_id, "agent-8");
	cr_expect_eq(lokt_acquire(fx.s, "g", &b, &no_opts, &res),
		     -LOKT_E_HELD);
}

Test(acquire, bad_name_and_ttl)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_acquire_opts neg = { .ttl_sec = -1 };
	struct lokt_acquire_opts huge = { .ttl_sec = LOKT_TTL_MAX_SEC + 1 };
	struct lokt_result res;

	cr_expect_eq(lokt_acquire(fx.s, "../x", &me, &no_opts, &res),
		     -LOKT_E_BAD_NAME);
	cr_expect_eq(lokt_acquire(fx.s, ".x", &me, &no_opts, &res),
		     -LOKT_E_BAD_NAME);
	cr_expect_eq(lokt_acquire(fx.s, "x", &me, &neg, &res), -EINVAL);
	cr_expect_eq(lokt_acquire(fx.s, "x", &me, &huge, &res), -EINVAL,
		     "a TTL over LOKT_TTL_MAX_SEC");
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "x", &res.other, NULL),
		     -LOKT_E_NOT_FOUND);
}

/* A record a reader would judge corrupt (and break: two holders inside)
 * is never written: owner, host and agent_id must be UTF-8, the pid a
 * process. */
Test(acquire, unwritable_holder)
{
	struct lokt_who bad[5];
	struct lokt_result res;

	for (size_t i = 0; i < 5; i++)
		bad[i] = who_of(getpid(), "alice");
	snprintf(bad[0].owner, sizeof(bad[0].owner), "caf\xe9");
	snprintf(bad[1].agent_id, sizeof(bad[1].agent_id), "a\xff");
	snprintf(bad[2].host, sizeof(bad[2].host), "h\xc0\xafx");
	bad[3].pid = 0;
	bad[4].pid = -5;
	for (size_t i = 0; i < 5; i++) {
		cr_expect_eq(lokt_acquire(fx.s, "u", &bad[i], &no_opts, &res),
			     -EINVAL, "acquire of holder %zu", i);
		cr_expect_eq(lokt_freeze(fx.s, "u", &bad[i], 60, &res),
			     -EINVAL, "freeze of holder %zu", i);
	}
	/* pid 1 (here the system's init) holds detached locks: a new one
	 * never without a TTL; renewed without one, it keeps its own. */
	bad[0] = who_of(1, "alice");
	cr_expect_eq(lokt_acquire(fx.s, "u", &bad[0], &no_opts, &res), -EINVAL);
	{
		struct lokt_acquire_opts ttl = { .ttl_sec = 60 };

		cr_expect_eq(lokt_acquire(fx.s, "d", &bad[0], &ttl, &res), 0);
		cr_expect_eq(lokt_acquire(fx.s, "d", &bad[0], &no_opts, &res),
			     0, "a renewal without a TTL refused");
		cr_expect(res.renewed);
		cr_expect_eq(res.lock.ttl_sec, 60);
		cr_expect_eq(lokt_release(fx.s, "d", &bad[0], NULL, 0, &res),
			     0);
	}
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "u", &res.other, NULL),
		     -LOKT_E_NOT_FOUND);
	cr_expect_eq(lokt_get(fx.s, LOKT_FREEZE, "u", &res.other, NULL),
		     -LOKT_E_NOT_FOUND);
}

Test(acquire, ttl_expiry_is_broken)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;

	put_lock_file("t", "{\"name\":\"t\",\"owner\":\"bob\",\"host\":\"h2\","
			   "\"pid\":1,\"acquired_ts\":\"2001-01-01T00:00:00.5Z\","
			   "\"ttl_sec\":30,"
			   "\"expires_at\":\"2001-01-01T00:00:30.5Z\"}");
	cr_assert_eq(lokt_acquire(fx.s, "t", &me, &no_opts, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_EXPIRED);
	cr_expect_str_eq(res.broken.owner, "bob");
	cr_expect(audit_has("\"reason\":\"expired\""));
}

Test(release, rules)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_who bob = who_of(getppid(), "bob");
	struct lokt_who alice2 = who_of(getppid(), "alice");
	struct lokt_result res;
	char id[LOKT_ID_LEN + 1];

	cr_assert_eq(lokt_acquire(fx.s, "r", &me, &no_opts, &res), 0);
	strcpy(id, res.lock.lock_id);
	cr_expect_eq(lokt_release(fx.s, "r", &bob, NULL, 0, &res),
		     -LOKT_E_NOT_OWNER);
	cr_expect_str_eq(res.other.rec.owner, "alice");
	cr_expect_eq(lokt_release(fx.s, "r", &bob, NULL,
				  LOKT_RELEASE_BREAK_STALE, &res),
		     -LOKT_E_NOT_OWNER, "a live lock is not stale");
	cr_expect_eq(lokt_release(fx.s, "r", &me, "0123456789abcdef0123456789abcdef",
				  0, &res),
		     -LOKT_E_LOST);
	cr_expect(audit_has("\"lost\""));
	/* The same owner from anywhere. */
	cr_expect_eq(lokt_release(fx.s, "r", &alice2, NULL, 0, &res), 0);
	cr_expect_str_eq(res.lock.lock_id, id);
	cr_expect_eq(lokt_release(fx.s, "r", &me, NULL, 0, &res),
		     -LOKT_E_NOT_FOUND);
	cr_expect_eq(lokt_renew(fx.s, "r", id, &me, 10, &res), -LOKT_E_LOST);

	cr_assert_eq(lokt_acquire(fx.s, "r", &me, &no_opts, &res), 0);
	cr_expect_eq(lokt_release(fx.s, "r", &bob, NULL, LOKT_RELEASE_FORCE,
				  &res),
		     0);
	cr_expect_eq(res.broke, LOKT_LIVE);
	cr_expect(audit_has("\"force-break\""));
}

Test(release, break_stale_and_prune)
{
	struct lokt_who bob = who_of(getppid(), "bob");
	struct lokt_result res;
	size_t n = 99;

	leave_dead_lock("d1");
	cr_expect_eq(lokt_release(fx.s, "d1", &bob, NULL, 0, &res),
		     -LOKT_E_NOT_OWNER);
	cr_expect_eq(lokt_release(fx.s, "d1", &bob, NULL,
				  LOKT_RELEASE_BREAK_STALE, &res),
		     0);
	cr_expect_eq(res.broke, LOKT_STALE_DEAD);

	leave_dead_lock("d2");
	leave_dead_lock("d3");
	put_lock_file("c", "{not json");
	cr_assert_eq(lokt_acquire(fx.s, "live", &bob, &no_opts, &res), 0);
	cr_assert_eq(lokt_prune(fx.s, &bob, &n), 0);
	cr_expect_eq(n, 3);
	cr_expect(audit_has("\"auto-prune\""));
	cr_expect(audit_has("\"corrupt-break\""));
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "live", &res.other, NULL), 0);
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "d2", &res.other, NULL),
		     -LOKT_E_NOT_FOUND);
}

Test(release, release_all_of_owner)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_who bob = who_of(getppid(), "bob");
	struct lokt_result res;
	struct lokt_info *v;
	size_t n = 0;

	cr_assert_eq(lokt_acquire(fx.s, "a1", &me, &no_opts, &res), 0);
	cr_assert_eq(lokt_acquire(fx.s, "a2", &me, &no_opts, &res), 0);
	cr_assert_eq(lokt_acquire(fx.s, "b1", &bob, &no_opts, &res), 0);
	cr_assert_eq(lokt_release_all(fx.s, &me, NULL, &n), 0);
	cr_expect_eq(n, 2);
	cr_assert_eq(lokt_list(fx.s, LOKT_LOCK, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(v[0].rec.name, "b1");
	free(v);
}

Test(freeze, blocks_acquire_until_unfreeze)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_who bob = who_of(getppid(), "bob");
	struct lokt_result res;

	cr_expect_eq(lokt_freeze(fx.s, "x", &me, 0, &res), -EINVAL);
	cr_expect_eq(lokt_freeze(fx.s, "x", &me, LOKT_TTL_MAX_SEC + 1, &res),
		     -EINVAL);
	cr_assert_eq(lokt_freeze(fx.s, "x", &me, 600, &res), 0);
	cr_expect_eq(lokt_acquire(fx.s, "x", &bob, &no_opts, &res),
		     -LOKT_E_FROZEN);
	cr_expect(res.have_other);
	cr_expect_str_eq(res.other.rec.owner, "alice");
	cr_expect(audit_has("\"freeze-deny\""));
	/* No collision with a lock named freeze-x, nor with lock x's file. */
	cr_expect_eq(lokt_acquire(fx.s, "freeze-x", &bob, &no_opts, &res), 0);
	cr_expect_eq(lokt_freeze(fx.s, "x", &bob, 60, &res), -LOKT_E_HELD);
	cr_expect_eq(lokt_unfreeze(fx.s, "x", &bob, false, &res),
		     -LOKT_E_NOT_OWNER);
	cr_expect_eq(lokt_freeze(fx.s, "x", &me, 900, &res), 0);
	cr_expect(res.renewed, "the owner's freeze is extended");
	cr_assert_eq(lokt_unfreeze(fx.s, "x", &me, false, &res), 0);
	cr_expect_eq(lokt_acquire(fx.s, "x", &bob, &no_opts, &res), 0);
	cr_expect_eq(lokt_unfreeze(fx.s, "x", &me, false, &res),
		     -LOKT_E_NOT_FOUND);
}

Test(freeze, holder_inside_renews_and_force)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_who bob = who_of(getppid(), "bob");
	struct lokt_result res;

	cr_assert_eq(lokt_acquire(fx.s, "y", &me, &no_opts, &res), 0);
	cr_assert_eq(lokt_freeze(fx.s, "y", &bob, 600, &res), 0);
	cr_expect_eq(lokt_acquire(fx.s, "y", &me, &no_opts, &res), 0);
	cr_expect(res.renewed);
	cr_expect_eq(lokt_unfreeze(fx.s, "y", &me, true, &res), 0);
	cr_expect(audit_has("\"force-unfreeze\""));
}

Test(freeze, expired_freeze_does_not_block)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	const char *old = "{\"name\":\"z\",\"owner\":\"bob\",\"host\":\"h\","
			  "\"pid\":1,\"acquired_ts\":\"2001-01-01T00:00:00Z\","
			  "\"ttl_sec\":60}";

	unit_write(fx.dir, "root/freezes/z.json", old, strlen(old));
	cr_expect_eq(lokt_acquire(fx.s, "z", &me, &no_opts, &res), 0);
	cr_expect_eq(lokt_get(fx.s, LOKT_FREEZE, "z", &res.other, NULL),
		     -LOKT_E_NOT_FOUND);
}

Test(files, corrupt_is_broken)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	struct lokt_info in;

	put_lock_file("c", "{\"name\": 42, garbage");
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "c", &in, NULL), 0);
	cr_expect_eq(in.stale, LOKT_STALE_CORRUPT);
	cr_assert_eq(lokt_acquire(fx.s, "c", &me, &no_opts, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_CORRUPT);
	cr_expect(audit_has("\"corrupt-break\""));
}

Test(files, empty_file_is_reread_then_corrupt)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;

	put_lock_file("e", "");
	cr_assert_eq(lokt_acquire(fx.s, "e", &me, &no_opts, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_CORRUPT);
}

Test(files, future_version_untouched)
{
	static const char v2[] = "{\"version\":2,\"name\":\"v\",\"owner\":"
				 "\"bob\",\"new_field\":[1,2,3]}\n";
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	struct lokt_info in;
	char path[PATH_MAX], *json = NULL;
	size_t n;

	put_lock_file("v", v2);
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "v", &in, &json), 0);
	cr_expect(in.future);
	cr_expect_eq(in.rec.version, 2);
	cr_expect_str_eq(json, v2);
	free(json);
	cr_expect_eq(lokt_acquire(fx.s, "v", &me, &no_opts, &res),
		     -LOKT_E_FUTURE_VERSION);
	cr_expect_eq(lokt_release(fx.s, "v", &me, NULL,
				  LOKT_RELEASE_BREAK_STALE, &res),
		     -LOKT_E_FUTURE_VERSION);
	cr_expect_eq(lokt_prune(fx.s, &me, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_eq(lokt_renew(fx.s, "v", "", &me, 5, &res), -LOKT_E_LOST);

	/* Byte for byte as it was. */
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "v", &in, &json), 0);
	cr_expect_str_eq(json, v2);
	free(json);
	fx_path(path, sizeof(path), "root/locks/v.json");
	cr_expect_eq(access(path, F_OK), 0);

	cr_expect_eq(lokt_release(fx.s, "v", &me, NULL, LOKT_RELEASE_FORCE,
				  &res),
		     0);
	cr_expect_neq(access(path, F_OK), 0);
}

Test(files, list_skips_private_and_foreign_files)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_result res;
	struct lokt_info *v;
	char **names;
	size_t n;

	cr_assert_eq(lokt_acquire(fx.s, "b", &me, &no_opts, &res), 0);
	cr_assert_eq(lokt_acquire(fx.s, "a", &me, &no_opts, &res), 0);
	unit_write(fx.dir, "root/locks/notes.txt", "x", 1);
	unit_write(fx.dir, "root/locks/.hidden.json", "x", 1);
	cr_assert_eq(lokt_list(fx.s, LOKT_LOCK, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0].rec.name, "a");
	cr_expect_str_eq(v[1].rec.name, "b");
	cr_expect_eq(v[0].rec.uid, (int64_t)getuid());
	cr_expect_gt(v[0].size, 0);
	free(v);
	cr_assert_eq(lokt_list(fx.s, LOKT_FREEZE, &v, &n), 0);
	cr_expect_eq(n, 0);
	free(v);
	/* The names alone: the same, sorted, in one block. */
	cr_assert_eq(lokt_list_names(fx.s, LOKT_LOCK, &names, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(names[0], "a");
	cr_expect_str_eq(names[1], "b");
	free(names);
	cr_assert_eq(lokt_list_names(fx.s, LOKT_FREEZE, &names, &n), 0);
	cr_expect_eq(n, 0);
	free(names);
}

struct run_state {
	int calls;
	char seen[LOKT_ID_LEN + 1];
	int result;
};

static int body(void *userdata, const struct lokt_record *held)
{
	struct run_state *st = userdata;
	struct lokt_info in;

	st->calls++;
	snprintf(st->seen, sizeof(st->seen), "%s", held->lock_id);
	/* While fn runs the lock is in the store. */
	if (lokt_get(fx.s, LOKT_LOCK, held->name, &in, NULL) != 0 ||
	    strcmp(in.rec.lock_id, held->lock_id))
		return -999;
	return st->result;
}

Test(with_lock, releases_on_success_and_failure)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct run_state st = { .result = 7 };
	struct lokt_result res;
	struct lokt_info in;
	int fr = 0;

	cr_assert_eq(lokt_with_lock(fx.s, "w", &me, NULL, body, &st, &fr,
				    &res),
		     0);
	cr_expect_eq(st.calls, 1);
	cr_expect_eq(fr, 7);
	cr_expect_str_eq(st.seen, res.lock.lock_id);
	cr_expect_eq(res.broke, LOKT_LIVE);
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "w", &in, NULL),
		     -LOKT_E_NOT_FOUND);

	st.result = -5;
	cr_assert_eq(lokt_with_lock(fx.s, "w", &me, NULL, body, &st, &fr,
				    &res),
		     0);
	cr_expect_eq(fr, -5);
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "w", &in, NULL),
		     -LOKT_E_NOT_FOUND);
}

Test(with_lock, reports_broken_stale_lock_and_refusal)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_who bob = who_of(getppid(), "bob");
	struct run_state st = { .result = 0 };
	struct lokt_record dead = leave_dead_lock("w");
	struct lokt_result res;
	int fr = -1;

	cr_assert_eq(lokt_with_lock(fx.s, "w", &me, NULL, body, &st, &fr,
				    &res),
		     0);
	cr_expect_eq(fr, 0);
	cr_expect_eq(res.broke, LOKT_STALE_DEAD);
	cr_expect_str_eq(res.broken.lock_id, dead.lock_id);

	cr_assert_eq(lokt_acquire(fx.s, "w", &bob, &no_opts, &res), 0);
	st.calls = 0;
	cr_expect_eq(lokt_with_lock(fx.s, "w", &me, NULL, body, &st, &fr,
				    &res),
		     -LOKT_E_HELD);
	cr_expect_eq(st.calls, 0, "fn must not run without the lock");
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "w", &res.other, NULL), 0);
	cr_expect_str_eq(res.other.rec.owner, "bob");
}

/* A keeper (guard's watchdog) keeps a dead holder's lock live while it
 * runs: refused to others, not breakable as stale; once the keeper is
 * gone too, the lock is dead and broken by the next acquirer. */
Test(acquire, keeper_keeps_a_dead_holders_lock_live)
{
	struct lokt_who bob = who_of(getppid(), "bob");
	struct lokt_acquire_opts none = { 0 };
	struct lokt_record rec = leave_dead_lock("k");
	struct lokt_result res;
	struct lokt_info in;
	pid_t keeper;

	keeper = fork();
	cr_assert_neq(keeper, -1);
	if (keeper == 0) {
		pause();
		_exit(0);
	}
	cr_expect_eq(lokt_keep(fx.s, "k", "00000000000000000000000000000000",
			       keeper, &res),
		     -LOKT_E_LOST, "only the acquisition with its lock_id");
	cr_expect_eq(lokt_keep(fx.s, "k", rec.lock_id, INT32_MAX, &res),
		     -ESRCH, "a keeper that does not exist");
	cr_assert_eq(lokt_keep(fx.s, "k", rec.lock_id, keeper, &res), 0);
	cr_expect_eq(res.lock.keeper_pid, keeper);
	cr_expect_eq(res.lock.fence, rec.fence, "the same acquisition");

	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "k", &in, NULL), 0);
	cr_expect_eq(in.stale, LOKT_LIVE, "holder dead, keeper alive: live");
	cr_expect(in.kept, "and said to be live through its keeper");
	cr_expect_eq(in.rec.keeper_pid, keeper);
	cr_expect_eq(lokt_acquire(fx.s, "k", &bob, &none, &res),
		     -LOKT_E_HELD);
	cr_expect_eq(lokt_release(fx.s, "k", &bob, NULL,
				  LOKT_RELEASE_BREAK_STALE, &res),
		     -LOKT_E_NOT_OWNER, "not stale, so not breakable");

	kill(keeper, SIGKILL);
	cr_assert_eq(reap(keeper), 128 + SIGKILL);
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "k", &in, NULL), 0);
	cr_expect_eq(in.stale, LOKT_STALE_DEAD, "both gone: dead");
	cr_expect_not(in.kept);
	cr_assert_eq(lokt_acquire(fx.s, "k", &bob, &none, &res), 0);
	cr_expect_eq(res.broke, LOKT_STALE_DEAD);
	cr_expect_eq(res.lock.keeper_pid, 0, "a new acquisition has no keeper");
}
