// SPDX-License-Identifier: MIT
/*
 * Waiting for a lock, first come first served, woken by events. The loop
 * is here; what a waiter sleeps on is its backend's (backend.h: wait_*;
 * the directory store's in dirwait.c, described below).
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
 *
 * The hand-over (docs/protocol.md, "Hand-over on etcd"), where the store
 * has one: a waiter offers the record it would publish, and a releaser
 * may publish it for the first waiter in its own transition. Once the
 * store says it was published (etcd: the waiter's watch saw its lock_id
 * put), the record with that lock_id is our acquisition. Every attempt
 * also takes a record with that lock_id as ours, and before leaving
 * without the lock the offer is taken back in a transition, so that a
 * lock handed over at that moment is never left held unknowingly.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "slots.h"

#define RECHECK_MS 2000 /* for changes events cannot show */
#define TICK_MS 1000 /* progress cadence */
#define WAIT_GRACE_MS 1000 /* for the last attempt, at the timeout */
#define REQUEUE 1 /* wait_loop: our place went with a lost hand-over */

int64_t lokt__wait_recheck_ms = RECHECK_MS;

struct waiter {
	struct lokt_store *s;
	const char *name;
	struct lokt_waiter *w; /* the backend's */
	uint64_t seq; /* our place in the queue */
	bool offered; /* lock_id below offered for a hand-over */
	char lock_id[LOKT_ID_LEN + 1];
};

/* Offer the record our acquisition would publish, for a releaser to
 * publish it for us (docs/protocol.md, "Hand-over on etcd"). Not for a
 * name of several holders, nor for the mount's callers (their audit
 * lines name the mount, which a record does not carry): those acquire by
 * themselves, as every waiter does when its offer is not taken (or the
 * store refuses it: etcd takes only a lock its holder and keeper tend). */
static void offer(struct waiter *w, const struct lokt_who *who,
		  const struct lokt_acquire_opts *opts)
{
	struct lokt_record rec;
	uint64_t keeper_start = 0;

	if (!w->s->be->wait_offer || who->via || lokt__slots_asked(opts) ||
	    (opts->keeper > 0 &&
	     lokt__pid_start(opts->keeper, &keeper_start) < 0))
		return;
	memset(&rec, 0, sizeof(rec));
	rec.version = LOKT_PROTOCOL_VERSION;
	snprintf(rec.name, sizeof(rec.name), "%s", w->name);
	snprintf(rec.owner, sizeof(rec.owner), "%s", who->owner);
	snprintf(rec.host, sizeof(rec.host), "%s", who->host);
	rec.pid = who->pid;
	rec.pid_start = who->pid_start;
	rec.pid_ns = who->pid_ns;
	snprintf(rec.agent_id, sizeof(rec.agent_id), "%s", who->agent_id);
	rec.uid = who->uid;
	rec.keeper_pid = opts->keeper;
	rec.keeper_start = keeper_start;
	lokt__set_lease(&rec, opts->ttl_sec);
	if (lokt__new_id(rec.lock_id) < 0 ||
	    w->s->be->wait_offer(w->w, &rec) < 0)
		return;
	memcpy(w->lock_id, rec.lock_id, sizeof(w->lock_id));
	w->offered = true;
}

/* Is cur the record we offered? */
static bool ours(const struct waiter *w, const struct lokt_info *cur)
{
	return !cur->future && cur->stale != LOKT_STALE_CORRUPT &&
	       !strcmp(cur->rec.lock_id, w->lock_id);
}

/* After a wake-up: were we handed the lock? Once the backend says the
 * releaser published our record (it has ended then), 1 with the record
 * in *ret: as the backend gave it, else read now. 0: not known (a record
 * of ours found on another wake-up is confirmed by the next attempt, in
 * a transition). -1: handed, and gone before we looked (released by its
 * owner, forced): our place in the queue went with the hand-over, so we
 * queue again. */
