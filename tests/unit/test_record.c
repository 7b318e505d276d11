// SPDX-License-Identifier: MIT
/*
 * Lock file records: what we write, what lokt 1.x writes (no version, no
 * lock_id or fence, fractions without trailing zeros, local offsets), and
 * everything that must be judged corrupt rather than half understood.
 * Checklist: when a field changes, add a sample here.
 */
#include "unit.h"

static int parse(const char *s, struct lokt_record *r)
{
	return lokt_record_parse(s, strlen(s), r);
}

static struct lokt_record sample(void)
{
	struct lokt_record r = { .version = 1, .uid = 1000 };

	strcpy(r.name, "deploy");
	strcpy(r.lock_id, "0123456789abcdef0123456789abcdef");
	strcpy(r.owner, "alice");
	strcpy(r.host, "build-1");
	r.pid = 4242;
	r.pid_start = 987654321;
	strcpy(r.agent_id, "agent-7");
	r.acquired = (struct timespec){ 1767607200, 123456789 };
	r.ttl_sec = 1800;
	r.expires = (struct timespec){ 1767609000, 123456789 };
	r.fence = 17;
	r.pid_ns = 4026531836;
	return r;
}

Test(record, ours)
{
	struct lokt_record r;

	cr_assert_eq(parse("{\"version\":1,\"name\":\"deploy\","
			   "\"lock_id\":\"0123456789abcdef0123456789abcdef\","
			   "\"owner\":\"alice\",\"host\":\"build-1\","
			   "\"pid\":4242,\"pid_start_ns\":987654321,"
			   "\"agent_id\":\"agent-7\","
			   "\"acquired_ts\":\"2026-01-05T10:00:00.123456789Z\","
			   "\"ttl_sec\":1800,"
			   "\"expires_at\":\"2026-01-05T10:30:00.123456789Z\","
			   "\"fence\":17,\"uid\":1000,\"pid_ns\":4026531836}\n",
			   &r),
		     0);
	cr_expect_eq(r.version, 1);
	cr_expect_str_eq(r.name, "deploy");
	cr_expect_str_eq(r.lock_id, "0123456789abcdef0123456789abcdef");
	cr_expect_str_eq(r.owner, "alice");
	cr_expect_str_eq(r.host, "build-1");
	cr_expect_eq(r.pid, 4242);
	cr_expect_eq(r.pid_start, 987654321);
	cr_expect_str_eq(r.agent_id, "agent-7");
	cr_expect_eq(r.acquired.tv_sec, 1767607200);
	cr_expect_eq(r.acquired.tv_nsec, 123456789);
	cr_expect_eq(r.ttl_sec, 1800);
	cr_expect_eq(r.expires.tv_sec, 1767609000);
	cr_expect_eq(r.fence, 17);
	cr_expect_eq(r.uid, 1000);
	cr_expect_eq(r.pid_ns, 4026531836);
}

/* As lokt 1.x (Go, encoding/json with MarshalIndent) writes them. */
Test(record, lokt1_samples)
{
	struct lokt_record r;

	cr_assert_eq(parse("{\n"
			   "  \"name\": \"migrate\",\n"
			   "  \"owner\": \"bob\",\n"
			   "  \"host\": \"ci-runner-3\",\n"
			   "  \"pid\": 31337,\n"
			   "  \"acquired_ts\": \"2026-01-05T10:00:00.5Z\"\n"
			   "}\n",
			   &r),
		     0);
	cr_expect_eq(r.version, 1, "missing version means 1");
	cr_expect_str_eq(r.lock_id, "");
	cr_expect_eq(r.fence, 0);
	cr_expect_eq(r.uid, -1);
	cr_expect_eq(r.pid_start, 0);
	cr_expect_str_eq(r.agent_id, "");
	cr_expect_eq(r.ttl_sec, 0);
	cr_expect_eq(r.acquired.tv_nsec, 500000000);

	cr_assert_eq(parse("{\n"
			   "  \"version\": 1,\n"
			   "  \"name\": \"release.cut\",\n"
			   "  \"lock_id\": \"9f86d081884c7d659a2feaa0c55ad015\",\n"
			   "  \"owner\": \"carol\",\n"
			   "  \"host\": \"laptop\",\n"
			   "  \"pid\": 777,\n"
			   "  \"pid_start_ns\": 123456,\n"
			   "  \"agent_id\": \"claude-1\",\n"
			   "  \"acquired_ts\": \"2026-01-05T11:00:00+01:00\",\n"
			   "  \"ttl_sec\": 600,\n"
			   "  \"expires_at\": \"2026-01-05T11:10:00.25+01:00\"\n"
			   "}",
			   &r),
		     0);
	cr_expect_eq(r.acquired.tv_sec, 1767607200);
	cr_expect_eq(r.acquired.tv_nsec, 0);
	cr_expect_eq(r.expires.tv_sec, 1767607800);
	cr_expect_eq(r.expires.tv_nsec, 250000000);
	cr_expect_str_eq(r.agent_id, "claude-1");
}

