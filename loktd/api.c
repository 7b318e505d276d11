// SPDX-License-Identifier: MIT
/*
 * Our API, /v1: each handler parses the request, makes one liblokt call
 * and answers with JSON. docs/protocol.md ("The HTTP API") is the
 * reference; keep it in step with the routes below.
 *
 *   GET    /v1/locks[?page&per_page]   every lock, paged from one listing
 *   GET    /v1/locks/NAME              one lock (404 when free)
 *   POST   /v1/locks/NAME              acquire {ttl, wait, timeout, owner,
 *                                               slots, shared}
 *   POST   /v1/locks/NAME/renew        {lock_id, ttl}
 *   DELETE /v1/locks/NAME[?lock_id=]   release (also POST .../release)
 *   POST   /v1/locks/NAME/force        break whatever holds it
 *   GET    /v1/locks/NAME/why          holder, freeze, waiters, verdict
 *   GET    /v1/freezes[/NAME]          freezes
 *   POST   /v1/freezes/NAME            freeze {ttl}
 *   DELETE /v1/freezes/NAME[?force=1]  unfreeze
 *   GET    /v1/audit[?name&since&tail] the audit log
 *   GET    /v1/events                  server-sent events
 *
 * Every answer about a lock carries "fence": the lock's fencing token
 * (the holder's, on a refusal), null when there is none.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loktd.h"

#define AUDIT_TAIL_DEFAULT 100

struct json_object *record_json(const struct lokt_record *rec)
{
	struct json_object *obj = NULL;
	char *text = NULL;

	if (lokt_record_format(rec, &text) >= 0)
		obj = json_tokener_parse(text);
	free(text);
	if (!obj) {
		obj = json_object_new_object();
		json_object_object_add(obj, "name",
				       json_object_new_string(rec->name));
	}
	if (!json_object_object_get_ex(obj, "fence", NULL))
		json_object_object_add(obj, "fence", NULL);
	return obj;
}

struct json_object *info_json(const struct lokt_info *in)
{
	struct json_object *obj;
	const char *state;

	if (in->stale == LOKT_STALE_CORRUPT || in->future) {
		obj = json_object_new_object();
		json_object_object_add(obj, "name",
				       json_object_new_string(in->rec.name));
		json_object_object_add(obj, "fence", NULL);
	} else {
		obj = record_json(&in->rec);
	}
	if (in->future)
		state = "future";
	else if (in->stale == LOKT_LIVE && !in->local)
		state = "remote";
	else
		state = lokt_stale_name(in->stale);
	json_object_object_add(obj, "state", json_object_new_string(state));
	json_object_object_add(obj, "detached",
			       json_object_new_boolean(
				       lokt_is_detached(&in->rec)));
	if (in->slots)
		json_object_object_add(obj, "slots",
				       json_object_new_int64(in->slots));
	if (in->shared)
		json_object_object_add(obj, "shared",
				       json_object_new_boolean(true));
	return obj;
}

/* The string or number (seconds) of a body field; NULL when absent.
 * false (and a 400) for another type. */
static bool text_field(struct req *q, struct json_object *body,
		       const char *key, char *buf, size_t size,
		       const char **ret, enum MHD_Result *ans)
{
	bool duration = !strcmp(key, "ttl") || !strcmp(key, "timeout");
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(body, key, &v) || !v)
		return true;
	if (json_object_is_type(v, json_type_string) &&
	    strlen(json_object_get_string(v)) ==
		    (size_t)json_object_get_string_len(v)) {
		*ret = json_object_get_string(v);
		return true;
	}
	if (json_object_is_type(v, json_type_int) &&
	    (json_object_get_int64(v) > 0 || duration)) {
		snprintf(buf, size, "%lld", (long long)json_object_get_int64(v));
		*ret = buf;
		return true;
	}
	/* 90.0 or 1e3 seconds; a fraction (1.5) goes to the duration's
	 * parser as text, as "1.5" would (rounded up to whole seconds). */
	if (duration && json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		if (d >= -1e15 && d <= 1e15 && d == (double)(int64_t)d)
			snprintf(buf, size, "%lld", (long long)d);
		else
			snprintf(buf, size, "%.17g", d);
		*ret = buf;
		return true;
	}
	metrics_refusal(OUT_BAD_REQUEST);
	*ans = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
			   "\"%s\" must be a string (without NUL)%s", key,
			   duration ? " (a duration) or a number of seconds" :
				      "");
	return false;
}

