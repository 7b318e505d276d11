// SPDX-License-Identifier: MIT
/*
 * The Tracker-compatible API, /api/v1alpha1, so that pipelines written
 * for a Tracker lock service work unchanged:
 *
 *   POST /api/v1alpha1/lock[?ttl=D]   {"service": NAME, "who": TEXT}
 *   GET  /api/v1alpha1/lock/ID        the lock with that id
 *   GET  /api/v1alpha1/unlock/ID      release it (POST is the same)
 *   GET  /api/v1alpha1/locks/list?per_page=N&page=P
 *
 * service is the lock name and id its lock_id. Tracker's locks have no
 * TTL; ours do (pipelines die): --default-ttl, or ?ttl= on the request.
 * Without --tokens, "who" is also the lock's owner; with tokens, the
 * owner is the token's and "who" is kept beside it (in the agent id).
 * Unlocking by id changes state on a GET, as Tracker does: with tokens
 * it needs one, and every answer says Cache-Control: no-store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loktd.h"

static void created_at(const struct lokt_record *rec, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&rec->acquired.tv_sec, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

static struct json_object *lock_json(const struct lokt_record *rec,
				     bool with_service)
{
	struct json_object *o = json_object_new_object();
	char who[LOKT_STR_MAX], at[40];

	created_at(rec, at, sizeof(at));
	json_object_object_add(o, "id", json_object_new_string(rec->lock_id));
	if (with_service)
		json_object_object_add(o, "service",
				       json_object_new_string(rec->name));
	json_object_object_add(o, "who",
			       json_object_new_string(
				       record_who(rec, who, sizeof(who))));
	json_object_object_add(o, "createdAt", json_object_new_string(at));
	json_object_object_add(o, "fence",
			       rec->fence ? json_object_new_uint64(rec->fence) :
					    NULL);
	return o;
}

static enum MHD_Result tracker_error(struct req *q, unsigned status,
				     const char *error)
{
	struct json_object *doc = json_object_new_object();

	json_object_object_add(doc, "success", json_object_new_boolean(0));
	json_object_object_add(doc, "error", json_object_new_string(error));
	return reply_json(q, status, doc);
}

static enum MHD_Result locked(struct req *q, const char *name, int r,
			      const struct lokt_result *res)
{
	struct json_object *doc;

	if (r >= 0)
		return reply_json(q, MHD_HTTP_OK, lock_json(&res->lock, true));
	/* Held in another mode (a semaphore's name): held, to Tracker. */
	if (-r != LOKT_E_HELD && -r != LOKT_E_FROZEN && -r != LOKT_E_MODE)
		return reply_refusal(q, r, "take lock", name, res);
	doc = json_object_new_object();
	json_object_object_add(doc, "error",
			       json_object_new_string(
				       -r == LOKT_E_FROZEN ? "lock is frozen" :
							     "lock already exists"));
	if (res->have_other)
		json_object_object_add(doc, "existingLock",
				       lock_json(&res->other.rec, false));
	return reply_json(q, MHD_HTTP_CONFLICT, doc);
}

static const char *string_field(struct json_object *body, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(body, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) !=
		    (size_t)json_object_get_string_len(v))
		return NULL; /* absent, not a string, or a NUL inside */
	return json_object_get_string(v);
}

static enum MHD_Result lock(struct req *q)
{
	struct json_object *body;
	const char *service, *who, *ttl = query(q, "ttl");
	int64_t ttl_ms = loktd.default_ttl_sec * 1000;
	enum MHD_Result ans;
	struct lokt_who w;

	if (!(body = body_json(q, &ans)))
		return ans;
	service = string_field(body, "service");
	who = string_field(body, "who");
	if (!service || !who || !*who) {
		metrics_refusal(OUT_BAD_REQUEST);
		ans = tracker_error(q, MHD_HTTP_BAD_REQUEST,
				    "service and who are required strings "
				    "(without NUL)");
	} else if (lokt_name_check(service) < 0) {
		metrics_refusal(OUT_BAD_REQUEST);
		ans = tracker_error(q, MHD_HTTP_BAD_REQUEST,
				    "bad service name: use letters, digits, "
				    "'.', '_' and '-' (at most 200 bytes, not "
				    "starting with '.')");
	} else if ((!ttl || duration_arg(q, "ttl", ttl, &ttl_ms, &ans)) &&
		   caller(q, who, who, &w, &ans) == 0) {
		ans = acquire_or_wait(q, service, &w,
				      ttl_ms / 1000 + (ttl_ms % 1000 ? 1 : 0),
				      0, 0, false, locked);
	}
	json_object_put(body);
	return ans;
}

/* The lock whose lock_id is id: 0 and *ret, or -LOKT_E_NOT_FOUND. */
static int find(const char *id, struct lokt_info *ret)
{
	struct lokt_info *all = NULL;
	size_t n = 0;
	int r;

	if (strlen(id) != LOKT_ID_LEN)
		return -LOKT_E_NOT_FOUND;
	r = lokt_list(loktd.store, LOKT_LOCK, &all, &n);
	if (r < 0)
		return r;
	r = -LOKT_E_NOT_FOUND;
	for (size_t i = 0; i < n; i++)
		if (all[i].stale == LOKT_LIVE &&
		    !strcmp(all[i].rec.lock_id, id)) {
			*ret = all[i];
			r = 0;
			break;
		}
	free(all);
	return r;
}