Test(record, unknown_fields_ignored)
{
	struct lokt_record r;

	cr_expect_eq(parse("{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
			   "\"acquired_ts\":\"2026-01-05T10:00:00Z\","
			   "\"comment\":\"hi\",\"nested\":{\"a\":[1,2]}}",
			   &r),
		     0);
}

Test(record, ttl_without_expiry_is_computed)
{
	struct lokt_record r;

	cr_assert_eq(parse("{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
			   "\"acquired_ts\":\"2026-01-05T10:00:00.5Z\","
			   "\"ttl_sec\":60}",
			   &r),
		     0);
	cr_expect_eq(r.expires.tv_sec, 1767607260);
	cr_expect_eq(r.expires.tv_nsec, 500000000);
}

Test(record, expiry_without_ttl_still_expires)
{
	struct lokt_record r;

	cr_assert_eq(parse("{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
			   "\"acquired_ts\":\"2026-01-05T10:00:00Z\","
			   "\"expires_at\":\"2026-01-05T10:00:30.5Z\"}",
			   &r),
		     0);
	cr_expect_eq(r.ttl_sec, 31);
	cr_expect_eq(r.expires.tv_sec, 1767607230);
}

Test(record, future_version)
{
	struct lokt_record r;

	memset(&r, 0x55, sizeof(r));
	cr_assert_eq(parse("{\"version\":2,\"name\":\"deploy\","
			   "\"holder\":{\"kind\":\"lease\"}}",
			   &r),
		     -LOKT_E_FUTURE_VERSION);
	cr_expect_eq(r.version, 2);
	cr_expect_str_eq(r.name, "deploy");
	cr_expect_eq(lokt_exit_code(-LOKT_E_FUTURE_VERSION), 1);
}

static void expect_corrupt(const char *buf, size_t len, const char *why)
{
	struct lokt_record r;

	memset(&r, 0x5a, sizeof(r));
	cr_expect_eq(lokt_record_parse(buf, len, &r), -LOKT_E_CORRUPT,
		     "accepted: %s", why);
	cr_expect_eq(r.pid, 0x5a5a5a5a5a5a5a5aLL, "output touched: %s", why);
}

#define GOOD_TAIL "\"acquired_ts\":\"2026-01-05T10:00:00Z\"}"

Test(record, corrupted)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
		{ "", "empty" },
		{ "   \n", "blank" },
		{ "{", "truncated" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,\"acq", "cut" },
		{ "[1,2]", "array" },
		{ "\"x\"", "string" },
		{ "null", "null" },
		{ "not json", "garbage" },
		{ "{'name':'x'}", "single quotes" },
		{ "{\"owner\":\"o\",\"pid\":1," GOOD_TAIL, "no name" },
		{ "{\"name\":\"x\",\"pid\":1," GOOD_TAIL, "no owner" },
		{ "{\"name\":\"x\",\"owner\":\"o\"," GOOD_TAIL, "no pid" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1}", "no time" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":\"1\"," GOOD_TAIL,
		  "pid string" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1.5," GOOD_TAIL,
		  "pid double" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":-1," GOOD_TAIL,
		  "negative pid" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":0," GOOD_TAIL,
		  "pid 0" },
		{ "{\"name\":7,\"owner\":\"o\",\"pid\":1," GOOD_TAIL,
		  "name int" },
		{ "{\"name\":\"a/b\",\"owner\":\"o\",\"pid\":1," GOOD_TAIL,
		  "bad name" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,\"ttl_sec\":-5,"
		  GOOD_TAIL, "negative ttl" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,\"ttl_sec\":\"5\","
		  GOOD_TAIL, "ttl string" },
		{ "{\"version\":\"1\",\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  GOOD_TAIL, "version string" },
		{ "{\"version\":0,\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  GOOD_TAIL, "version 0" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"acquired_ts\":\"yesterday\"}", "bad time" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"acquired_ts\":\"2026-01-05T10:00:00Z\","
		  "\"expires_at\":\"soon\"}", "bad expiry" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"lock_id\":\"0123456789abcdef0123456789abcdef0\"," GOOD_TAIL,
		  "lock_id too long" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,\"host\":[]," GOOD_TAIL,
		  "host array" },
		{ "{\"name\":\"x\",\"owner\":\"o\\u0000p\",\"pid\":1," GOOD_TAIL,
		  "NUL in owner" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1," GOOD_TAIL "x",
		  "trailing junk" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1," GOOD_TAIL "{}",
		  "two objects" },
		/* Found by fuzzing: parsed, but formatted back as year
		 * 283562, which no RFC 3339 parser (ours included) reads. */
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"ttl_sec\":8884444444485," GOOD_TAIL,
		  "ttl over 100 years" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"acquired_ts\":\"9999-12-31T00:00:00Z\","
		  "\"ttl_sec\":86401}", "expiry after year 9999" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"acquired_ts\":\"2026-01-05T10:00:00Z\","
		  "\"expires_at\":\"8424-02-01T00:00:00Z\"}",
		  "expiry without ttl, over 100 years" },
		/* A pid namespace is the inode of /proc/PID/ns/pid: 32 bits. */
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,\"pid_ns\":-1,"
		  GOOD_TAIL, "negative pid_ns" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
		  "\"pid_ns\":4294967296," GOOD_TAIL, "pid_ns over 32 bits" },
		{ "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,\"pid_ns\":\"4\","
		  GOOD_TAIL, "pid_ns string" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_corrupt(bad[i].json, strlen(bad[i].json), bad[i].why);
	expect_corrupt(NULL, 0, "NULL");
}