/* A duration from the body (or the query) in seconds, rounded up;
 * def when absent. */
static bool ttl_field(struct req *q, struct json_object *body,
		      const char *key, int64_t def_ms, int64_t *ret_ms,
		      enum MHD_Result *ans)
{
	const char *t;
	char buf[32];

	if (!text_field(q, body, key, buf, sizeof(buf), &t, ans))
		return false;
	if (!t)
		t = query(q, key);
	if (!t) {
		*ret_ms = def_ms;
		return true;
	}
	return duration_arg(q, key, t, ret_ms, ans);
}

/* The owner a request names: its body's "owner", else the owner query
 * parameter (loktd(8), HOLDERS AND OWNERS); NULL when neither. */
static bool owner_field(struct req *q, struct json_object *body, char *buf,
			size_t size, const char **ret, enum MHD_Result *ans)
{
	if (!text_field(q, body, "owner", buf, size, ret, ans))
		return false;
	if (!*ret)
		*ret = query(q, "owner");
	return true;
}

/* The outcome a refusal of renew, release, freeze or unfreeze counts as
 * in loktd_refusals_total. */
static enum outcome refusal_outcome(int r)
{
	switch (-r) {
	case LOKT_E_NOT_OWNER:
		return OUT_NOT_OWNER;
	case LOKT_E_NOT_FOUND:
	case LOKT_E_LOST:
		return OUT_NOT_FOUND;
	case LOKT_E_HELD:
		return OUT_HELD;
	case LOKT_E_FROZEN:
		return OUT_FROZEN;
	default:
		return OUT_ERROR;
	}
}

static int64_t ms_to_sec(int64_t ms)
{
	return ms / 1000 + (ms % 1000 ? 1 : 0);
}

static bool name_ok(struct req *q, const char *name, enum MHD_Result *ans)
{
	struct lokt_result res = { 0 };

	if (lokt_name_check(name) == 0)
		return true;
	metrics_refusal(OUT_BAD_REQUEST);
	*ans = reply_refusal(q, -LOKT_E_BAD_NAME, "use", name, &res);
	return false;
}

static enum MHD_Result lock_answer(struct req *q, const char *name, int r,
				   const struct lokt_result *res)
{
	struct json_object *doc;

	if (r < 0)
		return reply_refusal(q, r, "take lock", name, res);
	doc = record_json(&res->lock);
	json_object_object_add(doc, "renewed",
			       json_object_new_boolean(res->renewed));
	json_object_object_add(doc, "broke",
			       res->broke == LOKT_LIVE ?
				       NULL :
				       json_object_new_string(
					       lokt_stale_name(res->broke)));
	json_object_object_add(doc, "state", json_object_new_string("live"));
	return reply_json(q, MHD_HTTP_OK, doc);
}

/* "slots" (1 to LOKT_SLOTS_MAX) and "shared" (boolean), from the body
 * or the query; false (and a 400) when wrong or both. */
static bool mode_fields(struct req *q, struct json_object *body,
			int64_t *slots, bool *shared, enum MHD_Result *ans)
{
	struct json_object *v;
	const char *t;
	char *end;

	if (json_object_object_get_ex(body, "slots", &v) && v) {
		if (!json_object_is_type(v, json_type_int))
			goto bad;
		*slots = json_object_get_int64(v);
	} else if ((t = query(q, "slots"))) {
		*slots = strtoll(t, &end, 10);
		if (*end || end == t)
			goto bad;
	}
	if (json_object_object_get_ex(body, "shared", &v) && v) {
		if (!json_object_is_type(v, json_type_boolean))
			goto bad;
		*shared = json_object_get_boolean(v);
	} else if ((t = query(q, "shared"))) {
		/* As "wait": 1, true, 0 or false; anything else is bad. */
		if (strcmp(t, "1") && strcmp(t, "true") && strcmp(t, "0") &&
		    strcmp(t, "false"))
			goto bad;
		*shared = !strcmp(t, "1") || !strcmp(t, "true");
	}
	if ((*slots < 0 || *slots > LOKT_SLOTS_MAX) || (*slots && *shared) ||
	    (json_object_object_get_ex(body, "slots", &v) && v && !*slots))
		goto bad;
	return true;
bad:
	metrics_refusal(OUT_BAD_REQUEST);
	*ans = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
			   "\"slots\" is a number of places (1 to %d) and "
			   "\"shared\" a boolean, not both",
			   LOKT_SLOTS_MAX);
	return false;
}

