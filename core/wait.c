// SPDX-License-Identifier: MIT
/*
 * Waiting for a lock, first come first served, woken by events.
 *
 * A waiter takes a ticket in the name's queue (queue.c), with a doorbell
 * beside it, and keeps the ticket flock()ed until it leaves, by any path.
 * It then loops: one acquisition attempt (protocol.c, under the sidecar,
 * which also removes dead tickets and lets only the lowest live ticket
 * take a free lock), and if refused, a poll(2) until something it waits
 * for may have changed.
 *
 * DESIGN
 *
 * Each waiter watches only what can let it move, as the waiters of etcd's
 * concurrency.Mutex watch only their predecessor:
 *
 *   - The waiter at the head (no live ticket ahead) waits for the lock:
 *     inotify on locks/ and freezes/ (its record created, replaced or
 *     removed), a pidfd of a local holder, or of its keeper when only
 *     the keeper keeps the lock (a death removes no file), and a timer
 *     for the holder's or freeze's expiry. Its inotify instance is
 *     made when it reaches the head, and it tries again at once after
 *     making it, so a release just before is not missed.
 *   - A waiter behind another waits for that one to leave: its doorbell
 *     (a FIFO) rings when the waiter ahead leaves the queue by acquiring,
 *     timing out or being canceled, and a pidfd of the waiter ahead fires
 *     when it dies. It then tries again, which prunes the dead, finds who
 *     is ahead now (or that it is at the head) and watches that.
 *
 * So a user's waiters hold one inotify instance per name at a time,
 * however many they are (fs.inotify.max_user_instances is 128 on Debian),
 * and a release wakes one waiter, not the whole queue.
 *
 * Why no wake-up is lost: a doorbell exists, open, before its waiter's
 * first attempt, and a leaver removes its ticket before it rings. A ring
 * after that attempt stays in the FIFO until read; a leave before it is
 * seen by the attempt. The leaver rings the first waiter behind it whose
 * doorbell answers, so a dead successor does not swallow the ring.
 *
 * What events cannot show is found by re-checks every 2 s: a holder or
 * waiter on another host over a shared filesystem, a kernel without
 * pidfd, a doorbell that could not be made. A waiter behind another
 * re-checks cheaply, without the sidecar: is the ticket ahead still live
 * (or, when progress is reported, the whole queue, for the position)?
 * Only a change costs a transition. If the head cannot get an inotify
 * instance (EMFILE, ENOSPC), the wait goes on: it re-checks every 250 ms
 * and asks for inotify again each time.
 *
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

#define RECHECK_MS 2000 /* for changes events cannot show */
#define DEGRADED_MS 250 /* the head's re-check without inotify */
#define TICK_MS 1000 /* progress cadence */
#define RETRY_MS 50 /* a pid to watch is already gone: look again soon */

int64_t lokt__wait_recheck_ms = RECHECK_MS;

struct waiter {
	struct lokt_store *s;
	const char *name;
	char json[LOKT_NAME_MAX + 8]; /* "<name>.json" */
	struct lokt_ticket t;
	int ino; /* inotify on locks/ and freezes/, at the head; -1: none */
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

static void watch_close(struct waiter *w)
{
	if (w->ino >= 0)
		close(w->ino);
	w->ino = -1;
}

/* The head's watch on the name's record and freeze; -errno when inotify
 * is out of instances or watches (the caller then re-checks instead). */
static int watch_setup(struct waiter *w)
{
	int r;

	w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ino < 0)
		return -errno;
	r = lokt__watch_add(w->ino, w->s, LOKT_LOCK);
	if (r >= 0)
		r = lokt__watch_add(w->ino, w->s, LOKT_FREEZE);
	if (r < 0) {
		watch_close(w);
		return r;
	}
	return 0;
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

static int64_t recheck_at(int64_t now)
{
	return lokt__wait_recheck_ms < 0 ? INT64_MAX :
					   now + lokt__wait_recheck_ms;
}

/* After a refusal: what to watch and when to look again (monotonic ms). */
static int64_t plan_next(struct waiter *w, int r, const struct lokt_result *res,
			 const struct lokt_queue *q, int64_t now)
{
	int64_t next = recheck_at(now), left;
	struct timespec rt;
	bool ok = true;

	pidfds_close(w);
	if (q->ahead > 0) {
		if (q->ahead_pid > 0 && !pidfd_watch(w, 1, q->ahead_pid))
			next = now + RETRY_MS;
		return next;
	}
	if (w->ino < 0) {
		if (watch_setup(w) == 0)
			return now; /* look again, now that changes are seen */
		if (now + DEGRADED_MS < next)
			next = now + DEGRADED_MS;
	}
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
		/* A kept lock's holder is gone: its keeper's exit is what
		 * to wait for (watching the dead pid would spin). */
		if (r == -LOKT_E_HELD && res->other.local)
			ok = pidfd_watch(w, 0, res->other.kept ?
						       (pid_t)rec->keeper_pid :
						       (pid_t)rec->pid);
	}
	if (!ok && now + RETRY_MS < next)
		next = now + RETRY_MS;
	return next;
}

