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

#include <dirent.h>
#include <sys/stat.h>

#include "backend.h"

/* What the directory store keeps of an open store besides the fields of
 * struct lokt_store (s->be_data): nothing here is a record, a name or
 * anything else a reader must see fresh. */
#define LOKT_DIR_IDLE_INO 4 /* idle inotify instances kept (dirwait.c) */
struct lokt_dir {
	/* Every open directory store is listed, for fork (store.c). */
	struct lokt_store *store;
	struct lokt_dir *fork_prev, *fork_next;
	bool listed;
	pthread_mutex_t lock; /* guards the fields below */
	pid_t idle_pid; /* the process the idle instances are of */
	int idle_ino[LOKT_DIR_IDLE_INO];
	size_t n_idle;
	/* The audit log kept open (audit.c); -1: none. */
	int audit_fd;
	dev_t audit_dev; /* what it is, to see it replaced or rotated */
	ino_t audit_ino;
	off_t audit_size; /* its size at the last append's fstatat */
	unsigned audit_forks; /* the fork count it was opened at */
	/* How records are published (store.c), learned on the way: */
	_Atomic enum {
		LOKT_PUBLISH_UNNAMED, /* O_TMPFILE, linkat(AT_EMPTY_PATH) */
		LOKT_PUBLISH_PROC, /* O_TMPFILE, linkat of /proc/self/fd/N */
		LOKT_PUBLISH_NAMED, /* a temporary name, link(2) */
	} publish;
};

/* Make s serve the directory its root path names now, reopening it when
 * the store was moved (see the DESIGN comment in store.c). One stat when
 * nothing moved. Called first by lokt__name_lock (every transition) and
 * by the readers that take no name lock (lokt_get, lokt_list). */
int lokt__store_follow(struct lokt_store *s);

/* Open `file` in the directory dfd with flags | O_NOFOLLOW | O_NONBLOCK
 * | O_CLOEXEC (mode 0644 if O_CREAT creates it) and check that it is of
 * `type` (S_IFREG, S_IFDIR). The fd, or -LOKT_E_FOREIGN for a symlink, a
 * FIFO, a socket, or a directory where a file belongs (and the reverse),
 * or -errno. Its stat goes to *ret_st (may be NULL). */
int lokt__open_in(int dfd, const char *file, int flags, mode_t type,
		  struct stat *ret_st);

/* An error of openat(O_NOFOLLOW | O_NONBLOCK) as lokt__open_in returns
 * it: what says "not a file of ours there" is -LOKT_E_FOREIGN. */
int lokt__open_error(int err);

/* A DIR* of directory dfd on an open file description of its own (threads
 * must not share a directory offset); closedir() it. -errno. */
int lokt__opendir(int dfd, DIR **ret);

/* The directory fd of a kind (locks/ or freezes/). */
int lokt__kind_fd(const struct lokt_store *s, enum lokt_kind kind);

/* A file of lokt's counters (a sidecar, the fence floor) of stat st,
 * open as fd: true unless it has a second hard link and holds anything
 * but a counter ("123\n"), which lokt never writes elsewhere: a link
 * planted to someone's file, never to be written (foreign). */
bool lokt__counter_file_ok(int fd, const struct stat *st);

/* The same, by name in dfd, for readers: 0 (absent, or not readable by
 * us: its writers judge it), -LOKT_E_FOREIGN, -errno. */
int lokt__counter_file_check(int dfd, const char *file);

/* Give fd (a file or directory liblokt just created or opened for
 * writing by others) the store's share bits, write and read, when we own
 * it and it lacks them. Errors are ignored: a file of another user is
 * theirs to fix. */
void lokt__share_fd(const struct lokt_store *s, int fd);

/* Serialize transitions on one name: follow a moved store, open the
 * sidecar (created on first use) and flock(LOCK_EX) it. *ret_lk is the
 * handle; give it back with lokt__name_unlock. Each call opens its own file description, so threads
 * exclude each other exactly as processes do. A sidecar removed (by
 * lokt__sidecars_prune) while we waited for it is opened again; an empty
 * one is seeded with the fence floor. */
int lokt__name_lock(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, int *ret_lk);
void lokt__name_unlock(int lk); /* -1 is fine */

/* lokt_store_set_deadline of a directory store: a wait of the calling
 * thread for a flock of the store (lokt__flock_wait) gives up, -EAGAIN,
 * on the second signal past mono_ms (0: none) that finds it still held. */