/* "wait": a JSON boolean, or ?wait= 1, true, 0 or false; anything else
 * (the string "false" is true to json-c) is a 400. */
static bool wait_field(struct req *q, struct json_object *body, bool *ret,
		       enum MHD_Result *ans)
{
	const char *w = query(q, "wait");
	struct json_object *v;
	bool ok = true;

	if (json_object_object_get_ex(body, "wait", &v)) {
		ok = json_object_is_type(v, json_type_boolean);
		*ret = ok && json_object_get_boolean(v);
	}
	if (ok && w) {
		ok = !strcmp(w, "1") || !strcmp(w, "true") || !strcmp(w, "0") ||
		     !strcmp(w, "false");
		*ret = !strcmp(w, "1") || !strcmp(w, "true");
	}
	if (ok)
		return true;
	metrics_refusal(OUT_BAD_REQUEST);
	*ans = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
			   "\"wait\" is true or false (in the query: 1, true, "
			   "0 or false)");
	return false;
}

static enum MHD_Result acquire(struct req *q, const char *name)
{
	struct json_object *body;
	enum MHD_Result ans;
	const char *owner = NULL;
	int64_t ttl_ms, wait_ms = 0, slots = 0;
	struct lokt_who who;
	bool wait = false, shared = false;
	char buf[32];

	if (!name_ok(q, name, &ans) || !(body = body_json(q, &ans)))
		return ans;
	if (!ttl_field(q, body, "ttl", loktd.default_ttl_sec * 1000, &ttl_ms,
		       &ans) ||
	    !owner_field(q, body, buf, sizeof(buf), &owner, &ans))
		goto out;
	if (!wait_field(q, body, &wait, &ans))
		goto out;
	if (wait && !ttl_field(q, body, "timeout", 10 * 60 * 1000, &wait_ms,
			       &ans))
		goto out;
	if (!mode_fields(q, body, &slots, &shared, &ans))
		goto out;
	if (caller(q, owner, NULL, &who, &ans) == 0)
		ans = acquire_or_wait(q, name, &who, ms_to_sec(ttl_ms),
				      wait ? wait_ms : 0, (unsigned)slots,
				      shared, lock_answer);
out:
	json_object_put(body);
	return ans;
}

/* The holder lock_id of a name of several, into *ret; -LOKT_E_LOST. */
static int holder_of(const char *name, const char *lock_id,
		     struct lokt_info *ret)
{
	struct lokt_holders h;
	int r = -LOKT_E_LOST;
	size_t i;

	if (lokt_holders(loktd.store, name, &h) < 0)
		return r;
	for (i = 0; i < h.n && r < 0; i++) {
		if (!strcmp(h.v[i].rec.lock_id, lock_id)) {
			*ret = h.v[i];
			r = 0;
		}
	}
	free(h.v);
	return r;
}

/* Is acquisition lock_id of name who's? 0 (and the record in
 * res->other), or the refusal to send: LOST (free, or another
 * acquisition) or NOT_OWNER. */
static int check_owner(const char *name, const char *lock_id,
		       const struct lokt_who *who, struct lokt_result *res)
{
	struct lokt_info in;
	int r = lokt_get(loktd.store, LOKT_LOCK, name, &in, NULL);

	if (r == -LOKT_E_NOT_FOUND)
		return -LOKT_E_LOST;
	if (r < 0)
		return r;
	if (in.slots || in.shared)
		r = holder_of(name, lock_id, &in); /* one of several */
	if (r < 0 || strcmp(in.rec.lock_id, lock_id))
		return -LOKT_E_LOST;
	if (strcmp(in.rec.owner, who->owner)) {
		res->other = in;
		res->have_other = true;
		return -LOKT_E_NOT_OWNER;
	}
	res->other = in; /* its TTL, kept when none is given */
	return 0;
}

static enum MHD_Result renew(struct req *q, const char *name)
{
	struct lokt_result res = { 0 };
	struct json_object *body;
	const char *lock_id = NULL, *owner = NULL;
	enum MHD_Result ans;
	struct lokt_who who;
	char buf[32];
	int64_t ttl_ms = 0;
	int r;

