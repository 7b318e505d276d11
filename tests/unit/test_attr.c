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

/* The table keeps one parse per record, however many there are: a
 * listing of 7,000 settled records keeps every one (the table grows), and
 * each answers as its file says. With the table's largest size lowered to
 * 8,192 entries (7,000 are more than three quarters), it is emptied when
 * full and goes on keeping what is read after. The direct-mapped table of
 * 4,096 entries this replaced could keep no more than 4,096. */
static void many(int n)
{
	char path[PATH_MAX], rec[256];
	int fd, len;

	for (int i = 0; i < n; i++) {
		len = snprintf(rec, sizeof(rec),
			       "{\"version\":1,\"name\":\"m%d\",\"owner\":\"o\","
			       "\"host\":\"elsewhere\",\"pid\":42,\"uid\":%d,"
			       "\"acquired_ts\":\"2030-01-01T00:00:00Z\"}\n",
			       i, i);
		snprintf(path, sizeof(path), "%s/root/locks/m%d.json", fx.dir,
			 i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cr_assert(fd >= 0);
		cr_assert_eq(write(fd, rec, (size_t)len), len);
		close(fd);
	}
	nanosleep(&settle, NULL);
}

/* How many of m0..m(n-1) are kept, after reading each (checking it). */
static int read_all(int n)
{
	char path[PATH_MAX], name[32];
	struct lokt_attr a;
	struct stat st;
	int kept = 0;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		cr_assert_eq(lokt_get_attr(fx.s, LOKT_LOCK, name, &a), 0);
		cr_expect_eq(a.uid, i, "m%d answers as its file says", i);
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/root/locks/m%d.json", fx.dir,
			 i);
		cr_assert_eq(stat(path, &st), 0);
		kept += lokt__attr_kept(&st);
	}
	return kept;
}

Test(attr, keeps_every_record_of_a_listing)
{
	many(7000);
	cr_expect_eq(read_all(7000), 7000);
	cr_expect_eq(read_all(7000), 7000, "and again, from the table");
}

Test(attr, emptied_when_full)
{
	lokt__attr_max = 8192;
	many(7000);
	/* Emptied at the 6,145th entry (three quarters of 8,192). */
	cr_expect_eq(read_all(7000), 7000 - 6144);
	read_all(7000); /* every answer still the file's */
}