static enum MHD_Result get(struct req *q, const char *id)
{
	struct lokt_info in;

	if (find(id, &in) < 0)
		return tracker_error(q, MHD_HTTP_NOT_FOUND, "lock not found");
	return reply_json(q, MHD_HTTP_OK, lock_json(&in.rec, true));
}

static enum MHD_Result unlock(struct req *q, const char *id)
{
	struct lokt_result res = { 0 };
	struct json_object *doc;
	enum MHD_Result ans;
	struct lokt_info in;
	struct lokt_who w;
	int r;

	/* Without tokens, knowing the id is enough: act as its owner. */
	if (find(id, &in) < 0) {
		if (caller(q, NULL, NULL, &w, &ans))
			return ans;
		metrics_refusal(OUT_NOT_FOUND);
		return tracker_error(q, MHD_HTTP_NOT_FOUND, "lock not found");
	}
	if (caller(q, in.rec.owner, NULL, &w, &ans))
		return ans;
	/* by lock_id liblokt releases for anyone: the owner is checked here */
	r = strcmp(w.owner, in.rec.owner) ?
		    -LOKT_E_NOT_OWNER :
		    lokt_release(loktd.store, in.rec.name, &w, id, 0, &res);
	if (r == -LOKT_E_NOT_OWNER) {
		metrics_refusal(OUT_NOT_OWNER);
		return tracker_error(q, MHD_HTTP_FORBIDDEN,
				     "lock belongs to another owner");
	}
	if (r < 0) {
		metrics_refusal(OUT_NOT_FOUND);
		return tracker_error(q, http_status(r), "lock not found");
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "success", json_object_new_boolean(1));
	json_object_object_add(doc, "message",
			       json_object_new_string(
				       "Lock released successfully"));
	return reply_json(q, MHD_HTTP_OK, doc);
}

static size_t num_arg(struct req *q, const char *key, size_t def)
{
	const char *v = query(q, key);
	char *end;
	unsigned long n;

	if (!v)
		return def;
	n = strtoul(v, &end, 10);
	return *end || end == v || n > 1000000 ? 0 : (size_t)n;
}

static enum MHD_Result list(struct req *q)
{
	size_t page = num_arg(q, "page", 1), per = num_arg(q, "per_page", 10);
	struct json_object *doc, *arr;
	struct lokt_info *all = NULL;
	size_t n = 0, live = 0;
	int r;

	if (!page || !per || per > LOKTD_PAGE_MAX)
		return tracker_error(q, MHD_HTTP_BAD_REQUEST,
				     "page and per_page must be positive "
				     "numbers (per_page at most 1000)");
	/* One listing: total and the page from the same instant. */
	r = lokt_list(loktd.store, LOKT_LOCK, &all, &n);
	if (r < 0)
		return tracker_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
				     lokt_strerror(r));
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (all[i].stale != LOKT_LIVE || all[i].future)
			continue;
		if (live >= (page - 1) * per && live < page * per)
			json_object_array_add(arr, lock_json(&all[i].rec, true));
		live++;
	}
	free(all);
	doc = json_object_new_object();
	json_object_object_add(doc, "locks", arr);
	json_object_object_add(doc, "total", json_object_new_int64((int64_t)live));
	json_object_object_add(doc, "page", json_object_new_int64((int64_t)page));
	json_object_object_add(doc, "perPage", json_object_new_int64((int64_t)per));
	return reply_json(q, MHD_HTTP_OK, doc);
}

enum MHD_Result tracker_route(struct req *q, char **seg, size_t n)
{
	bool is_get = !strcmp(q->method, "GET");
	bool is_post = !strcmp(q->method, "POST");
	/* HEAD where GET only reads (never on unlock: a GET that changes). */
	bool reads = is_get || !strcmp(q->method, "HEAD");

	if (n == 1 && !strcmp(seg[0], "lock") && is_post)
		return lock(q);
	if (n == 2 && !strcmp(seg[0], "lock") && reads)
		return get(q, seg[1]);
	if (n == 2 && !strcmp(seg[0], "unlock") && (is_get || is_post))
		return unlock(q, seg[1]);
	if (n == 2 && !strcmp(seg[0], "locks") && !strcmp(seg[1], "list") &&
	    reads)
		return list(q);
	if ((n == 1 && !strcmp(seg[0], "lock")) ||
	    (n == 2 && (!strcmp(seg[0], "lock") || !strcmp(seg[0], "unlock") ||
			(!strcmp(seg[0], "locks") && !strcmp(seg[1], "list")))))
		return tracker_error(q, MHD_HTTP_METHOD_NOT_ALLOWED,
				     "method not allowed");
	return tracker_error(q, MHD_HTTP_NOT_FOUND, "no such endpoint");
}
