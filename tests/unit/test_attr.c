// SPDX-License-Identifier: MIT
/*
 * lokt_get_attr (core/attr.c): what stat(2) of a record shows through the
 * mount, and its cache of parsed records keyed on the file's identity.
 * The cache keeps a parse only of a file whose ctime is over a second
 * old, so each test waits that long once; then every change made to the
 * record, by liblokt (a new file) or by a writer rewriting it in place
 * with the same size (as the racy case would be), must show at once.
 */
#include "proto.h"

TestSuite(attr, .init = fx_setup, .fini = fx_teardown, .timeout = 30);

static const struct timespec settle = { 1, 200 * 1000 * 1000 };

/* A record of "x" acquired at second sec, exactly this long every time. */
static void write_in_place(int sec)
{
	char rec[512], path[PATH_MAX];
	int fd, n;

	n = snprintf(rec, sizeof(rec),
		     "{\"version\":1,\"name\":\"x\",\"owner\":\"alice\","
		     "\"host\":\"elsewhere\",\"pid\":42,\"uid\":%d,"
		     "\"acquired_ts\":\"2030-01-01T00:00:%02dZ\"}\n",
		     1000 + sec, sec);
	fx_path(path, sizeof(path), "root/locks/x.json");
	fd = open(path, O_WRONLY | O_CREAT, 0644); /* no O_TRUNC: in place */
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, rec, (size_t)n, 0), n);
	close(fd);
}

Test(attr, as_lokt_get)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_info info;
	struct lokt_attr a;

	cr_expect_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a),
		     -LOKT_E_NOT_FOUND);
	cr_expect_eq(lokt_get_attr(fx.s, LOKT_LOCK, "../x", &a),
		     -LOKT_E_BAD_NAME);
	cr_assert_eq(lokt_acquire(fx.s, "x", &me, &opts, &res), 0);
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "x", &info, NULL), 0);
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0);
	cr_expect_eq(a.uid, info.rec.uid);
	cr_expect_eq(a.size, info.size);
	cr_expect_eq(a.acquired.tv_sec, info.rec.acquired.tv_sec);
	cr_expect_eq(a.acquired.tv_nsec, info.rec.acquired.tv_nsec);
	cr_expect_eq(a.mtime.tv_nsec, info.mtime.tv_nsec);
}

Test(attr, renewal_shows_at_once)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_attr a, b;

	cr_assert_eq(lokt_acquire(fx.s, "x", &me, &opts, &res), 0);
	nanosleep(&settle, NULL);
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0); /* kept */
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &b), 0); /* hit */
	cr_expect_eq(b.acquired.tv_nsec, a.acquired.tv_nsec);
	cr_assert_eq(lokt_renew(fx.s, "x", res.lock.lock_id, &me, 60, &res),
		     0);
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &b), 0);
	cr_expect_eq(b.acquired.tv_sec, res.lock.acquired.tv_sec);
	cr_expect_eq(b.acquired.tv_nsec, res.lock.acquired.tv_nsec);
	cr_assert_eq(lokt_release(fx.s, "x", &me, NULL, 0, &res), 0);
	cr_expect_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &b),
		     -LOKT_E_NOT_FOUND);
}

Test(attr, rewrite_in_place_same_size_shows_at_once)
{
	struct lokt_attr a;

	write_in_place(1);
	nanosleep(&settle, NULL);
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0); /* kept */
	cr_expect_eq(a.uid, 1001);
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0); /* hit */
	cr_expect_eq(a.uid, 1001);
	write_in_place(2); /* same size, same inode, at once */
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0);
	cr_expect_eq(a.uid, 1002, "the rewrite shows, not the cached parse");
	cr_expect_eq(a.acquired.tv_sec % 60, 2);
	write_in_place(3); /* and again, in the same clock tick */
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0);
	cr_expect_eq(a.uid, 1003);
}

/* A record read while young is not kept, however long the reader then
 * takes to judge it (a thread preempted there, lokt__test_pause): its age
 * is taken before the read. Judged after a stall of a second it looked
 * settled, and a rewrite in the tick of the read would not have shown. */
static void stall(const char *where)
{
	if (!strcmp(where, "attr-read"))
		nanosleep(&settle, NULL);
}

Test(attr, age_judged_as_of_the_read)
{
	struct lokt_attr a;
	char path[PATH_MAX];
	struct stat st;

	fx_path(path, sizeof(path), "root/locks/x.json");
	write_in_place(1);
	lokt__test_pause = stall;
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0);
	lokt__test_pause = NULL;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_not(lokt__attr_kept(&st), "read young, stalled: not kept");
	/* Read once it is settled: kept (what the check above would miss). */
	cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, "x", &a), 0);
	cr_expect(lokt__attr_kept(&st), "read settled: kept");
}