Test(record, owner_too_long_is_corrupt_not_truncated)
{
	char buf[1024], owner[LOKT_STR_MAX + 1];

	memset(owner, 'o', LOKT_STR_MAX);
	owner[LOKT_STR_MAX] = '\0';
	snprintf(buf, sizeof(buf),
		 "{\"name\":\"x\",\"owner\":\"%s\",\"pid\":1," GOOD_TAIL, owner);
	expect_corrupt(buf, strlen(buf), "owner of 256 bytes");
	owner[LOKT_STR_MAX - 1] = '\0';
	snprintf(buf, sizeof(buf),
		 "{\"name\":\"x\",\"owner\":\"%s\",\"pid\":1," GOOD_TAIL, owner);
	struct lokt_record r;
	cr_expect_eq(lokt_record_parse(buf, strlen(buf), &r), 0,
		     "owner of 255 bytes fits");
}

Test(record, huge)
{
	size_t len = 64 * 1024 + 1;
	char *buf = malloc(len + 1);
	int n;

	cr_assert_not_null(buf);
	n = snprintf(buf, len, "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
			       "\"acquired_ts\":\"2026-01-05T10:00:00Z\","
			       "\"pad\":\"");
	memset(buf + n, 'p', len - n - 2);
	memcpy(buf + len - 2, "\"}", 2);
	buf[len] = '\0';
	expect_corrupt(buf, len, "over 64 KiB");
	/* The same shape one byte shorter is fine. */
	memcpy(buf + len - 3, "\"}", 2);
	struct lokt_record r;
	cr_expect_eq(lokt_record_parse(buf, len - 1, &r), 0);
	free(buf);
}

Test(record, not_utf8)
{
	static const char *const bad[] = {
		"{\"name\":\"x\",\"owner\":\"\xff\",\"pid\":1," GOOD_TAIL,
		"{\"name\":\"x\",\"owner\":\"\xc3\",\"pid\":1," GOOD_TAIL,
		"{\"name\":\"x\",\"owner\":\"\xc0\xaf\",\"pid\":1," GOOD_TAIL,
		"{\"name\":\"x\",\"owner\":\"\xed\xa0\x80\",\"pid\":1," GOOD_TAIL,
		"{\"name\":\"x\",\"owner\":\"\xf4\x90\x80\x80\",\"pid\":1," GOOD_TAIL,
	};
	static const char nul[] = "{\"name\":\"x\",\"owner\":\"o\",\"pid\":1,"
				  "\"acquired_ts\":\"2026-01-05T10:00:00Z\"}\0";
	struct lokt_record r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_corrupt(bad[i], strlen(bad[i]), "invalid UTF-8");
	expect_corrupt(nul, sizeof(nul) - 1, "NUL byte");
	cr_expect_eq(parse("{\"name\":\"x\",\"owner\":\"jos\xc3\xa9 \xf0\x9f\x94\x92\","
			   "\"pid\":1," GOOD_TAIL,
			   &r),
		     0, "valid UTF-8 owner refused");
	cr_expect_str_eq(r.owner, "jos\xc3\xa9 \xf0\x9f\x94\x92");
}

