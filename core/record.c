// SPDX-License-Identifier: MIT
/*
 * The content of one lock or freeze file: JSON <-> struct lokt_record.
 *
 * The field names and JSON types are those of lokt 1.x, whose users share
 * lock roots with us (docs/protocol.md); `fence` and `uid` are extensions
 * that lokt 1.x ignores. Reading is tolerant of what lokt 1.x writes (no
 * version, no lock_id, fractions of a second without trailing zeros) and
 * strict about everything else: a record that is not exactly what we can
 * act on safely is "corrupt", never half-understood. Strings too long for
 * the struct are corrupt too, not truncated: a truncated owner could match
 * another owner.
 *
 * Checklist when a field changes: LOKT_PROTOCOL_VERSION in lokt.h,
 * docs/protocol.md, both functions below, the samples in tests/unit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RECORD_MAX (64 * 1024) /* bytes; a real record is ~400 */

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF,
 * and no NUL byte (JSON text cannot carry one). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

LOKT_API bool lokt_text_ok(const char *s, size_t len)
{
	return s && utf8_valid((const unsigned char *)s, len);
}

int lokt__who_check(const struct lokt_who *who)
{
	const char *f[] = { who->owner, who->host, who->agent_id };

	if (who->pid <= 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		size_t len = strnlen(f[i], LOKT_STR_MAX);

		if (len == LOKT_STR_MAX ||
		    !utf8_valid((const unsigned char *)f[i], len))
			return -EINVAL;
	}
	return 0;
}

/* The member `key`, NULL when absent or JSON null. */
static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_get_type(v) == json_type_null)
		return NULL;
	return v;
}

/* Copy string member `key` into dst[size]. 1 copied, 0 absent (dst left
 * alone), -1 wrong type, embedded NUL or too long. */
static int get_str(struct json_object *o, const char *key, char *dst,
		   size_t size)
{
	struct json_object *v = member(o, key);
	const char *str;
	size_t len;

	if (!v)
		return 0;
	if (json_object_get_type(v) != json_type_string)
		return -1;
	str = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(str) != len || len >= size)
		return -1;
	memcpy(dst, str, len + 1);
	return 1;
}

/* Integer member `key` in [min, max]. 1, 0 absent, -1 wrong. Only JSON
 * integers count: 12.0 or "12" are not what lokt writes. */
static int get_int(struct json_object *o, const char *key, int64_t min,
		   int64_t max, int64_t *dst)
{
	struct json_object *v = member(o, key);
	int64_t x;

	if (!v)
		return 0;
	if (json_object_get_type(v) != json_type_int)
		return -1;
	errno = 0;
	x = json_object_get_int64(v);
	if (errno || x < min || x > max)
		return -1;
	*dst = x;
	return 1;
}

/* Unsigned 64-bit member `key` (a fence): 1, 0 absent, -1 wrong. json-c
 * keeps integers above INT64_MAX as uint64, which get_int64 would clamp to
 * INT64_MAX. */
static int get_u64(struct json_object *o, const char *key, uint64_t *dst)
{
	struct json_object *v = member(o, key);
	int64_t x;

	if (!v)
		return 0;
	if (json_object_get_type(v) != json_type_int)
		return -1;
	x = json_object_get_int64(v);
	if (x < 0)
		return -1;
	*dst = x == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)x;
	return 1;
}

/* json-c silently clamps an integer it cannot hold (2^64 reads as
 * 2^64-1, -2^63-1 as -2^63): a record holding one is corrupt, never read
 * as a clamped value. True when every integer in the JSON text buf fits
 * in [INT64_MIN, UINT64_MAX]. */
