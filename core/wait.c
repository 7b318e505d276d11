// SPDX-License-Identifier: MIT
/*
 * Waiting for a lock, first come first served, woken by events.
 *
 * A waiter takes a ticket in the name's queue (queue.c) and keeps it
 * flock()ed until it leaves, by any path. It then loops: one acquisition
 * attempt (protocol.c, under the sidecar, which also removes dead tickets
 * and lets only the lowest live ticket take a free lock), and if refused,
 * a poll(2) on:
 *   - inotify on locks/ and freezes/ (the name's record created, replaced
 *     or removed) and on the queue directory (a ticket removed);
 *   - a pidfd of the local holder and one of the waiter just ahead, since
 *     a death removes no file (the record goes stale, the ticket dead);
 *   - a timer: the holder's or freeze's expiry, the caller's timeout, a
 *     progress tick about once a second, and a re-check every 2 s for
 *     holders on other hosts over a shared filesystem, whose changes
 *     produce no inotify events here.
 * A signal interrupts poll (EINTR) so *opts->cancel is seen at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"

#define RECHECK_MS 2000 /* for changes inotify cannot see */
#define TICK_MS 1000 /* progress cadence */
#define RETRY_MS 50 /* a pid to watch is already gone: look again soon */

struct waiter {
	struct lokt_store *s;
	const char *name;
	char json[LOKT_NAME_MAX + 8]; /* "<name>.json" */
	int ino; /* inotify */
	int wd_locks, wd_freezes, wd_queue;
	int pidfd[2]; /* holder, waiter ahead; -1 when none */
	pid_t watched[2]; /* the pids behind pidfd[] */
	pid_t fired[2]; /* a pid whose pidfd already woke us: not watched
			   again (a zombie stays readable) */
};

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int watch_setup(struct waiter *w)
{
	char *path = NULL;
	int r;

	w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ino < 0)
		return -errno;
	w->wd_locks = lokt__watch_add(w->ino, w->s, LOKT_LOCK);
	if (w->wd_locks < 0)
		return w->wd_locks;
	w->wd_freezes = lokt__watch_add(w->ino, w->s, LOKT_FREEZE);
	if (w->wd_freezes < 0)
		return w->wd_freezes;
	r = lokt__queue_path(w->s, w->name, &path);
	if (r < 0)
		return r;
	w->wd_queue = inotify_add_watch(w->ino, path, IN_DELETE);
	free(path);
	return w->wd_queue < 0 ? -errno : 0;
}

/* Drain inotify; true if an event concerns our name or its queue. */
static bool watch_relevant(struct waiter *w)
{
	return lokt__watch_drain(w->ino, w->json, w->wd_queue) != 0;
}

static void pidfds_close(struct waiter *w)
{
	for (int i = 0; i < 2; i++) {
		if (w->pidfd[i] >= 0)
			close(w->pidfd[i]);
		w->pidfd[i] = -1;
	}
}

/* Watch pid's death; false if it is already gone (look again soon). */
static bool pidfd_watch(struct waiter *w, int slot, pid_t pid)
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

/* After a refusal: what to watch and when to look again (monotonic ms). */
static int64_t plan_next(struct waiter *w, int r, const struct lokt_result *res,
			 const struct lokt_queue *q, int64_t now)
{
	int64_t next = now + RECHECK_MS, left;
	struct timespec rt;
	bool ok = true;

	pidfds_close(w);
	if (res->have_other && !res->other.future) {
		const struct lokt_record *rec = &res->other.rec;

		if (rec->ttl_sec > 0) {
			lokt__now(&rt);
			left = lokt__ms_between(&rec->expires, &rt) + 1;
			if (left < 0)
				left = 0;
			if (now + left < next)
				next = now + left;
		}
		if (r == -LOKT_E_HELD && res->other.local)
			ok = pidfd_watch(w, 0, (pid_t)rec->pid);
	}
	if (q->ahead_pid > 0 && !pidfd_watch(w, 1, q->ahead_pid))
		ok = false;
	if (!ok && now + RETRY_MS < next)
		next = now + RETRY_MS;
	return next;
}

