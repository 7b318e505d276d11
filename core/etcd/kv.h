/* SPDX-License-Identifier: MIT */
/*
 * Private to the etcd backend: keys, transactions and leases, in terms of
 * bytes and numbers instead of the gateway's base64 JSON (kv.c).
 */
#ifndef LOKT_ETCD_KV_H
#define LOKT_ETCD_KV_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"

/* One key as etcd returns it. key and value are malloc'd and
 * NUL-terminated (they may hold other NULs: use the lengths). */
struct lokt_kv {
	char *key, *value;
	size_t key_len, value_len;
	int64_t create_rev, mod_rev, version, lease;
};

void lokt__kvs_free(struct lokt_kv *kvs, size_t n);

/* The keys in [key, range_end) (range_end NULL: key alone), sorted by key,
 * at most limit of them (0: all); the store's revision in *ret_rev and
 * whether more were left out in *ret_more (either may be NULL). A
 * linearizable read: never stale. */
int lokt__kv_range(struct lokt_gw *g, const char *key, const char *range_end,
		   int64_t limit, struct lokt_kv **ret, size_t *ret_n,
		   int64_t *ret_rev, bool *ret_more);

/* A range with options: at most limit keys (0: all), as the store was
 * at revision (0: now; pages of one listing ask for the first page's, so
 * that they make one consistent reading), keys only (values left empty),
 * or only keys created at min_create_rev or later (0: all), then in the
 * order they were created. -ERANGE: that revision was compacted away. */
struct lokt_range_opts {
	int64_t limit, revision, min_create_rev;
	bool keys_only;
};
int lokt__kv_range_opts(struct lokt_gw *g, const char *key,
			const char *range_end,
			const struct lokt_range_opts *o, struct lokt_kv **ret,
			size_t *ret_n, int64_t *ret_rev, bool *ret_more);

/* The same, only keys created at min_create_rev or later (0: all), in
 * the order they were created. */
int lokt__kv_range_since(struct lokt_gw *g, const char *key,
			 const char *range_end, int64_t min_create_rev,
			 int64_t limit, struct lokt_kv **ret, size_t *ret_n,
			 int64_t *ret_rev, bool *ret_more);

/* The end of the range of every key starting with prefix: prefix with
 * its last byte incremented (malloc'd). */
char *lokt__kv_prefix_end(const char *prefix);

/* ---- transactions ------------------------------------------------------ */

/* A transaction under construction: compares, then what to do on success
 * and on failure. Build with the calls below, run with lokt__txn_run. */
struct lokt_etcd_txn {
	struct json_object *req;
	struct json_object *compare, *success, *failure;
	int err; /* the first building error (ENOMEM), reported by run */
	bool writes; /* a put or a delete in it: not idempotent */
};

int lokt__txn_init(struct lokt_etcd_txn *t);
void lokt__txn_free(struct lokt_etcd_txn *t);

enum lokt_txn_target { LOKT_CMP_CREATE, LOKT_CMP_MOD, LOKT_CMP_VERSION,
		       LOKT_CMP_LEASE };
enum lokt_txn_op { LOKT_CMP_EQ, LOKT_CMP_LESS, LOKT_CMP_GREATER };

/* Compare target of key (or of every key of [key, range_end)) with v:
 * CREATE == 0 means "absent". */
void lokt__txn_cmp(struct lokt_etcd_txn *t, const char *key, const char *range_end,
		   enum lokt_txn_target target, enum lokt_txn_op op, int64_t v);

/* Requests on success (on_success) or failure. lease 0: none;
 * ignore_lease keeps the key's lease (a renewal). */
void lokt__txn_put(struct lokt_etcd_txn *t, bool on_success, const char *key,
		   const char *value, int64_t lease, bool ignore_lease);
void lokt__txn_delete(struct lokt_etcd_txn *t, bool on_success, const char *key,
		      const char *range_end);
void lokt__txn_get(struct lokt_etcd_txn *t, bool on_success, const char *key,
		   const char *range_end);
/* The same, keys only (no values: what lies there cannot make the
 * answer too large). */
void lokt__txn_get_keys(struct lokt_etcd_txn *t, bool on_success,
			const char *key, const char *range_end);

/* The answer of a run: whether the compares held, the store's revision
 * after it, and the responses (one per request of the branch taken). */
struct lokt_txn_answer {
	bool succeeded;
	int64_t rev;
	struct json_object *answer; /* the whole answer; put it */
};

/* Run t. -ETIMEDOUT is ambiguous (see gateway.h): read again. */
int lokt__txn_run(struct lokt_gw *g, struct lokt_etcd_txn *t,
		  struct lokt_txn_answer *ret);

/* The kvs of response i of a run, when it was a range; malloc'd. */
int lokt__txn_kvs(const struct lokt_txn_answer *a, size_t i,
		  struct lokt_kv **ret, size_t *ret_n);

/* ---- leases ------------------------------------------------------------ */

/* A lease of ttl_sec; its id in *ret_id. */
int lokt__lease_grant(struct lokt_gw *g, int64_t ttl_sec, int64_t *ret_id);

/* Keep the lease alive: its new TTL in *ret_ttl; -ENOENT when the lease is
 * gone (expired or revoked): whatever was attached to it is gone too. */
int lokt__lease_keepalive(struct lokt_gw *g, int64_t id, int64_t *ret_ttl);

/* Revoke it (and delete the keys attached); a lease already gone is 0. */
int lokt__lease_revoke(struct lokt_gw *g, int64_t id);

/* Seconds left, -ENOENT when gone. */
int lokt__lease_ttl(struct lokt_gw *g, int64_t id, int64_t *ret_ttl);

#endif /* LOKT_ETCD_KV_H */
