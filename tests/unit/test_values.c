// SPDX-License-Identifier: MIT
/*
 * Values a user types or reads: lock names, durations, RFC 3339 times, and
 * the mapping of every outcome to a CLI exit code, a mount errno and a
 * phrase. These mappings are an API (scripts depend on exit codes), so
 * every outcome is listed explicitly.
 */
#include <errno.h>
#include <limits.h>

#include "unit.h"

Test(name, valid)
{
	static const char *const ok[] = { "deploy", "a",	 "A-Z_0.9",
					  "x.y",    "release-1.2", "a.b.c",
					  "_x",     "-x",	  "x." };

	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		cr_expect_eq(lokt_name_check(ok[i]), 0, "%s refused", ok[i]);
}

Test(name, invalid)
{
	static const char *const bad[] = {
		"",	".x",	"..",	  "a..b",     "a/b",  "/a",
		"a b",	"a\tb", "a\nb",	  "caf\xc3\xa9", "a:b", "a*",
		"x..",	"a\\b", "\xff",	  "..a",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_expect_eq(lokt_name_check(bad[i]), -LOKT_E_BAD_NAME,
			     "\"%s\" accepted", bad[i]);
	cr_expect_eq(lokt_name_check(NULL), -LOKT_E_BAD_NAME);
}

Test(name, length_limit)
{
	char name[LOKT_NAME_MAX + 2];

	memset(name, 'n', sizeof(name));
	name[LOKT_NAME_MAX] = '\0';
	cr_expect_eq(lokt_name_check(name), 0, "200 bytes must be accepted");
	name[LOKT_NAME_MAX] = 'n';
	name[LOKT_NAME_MAX + 1] = '\0';
	cr_expect_eq(lokt_name_check(name), -LOKT_E_BAD_NAME,
		     "201 bytes must be refused");
}

Test(name, rule_says_what_is_allowed)
{
	const char *rule = lokt_name_rule();

	cr_expect(strstr(rule, "200"));
	cr_expect(strstr(rule, "letters"));
	cr_expect(strstr(rule, ".."));
}

static int64_t dur(const char *s)
{
	int64_t ms = -12345;
	int r = lokt_duration_parse(s, &ms);

	cr_assert_eq(r, 0, "\"%s\" refused: %d", s, r);
	return ms;
}

Test(duration, forms)
{
	cr_expect_eq(dur("90"), 90000);
	cr_expect_eq(dur("0"), 0);
	cr_expect_eq(dur("1.5"), 1500);
	cr_expect_eq(dur("1.5s"), 1500);
	cr_expect_eq(dur("500ms"), 500);
	cr_expect_eq(dur("30m"), 30 * 60000);
	cr_expect_eq(dur("2h"), 2 * 3600000);
	cr_expect_eq(dur("1d"), 86400000);
	cr_expect_eq(dur("1h30m"), 5400000);
	cr_expect_eq(dur("1h30m15s"), 5415000);
	cr_expect_eq(dur("2m500ms"), 120500);
	cr_expect_eq(dur("0.5h"), 1800000);
	cr_expect_eq(dur(".25s"), 250);
	cr_expect_eq(dur("1.0001s"), 1000); /* below a millisecond: dropped */
}

Test(duration, garbage)
{
	static const char *const bad[] = {
		"",	 "-1",	 "-5m",	 "1x",	 "m",	"1h30", "1.",
		".",	 "abc",	 " 1s",	 "1s ",	 "1 s", "1e3",	"+1s",
		"1,5s",	 "1s-2s", "0x10", "1mm",	 "1hh", "s1",	"1..5s",
	};
	int64_t ms = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cr_expect_eq(lokt_duration_parse(bad[i], &ms), -EINVAL,
			     "\"%s\" accepted", bad[i]);
		cr_expect_eq(ms, 7, "\"%s\" changed the output", bad[i]);
	}
	cr_expect_eq(lokt_duration_parse(NULL, &ms), -EINVAL);
}