	if (!name_ok(q, name, &ans) || !(body = body_json(q, &ans)))
		return ans;
	if (!text_field(q, body, "lock_id", buf, sizeof(buf), &lock_id,
			&ans) ||
	    !owner_field(q, body, buf, sizeof(buf), &owner, &ans) ||
	    !ttl_field(q, body, "ttl", 0, &ttl_ms, &ans))
		goto out;
	if (!lock_id)
		lock_id = query(q, "lock_id");
	if (!lock_id) {
		metrics_refusal(OUT_BAD_REQUEST);
		ans = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				  "renew needs the \"lock_id\" of the "
				  "acquisition");
		goto out;
	}
	if (caller(q, owner, NULL, &who, &ans))
		goto out;
	r = check_owner(name, lock_id, &who, &res);
	if (r == 0) {
		int64_t ttl = ttl_ms ? ms_to_sec(ttl_ms) : res.other.rec.ttl_sec;

		memset(&res, 0, sizeof(res));
		r = lokt_renew(loktd.store, name, lock_id, &who, ttl, &res);
	}
	if (r < 0) {
		metrics_refusal(refusal_outcome(r));
		ans = reply_refusal(q, r, "renew", name, &res);
	} else {
		res.renewed = true;
		metrics_acquire(0, true);
		ans = lock_answer(q, name, r, &res);
	}
out:
	json_object_put(body);
	return ans;
}

static enum MHD_Result release(struct req *q, const char *name,
			       unsigned flags)
{
	struct lokt_result res = { 0 };
	struct json_object *body, *doc;
	const char *lock_id = NULL, *owner = NULL;
	enum MHD_Result ans;
	struct lokt_who who;
	char buf[32];
	int r;

	if (!name_ok(q, name, &ans) || !(body = body_json(q, &ans)))
		return ans;
	if (!text_field(q, body, "lock_id", buf, sizeof(buf), &lock_id,
			&ans) ||
	    !owner_field(q, body, buf, sizeof(buf), &owner, &ans))
		goto out;
	if (!lock_id)
		lock_id = query(q, "lock_id");
	if (caller(q, owner, NULL, &who, &ans))
		goto out;
	/* liblokt releases an acquisition named by its lock_id for anyone
	 * (guard's watchdog does so): the owner is checked here. */
	r = lock_id && !(flags & LOKT_RELEASE_FORCE) ?
		    check_owner(name, lock_id, &who, &res) :
		    0;
	if (r == 0) {
		memset(&res, 0, sizeof(res));
		r = lokt_release(loktd.store, name, &who, lock_id, flags, &res);
	}
	if (r < 0) {
		metrics_refusal(refusal_outcome(r));
		ans = reply_refusal(q, r,
				    flags & LOKT_RELEASE_FORCE ? "force" :
								 "release",
				    name, &res);
		goto out;
	}
	doc = record_json(&res.lock);
	json_object_object_add(doc, "released", json_object_new_boolean(1));
	/* as lokt unlock --json: why it was broken, "force" for another
	 * owner's live lock, null for the owner's own */
	json_object_object_add(
		doc, "broke",
		res.broke != LOKT_LIVE ?
			json_object_new_string(lokt_stale_name(res.broke)) :
		strcmp(res.lock.owner, who.owner) ?
			json_object_new_string("force") :
			NULL);
	ans = reply_json(q, MHD_HTTP_OK, doc);
out:
	json_object_put(body);
	return ans;
}

/* A name of several holders: its mode and every holder, beside the
 * record lokt 1.x reads. */
static void add_holders(struct json_object *doc, const char *name,
			const struct lokt_info *in)
{
	struct json_object *a = json_object_new_array();
	struct lokt_holders h;
	size_t i;

	if (in->slots)
		json_object_object_add(doc, "slots",
				       json_object_new_int64(in->slots));
	else
		json_object_object_add(doc, "shared",
				       json_object_new_boolean(true));
	if (a && lokt_holders(loktd.store, name, &h) == 0) {
		for (i = 0; i < h.n; i++)
			json_object_array_add(a, info_json(&h.v[i]));
		free(h.v);
	}
	json_object_object_add(doc, "holders", a);
}