static void expect_same(const struct lokt_record *a,
			const struct lokt_record *b, const char *json)
{
	cr_expect_eq(a->version, b->version, "%s", json);
	cr_expect_str_eq(a->name, b->name, "%s", json);
	cr_expect_str_eq(a->lock_id, b->lock_id, "%s", json);
	cr_expect_str_eq(a->owner, b->owner, "%s", json);
	cr_expect_str_eq(a->host, b->host, "%s", json);
	cr_expect_eq(a->pid, b->pid, "%s", json);
	cr_expect_eq(a->pid_start, b->pid_start, "%s", json);
	cr_expect_str_eq(a->agent_id, b->agent_id, "%s", json);
	cr_expect_eq(a->acquired.tv_sec, b->acquired.tv_sec, "%s", json);
	cr_expect_eq(a->acquired.tv_nsec, b->acquired.tv_nsec, "%s", json);
	cr_expect_eq(a->ttl_sec, b->ttl_sec, "%s", json);
	if (a->ttl_sec) {
		cr_expect_eq(a->expires.tv_sec, b->expires.tv_sec, "%s", json);
		cr_expect_eq(a->expires.tv_nsec, b->expires.tv_nsec, "%s",
			     json);
	}
	cr_expect_eq(a->fence, b->fence, "%s", json);
	cr_expect_eq(a->uid, b->uid, "%s", json);
	cr_expect_eq(a->keeper_pid, b->keeper_pid, "%s", json);
	cr_expect_eq(a->keeper_start, b->keeper_start, "%s", json);
	cr_expect_eq(a->pid_ns, b->pid_ns, "%s", json);
}

Test(record, round_trip)
{
	struct lokt_record in = sample(), out;
	char *json;

	cr_assert_eq(lokt_record_format(&in, &json), 0);
	cr_expect_eq(json[strlen(json) - 1], '\n', "newline terminated");
	cr_assert_eq(parse(json, &out), 0, "our own output refused: %s", json);
	expect_same(&in, &out, json);
	free(json);

	/* With a keeper (guard's watchdog). */
	in.keeper_pid = 4243;
	in.keeper_start = 987654999;
	cr_assert_eq(lokt_record_format(&in, &json), 0);
	cr_expect_not_null(strstr(json, "\"keeper_pid\": 4243"), "%s", json);
	cr_assert_eq(parse(json, &out), 0, "%s", json);
	expect_same(&in, &out, json);
	free(json);
}

Test(record, format_omits_what_is_absent)
{
	struct lokt_record in = sample(), out;
	char *json;

	in.pid_start = 0;
	in.agent_id[0] = '\0';
	in.ttl_sec = 0;
	in.expires = (struct timespec){ 0, 0 };
	in.fence = 0;
	in.uid = -1;
	in.lock_id[0] = '\0';
	in.pid_ns = 0;
	cr_assert_eq(lokt_record_format(&in, &json), 0);
	cr_expect_null(strstr(json, "pid_start_ns"), "%s", json);
	cr_expect_null(strstr(json, "pid_ns"), "%s", json);
	cr_expect_null(strstr(json, "agent_id"), "%s", json);
	cr_expect_null(strstr(json, "ttl_sec"), "%s", json);
	cr_expect_null(strstr(json, "expires_at"), "%s", json);
	cr_expect_null(strstr(json, "fence"), "%s", json);
	cr_expect_null(strstr(json, "uid"), "%s", json);
	cr_expect_not_null(strstr(json, "\"version\": 1"), "%s", json);
	cr_expect_not_null(strstr(json, "\"pid\": 4242"), "%s", json);
	cr_expect_not_null(strstr(json, "\"acquired_ts\": \"2026-01-05T10:00:00.123456789Z\""),
			   "%s", json);
	cr_assert_eq(parse(json, &out), 0);
	expect_same(&in, &out, json);
	free(json);
}