static int handed(struct waiter *w, struct lokt_result *ret)
{
	struct lokt_record rec;
	struct lokt_meta meta;
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	memset(&rec, 0, sizeof(rec));
	if (!w->offered || !w->s->be->wait_handed(w->w, false, &rec))
		return 0;
	w->offered = false;
	memset(&meta, 0, sizeof(meta));
	meta.uid = (uid_t)-1;
	if (!rec.lock_id[0]) {
		/* Parsed, not judged: its holder is the one we named. */
		r = w->s->be->get(w->s, LOKT_LOCK, w->name, &buf, &len, &meta);
		r = r ?: lokt_record_parse(buf, len, &rec);
		free(buf);
	}
	if (r < 0 || strcmp(rec.lock_id, w->lock_id))
		return -1;
	lokt__result_init(ret);
	ret->lock = rec;
	if (ret->lock.uid < 0)
		ret->lock.uid = meta.uid;
	if (meta.fence)
		ret->lock.fence = meta.fence;
	return 1;
}

struct withdraw {
	struct waiter *w;
	struct lokt_result *ret;
};

static int withdraw_in(struct lokt_txn *t, void *ud)
{
	struct withdraw *wd = ud;
	struct lokt_info cur;

	if (lokt__load_in(t, LOKT_LOCK, &cur, NULL) == 0 && ours(wd->w, &cur)) {
		lokt__result_init(wd->ret);
		wd->ret->lock = cur.rec;
		return 1;
	}
	return t->s->be->wait_offer(wd->w->w, NULL);
}

/* Before leaving without the lock: take our offer back, in a transition,
 * so that no releaser hands it over after; 1 if one did before (the lock
 * is ours, in *ret), 0 if not. Should the transition fail, the offer is
 * taken back without it and the record looked at: a releaser within its
 * transition then could still hand over after the look (the lock is then
 * its holder's, stale once the holder exits). */