static enum MHD_Result get_one(struct req *q, enum lokt_kind kind,
			       const char *name)
{
	struct lokt_result res = { 0 };
	struct json_object *doc;
	struct lokt_info in;
	enum MHD_Result ans;
	size_t w = 0;
	int r;

	if (!name_ok(q, name, &ans))
		return ans;
	r = lokt_get(loktd.store, kind, name, &in, NULL);
	if (r < 0)
		return reply_refusal(q, r, kind == LOKT_LOCK ? "show" :
							       "unfreeze",
				     name, &res);
	doc = info_json(&in);
	if (kind == LOKT_LOCK && lokt_waiters(loktd.store, name, &w) >= 0)
		json_object_object_add(doc, "waiters",
				       json_object_new_int64((int64_t)w));
	/* The record of a name of several holders is the one lokt 1.x
	 * reads, held by pid 1 for none of them: each holder says whether
	 * it is detached, the name is not. */
	if (kind == LOKT_LOCK && (in.slots || in.shared)) {
		json_object_object_add(doc, "detached",
				       json_object_new_boolean(false));
		add_holders(doc, name, &in);
	}
	return reply_json(q, MHD_HTTP_OK, doc);
}

/* A positive integer query parameter (def when absent); 0 when bad. */
static size_t page_arg(struct req *q, const char *key, size_t def,
		       size_t max)
{
	const char *v = query(q, key);
	char *end;
	unsigned long long n;

	if (!v)
		return def;
	n = strtoull(v, &end, 10);
	if (*end || end == v || n == 0 || n > max)
		return 0;
	return (size_t)n;
}

static enum MHD_Result list_all(struct req *q, enum lokt_kind kind)
{
	struct json_object *doc, *arr;
	struct lokt_info *all = NULL;
	size_t n = 0, page, per, w;
	int r;

	page = page_arg(q, "page", 1, SIZE_MAX / LOKTD_PAGE_MAX);
	per = page_arg(q, "per_page", 100, LOKTD_PAGE_MAX);
	if (!page || !per) {
		metrics_refusal(OUT_BAD_REQUEST);
		return reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "page and per_page are whole numbers from "
				   "1 (per_page at most %d)",
				   LOKTD_PAGE_MAX);
	}
	/* One listing: total and the page come from the same instant. */
	r = lokt_list(loktd.store, kind, &all, &n);
	if (r < 0)
		return reply_error(q, http_status(r), lokt_error_word(r),
				   "cannot list: %s", lokt_strerror(r));
	arr = json_object_new_array();
	for (size_t i = (page - 1) * per; i < n && i < page * per; i++) {
		struct json_object *o = info_json(&all[i]);

		if (kind == LOKT_LOCK &&
		    lokt_waiters(loktd.store, all[i].rec.name, &w) >= 0)
			json_object_object_add(o, "waiters",
					       json_object_new_int64((int64_t)w));
		json_object_array_add(arr, o);
	}
	free(all);
	doc = json_object_new_object();
	json_object_object_add(doc, kind == LOKT_LOCK ? "locks" : "freezes",
			       arr);
	json_object_object_add(doc, "total", json_object_new_int64((int64_t)n));
	json_object_object_add(doc, "page", json_object_new_int64((int64_t)page));
	json_object_object_add(doc, "per_page",
			       json_object_new_int64((int64_t)per));
	return reply_json(q, MHD_HTTP_OK, doc);
}

static enum MHD_Result why(struct req *q, const char *name)
{
	struct json_object *doc = json_object_new_object();
	struct lokt_info lock, frz;
	const char *verdict = "free";
	enum MHD_Result ans;
	bool held, frozen, gate;
	size_t w = 0;

