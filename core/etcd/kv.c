// SPDX-License-Identifier: MIT
/*
 * Keys, transactions and leases of etcd v3, built on the gateway's calls
 * (gateway.c): the JSON of the gateway (base64 keys and values, 64-bit
 * numbers as strings, zero values left out) stays in this file; the
 * backend above deals in strings and int64_t.
 *
 * Every read here is linearizable (the gateway's default, serializable
 * false): a member cut off from the others answers "no leader" instead of
 * an old value, and nothing is ever decided on a stale read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

void lokt__kvs_free(struct lokt_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

static int add_b64(struct json_object *o, const char *member, const char *s)
{
	char *enc;
	int r = lokt__b64_encode(s, strlen(s), &enc);

	if (r < 0)
		return r;
	json_object_object_add(o, member, json_object_new_string(enc));
	free(enc);
	return 0;
}

/* Decode member of o (base64) into *ret; absent: "". */
static int get_b64(struct json_object *o, const char *member, char **ret,
		   size_t *ret_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, member, &v))
		return lokt__b64_decode("", ret, ret_len);
	if (json_object_get_type(v) != json_type_string)
		return -EPROTO;
	return lokt__b64_decode(json_object_get_string(v), ret, ret_len) < 0 ?
		       -EPROTO :
		       0;
}

