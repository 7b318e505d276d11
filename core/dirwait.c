// SPDX-License-Identifier: MIT
/*
 * What a waiter of the directory store sleeps on (the wait_* calls of
 * backend.h; the loop that uses them is wait.c's, whose DESIGN comment
 * says why these):
 *
 *   - its ticket in the name's queue (queue.c), flock()ed while it waits,
 *     with a doorbell (a FIFO) beside it that the waiter ahead rings when
 *     it leaves;
 *   - at the head of the queue, inotify on locks/ and freezes/ (watch.c),
 *     made when it gets there;
 *   - a pidfd of a local holder (or of its keeper, when only the keeper
 *     keeps the lock), or of the waiter just ahead.
 *
 * DESIGN: an inotify instance outlives its waiter. Closing an instance
 * that has had a watch waits until the kernel has reaped the watch (an
 * SRCU grace period: 7 to 24 ms measured on Linux 6.18, see
 * docs/performance.md), and a waiter that closed its own on leaving paid
 * that between getting the lock and returning it. So a waiter gives its
 * instance back to the store, and the store's next waiter to reach the
 * head takes it; the store closes what is idle when it is closed (or the
 * process exits), after every lock was reported. A taken instance is
 * first drained of what it saw meanwhile and watched again on the
 * directories the store has open now (inotify_add_watch of a directory
 * already watched only returns its watch), so a store moved since is
 * watched where it is; a watch left on a directory the store no longer
 * uses can only wake it for nothing. Every waiter then tries once more
 * before it sleeps (lokt__dir_wait_plan), so nothing drained is missed.
 * Instances are never shared by two waiters at once (each drains what it
 * reads), nor across a fork (a child would share the parent's): a child
 * starts with none. At most LOKT_DIR_IDLE_INO wait
 * idle: each counts against the user's fs.inotify.max_user_instances.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "store.h"

#define DEGRADED_MS 250 /* the head's re-check without inotify */
#define RETRY_MS 50 /* a pid to watch is already gone: look again soon */

struct lokt_waiter {
	struct lokt_store *s;
	char name[LOKT_NAME_MAX + 1];
	char json[LOKT_NAME_MAX + 8]; /* "<name>.json" */
	struct lokt_ticket t;
	int ino; /* inotify on locks/ and freezes/, at the head; -1: none */
	int pidfd[2]; /* holder, waiter ahead; -1 when none */
	pid_t watched[2]; /* the pids behind pidfd[] */
	pid_t fired[2]; /* a pid whose pidfd already woke us: not watched
			   again (a zombie stays readable) */
};

/* The idle instances of another process (we are its fork): forgotten,
 * not closed, as the audit log's (audit.c): the child may have closed
 * those numbers and reused them for files of its own. Our copies are
 * closed on exec (O_CLOEXEC) or exit. Called with dir->lock held. */
static void idle_adopt(struct lokt_dir *dir, pid_t self)
{
	if (dir->idle_pid == self)
		return;
	dir->n_idle = 0;
	dir->idle_pid = self;
}

int lokt__dir_ino_take(struct lokt_store *s)
{
	struct lokt_dir *dir = s->be_data;
	pid_t self = getpid();
	int ino = -1;

	pthread_mutex_lock(&dir->lock);
	idle_adopt(dir, self);
	if (dir->n_idle > 0)
		ino = dir->idle_ino[--dir->n_idle];
	pthread_mutex_unlock(&dir->lock);
	if (ino >= 0) {
		(void)lokt__watch_drain(ino, "", -1);
		return ino;
	}
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return ino < 0 ? -errno : ino;
}

/* Give an instance back to the store; closed when enough are idle. */
static void ino_give(struct lokt_store *s, int ino)
{
	struct lokt_dir *dir = s->be_data;

	pthread_mutex_lock(&dir->lock);
	idle_adopt(dir, getpid());
	if (dir->n_idle < LOKT_DIR_IDLE_INO) {
		dir->idle_ino[dir->n_idle++] = ino;
		ino = -1;
	}
	pthread_mutex_unlock(&dir->lock);
	if (ino >= 0)
		close(ino);
}

void lokt__dir_wait_close(struct lokt_store *s)
{
	struct lokt_dir *dir = s->be_data;

	idle_adopt(dir, getpid());
	for (size_t i = 0; i < dir->n_idle; i++)
		close(dir->idle_ino[i]);
	dir->n_idle = 0;
}

static void watch_close(struct lokt_waiter *w)
{
	if (w->ino >= 0)
		ino_give(w->s, w->ino);
	w->ino = -1;
}

/* The head's watch on the name's record and freeze; -errno when inotify
 * is out of instances or watches (the caller then re-checks instead). */
static int watch_setup(struct lokt_waiter *w)
{
	int r;

	w->ino = lokt__dir_ino_take(w->s);
	if (w->ino < 0)
		return w->ino;
	r = lokt__watch_add(w->ino, w->s, LOKT_LOCK);
	if (r >= 0)
		r = lokt__watch_add(w->ino, w->s, LOKT_FREEZE);
	if (r < 0) {
		close(w->ino); /* not given back: it may lack a watch */
		w->ino = -1;
		return r;
	}
	return 0;
}

