/* SPDX-License-Identifier: MIT */
/*
 * Private to liblokt: names with several holders. gate.c keeps their one
 * record (the gate); slots.c's transitions are called by protocol.c and
 * list.c when a name is, or is asked to become, a semaphore or shared.
 * The rules are in slots.c's DESIGN comment.
 */
#ifndef LOKT_SLOTS_H
#define LOKT_SLOTS_H

#include "protocol.h"

/* What lokt 1.x reads of a gate: a lock of this owner on this host.
 * .invalid is never a host name (RFC 2606): every reader judges it as
 * held on another host, by its TTL, which it has not. */
#define GATE_OWNER "lokt-slots"
#define GATE_HOST "lokt-slots.invalid"
#define GATE_BYTES_MAX (64 * 1024) /* record.c reads no more */

/* A gate, parsed. Checklist when a field changes: gate.c (parse,
 * format) and docs/protocol.md, "Slots and shared locks". */
struct gate {
	struct lokt_record top; /* what lokt 1.x reads */
	unsigned slots; /* N, or 0: shared */
	size_t n;
	struct lokt_record h[LOKT_SLOTS_MAX]; /* in the order they came */
};

/* Is rec the record of several holders (what lokt 1.x reads of it)? */
bool lokt__is_gate(const struct lokt_record *rec);

/* The gate in the bytes buf (-LOKT_E_CORRUPT when it is not one); g
 * as compact JSON with a newline, malloc'd (-E2BIG above
 * GATE_BYTES_MAX). */
int lokt__gate_parse(const char *buf, size_t len, struct gate *g);
int lokt__gate_format(const struct gate *g, char **ret);

/* Holder h of gate g (judged as gi) judged now, as an info of its own. */
void lokt__holder_info(struct lokt_store *s, const struct gate *g,
		       const struct lokt_record *h,
		       const struct lokt_info *gi, struct lokt_info *ret);

/* in was judged from a gate's record, parsed from the document o: judge
 * its holders too (in->slots, in->shared; stale only when every holder
 * is). A gate whose holders do not parse is corrupt. With keep, the
 * parsed gate is given there (malloc'd; NULL when corrupt). */
void lokt__gate_judge(struct lokt_store *s, struct json_object *o,
		      struct lokt_info *in, struct gate **keep);

/* Every holder of the gate judged as gi, one info each, malloc'd. */
int lokt__gate_expand(struct lokt_store *s, const char *buf, size_t len,
		      const struct lokt_info *gi, struct lokt_info **ret,
		      size_t *ret_n);

/* Does the asker want one of several places (opts->slots or shared)? */
bool lokt__slots_asked(const struct lokt_acquire_opts *opts);

/* An acquisition, within transition t, when it asks for slots or shared,
 * or finds a gate: cur the name's record (NULL: none), json its bytes,
 * q the queue as seen. As acquire_in (protocol.c) returns. */
int lokt__slots_acquire_in(struct lokt_txn *t, const struct lokt_who *who,
			   const struct lokt_acquire_opts *opts, bool quiet,
			   const struct lokt_info *cur, const char *json,
			   const struct lokt_queue *q, struct lokt_result *ret);

/* Renew, keep and release of one holder of the gate cur (json its bytes),
 * within transition t; as renew_in, keep_in and release_in do for a lock
 * of one holder. */
int lokt__slots_renew_in(struct lokt_txn *t, const struct lokt_info *cur,
			 const char *json, const struct lokt_who *who,
			 const char *lock_id, int64_t ttl_sec,
			 struct lokt_result *ret);
int lokt__slots_keep_in(struct lokt_txn *t, const struct lokt_info *cur,
			const char *json, const char *lock_id, pid_t keeper,
			uint64_t keeper_start, struct lokt_result *ret);
int lokt__slots_release_in(struct lokt_txn *t, const struct lokt_info *cur,
			   const char *json, const struct lokt_who *who,
			   const char *lock_id, unsigned flags,
			   struct lokt_result *ret);

/* Release every holder of owner (release, or force-break when owner is
 * not who's): how many, or -LOKT_E_NOT_FOUND when it has none. */
int lokt__slots_release_owner_in(struct lokt_txn *t,
				 const struct lokt_info *cur, const char *json,
				 const struct lokt_who *who, const char *owner);

/* Remove every stale holder (auto-prune): how many, or -errno. */
int lokt__slots_prune_in(struct lokt_txn *t, const struct lokt_info *cur,
			 const char *json, const struct lokt_who *who);

#endif /* LOKT_SLOTS_H */
