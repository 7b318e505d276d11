/* SPDX-License-Identifier: MIT */
/*
 * Private to liblokt: what protocol.c shares with the other transition
 * files (freeze.c, list.c, wait.c, run.c). The rules themselves are
 * described in protocol.c's DESIGN comment.
 */
#ifndef LOKT_PROTOCOL_H
#define LOKT_PROTOCOL_H

#include "backend.h"

/* Parse and judge the bytes of a record of kind stored at name, now:
 * ret filled (a corrupt record: stale CORRUPT, rec zeroed but name and
 * uid; a future-version record: ret->future, not judged). rec.uid falls
 * back to meta's, rec.name is `name`. */
void lokt__judge_bytes(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *buf, size_t len,
		       const struct lokt_meta *meta, struct lokt_info *ret);

/* Read and judge the name's record of kind within transition t: 0 with
 * *ret filled, -LOKT_E_NOT_FOUND, or -errno. With ret_json, its bytes
 * (malloc'd). */
int lokt__load_in(struct lokt_txn *t, enum lokt_kind kind,
		  struct lokt_info *ret, char **ret_json);

/* The same outside a transition (a record read may change at once). */
int lokt__load(struct lokt_store *s, enum lokt_kind kind, const char *name,
	       struct lokt_info *ret, char **ret_json);

/* Audit "extra" describing the record a transition acted on or was refused
 * by: {"holder": {owner, host, pid, lock_id}, "reason": reason}. */
struct json_object *lokt__holder_extra(const struct lokt_record *rec,
				       const char *reason);

/* In transition t: remove the record of t's kind described by cur and
 * audit `event` with the holder and `reason` (may be NULL). */
int lokt__remove_audited(struct lokt_txn *t, const struct lokt_who *who,
			 const struct lokt_info *cur, const char *event,
			 const char *reason);

/* Start a result: zeroed, nothing broken. */
void lokt__result_init(struct lokt_result *ret);

/* Acquired now, with ttl_sec (0 or less: none). */
void lokt__set_lease(struct lokt_record *rec, int64_t ttl_sec);

/* The TTL a re-entrant acquisition with o renews rec with
 * (lokt_acquire_opts.keep_ttl; a detached lock keeps its own). */
int64_t lokt__renew_ttl(const struct lokt_acquire_opts *o,
			const struct lokt_record *rec);

/* In transition t: a new record of t's kind for `who` (new lock_id, lease
 * of ttl_sec, a fence above floor, keeper started at keeper_start, 0:
 * none), created, never over an existing one (-LOKT_E_HELD with
 * ret->other then), audited "acquire" or "freeze". */
int lokt__publish_new(struct lokt_txn *t, const struct lokt_who *who,
		      int64_t ttl_sec, uint64_t floor, pid_t keeper,
		      uint64_t keeper_start, struct lokt_result *ret);

/* One acquisition attempt, a whole transition. seq is the asker's place
 * in the queue (0: not queued); offered, the lock_id it offered for a
 * hand-over (NULL: none): a record with it is the asker's, returned as
 * acquired. quiet: a refusal is not audited (a waiter retries). *ret_q:
 * the queue as seen, may be NULL. */
int lokt__acquire_step(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts, uint64_t seq,
		       const char *offered, bool quiet,
		       struct lokt_queue *ret_q, struct lokt_result *ret);

/* freeze.c: within transition t (on the name's lock), is the name frozen
 * now? 1 with the freeze in *ret, 0 if not. An expired or corrupt freeze
 * met on the way is removed (audited) in a transition of its own. */
int lokt__frozen(struct lokt_txn *t, const struct lokt_who *who,
		 struct lokt_info *ret);

/* wait.c: the period of a waiter's re-checks for what events cannot show
 * (ms; < 0: never, which only tests use, to prove that events suffice). */
extern int64_t lokt__wait_recheck_ms;

/* wait.c: lokt_acquire with opts->wait: queue, sleep on events, retry. */
int lokt__acquire_wait(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts,
		       struct lokt_result *ret);

#endif /* LOKT_PROTOCOL_H */