static void pidfds_close(struct lokt_waiter *w)
{
	for (int i = 0; i < 2; i++) {
		if (w->pidfd[i] >= 0)
			close(w->pidfd[i]);
		w->pidfd[i] = -1;
	}
}

/* Watch pid's death; false if it is already gone (look again soon). */
static bool pidfd_watch(struct lokt_waiter *w, int slot, pid_t pid)
{
	long fd;

	if (pid <= 0 || pid == w->fired[slot])
		return true;
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		w->pidfd[slot] = (int)fd;
		w->watched[slot] = pid;
		return true;
	}
	/* ENOSYS (old kernel): the 2 s re-check still finds the death. */
	return errno != ESRCH;
}

int lokt__dir_wait_join(struct lokt_store *s, const char *name,
			struct lokt_waiter **ret, uint64_t *ret_seq)
{
	struct lokt_waiter *w = calloc(1, sizeof(*w));
	int lk, r;

	if (!w)
		return -ENOMEM;
	*w = (struct lokt_waiter){ .s = s, .ino = -1,
				   .t = { .fd = -1, .bell = -1 },
				   .pidfd = { -1, -1 } };
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->json, sizeof(w->json), "%s.json", name);
	r = lokt__name_lock(s, LOKT_LOCK, name, &lk);
	if (r == 0) {
		r = lokt__ticket_take(s, name, &w->t);
		lokt__name_unlock(lk);
	}
	if (r < 0) {
		free(w);
		return r;
	}
	*ret = w;
	*ret_seq = w->t.seq;
	return 0;
}

int64_t lokt__dir_wait_plan(struct lokt_waiter *w,
			    const struct lokt_wait_hint *h, int64_t now)
{
	const struct lokt_result *res = h->res;
	int64_t next = INT64_MAX;
	bool ok = true;

	pidfds_close(w);
	if (h->q->ahead > 0) {
		if (h->q->ahead_pid > 0 && !pidfd_watch(w, 1, h->q->ahead_pid))
			next = now + RETRY_MS;
		return next;
	}
	if (w->ino < 0) {
		if (watch_setup(w) == 0)
			return now; /* look again, now that changes are seen */
		next = now + DEGRADED_MS;
	}
	/* A kept lock's holder is gone: its keeper's exit is what to wait
	 * for (watching the dead pid would spin). */
	if (h->r == -LOKT_E_HELD && res->have_other && !res->other.future &&
	    res->other.local)
		ok = pidfd_watch(w, 0, res->other.kept ?
					       (pid_t)res->other.rec.keeper_pid :
					       (pid_t)res->other.rec.pid);
	if (!ok && now + RETRY_MS < next)
		next = now + RETRY_MS;
	return next;
}

bool lokt__dir_wait_behind(struct lokt_waiter *w, bool count,
			   struct lokt_queue *q)
{
	struct lokt_queue now;

	if (!count)
		return lokt__ticket_live(w->s, w->name, q->ahead_seq) == 1;
	if (lokt__queue_scan(w->s, w->name, w->t.seq, false, &now) < 0 ||
	    now.ahead_seq != q->ahead_seq)
		return false;
	*q = now;
	return true;
}

/* Sleep until an event or for timeout ms; true when an event or a death
 * calls for a new attempt now. */
bool lokt__dir_wait_sleep(struct lokt_waiter *w, int64_t timeout)
{
	enum { INO = -1, BELL = -2 };
	struct pollfd pfd[4];
	int what[4], n = 0, i;
	bool hit = false;

	if (w->ino >= 0) {
		what[n] = INO;
		pfd[n++] = (struct pollfd){ .fd = w->ino, .events = POLLIN };
	}
	if (w->t.bell >= 0) {
		what[n] = BELL;
		pfd[n++] = (struct pollfd){ .fd = w->t.bell, .events = POLLIN };
	}
	for (i = 0; i < 2; i++) {
		if (w->pidfd[i] < 0)
			continue;
		what[n] = i;
		pfd[n++] = (struct pollfd){ .fd = w->pidfd[i],
					    .events = POLLIN };
	}
	if (poll(pfd, n, (int)timeout) <= 0)
		return false; /* timeout, or EINTR: the caller checks cancel */
	for (i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (what[i] == INO) {
			if (lokt__watch_drain(w->ino, w->json, -1) != 0)
				hit = true;
		} else if (what[i] == BELL) {
			lokt__bell_drain(&w->t);
			hit = true;
		} else {
			w->fired[what[i]] = w->watched[what[i]];
			hit = true;
		}
	}
	return hit;
}

void lokt__dir_wait_leave(struct lokt_waiter *w)
{
	pidfds_close(w);
	watch_close(w);
	lokt__ticket_drop(w->s, w->name, &w->t);
	free(w);
}