/* The kvs array of a range answer (which leaves it out when empty). */
static int decode_kvs(struct json_object *ans, struct lokt_kv **ret,
		      size_t *ret_n)
{
	struct json_object *arr, *o;
	struct lokt_kv *v;
	size_t n = 0, i;
	int r = 0;

	if (json_object_object_get_ex(ans, "kvs", &arr)) {
		if (json_object_get_type(arr) != json_type_array)
			return -EPROTO;
		n = json_object_array_length(arr);
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n && r == 0; i++) {
		o = json_object_array_get_idx(arr, i);
		r = get_b64(o, "key", &v[i].key, &v[i].key_len);
		if (r == 0)
			r = get_b64(o, "value", &v[i].value, &v[i].value_len);
		v[i].create_rev = lokt__gw_int(o, "create_revision", 0);
		v[i].mod_rev = lokt__gw_int(o, "mod_revision", 0);
		v[i].version = lokt__gw_int(o, "version", 0);
		v[i].lease = lokt__gw_int(o, "lease", 0);
	}
	if (r < 0) {
		lokt__kvs_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int64_t header_rev(struct json_object *ans)
{
	struct json_object *h;

	return json_object_object_get_ex(ans, "header", &h) ?
		       lokt__gw_int(h, "revision", 0) :
		       0;
}

int lokt__kv_range(struct lokt_gw *g, const char *key, const char *range_end,
		   int64_t limit, struct lokt_kv **ret, size_t *ret_n,
		   int64_t *ret_rev, bool *ret_more)
{
	struct lokt_range_opts o = { .limit = limit };

	return lokt__kv_range_opts(g, key, range_end, &o, ret, ret_n, ret_rev,
				   ret_more);
}

int lokt__kv_range_since(struct lokt_gw *g, const char *key,
			 const char *range_end, int64_t min_create_rev,
			 int64_t limit, struct lokt_kv **ret, size_t *ret_n,
			 int64_t *ret_rev, bool *ret_more)
{
	struct lokt_range_opts o = { .limit = limit,
				     .min_create_rev = min_create_rev };

	return lokt__kv_range_opts(g, key, range_end, &o, ret, ret_n, ret_rev,
				   ret_more);
}

int lokt__kv_range_opts(struct lokt_gw *g, const char *key,
			const char *range_end,
			const struct lokt_range_opts *o, struct lokt_kv **ret,
			size_t *ret_n, int64_t *ret_rev, bool *ret_more)
{
	struct json_object *req = json_object_new_object(), *ans = NULL, *m;
	int r;

	if (!req)
		return -ENOMEM;
	r = add_b64(req, "key", key);
	if (r == 0 && range_end)
		r = add_b64(req, "range_end", range_end);
	if (r == 0 && o->limit > 0)
		json_object_object_add(req, "limit",
				       json_object_new_int64(o->limit));
	if (r == 0 && o->revision > 0)
		json_object_object_add(req, "revision",
				       json_object_new_int64(o->revision));
	if (r == 0 && o->keys_only)
		json_object_object_add(req, "keys_only",
				       json_object_new_boolean(1));
	if (r == 0 && o->min_create_rev > 0) {
		json_object_object_add(req, "min_create_revision",
				       json_object_new_int64(o->min_create_rev));
		json_object_object_add(req, "sort_order",
				       json_object_new_string("ASCEND"));
		json_object_object_add(req, "sort_target",
				       json_object_new_string("CREATE"));
	}
	if (r == 0)
		r = lokt__gw_call(g, "/v3/kv/range", req, LOKT_GW_IDEMPOTENT,
				  &ans);
	json_object_put(req);
	if (r < 0)
		return r;
	r = decode_kvs(ans, ret, ret_n);
	if (r == 0 && ret_rev)
		*ret_rev = header_rev(ans);
	if (r == 0 && ret_more)
		*ret_more = json_object_object_get_ex(ans, "more", &m) &&
			    json_object_get_boolean(m);
	json_object_put(ans);
	return r;
}

char *lokt__kv_prefix_end(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strdup(prefix);

	/* Our prefixes are printable ASCII: the last byte never overflows. */
	if (end && len)
		end[len - 1]++;
	return end;
}

/* ---- transactions ------------------------------------------------------ */

int lokt__txn_init(struct lokt_etcd_txn *t)
{
	memset(t, 0, sizeof(*t));
	t->req = json_object_new_object();
	t->compare = json_object_new_array();
	t->success = json_object_new_array();
	t->failure = json_object_new_array();
	if (!t->req || !t->compare || !t->success || !t->failure) {
		json_object_put(t->compare);
		json_object_put(t->success);
		json_object_put(t->failure);
		json_object_put(t->req);
		return -ENOMEM;
	}
	json_object_object_add(t->req, "compare", t->compare);
	json_object_object_add(t->req, "success", t->success);
	json_object_object_add(t->req, "failure", t->failure);
	return 0;
}

void lokt__txn_free(struct lokt_etcd_txn *t)
{
	json_object_put(t->req); /* owns the arrays */
	t->req = NULL;
}

static void note(struct lokt_etcd_txn *t, int r)
{
	if (r < 0 && !t->err)
		t->err = r;
}

void lokt__txn_cmp(struct lokt_etcd_txn *t, const char *key, const char *range_end,
		   enum lokt_txn_target target, enum lokt_txn_op op, int64_t v)
{
	static const char *const targets[] = { "CREATE", "MOD", "VERSION",
					       "LEASE" };
	static const char *const fields[] = { "create_revision",
					      "mod_revision", "version",
					      "lease" };
	static const char *const ops[] = { "EQUAL", "LESS", "GREATER" };
	struct json_object *c = json_object_new_object();

	if (!c) {
		note(t, -ENOMEM);
		return;
	}
	note(t, add_b64(c, "key", key));
	if (range_end)
		note(t, add_b64(c, "range_end", range_end));
	json_object_object_add(c, "target",
			       json_object_new_string(targets[target]));
	json_object_object_add(c, "result", json_object_new_string(ops[op]));
	json_object_object_add(c, fields[target], json_object_new_int64(v));
	json_object_array_add(t->compare, c);
}

/* Append {"<kind>": body} to the branch. */
static void add_op(struct lokt_etcd_txn *t, bool on_success, const char *kind,
		   struct json_object *body)
{
	struct json_object *op = json_object_new_object();

	if (!op || !body) {
		json_object_put(op);
		json_object_put(body);
		note(t, -ENOMEM);
		return;
	}
	json_object_object_add(op, kind, body);
	json_object_array_add(on_success ? t->success : t->failure, op);
	t->writes |= strcmp(kind, "request_range") != 0;
}

void lokt__txn_put(struct lokt_etcd_txn *t, bool on_success, const char *key,
		   const char *value, int64_t lease, bool ignore_lease)
{
	struct json_object *b = json_object_new_object();

	if (b) {
		note(t, add_b64(b, "key", key));
		note(t, add_b64(b, "value", value));
		if (lease)
			json_object_object_add(b, "lease",
					       json_object_new_int64(lease));
		if (ignore_lease)
			json_object_object_add(b, "ignore_lease",
					       json_object_new_boolean(1));
	}
	add_op(t, on_success, "request_put", b);
}

/* A request on [key, range_end) of the given kind. */
static void range_op(struct lokt_etcd_txn *t, bool on_success, const char *kind,
		     const char *key, const char *range_end, bool keys_only)
{
	struct json_object *b = json_object_new_object();

	if (b) {
		note(t, add_b64(b, "key", key));
		if (range_end)
			note(t, add_b64(b, "range_end", range_end));
		if (keys_only)
			note(t, json_object_object_add(
					b, "keys_only",
					json_object_new_boolean(1)));
	}
	add_op(t, on_success, kind, b);
}

void lokt__txn_delete(struct lokt_etcd_txn *t, bool on_success, const char *key,
		      const char *range_end)
{
	range_op(t, on_success, "request_delete_range", key, range_end, false);
}

void lokt__txn_get(struct lokt_etcd_txn *t, bool on_success, const char *key,
		   const char *range_end)
{
	range_op(t, on_success, "request_range", key, range_end, false);
}

void lokt__txn_get_keys(struct lokt_etcd_txn *t, bool on_success,
			const char *key, const char *range_end)
{
	range_op(t, on_success, "request_range", key, range_end, true);
}

int lokt__txn_run(struct lokt_gw *g, struct lokt_etcd_txn *t,
		  struct lokt_txn_answer *ret)
{
	struct json_object *ans = NULL, *s;
	int r;

	if (t->err)
		return t->err;
	/* Only reads: sent again when a timeout leaves it unanswered. */
	r = lokt__gw_call(g, "/v3/kv/txn", t->req,
			  t->writes ? 0 : LOKT_GW_IDEMPOTENT, &ans);
	if (r < 0)
		return r;
	/* A failed txn has no "succeeded" member at all. */
	ret->succeeded = json_object_object_get_ex(ans, "succeeded", &s) &&
			 json_object_get_boolean(s);
	ret->rev = header_rev(ans);
	ret->answer = ans;
	return 0;
}

int lokt__txn_kvs(const struct lokt_txn_answer *a, size_t i,
		  struct lokt_kv **ret, size_t *ret_n)
{
	struct json_object *rs, *one, *range;

	if (!json_object_object_get_ex(a->answer, "responses", &rs) ||
	    json_object_get_type(rs) != json_type_array ||
	    i >= json_object_array_length(rs))
		return -EPROTO;
	one = json_object_array_get_idx(rs, i);
	if (!json_object_object_get_ex(one, "response_range", &range))
		return -EPROTO;
	return decode_kvs(range, ret, ret_n);
}

/* ---- leases ------------------------------------------------------------ */

static int lease_call(struct lokt_gw *g, const char *path, const char *member,
		      int64_t v, unsigned flags, struct json_object **ret)
{
	struct json_object *req = json_object_new_object();
	int r;

	if (!req)
		return -ENOMEM;
	json_object_object_add(req, member, json_object_new_int64(v));
	r = lokt__gw_call(g, path, req, flags, ret);
	json_object_put(req);
	return r;
}

int lokt__lease_grant(struct lokt_gw *g, int64_t ttl_sec, int64_t *ret_id)
{
	struct json_object *ans;
	int64_t id;
	int r;

	/* Not idempotent, but safe to send twice: a grant that a member
	 * took and then failed us (killed mid-request: a connection reset;
	 * a timeout) may have made a lease whose id we never learn, which
	 * expires unused. So a failed grant goes to the next member, as a
	 * read does, and to the same one when its timeout fell due while we
	 * were not running (gateway.c, LATE). */
	r = lease_call(g, "/v3/lease/grant", "TTL", ttl_sec, LOKT_GW_RESEND,
		       &ans);
	if (r < 0)
		return r;
	id = lokt__gw_int(ans, "ID", 0);
	json_object_put(ans);
	if (id == 0)
		return -EPROTO;
	*ret_id = id;
	return 0;
}

int lokt__lease_keepalive(struct lokt_gw *g, int64_t id, int64_t *ret_ttl)
{
	struct json_object *ans, *res;
	int64_t ttl;
	int r;

	r = lease_call(g, "/v3/lease/keepalive", "ID", id, LOKT_GW_IDEMPOTENT,
		       &ans);
	if (r < 0)
		return r;
	/* The answer is a stream message: {"result": {...}}. A lost lease
	 * is answered without a TTL. */
	res = ans;
	json_object_object_get_ex(ans, "result", &res);
	ttl = lokt__gw_int(res, "TTL", 0);
	json_object_put(ans);
	if (ttl <= 0)
		return -ENOENT;
	*ret_ttl = ttl;
	return 0;
}

int lokt__lease_revoke(struct lokt_gw *g, int64_t id)
{
	struct json_object *ans = NULL;
	int r;

	r = lease_call(g, "/v3/lease/revoke", "ID", id, LOKT_GW_IDEMPOTENT,
		       &ans);
	json_object_put(ans);
	return r == -ENOENT ? 0 : r;
}

int lokt__lease_ttl(struct lokt_gw *g, int64_t id, int64_t *ret_ttl)
{
	struct json_object *ans;
	int64_t ttl;
	int r;

	r = lease_call(g, "/v3/lease/timetolive", "ID", id, LOKT_GW_IDEMPOTENT,
		       &ans);
	if (r < 0)
		return r;
	ttl = lokt__gw_int(ans, "TTL", -1);
	json_object_put(ans);
	if (ttl < 0)
		return -ENOENT;
	*ret_ttl = ttl;
	return 0;
}
