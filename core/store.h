/* SPDX-License-Identifier: MIT */
/*
 * Private to liblokt: the storage primitives of store.c and queue.c, i.e.
 * how bytes reach disk. protocol.c, wait.c and run.c decide what a
 * transition does and call only these to do it, so a networked backend
 * (etcd: a transaction per transition, leases for TTLs, revisions for
 * fences, watches for wake-ups) could replace store.c and queue.c without
 * touching the protocol or the front ends.
 *
 * The local backend: a per-name sidecar file `.<name>.lk` in locks/ or
 * freezes/, flock(LOCK_EX)ed for the microseconds of a transition, whose
 * content is the last fence issued; records published with link(2) and
 * rewritten with rename(2) from a temporary file in the same directory;
 * waiter tickets in `locks/.<name>.q/`, each flock()ed by its waiter,
 * each with its waiter's doorbell (a FIFO) beside it.
 */
#ifndef LOKT_STORE_H
#define LOKT_STORE_H

#include <sys/stat.h>

#include "internal.h"

/* The directory fd of a kind (locks/ or freezes/). */
int lokt__kind_fd(const struct lokt_store *s, enum lokt_kind kind);

/* Give fd (a file or directory liblokt just created or opened for
 * writing by others) the store's share bits, when we own it and it lacks
 * them. Errors are ignored: a file of another user is theirs to fix. */
void lokt__share_fd(const struct lokt_store *s, int fd);

/* Serialize transitions on one name: open the sidecar (created on first
 * use) and flock(LOCK_EX) it. *ret_lk is the handle; give it back with
 * lokt__name_unlock. Each call opens its own file description, so threads
 * exclude each other exactly as processes do. */
int lokt__name_lock(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, int *ret_lk);
void lokt__name_unlock(int lk); /* -1 is fine */

/* Issue the next fence of the name whose sidecar `lk` is locked:
 * max(counter in the sidecar, floor) + 1, written back before returning. */
int lokt__fence_next(int lk, uint64_t floor, uint64_t *ret);

/* The bytes of <name>.json (malloc'd, NUL-terminated) and its stat.
 * -LOKT_E_NOT_FOUND when absent. An empty file is re-read for about
 * 100 ms first (lokt 1.x creates with O_EXCL, then writes); if it stays
 * empty it is returned empty (the parser calls it corrupt). */
int lokt__file_read(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, char **ret_buf, size_t *ret_len,
		    struct stat *ret_st);

/* Create <name>.json with `data`: temporary file + link(2), so it is never
 * seen half-written and never replaces an existing file (-EEXIST). */
int lokt__file_publish(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *data);

/* Replace <name>.json with `data`: temporary file + rename(2). */
int lokt__file_replace(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *data);

/* Remove <name>.json; -LOKT_E_NOT_FOUND when absent. */
int lokt__file_remove(struct lokt_store *s, enum lokt_kind kind,
		      const char *name);

/* ---- The waiter queue (queue.c) ----------------------------------------- */

/* A waiter's place in the queue of a name. */
struct lokt_ticket {
	int fd; /* open and flock()ed while we wait; -1: none */
	uint64_t seq; /* position key: lower is earlier */
	int bell; /* our doorbell, readable when rung; -1: none */
};

/* What the queue of a name looks like to one asker. */
struct lokt_queue {
	size_t live; /* live tickets, ours included */
	size_t ahead; /* live tickets lower than ours (all, if we have none) */
	pid_t ahead_pid; /* the waiter just ahead of us, 0 if none */
	uint64_t ahead_seq; /* its ticket, 0 if none */
};

/* Take a ticket after every existing one, with its doorbell (ret->bell
 * is -1 when it could not be made). Call with the name's sidecar locked
 * (ticket numbers are chosen under it). */
int lokt__ticket_take(struct lokt_store *s, const char *name,
		      struct lokt_ticket *ret);

/* Remove our ticket (unlink, then close, so it is never seen dead) and
 * its doorbell, then ring the first waiter behind us that listens. */
void lokt__ticket_drop(struct lokt_store *s, const char *name,
		       struct lokt_ticket *t);

/* Empty our doorbell after it rang. */
void lokt__bell_drain(struct lokt_ticket *t);

/* Is ticket seq of name held by a live waiter? 1 yes, 0 gone or dead
 * (not removed here), -errno. */
int lokt__ticket_live(struct lokt_store *s, const char *name, uint64_t seq);

/* Count the live waiters of a name, relative to ticket `seq` (0: not
 * queued). With prune (only with the sidecar locked), tickets of dead
 * waiters are removed. */
int lokt__queue_scan(struct lokt_store *s, const char *name, uint64_t seq,
		     bool prune, struct lokt_queue *ret);

#endif /* LOKT_STORE_H */