	if (!name_ok(q, name, &ans)) {
		json_object_put(doc);
		return ans;
	}
	held = lokt_get(loktd.store, LOKT_LOCK, name, &lock, NULL) == 0;
	frozen = lokt_get(loktd.store, LOKT_FREEZE, name, &frz, NULL) == 0 &&
		 frz.stale == LOKT_LIVE;
	(void)lokt_waiters(loktd.store, name, &w);
	gate = held && (lock.slots || lock.shared);
	if (gate) {
		/* Its record is the gate lokt 1.x reads: the holders tell. */
		struct lokt_holders h;
		size_t live = 0;

		if (lokt_holders(loktd.store, name, &h) == 0) {
			for (size_t i = 0; i < h.n; i++)
				live += h.v[i].stale == LOKT_LIVE;
			free(h.v);
		} else {
			live = SIZE_MAX; /* unread: held, to be safe */
		}
		held = live > 0;
		/* A semaphore with a place left is free in its mode; shared
		 * holders let a shared request join, not an exclusive one
		 * (as lokt why: acquirable, reason shared). */
		if (live && lock.shared && live != SIZE_MAX)
			verdict = "shared";
		else if (live && (lock.shared || live >= lock.slots))
			verdict = "held";
	} else if (held && (lock.future || lock.stale == LOKT_LIVE)) {
		verdict = "held";
	}
	if (strcmp(verdict, "held") && frozen)
		verdict = "frozen";
	else if (strcmp(verdict, "held") && w)
		verdict = "queued";
	else if (!strcmp(verdict, "free") && held && !gate)
		verdict = "stale"; /* the next acquisition breaks it */
	json_object_object_add(doc, "name", json_object_new_string(name));
	json_object_object_add(doc, "verdict", json_object_new_string(verdict));
	json_object_object_add(doc, "holder",
			       held && !gate ? info_json(&lock) : NULL);
	if (gate)
		add_holders(doc, name, &lock);
	json_object_object_add(doc, "freeze", frozen ? info_json(&frz) : NULL);
	json_object_object_add(doc, "waiters", json_object_new_int64((int64_t)w));
	json_object_object_add(doc, "fence",
			       held && !gate && lock.rec.fence ?
				       json_object_new_uint64(lock.rec.fence) :
				       NULL);
	return reply_json(q, MHD_HTTP_OK, doc);
}

static enum MHD_Result freeze(struct req *q, const char *name)
{
	struct lokt_result res = { 0 };
	struct json_object *body, *doc;
	const char *owner = NULL;
	enum MHD_Result ans;
	struct lokt_who who;
	int64_t ttl_ms;
	char buf[32];
	int r;

	if (!name_ok(q, name, &ans) || !(body = body_json(q, &ans)))
		return ans;
	if (!ttl_field(q, body, "ttl", loktd.default_ttl_sec * 1000, &ttl_ms,
		       &ans) ||
	    !owner_field(q, body, buf, sizeof(buf), &owner, &ans) ||
	    caller(q, owner, NULL, &who, &ans))
		goto out;
	r = lokt_freeze(loktd.store, name, &who, ms_to_sec(ttl_ms), &res);
	if (r == -LOKT_E_HELD)
		r = -LOKT_E_FROZEN; /* another owner's freeze: "frozen" */
	if (r < 0) {
		metrics_refusal(refusal_outcome(r));
		ans = reply_refusal(q, r, "freeze", name, &res);
		goto out;
	}
	doc = record_json(&res.lock);
	json_object_object_add(doc, "state", json_object_new_string("live"));
	ans = reply_json(q, MHD_HTTP_OK, doc);
out:
	json_object_put(body);
	return ans;
}

static enum MHD_Result unfreeze(struct req *q, const char *name)
{
	struct lokt_result res = { 0 };
	struct json_object *doc;
	const char *force = query(q, "force");
	enum MHD_Result ans;
	struct lokt_who who;
	int r;

	if (!name_ok(q, name, &ans) ||
	    caller(q, query(q, "owner"), NULL, &who, &ans))
		return ans;
	r = lokt_unfreeze(loktd.store, name, &who,
			  force && strcmp(force, "0") && strcmp(force, "false"),
			  &res);
	if (r < 0) {
		metrics_refusal(refusal_outcome(r));
		return reply_refusal(q, r, "unfreeze", name, &res);
	}
	doc = record_json(&res.lock);
	json_object_object_add(doc, "unfrozen", json_object_new_boolean(1));
	return reply_json(q, MHD_HTTP_OK, doc);
}

static enum MHD_Result audit(struct req *q)
{
	struct lokt_audit_filter f = { .name = query(q, "name"),
				       .tail = AUDIT_TAIL_DEFAULT };
	struct json_object *doc, *arr;
	struct lokt_event *ev = NULL;
	const char *since = query(q, "since");
	size_t n = 0;
	int r;