Test(duration, overflow)
{
	int64_t ms = 7;

	/* Well-formed but too long: -ERANGE, overflowing int64 or not. */
	cr_expect_eq(lokt_duration_parse("99999999999999999999", &ms),
		     -ERANGE);
	cr_expect_eq(lokt_duration_parse("9223372036854775807ms", &ms),
		     -ERANGE);
	cr_expect_eq(lokt_duration_parse("106751991167d", &ms), -ERANGE);
	cr_expect_eq(lokt_duration_parse("99999999999d", &ms), -ERANGE);
	cr_expect_eq(lokt_duration_parse("99999999999999999999d1s", &ms),
		     -ERANGE);
	cr_expect_eq(lokt_duration_parse("36500d1ms", &ms), -ERANGE,
		     "more than 100 years must be refused");
	cr_expect_eq(lokt_duration_parse("18250d18250d1s", &ms), -ERANGE);
	/* A typo anywhere stays a bad duration, however big the number. */
	cr_expect_eq(lokt_duration_parse("99999999999999999999x", &ms),
		     -EINVAL);
	cr_expect_eq(lokt_duration_parse("99999999999d1x", &ms), -EINVAL);
	cr_expect_eq(lokt_duration_parse("99999999999999999999.", &ms),
		     -EINVAL);
	cr_expect_eq(ms, 7);
	cr_expect_eq(dur("36500d"), 36500LL * 86400000);
}

static const char *fmt(int64_t ms)
{
	static char buf[64];

	lokt_duration_format(ms, buf, sizeof(buf));
	return buf;
}

Test(duration, format)
{
	cr_expect_str_eq(fmt(0), "0ms");
	cr_expect_str_eq(fmt(350), "350ms");
	cr_expect_str_eq(fmt(1000), "1s");
	cr_expect_str_eq(fmt(1500), "1.5s");
	cr_expect_str_eq(fmt(1250), "1.25s");
	cr_expect_str_eq(fmt(45000), "45s");
	cr_expect_str_eq(fmt(150000), "2m30s");
	cr_expect_str_eq(fmt(3600000), "1h0m");
	cr_expect_str_eq(fmt(5400000), "1h30m");
	cr_expect_str_eq(fmt(90061000), "1d1h");
	cr_expect_str_eq(fmt(-1500), "-1.5s");
}

Test(duration, format_truncates_safely)
{
	char buf[4];

	cr_expect_eq(lokt_duration_format(150000, buf, sizeof(buf)), 3);
	cr_expect_str_eq(buf, "2m3");
}

Test(duration, format_parses_back)
{
	static const int64_t v[] = { 1, 999, 1000, 1500, 59999, 60000, 150000 };
	int64_t ms;

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		cr_assert_eq(lokt_duration_parse(fmt(v[i]), &ms), 0);
		cr_expect_eq(ms, v[i], "%lld -> %s -> %lld", (long long)v[i],
			     fmt(v[i]), (long long)ms);
	}
}

static struct timespec tparse(const char *s)
{
	struct timespec t = { -1, -1 };

	cr_assert_eq(lokt_time_parse(s, &t), 0, "\"%s\" refused", s);
	return t;
}

Test(time, forms)
{
	struct timespec t;

	t = tparse("2026-01-05T10:00:00Z");
	cr_expect_eq(t.tv_sec, 1767607200);
	cr_expect_eq(t.tv_nsec, 0);
	t = tparse("2026-01-05T10:00:00.5Z");
	cr_expect_eq(t.tv_sec, 1767607200);
	cr_expect_eq(t.tv_nsec, 500000000);
	t = tparse("2026-01-05T10:00:00.123456789Z");
	cr_expect_eq(t.tv_nsec, 123456789);
	t = tparse("2026-01-05T10:00:00.000001Z");
	cr_expect_eq(t.tv_nsec, 1000);
	/* docs/protocol.md: any number of fractional digits, past the
	 * ninth dropped (a record another writer made must not read as
	 * corrupt, and be broken while it is held). */
	t = tparse("2026-01-05T10:00:00.1234567891Z");
	cr_expect_eq(t.tv_sec, 1767607200);
	cr_expect_eq(t.tv_nsec, 123456789);
	t = tparse("2026-01-05T10:00:00.62451981500000000000000000Z");
	cr_expect_eq(t.tv_nsec, 624519815);
	t = tparse("2026-01-05T11:30:00+01:30");
	cr_expect_eq(t.tv_sec, 1767607200);
	t = tparse("2026-01-05T05:00:00-05:00");
	cr_expect_eq(t.tv_sec, 1767607200);
	t = tparse("2026-01-05t10:00:00z");
	cr_expect_eq(t.tv_sec, 1767607200);
	t = tparse("2024-02-29T00:00:00Z");
	cr_expect_eq(t.tv_sec, 1709164800);
}