/* A re-check by timer, without an event, of a waiter behind another: true
 * when the waiter ahead is still there, so no transition is needed. With
 * a progress callback the whole queue is counted (for the position shown),
 * else only the ticket ahead is looked at. Neither takes the sidecar. */
static bool still_behind(struct waiter *w, const struct lokt_acquire_opts *opts,
			 struct lokt_queue *q)
{
	struct lokt_queue now;

	if (!opts->progress)
		return lokt__ticket_live(w->s, w->name, q->ahead_seq) == 1;
	if (lokt__queue_scan(w->s, w->name, w->t.seq, false, &now) < 0 ||
	    now.ahead_seq != q->ahead_seq)
		return false;
	*q = now;
	return true;
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

/* Sleep until an event or for timeout ms; true when an event or a death
 * calls for a new attempt now. */
static bool sleep_once(struct waiter *w, int64_t timeout)
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

static int wait_loop(struct waiter *w, const struct lokt_who *who,
		     const struct lokt_acquire_opts *opts,
		     struct lokt_result *ret)
{
	int64_t start = mono_ms(), now, next = start, deadline = -1, t;
	struct lokt_queue q = { 0 };
	bool event = true, late;
	int r = -LOKT_E_HELD;

	if (opts->timeout_ms >= 0)
		deadline = start + opts->timeout_ms;
	for (;;) {
		if (opts->cancel && *opts->cancel)
			return -LOKT_E_CANCELED;
		now = mono_ms();
		late = deadline >= 0 && now >= deadline;
		if (now >= next || late) {
			if (!event && !late && q.ahead > 0 &&
			    still_behind(w, opts, &q)) {
				next = recheck_at(now);
			} else {
				r = lokt__acquire_step(w->s, w->name, who, opts,
						       w->t.seq, true, &q, ret);
				if (r != -LOKT_E_HELD && r != -LOKT_E_FROZEN)
					return r;
				next = plan_next(w, r, ret, &q, now);
			}
			event = false;
		}
		if (late) {
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
		if (sleep_once(w, t < 0 ? 0 : t)) {
			next = 0;
			event = true;
		}
	}
}

int lokt__acquire_wait(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts,
		       struct lokt_result *ret)
{
	struct waiter w = { .s = s, .name = name, .ino = -1,
			    .t = { .fd = -1, .bell = -1 },
			    .pidfd = { -1, -1 } };
	int lk, r;

	snprintf(w.json, sizeof(w.json), "%s.json", name);
	r = lokt__name_lock(s, LOKT_LOCK, name, &lk);
	if (r < 0)
		return r;
	r = lokt__ticket_take(s, name, &w.t);
	lokt__name_unlock(lk);
	if (r < 0)
		return r;
	r = wait_loop(&w, who, opts, ret);
	pidfds_close(&w);
	watch_close(&w);
	lokt__ticket_drop(s, name, &w.t);
	return r;
}