static bool ints_fit(const char *buf, size_t len)
{
	static const char max_pos[] = "18446744073709551615";
	static const char max_neg[] = "9223372036854775808";
	const char *lim;
	size_t i = 0, d, n;
	bool neg;

	while (i < len) {
		if (buf[i] == '"') {
			for (i++; i < len && buf[i] != '"'; i++)
				if (buf[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (buf[i] != '-' && (buf[i] < '0' || buf[i] > '9')) {
			i++;
			continue;
		}
		neg = buf[i] == '-';
		for (i += neg; i < len && buf[i] == '0'; i++)
			;
		for (d = i; d < len && buf[d] >= '0' && buf[d] <= '9'; d++)
			;
		n = d - i;
		lim = neg ? max_neg : max_pos;
		if ((d == len || !buf[d] || !strchr(".eE", buf[d])) &&
		    (n > strlen(lim) ||
		     (n == strlen(lim) && memcmp(buf + i, lim, n) > 0)))
			return false;
		/* the rest of the number (fraction, exponent) */
		while (d < len && buf[d] && strchr("0123456789.eE+-", buf[d]))
			d++;
		i = d;
	}
	return true;
}

static int get_time(struct json_object *o, const char *key,
		    struct timespec *dst)
{
	char buf[64];
	int r = get_str(o, key, buf, sizeof(buf));

	if (r <= 0)
		return r;
	return lokt_time_parse(buf, dst) < 0 ? -1 : 1;
}

/*
 * FORK. json-c's parser puts its thread in a copy of the C locale for
 * numbers (duplocale, newlocale, freelocale), and glibc takes its locale
 * lock for each: a child forked while another thread held that lock
 * waited on it for good at its first parse (8 of 3000 children of a
 * process whose threads took locks). A fork waits until no thread of
 * liblokt parses: parses share `parsing`, pthread_atfork's prepare takes
 * it for writing. The child makes it anew (its thread is not the one
 * that took it, as glibc counts).
 */
static pthread_rwlock_t parsing = PTHREAD_RWLOCK_INITIALIZER;

static void parse_fork_prepare(void)
{
	pthread_rwlock_wrlock(&parsing);
}

static void parse_fork_parent(void)
{
	pthread_rwlock_unlock(&parsing);
}

static void parse_fork_child(void)
{
	pthread_rwlock_init(&parsing, NULL);
}

static void parse_atfork(void)
{
	(void)pthread_atfork(parse_fork_prepare, parse_fork_parent,
			     parse_fork_child);
}

static void parse_begin(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, parse_atfork);
	pthread_rwlock_rdlock(&parsing);
}

struct json_object *lokt__json_parse(const char *text)
{
	struct json_object *o;

	parse_begin();
	o = json_tokener_parse(text);
	pthread_rwlock_unlock(&parsing);
	return o;
}

static struct json_object *parse_json(const char *buf, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t end;

	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					JSON_TOKENER_ALLOW_TRAILING_CHARS);
	parse_begin();
	o = json_tokener_parse_ex(tok, buf, (int)len);
	pthread_rwlock_unlock(&parsing);
	if (o && json_tokener_get_error(tok) == json_tokener_success) {
		for (end = json_tokener_get_parse_end(tok); end < len; end++)
			if (!strchr(" \t\r\n", buf[end]))
				break;
		if (end == len) {
			json_tokener_free(tok);
			return o;
		}
	}
	json_object_put(o);
	json_tokener_free(tok);
	return NULL;
}


/* Fill r from the members of o; false when anything is wrong. */
static bool fill_record(struct json_object *o, struct lokt_record *r)
{
	int64_t pid = 0, start = 0, ttl = 0, uid = -1;
	uint64_t fence = 0;
	int64_t keeper = 0, keeper_start = 0, pid_ns = 0;
	bool has_expires;
	int k;

	if (get_str(o, "name", r->name, sizeof(r->name)) != 1 ||
	    lokt_name_check(r->name) < 0 ||
	    get_str(o, "owner", r->owner, sizeof(r->owner)) != 1 ||
	    get_int(o, "pid", 1, INT32_MAX, &pid) != 1 ||
	    get_time(o, "acquired_ts", &r->acquired) != 1)
		return false;
	if (get_str(o, "lock_id", r->lock_id, sizeof(r->lock_id)) < 0 ||
	    get_str(o, "host", r->host, sizeof(r->host)) < 0 ||
	    get_str(o, "agent_id", r->agent_id, sizeof(r->agent_id)) < 0 ||
	    get_int(o, "pid_start_ns", 0, INT64_MAX, &start) < 0 ||
	    get_int(o, "ttl_sec", 0, LOKT_TTL_MAX_SEC, &ttl) < 0 ||
	    get_u64(o, "fence", &fence) < 0 ||
	    get_int(o, "uid", 0, UINT32_MAX - 1, &uid) < 0 ||
	    get_int(o, "keeper_pid", 1, INT32_MAX, &keeper) < 0 ||
	    get_int(o, "keeper_start_ns", 0, INT64_MAX, &keeper_start) < 0 ||
	    get_int(o, "pid_ns", 0, UINT32_MAX, &pid_ns) < 0)
		return false;
	k = get_time(o, "expires_at", &r->expires);
	if (k < 0)
		return false;
	has_expires = k == 1;

	r->pid = pid;
	r->pid_start = (uint64_t)start;
	r->ttl_sec = ttl;
	r->fence = fence;
	r->uid = uid;
	r->keeper_pid = keeper;
	r->keeper_start = keeper ? (uint64_t)keeper_start : 0;
	r->pid_ns = (uint64_t)pid_ns;
	if (ttl > 0 && !has_expires) {
		r->expires = r->acquired;
		r->expires.tv_sec += ttl;
	} else if (ttl == 0 && has_expires) {
		/* An expiry without a TTL still expires: keep the deadline
		 * and call the difference, rounded up, the TTL. */
		int64_t ms = lokt__ms_between(&r->expires, &r->acquired);

		r->ttl_sec = ms <= 0 ? 1 : (ms + 999) / 1000;
		if (r->ttl_sec > LOKT_TTL_MAX_SEC)
			return false; /* as a ttl_sec that long would be */
	} else if (ttl == 0) {
		r->expires = (struct timespec){0, 0};
	}
	/* What we could not write back (RFC 3339 ends with year 9999) is not
	 * a record: lokt_record_format must round-trip whatever parses. */
	if (r->acquired.tv_sec > RFC3339_LAST_SEC ||
	    r->expires.tv_sec > RFC3339_LAST_SEC)
		return false;
	return true;
}

LOKT_API int lokt_record_parse(const char *buf, size_t len,
			       struct lokt_record *ret)
{
	return lokt__record_parse_obj(buf, len, ret, NULL);
}

int lokt__record_parse_obj(const char *buf, size_t len,
			   struct lokt_record *ret, struct json_object **ret_o)
{
	struct lokt_record r = {.version = 1, .uid = -1};
	struct json_object *o;
	int64_t version = 1;
	int k;

	if (ret_o)
		*ret_o = NULL;
	if (!buf || len == 0 || len > RECORD_MAX ||
	    !utf8_valid((const unsigned char *)buf, len))
		return -LOKT_E_CORRUPT;
	o = parse_json(buf, len);
	if (!o)
		return -LOKT_E_CORRUPT;
	if (json_object_get_type(o) != json_type_object)
		goto corrupt;
	k = get_int(o, "version", 1, INT32_MAX, &version);
	if (k < 0)
		goto corrupt;
	if (version > LOKT_PROTOCOL_VERSION) {
		/* Hands off: report what it is, act on nothing else. */
		memset(ret, 0, sizeof(*ret));
		ret->version = (int)version;
		ret->uid = -1;
		if (get_str(o, "name", ret->name, sizeof(ret->name)) != 1 ||
		    lokt_name_check(ret->name) < 0)
			ret->name[0] = '\0';
		json_object_put(o);
		return -LOKT_E_FUTURE_VERSION;
	}
	r.version = (int)version;
	if (!ints_fit(buf, len) || !fill_record(o, &r))
		goto corrupt;
	if (ret_o)
		*ret_o = o;
	else
		json_object_put(o);
	*ret = r;
	return 0;

corrupt:
	json_object_put(o);
	return -LOKT_E_CORRUPT;
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int add_time(struct json_object *o, const char *key,
		    const struct timespec *t)
{
	char buf[64];
	int r = lokt_time_format(t, buf, sizeof(buf));

	if (r < 0)
		return r;
	return add(o, key, json_object_new_string(buf));
}

struct json_object *lokt__json_u64(uint64_t v)
{
	return v > INT64_MAX ? json_object_new_uint64(v)
			     : json_object_new_int64((int64_t)v);
}

/* Members in lokt 1.x's order, extensions last. */
static int build(const struct lokt_record *rec, struct json_object *o)
{
	int r = 0;

	r = r ?: add(o, "version", json_object_new_int(rec->version));
	r = r ?: add(o, "name", json_object_new_string(rec->name));
	r = r ?: add(o, "lock_id", json_object_new_string(rec->lock_id));
	r = r ?: add(o, "owner", json_object_new_string(rec->owner));
	r = r ?: add(o, "host", json_object_new_string(rec->host));
	r = r ?: add(o, "pid", json_object_new_int64(rec->pid));
	if (rec->pid_start)
		r = r ?: add(o, "pid_start_ns", lokt__json_u64(rec->pid_start));
	if (rec->agent_id[0])
		r = r
			?: add(o, "agent_id",
			       json_object_new_string(rec->agent_id));
	r = r ?: add_time(o, "acquired_ts", &rec->acquired);
	if (rec->ttl_sec > 0) {
		r = r ?: add(o, "ttl_sec", json_object_new_int64(rec->ttl_sec));
		r = r ?: add_time(o, "expires_at", &rec->expires);
	}
	if (rec->fence)
		r = r ?: add(o, "fence", lokt__json_u64(rec->fence));
	if (rec->uid >= 0)
		r = r ?: add(o, "uid", json_object_new_int64(rec->uid));
	if (rec->keeper_pid > 0) {
		r = r ?: add(o, "keeper_pid", json_object_new_int64(rec->keeper_pid));
		if (rec->keeper_start)
			r = r ?: add(o, "keeper_start_ns",
				     lokt__json_u64(rec->keeper_start));
	}
	if (rec->pid_ns)
		r = r ?: add(o, "pid_ns", lokt__json_u64(rec->pid_ns));
	return r;
}

int lokt__record_from_json(struct json_object *o, struct lokt_record *ret)
{
	struct lokt_record r = {.version = 1, .uid = -1};

	if (!o || json_object_get_type(o) != json_type_object ||
	    !fill_record(o, &r))
		return -LOKT_E_CORRUPT;
	*ret = r;
	return 0;
}

LOKT_API struct json_object *lokt_record_json(const struct lokt_record *rec)
{
	return rec ? lokt__record_to_json(rec) : NULL;
}

struct json_object *lokt__record_to_json(const struct lokt_record *rec)
{
	struct json_object *o = json_object_new_object();

	if (o && build(rec, o) < 0) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

LOKT_API int lokt_record_format(const struct lokt_record *rec, char **ret_json)
{
	struct json_object *o = json_object_new_object();
	const char *s;
	char *out;
	size_t len;
	int r;

	if (!rec || !ret_json) {
		json_object_put(o);
		return -EINVAL;
	}
	if (!o)
		return -ENOMEM;
	r = build(rec, o);
	if (r < 0)
		goto out;
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(s);
	out = malloc(len + 2);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(out, s, len);
	out[len] = '\n';
	out[len + 1] = '\0';
	*ret_json = out;
out:
	json_object_put(o);
	return r;
}