	if (query(q, "tail") &&
	    !(f.tail = page_arg(q, "tail", AUDIT_TAIL_DEFAULT, 100000)))
		return reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "tail is a whole number from 1 to 100000");
	if (since && lokt_time_parse(since, &f.since) < 0)
		return reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "since is an RFC 3339 time, e.g. "
				   "2026-01-15T10:00:00Z");
	if (f.name && lokt_name_check(f.name) < 0)
		return reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_name",
				   "bad lock name: %s", lokt_name_rule());
	r = lokt_audit_read(loktd.store, &f, &ev, &n);
	if (r < 0 && r != -ENOENT)
		return reply_error(q, http_status(r), lokt_error_word(r),
				   "cannot read the audit log: %s",
				   lokt_strerror(r));
	arr = json_object_new_array();
	for (size_t i = 0; arr && i < n; i++) {
		/* Each line parsed when it was read: no parse now is out of
		 * memory, which a 200 would hide as events that never were. */
		struct json_object *o = json_tokener_parse(ev[i].line);

		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			json_object_put(arr);
			arr = NULL;
		}
	}
	lokt_events_free(ev, n);
	if (!arr)
		return reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "error",
				   "cannot answer with the audit log: %s",
				   strerror(ENOMEM));
	doc = json_object_new_object();
	json_object_object_add(doc, "events", arr);
	return reply_json(q, MHD_HTTP_OK, doc);
}

static bool is(const struct req *q, const char *m)
{
	return !strcmp(q->method, m);
}

/* GET, or HEAD: the same answer without its body (libmicrohttpd). */
static bool reads(const struct req *q)
{
	return is(q, "GET") || is(q, "HEAD");
}

static enum MHD_Result no_method(struct req *q)
{
	return reply_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method",
			   "%s is not allowed on %.200s", q->method, q->url);
}

static enum MHD_Result locks_route(struct req *q, char **seg, size_t n)
{
	if (n == 0)
		return reads(q) ? list_all(q, LOKT_LOCK) : no_method(q);
	if (n == 1) {
		if (reads(q))
			return get_one(q, LOKT_LOCK, seg[0]);
		if (is(q, "POST") || is(q, "PUT"))
			return acquire(q, seg[0]);
		if (is(q, "DELETE"))
			return release(q, seg[0], 0);
		return no_method(q);
	}
	if (n == 2 && !strcmp(seg[1], "why"))
		return reads(q) ? why(q, seg[0]) : no_method(q);
	if (n == 2 && !is(q, "POST"))
		return no_method(q);
	if (n == 2 && !strcmp(seg[1], "renew"))
		return renew(q, seg[0]);
	if (n == 2 && !strcmp(seg[1], "release"))
		return release(q, seg[0], 0);
	if (n == 2 && !strcmp(seg[1], "force"))
		return release(q, seg[0], LOKT_RELEASE_FORCE);
	return reply_error(q, MHD_HTTP_NOT_FOUND, "no_route",
			   "no such endpoint: %.200s", q->url);
}

static enum MHD_Result freezes_route(struct req *q, char **seg, size_t n)
{
	if (n == 0)
		return reads(q) ? list_all(q, LOKT_FREEZE) : no_method(q);
	if (n > 1)
		return reply_error(q, MHD_HTTP_NOT_FOUND, "no_route",
				   "no such endpoint: %.200s", q->url);
	if (reads(q))
		return get_one(q, LOKT_FREEZE, seg[0]);
	if (is(q, "POST") || is(q, "PUT"))
		return freeze(q, seg[0]);
	if (is(q, "DELETE"))
		return unfreeze(q, seg[0]);
	return no_method(q);
}

enum MHD_Result api_route(struct req *q, char **seg, size_t n)
{
	if (n >= 1 && !strcmp(seg[0], "locks"))
		return locks_route(q, seg + 1, n - 1);
	if (n >= 1 && !strcmp(seg[0], "freezes"))
		return freezes_route(q, seg + 1, n - 1);
	if (n == 1 && !strcmp(seg[0], "audit"))
		return reads(q) ? audit(q) : no_method(q);
	if (n == 1 && !strcmp(seg[0], "events"))
		return reads(q) ? events_route(q) : no_method(q);
	if (n == 1 && !strcmp(seg[0], "dashboard"))
		return reads(q) ? dashboard_route(q, true) : no_method(q);
	return reply_error(q, MHD_HTTP_NOT_FOUND, "no_route",
			   "no such endpoint: %.200s", q->url);
}
