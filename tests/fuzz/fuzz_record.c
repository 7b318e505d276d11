// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: lokt_record_parse and lokt_record_format, the bytes of
 * a lock or freeze file as a hostile store could hold them.
 *
 * Every input either parses, is refused as corrupt, or is a newer
 * version's file (then only version and name are reported, and the name
 * is valid or empty). Whatever parses is a record we can act on: a valid
 * name, strings that fit, an expiry exactly when there is a TTL. And it
 * round-trips: formatting it and parsing that gives the same record, and
 * formatting that again gives the same bytes.
 */
#include "fuzz.h"

static void same_record(const struct lokt_record *a,
			const struct lokt_record *b, const char *json)
{
#define SAME_STR(f)                                                            \
	FUZZ_ASSERT(strcmp(a->f, b->f) == 0, "%s differs in %s", #f, json)
#define SAME_INT(f) FUZZ_ASSERT(a->f == b->f, "%s differs in %s", #f, json)
	SAME_INT(version);
	SAME_STR(name);
	SAME_STR(lock_id);
	SAME_STR(owner);
	SAME_STR(host);
	SAME_INT(pid);
	SAME_INT(pid_start);
	SAME_STR(agent_id);
	SAME_INT(acquired.tv_sec);
	SAME_INT(acquired.tv_nsec);
	SAME_INT(ttl_sec);
	SAME_INT(expires.tv_sec);
	SAME_INT(expires.tv_nsec);
	SAME_INT(fence);
	SAME_INT(uid);
	SAME_INT(keeper_pid);
	SAME_INT(keeper_start);
#undef SAME_STR
#undef SAME_INT
}

static void check_sane(const struct lokt_record *r)
{
	FUZZ_ASSERT(r->version == LOKT_PROTOCOL_VERSION, "version %d",
		    r->version);
	FUZZ_ASSERT(lokt_name_check(r->name) == 0, "name \"%s\"", r->name);
	FUZZ_ASSERT(r->pid > 0, "pid %lld", (long long)r->pid);
	FUZZ_ASSERT(r->ttl_sec >= 0 && r->ttl_sec <= LOKT_TTL_MAX_SEC,
		    "ttl_sec %lld", (long long)r->ttl_sec);
	FUZZ_ASSERT(r->ttl_sec > 0 ||
			(r->expires.tv_sec == 0 && r->expires.tv_nsec == 0),
		    "an expiry without a TTL%s", "");
	FUZZ_ASSERT(r->keeper_pid >= 0, "keeper_pid %lld",
		    (long long)r->keeper_pid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lokt_record rec, again;
	char *json = NULL, *json2 = NULL;
	int r;

	memset(&rec, 0, sizeof(rec));
	r = lokt_record_parse((const char *)data, size, &rec);
	if (r == -LOKT_E_FUTURE_VERSION) {
		FUZZ_ASSERT(rec.version > LOKT_PROTOCOL_VERSION,
			    "future version %d", rec.version);
		FUZZ_ASSERT(!rec.name[0] || lokt_name_check(rec.name) == 0,
			    "future file named \"%s\"", rec.name);
		return 0;
	}
	if (r < 0) {
		FUZZ_ASSERT(r == -LOKT_E_CORRUPT, "returned %d", r);
		return 0;
	}
	FUZZ_ASSERT(r == 0, "returned %d", r);
	check_sane(&rec);

	r = lokt_record_format(&rec, &json);
	FUZZ_ASSERT(r == 0 && json, "a parsed record does not format: %d", r);
	memset(&again, 0, sizeof(again));
	r = lokt_record_parse(json, strlen(json), &again);
	FUZZ_ASSERT(r == 0, "our own output is refused (%d): %s", r, json);
	same_record(&rec, &again, json);
	r = lokt_record_format(&again, &json2);
	FUZZ_ASSERT(r == 0 && strcmp(json, json2) == 0,
		    "formats differently the second time: %s then %s", json,
		    json2 ? json2 : "(none)");
	free(json);
	free(json2);
	return 0;
}