void lokt__dir_deadline(struct lokt_store *s, int64_t mono_ms);
/* flock(fd, op) (LOCK_EX, LOCK_SH) of a file of the directory store s:
 * bounded by s's lock_wait_ms when set (-EAGAIN after it), else waiting
 * in the kernel's queue until a signal interrupts it past the thread's
 * deadline (-EAGAIN) or cancels a wait (-LOKT_E_CANCELED). */
int lokt__flock_wait(const struct lokt_store *s, int fd, int op);

/* ---- Sidecars' life (sidecar.c) ----------------------------------------- */

/* The fence floor of the kind directory dfd: the highest counter of a
 * sidecar removed from it (0: none, or no floor file yet). held: the
 * sidecar whose flock the caller holds (-1: none), which a planted link
 * may have made the floor too. */
int lokt__floor_read(const struct lokt_store *s, int dfd, int held,
		      uint64_t *ret);

/* Remove the sidecars of the kind's names that have no record, no queue
 * (or an empty one) and no fence issued for min_age_sec, each under its
 * flock, raising the fence floor first. *ret_count = how many (may be
 * NULL). */
int lokt__sidecars_prune(struct lokt_store *s, enum lokt_kind kind,
			 int64_t min_age_sec, size_t *ret_count);

/* Take the sidecar dfd/file, open as lk and flocked, out of the store:
 * its counter raised into the fence floor, its name unlinked (the next
 * lokt__name_lock makes a new one, seeded from the floor). For a sidecar
 * of more than one hard link, which lokt never writes. */
int lokt__sidecar_retire(struct lokt_store *s, int dfd, int lk,
			 const char *file);

/* Issue the next fence of the name whose sidecar `lk` is locked:
 * max(counter in the sidecar, floor) + 1, written back before returning. */
int lokt__fence_next(int lk, uint64_t floor, uint64_t *ret);

/* The bytes of <name>.json (malloc'd, NUL-terminated) and its stat.
 * -LOKT_E_NOT_FOUND when absent, -LOKT_E_FOREIGN when it is not a regular
 * file. An empty file is re-read for about
 * 100 ms first (lokt 1.x creates with O_EXCL, then writes); if it stays
 * empty it is returned empty (the parser calls it corrupt). */
int lokt__file_read(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, char **ret_buf, size_t *ret_len,
		    struct stat *ret_st);

/* Create <name>.json with `data`: an unnamed file (O_TMPFILE) given its
 * name with linkat(2), or where that is refused a temporary file +
 * link(2); so it is never seen half-written and never replaces an
 * existing file (-EEXIST). */
int lokt__file_publish(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *data);

/* Replace <name>.json with `data`: temporary file + rename(2). */
int lokt__file_replace(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *data);

/* Remove <name>.json; -LOKT_E_NOT_FOUND when absent. */
int lokt__file_remove(struct lokt_store *s, enum lokt_kind kind,
		      const char *name);

/* ---- The waiter queue (queue.c) ----------------------------------------- */
/* struct lokt_queue (what the queue looks like to one asker) is the
 * seam's: backend.h. */

/* A waiter's place in the queue of a name. */
struct lokt_ticket {
	int fd; /* open and flock()ed while we wait; -1: none */
	uint64_t seq; /* position key: lower is earlier */
	int bell; /* our doorbell, readable when rung; -1: none */
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

/* ---- The backend's other calls ------------------------------------------ */

/* dirwait.c: the wait_* calls of backend.h. */
int lokt__dir_wait_join(struct lokt_store *s, const char *name,
			struct lokt_waiter **ret, uint64_t *ret_seq);
int64_t lokt__dir_wait_plan(struct lokt_waiter *w,
			    const struct lokt_wait_hint *h, int64_t now);
bool lokt__dir_wait_behind(struct lokt_waiter *w, bool count,
			   struct lokt_queue *q);
bool lokt__dir_wait_sleep(struct lokt_waiter *w, int64_t timeout_ms);
void lokt__dir_wait_leave(struct lokt_waiter *w);

/* audit.c: close the audit log kept open by s. */
void lokt__audit_file_close(struct lokt_store *s);

/* dirwait.c: an idle inotify instance of s, drained (it may still watch
 * locks/ and freezes/), or a new one; -errno. */
int lokt__dir_ino_take(struct lokt_store *s);

/* dirwait.c: close the idle inotify instances of s. */
void lokt__dir_wait_close(struct lokt_store *s);

/* store.c: close the directory store's fds and free s. */
void lokt__dir_close(struct lokt_store *s);

#endif /* LOKT_STORE_H */