static int withdraw(struct waiter *w, struct lokt_result *ret)
{
	struct withdraw wd = { .w = w, .ret = ret };
	struct lokt_info cur;
	int r;

	if (!w->offered)
		return 0;
	r = lokt__transition(w->s, LOKT_LOCK, w->name, withdraw_in, &wd);
	if (r < 0) {
		(void)w->s->be->wait_offer(w->w, NULL);
		r = lokt__load(w->s, LOKT_LOCK, w->name, &cur, NULL) == 0 &&
		    ours(w, &cur);
		if (r) {
			lokt__result_init(ret);
			ret->lock = cur.rec;
		}
	}
	w->offered = false;
	if (r > 0)
		(void)w->s->be->wait_handed(w->w, true, NULL);
	return r > 0;
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t recheck_at(int64_t now)
{
	return lokt__wait_recheck_ms < 0 ? INT64_MAX :
					   now + lokt__wait_recheck_ms;
}

/* After a refusal: what the backend wakes us on, and when to look again
 * anyway (monotonic ms): the re-check, and the holder's or freeze's
 * expiry when we are at the head. */
static int64_t plan_next(struct waiter *w, int r, const struct lokt_result *res,
			 const struct lokt_queue *q, int64_t now)
{
	const struct lokt_wait_hint h = { .r = r, .res = res, .q = q };
	int64_t next = recheck_at(now), be, left;
	struct timespec rt;

	be = w->s->be->wait_plan(w->w, &h, now);
	if (be < next)
		next = be;
	if (q->ahead == 0 && res->have_other && !res->other.future &&
	    res->other.rec.ttl_sec > 0) {
		lokt__now(&rt);
		left = lokt__ms_between(&res->other.rec.expires, &rt) + 1;
		if (left < 0)
			left = 0;
		if (now + left < next)
			next = now + left;
	}
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

/* Wait from start (monotonic ms: when the caller began, before any
 * requeue), until the timeout counted from then. */
static int wait_loop(struct waiter *w, const struct lokt_who *who,
		     const struct lokt_acquire_opts *opts, int64_t start,
		     struct lokt_result *ret)
{
	int64_t now, next = mono_ms(), deadline = -1, t;
	struct lokt_queue q = { 0 };
	bool event = true, late;
	int r = -LOKT_E_HELD;

	if (opts->timeout_ms >= 0)
		deadline = start + opts->timeout_ms;
	for (;;) {
		if (opts->cancel && *opts->cancel) {
			/* Handed over just now: the caller no longer wants
			 * it, so it is released (to the next waiter). */
			if (withdraw(w, ret))
				(void)lokt_release(w->s, w->name, who,
						   ret->lock.lock_id, 0, NULL);
			return -LOKT_E_CANCELED;
		}
		now = mono_ms();
		late = deadline >= 0 && now >= deadline;
		if (event && (r = handed(w, ret)) != 0)
			return r > 0 ? 0 : REQUEUE;
		if (now >= next || late) {
			if (!event && !late && q.ahead > 0 &&
			    w->s->be->wait_behind(w->w, opts->progress != NULL,
						  &q)) {
				next = recheck_at(now);
			} else {
				/* The last attempt, at the timeout, has its
				 * second from now: a process stopped past
				 * its timeout (^Z) makes it when it runs
				 * again, not by a deadline gone meanwhile. */
				if (late)
					lokt_store_set_deadline(
						w->s, now + WAIT_GRACE_MS);
				r = lokt__acquire_step(
					w->s, w->name, who, opts, w->seq,
					w->offered ? w->lock_id : NULL, true,
					&q, ret);
				if (r == 0 && w->offered &&
				    !strcmp(ret->lock.lock_id, w->lock_id)) {
					w->offered = false;
					(void)w->s->be->wait_handed(
						w->w, true, NULL);
				}
				if (r != -LOKT_E_HELD && r != -LOKT_E_FROZEN)
					return r;
				next = plan_next(w, r, ret, &q, now);
			}
			event = false;
		}
		if (late && withdraw(w, ret))
			return 0; /* handed over at the deadline: ours */
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
		if (w->s->be->wait_sleep(w->w, t < 0 ? 0 : t)) {
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
	struct waiter w = { .s = s, .name = name };
	volatile sig_atomic_t *outer = lokt__wait_cancel;
	int64_t start = mono_ms();
	int r;
	/* A store over the network that stops answering must not hold the
	 * wait past its timeout for a whole request timeout (etcd: 8 s by
	 * default, each): every request is bounded by the timeout, plus a
	 * second for the last attempt made at it. */
	int64_t until = opts->timeout_ms >= 0 ?
				start + opts->timeout_ms + WAIT_GRACE_MS :
				0;

	do {
		if (until)
			lokt_store_set_deadline(s, until);
		/* Joining and the wait's transitions, not the leaving below,
		 * give up on a cancel also while another process holds the
		 * name's flock (store.c, flock_blocking and flock_bounded). */
		lokt__wait_cancel = opts->cancel;
		r = s->be->wait_join(s, name, &w.w, &w.seq);
		if (r < 0) {
			lokt__wait_cancel = outer;
			break;
		}
		offer(&w, who, opts);
		/* Queued again (a hand-over lost): the same timeout. */
		r = wait_loop(&w, who, opts, start, ret);
		lokt__wait_cancel = outer;
		/* Leaving the queue is not cut short by the timeout
		 * (etcd: the queue entry's lease revoked, so that the waiter
		 * behind learns at once); nor is taking an offer back. */
		if (opts->timeout_ms >= 0)
			lokt_store_set_deadline(s, mono_ms() + WAIT_GRACE_MS);
		/* An error with an offer out: it may have been taken. */
		if (r < 0 && withdraw(&w, ret))
			r = 0;
		s->be->wait_leave(w.w);
	} while (r == REQUEUE);
	if (until)
		lokt_store_set_deadline(s, 0);
	return r;
}