Test(time, invalid)
{
	static const char *const bad[] = {
		"",
		"2026-01-05",
		"2026-01-05T10:00:00",
		"2026-01-05 10:00:00Z",
		"2026-13-05T10:00:00Z",
		"2026-00-05T10:00:00Z",
		"2026-02-29T10:00:00Z",
		"2026-04-31T10:00:00Z",
		"2026-01-05T24:00:00Z",
		"2026-01-05T10:60:00Z",
		"2026-01-05T10:00:60Z",
		"2026-01-05T10:00:00.Z",
		"2026-01-05T10:00:00+0100",
		"2026-01-05T10:00:00+24:00",
		"2026-01-05T10:00:00Zjunk",
		"26-01-05T10:00:00Z",
		"2026-1-5T10:00:00Z",
	};
	struct timespec t = { 42, 42 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_expect_eq(lokt_time_parse(bad[i], &t), -EINVAL,
			     "\"%s\" accepted", bad[i]);
	cr_expect_eq(t.tv_sec, 42);
}

Test(time, format_has_nine_digits_and_round_trips)
{
	struct timespec t = { 1767607200, 500000000 }, back;
	char buf[64];

	cr_assert_eq(lokt_time_format(&t, buf, sizeof(buf)), 30);
	cr_expect_str_eq(buf, "2026-01-05T10:00:00.500000000Z");
	back = tparse(buf);
	cr_expect_eq(back.tv_sec, t.tv_sec);
	cr_expect_eq(back.tv_nsec, t.tv_nsec);
	cr_expect_eq(lokt_time_format(&t, buf, 10), -ENOSPC);
}

/* An offset can move a written date past year 9999 or before year 0000:
 * such an instant could not be written back (lokt_time_format refuses it),
 * so it is refused when read, as any other bad time. Found by
 * tests/fuzz/fuzz_time.c. */
Test(time, only_what_can_be_written_back)
{
	struct timespec t = { 42, 42 }, edge;
	char buf[64];

	cr_expect_eq(lokt_time_parse("9999-12-31T23:59:59.9999-23:59", &t),
		     -EINVAL);
	cr_expect_eq(lokt_time_parse("0000-01-01T00:00:00+00:01", &t), -EINVAL);
	cr_expect_eq(t.tv_sec, 42);
	edge = tparse("9999-12-31T23:59:59.999999999Z");
	cr_expect_gt(lokt_time_format(&edge, buf, sizeof(buf)), 0);
	edge = tparse("0000-01-01T00:00:00Z");
	cr_expect_gt(lokt_time_format(&edge, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "0000-01-01T00:00:00.000000000Z");
	edge.tv_sec--;
	cr_expect_eq(lokt_time_format(&edge, buf, sizeof(buf)), -EOVERFLOW);
	edge.tv_sec = 253402300800LL; /* 10000-01-01T00:00:00Z */
	cr_expect_eq(lokt_time_format(&edge, buf, sizeof(buf)), -EOVERFLOW);
}

Test(time, ms_between)
{
	struct timespec a = { 10, 500000000 }, b = { 8, 750000000 };

	cr_expect_eq(lokt__ms_between(&a, &b), 1750);
	cr_expect_eq(lokt__ms_between(&b, &a), -1750);
}

/* Every outcome: exit code, errno, and a phrase of its own. */
Test(errors, mapping)
{
	static const struct {
		int r, exit_code, err;
	} map[] = {
		{ 0, 0, 0 },
		{ 5, 0, 0 },
		{ -LOKT_E_HELD, 2, EBUSY },
		{ -LOKT_E_FROZEN, 2, EBUSY },
		{ -LOKT_E_TIMEOUT, 2, EBUSY },
		{ -LOKT_E_NOT_FOUND, 3, ENOENT },
		{ -LOKT_E_NOT_OWNER, 4, EPERM },
		{ -LOKT_E_BAD_NAME, 64, EINVAL },
		{ -LOKT_E_FUTURE_VERSION, 1, EPROTO },
		{ -LOKT_E_CORRUPT, 1, EIO },
		{ -LOKT_E_LOST, 1, ESTALE },
		{ -LOKT_E_NETFS, 1, EREMOTE },
		{ -LOKT_E_CANCELED, 1, EINTR },
		{ -LOKT_E_FOREIGN, 1, EIO },
		{ -LOKT_E_NO_ETCD, 1, EPROTONOSUPPORT },
		{ -LOKT_E_BAD_ROOT, 1, EINVAL },
		{ -LOKT_E_UNAVAILABLE, 1, EIO },
		{ -LOKT_E_MODE, 2, EBUSY },
		{ -LOKT_E_NO_KEEPER, 1, EIO },
		{ -LOKT_E_LOGIN, 1, EACCES },
		{ -LOKT_E_DENIED, 1, EACCES },
		{ -ENOENT, 1, ENOENT },
		{ -EACCES, 1, EACCES },
		{ -ENOSPC, 1, ENOSPC },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++) {
		cr_expect_eq(lokt_exit_code(map[i].r), map[i].exit_code,
			     "exit code of %d", map[i].r);
		cr_expect_eq(lokt_errno(map[i].r), map[i].err, "errno of %d",
			     map[i].r);
		cr_expect_not_null(lokt_strerror(map[i].r));
	}
	cr_expect_str_eq(lokt_strerror(-LOKT_E_HELD), "held");
	cr_expect_str_eq(lokt_strerror(-LOKT_E_NOT_OWNER), "not owner");
	cr_expect_str_eq(lokt_strerror(-EACCES), strerror(EACCES));
	for (int a = LOKT_E_HELD; a <= LOKT_E_DENIED; a++)
		cr_expect_null(strstr(lokt_strerror(-a), "Unknown error"),
			       "a phrase for outcome %d", a);
}

Test(errors, phrases_are_distinct)
{
	for (int a = LOKT_E_HELD; a <= LOKT_E_DENIED; a++)
		for (int b = a + 1; b <= LOKT_E_DENIED; b++)
			cr_expect_str_neq(lokt_strerror(-a), lokt_strerror(-b));
}

Test(errors, stale_names)
{
	cr_expect_str_eq(lokt_stale_name(LOKT_LIVE), "live");
	cr_expect_str_eq(lokt_stale_name(LOKT_STALE_EXPIRED), "expired");
	cr_expect_str_eq(lokt_stale_name(LOKT_STALE_DEAD), "dead");
	cr_expect_str_eq(lokt_stale_name(LOKT_STALE_REUSED), "reused");
	cr_expect_str_eq(lokt_stale_name(LOKT_STALE_CORRUPT), "corrupt");
}

Test(errors, version)
{
	cr_expect_str_eq(lokt_version(), LOKT_VERSION);
}

/* The words of machine-readable answers (lokt --json, loktd): fixed,
 * distinct, and "error" for anything that is not an outcome. */
Test(errors, words)
{
	cr_expect_str_eq(lokt_error_word(-LOKT_E_HELD), "held");
	cr_expect_str_eq(lokt_error_word(-LOKT_E_NOT_FOUND), "not_found");
	cr_expect_str_eq(lokt_error_word(-LOKT_E_NOT_OWNER), "not_owner");
	cr_expect_str_eq(lokt_error_word(-LOKT_E_BAD_NAME), "bad_name");
	cr_expect_str_eq(lokt_error_word(-LOKT_E_FOREIGN), "foreign_file");
	cr_expect_str_eq(lokt_error_word(-EACCES), "error");
	cr_expect_str_eq(lokt_error_word(0), "error");
	for (int a = LOKT_E_HELD; a <= LOKT_E_FOREIGN; a++)
		for (int b = a + 1; b <= LOKT_E_FOREIGN; b++)
			cr_expect_str_neq(lokt_error_word(-a),
					  lokt_error_word(-b));
}

/* The public calls given NULL where a pointer is wanted: -EINVAL (or
 * false, NULL, nothing done), never a crash. */
Test(api, null_arguments)
{
	struct lokt_record rec = { .pid = 1 };
	struct timespec t = { 0, 0 };
	struct lokt_check *ck;
	struct lokt_event *ev;
	char buf[64], *json;
	int64_t ms;
	uint64_t u;
	size_t n;
	int fd;

	cr_expect_eq(lokt_duration_parse("5m", NULL), -EINVAL);
	cr_expect_eq(lokt_duration_parse(NULL, &ms), -EINVAL);
	cr_expect_eq(lokt_time_format(NULL, buf, sizeof(buf)), -EINVAL);
	cr_expect_eq(lokt_time_format(&t, NULL, 0), -EINVAL);
	t.tv_nsec = -5;
	cr_expect_eq(lokt_time_format(&t, buf, sizeof(buf)), -EINVAL,
		     "a negative tv_nsec was written");
	cr_expect_eq(lokt_time_parse("2026-01-05T10:00:00Z", NULL), -EINVAL);
	cr_expect_eq(lokt_record_format(NULL, &json), -EINVAL);
	cr_expect_eq(lokt_record_format(&rec, NULL), -EINVAL);
	cr_expect_not(lokt_is_detached(NULL));
	cr_expect_eq(lokt_who_self(getpid(), NULL), -EINVAL);
	cr_expect_eq(lokt_who_caller(getpid(), getuid(), NULL), -EINVAL);
	cr_expect_eq(lokt_root_find(NULL, NULL), -EINVAL);
	cr_expect_null(lokt_store_root(NULL));
	cr_expect_eq(lokt_audit_read(NULL, NULL, &ev, &n), -EINVAL);
	cr_expect_eq(lokt_audit_open(NULL, &fd, NULL), -EINVAL);
	lokt_store_set_audit_max(NULL, 10);
	cr_expect_eq(lokt_audit_max_parse("4k", NULL), -EINVAL);
	cr_expect_eq(lokt_audit_max_parse("4k", &u), 0);
	cr_expect_eq(lokt_doctor("/tmp", NULL, &n), -EINVAL);
	cr_expect_eq(lokt_doctor("/tmp", &ck, NULL), -EINVAL);
	/* A name that does not fit (size 0 included): -ERANGE. */
	cr_expect_eq(lokt_user_of(0, buf, 0, NULL), -ERANGE);
	cr_expect_eq(lokt_user_of(0, NULL, 0, NULL), 0, "the group only");
	/* Not a kind: refused, not taken for a lock. */
	{
		char *dir = unit_tmpdir(), *root;
		struct lokt_store *s;
		struct lokt_info *all, one;
		int wfd;

		cr_assert(asprintf(&root, "%s/root", dir) > 0);
		cr_assert_eq(lokt_store_open(root, &s), 0);
		cr_expect_eq(lokt_list(s, (enum lokt_kind)9, &all, &n),
			     -EINVAL);
		cr_expect_eq(lokt_get(s, (enum lokt_kind)9, "x", &one, NULL),
			     -EINVAL);
		cr_expect_eq(lokt_watch(s, (enum lokt_kind)5, "x", &wfd),
			     -EINVAL);
		lokt_store_close(s);
		unit_rmrf(dir);
		free(root);
		free(dir);
	}
	/* Not a result: an I/O error, never a negative errno. */
	cr_expect_eq(lokt_errno(INT_MIN), EIO);
	cr_expect_eq(lokt_errno(-99999), EIO);
	cr_expect_eq(lokt_errno(-ENOSPC), ENOSPC);
}