static void report(const struct lokt_acquire_opts *opts, int r,
		   const struct lokt_result *res, const struct lokt_queue *q,
		   int64_t waited)
{
	struct lokt_progress p = {
		.holder = res->have_other ? &res->other : NULL,
		.frozen = r == -LOKT_E_FROZEN,
		.waited_ms = waited,
		.position = q->ahead + 1,
		.waiters = q->live,
	};

	if (opts->progress)
		opts->progress(&p, opts->userdata);
}

/* Sleep until an event, next_check or deadline (< 0: none); true when an
 * event or a death calls for a new attempt now. */
static bool sleep_once(struct waiter *w, int64_t timeout)
{
	struct pollfd pfd[3];
	int slot[3], n = 0, i;
	bool hit = false;

	pfd[n++] = (struct pollfd){ .fd = w->ino, .events = POLLIN };
	for (i = 0; i < 2; i++) {
		if (w->pidfd[i] < 0)
			continue;
		slot[n] = i;
		pfd[n++] = (struct pollfd){ .fd = w->pidfd[i],
					    .events = POLLIN };
	}
	if (poll(pfd, n, (int)timeout) <= 0)
		return false; /* timeout, or EINTR: the caller checks cancel */
	if (pfd[0].revents && watch_relevant(w))
		hit = true;
	for (i = 1; i < n; i++) {
		if (pfd[i].revents) {
			w->fired[slot[i]] = w->watched[slot[i]];
			hit = true;
		}
	}
	return hit;
}

static int wait_loop(struct waiter *w, const struct lokt_who *who,
		     const struct lokt_acquire_opts *opts, uint64_t seq,
		     struct lokt_result *ret)
{
	int64_t start = mono_ms(), now, next = start, deadline = -1, t;
	struct lokt_queue q = { 0 };
	int r = -LOKT_E_HELD;

	if (opts->timeout_ms >= 0)
		deadline = start + opts->timeout_ms;
	for (;;) {
		if (opts->cancel && *opts->cancel)
			return -LOKT_E_CANCELED;
		now = mono_ms();
		if (now >= next || (deadline >= 0 && now >= deadline)) {
			r = lokt__acquire_step(w->s, w->name, who, opts, seq,
					       true, &q, ret);
			if (r != -LOKT_E_HELD && r != -LOKT_E_FROZEN)
				return r;
			next = plan_next(w, r, ret, &q, now);
		}
		if (deadline >= 0 && now >= deadline) {
			lokt__audit(w->s, "deny", w->name, NULL, who,
				    lokt__holder_extra(ret->have_other ?
							       &ret->other.rec :
							       NULL,
						       "timeout"));
			return -LOKT_E_TIMEOUT;
		}
		report(opts, r, ret, &q, now - start);
		t = next - now;
		if (t > TICK_MS)
			t = TICK_MS;
		if (deadline >= 0 && deadline - now < t)
			t = deadline - now;
		if (sleep_once(w, t < 0 ? 0 : t))
			next = 0;
	}
}

int lokt__acquire_wait(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts,
		       struct lokt_result *ret)
{
	struct waiter w = { .s = s, .name = name, .ino = -1,
			    .pidfd = { -1, -1 } };
	struct lokt_ticket t = { .fd = -1 };
	int lk, r;

	snprintf(w.json, sizeof(w.json), "%s.json", name);
	r = lokt__name_lock(s, LOKT_LOCK, name, &lk);
	if (r < 0)
		return r;
	r = lokt__ticket_take(s, name, &t);
	lokt__name_unlock(lk);
	if (r < 0)
		return r;
	r = watch_setup(&w);
	if (r == 0)
		r = wait_loop(&w, who, opts, t.seq, ret);
	pidfds_close(&w);
	if (w.ino >= 0)
		close(w.ino);
	lokt__ticket_drop(s, name, &t);
	return r;
}