Test(record, format_keeps_types)
{
	struct lokt_record in = sample();
	struct json_object *o, *v;
	char *json;

	cr_assert_eq(lokt_record_format(&in, &json), 0);
	o = json_tokener_parse(json);
	cr_assert_not_null(o);
	static const struct {
		const char *key;
		enum json_type type;
	} fields[] = {
		{ "version", json_type_int },	 { "name", json_type_string },
		{ "lock_id", json_type_string }, { "owner", json_type_string },
		{ "host", json_type_string },	 { "pid", json_type_int },
		{ "pid_start_ns", json_type_int }, { "agent_id", json_type_string },
		{ "acquired_ts", json_type_string }, { "ttl_sec", json_type_int },
		{ "expires_at", json_type_string }, { "fence", json_type_int },
		{ "uid", json_type_int },	 { "pid_ns", json_type_int },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		cr_expect(json_object_object_get_ex(o, fields[i].key, &v),
			  "%s missing", fields[i].key);
		cr_expect(json_object_is_type(v, fields[i].type), "%s type",
			  fields[i].key);
	}
	json_object_put(o);
	free(json);
}

Test(record, strings_are_escaped)
{
	struct lokt_record in = sample(), out;
	char *json;

	strcpy(in.owner, "eve \"quoted\" \\ / \n");
	cr_assert_eq(lokt_record_format(&in, &json), 0);
	cr_assert_eq(parse(json, &out), 0, "%s", json);
	cr_expect_str_eq(out.owner, in.owner);
	free(json);
}

/* A record whose fence is `fence` (JSON text, as written in a file). */
static int parse_fence(const char *fence, struct lokt_record *r)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"version\":1,\"name\":\"deploy\",\"owner\":\"alice\","
		 "\"host\":\"build-1\",\"pid\":4242,"
		 "\"acquired_ts\":\"2026-01-05T10:00:00Z\",\"fence\":%s}",
		 fence);
	return parse(buf, r);
}

/* Fences are unsigned 64-bit (docs/protocol.md): read and written back
 * exactly up to 2^64-1, never clamped to 2^63-1; beyond, or negative, the
 * record is corrupt. */
Test(record, fences_are_unsigned_64_bit)
{
	static const struct {
		const char *text;
		uint64_t want;
	} ok[] = {
		{ "1", 1 },
		{ "9223372036854775807", 9223372036854775807ULL },
		{ "9223372036854775808", 9223372036854775808ULL },
		{ "18446744073709551614", 18446744073709551614ULL },
		{ "18446744073709551615", 18446744073709551615ULL },
	};
	static const char *const bad[] = {
		"18446744073709551616", "99999999999999999999999", "-1",
		"-9223372036854775809", "1.5", "\"7\"",
	};
	struct lokt_record r, back;
	char *json;

	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		cr_assert_eq(parse_fence(ok[i].text, &r), 0, "%s", ok[i].text);
		cr_expect_eq(r.fence, ok[i].want, "fence %s read as %llu",
			     ok[i].text, (unsigned long long)r.fence);
		cr_assert_eq(lokt_record_format(&r, &json), 0);
		cr_expect_not_null(strstr(json, ok[i].text), "%s", json);
		cr_assert_eq(parse(json, &back), 0, "%s", json);
		cr_expect_eq(back.fence, ok[i].want, "%s", json);
		free(json);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_expect_eq(parse_fence(bad[i], &r), -LOKT_E_CORRUPT,
			     "fence %s", bad[i]);
	/* Numbers inside strings are not numbers. */
	cr_expect_eq(parse("{\"name\":\"deploy\",\"owner\":"
			   "\"99999999999999999999999\",\"pid\":1,"
			   "\"acquired_ts\":\"2026-01-05T10:00:00Z\"}",
			   &r),
		     0);
	/* Nor is an out-of-range integer anywhere else clamped into range. */
	cr_expect_eq(parse("{\"name\":\"deploy\",\"owner\":\"a\",\"pid\":1,"
			   "\"acquired_ts\":\"2026-01-05T10:00:00Z\","
			   "\"x\":[18446744073709551616]}",
			   &r),
		     -LOKT_E_CORRUPT);
}

/* lokt_record_json (what lokt status --json prints for a lock) holds the
 * members of lokt_record_format, in its order: the same compact text. */
Test(record, json_object_is_the_formatted_record)
{
	struct lokt_record r = sample();
	struct json_object *a, *b;
	char *text;

	r.keeper_pid = 77;
	r.keeper_start = 5;
	cr_assert_eq(lokt_record_format(&r, &text), 0);
	a = json_tokener_parse(text);
	b = lokt_record_json(&r);
	cr_assert(a && b);
	cr_expect_str_eq(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
			 json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	json_object_put(b);
	free(text);
	cr_expect_null(lokt_record_json(NULL));
}
