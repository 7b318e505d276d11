/* SPDX-License-Identifier: MIT */
/*
 * Private to liblokt: what protocol.c shares with the other transition
 * files (freeze.c, list.c, wait.c, run.c). The rules themselves are
 * described in protocol.c's DESIGN comment.
 */
#ifndef LOKT_PROTOCOL_H
#define LOKT_PROTOCOL_H

#include "store.h"

/* Read and judge <name>.json of a kind, now: 0 with *ret filled (a corrupt
 * file: stale CORRUPT, rec zeroed but name and uid; a future-version file:
 * ret->future, not judged), -LOKT_E_NOT_FOUND, or -errno. rec.uid falls
 * back to the file's owner, rec.name is the file's name. With ret_json,
 * the file's bytes (malloc'd). Needs no lock: files change by one link,
 * rename or unlink. */
int lokt__load(struct lokt_store *s, enum lokt_kind kind, const char *name,
	       struct lokt_info *ret, char **ret_json);

/* Audit "extra" describing the record a transition acted on or was refused
 * by: {"holder": {owner, host, pid, lock_id}, "reason": reason}. */
struct json_object *lokt__holder_extra(const struct lokt_record *rec,
				       const char *reason);

/* With the sidecar of (kind, name) locked: remove the file described by
 * cur and audit `event` with the holder and `reason` (may be NULL). */
int lokt__remove_audited(struct lokt_store *s, enum lokt_kind kind,
			 const char *name, const struct lokt_who *who,
			 const struct lokt_info *cur, const char *event,
			 const char *reason);

/* Start a result: zeroed, nothing broken. */
void lokt__result_init(struct lokt_result *ret);

/* Acquired now, with ttl_sec (0 or less: none). */
void lokt__set_lease(struct lokt_record *rec, int64_t ttl_sec);

/* A new record of `name` for `who` (new lock_id, lease of ttl_sec, the
 * next fence of the sidecar lk above floor), published, never over an
 * existing file (-LOKT_E_HELD with ret->other then), audited "acquire"
 * or "freeze". The sidecar lk is held. */
int lokt__publish_new(struct lokt_store *s, enum lokt_kind kind, int lk,
		      const char *name, const struct lokt_who *who,
		      int64_t ttl_sec, uint64_t floor, struct lokt_result *ret);

/* Serialize rec and publish it (a new file, never over one) or replace
 * the file of its name, in kind's directory. */
int lokt__write_record(struct lokt_store *s, enum lokt_kind kind,
		       const struct lokt_record *rec, bool publish);

/* One acquisition attempt, a whole transition under the name's sidecar.
 * seq is the asker's queue ticket (0: not queued). quiet: a refusal is
 * not audited (a waiter retries). *ret_q: the queue as seen, may be NULL. */
int lokt__acquire_step(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts, uint64_t seq,
		       bool quiet, struct lokt_queue *ret_q,
		       struct lokt_result *ret);

/* freeze.c: is the name frozen now? 1 with the freeze in *ret, 0 if not.
 * An expired or corrupt freeze met on the way is removed (audited). */
int lokt__frozen(struct lokt_store *s, const char *name,
		 const struct lokt_who *who, struct lokt_info *ret);

/* wait.c: the period of a waiter's re-checks for what events cannot show
 * (ms; < 0: never, which only tests use, to prove that events suffice). */
extern int64_t lokt__wait_recheck_ms;

/* wait.c: lokt_acquire with opts->wait: queue, sleep on events, retry. */
int lokt__acquire_wait(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts,
		       struct lokt_result *ret);

#endif /* LOKT_PROTOCOL_H */
