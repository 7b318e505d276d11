// SPDX-License-Identifier: MIT
/*
 * What each lock transition does: acquire, renew, release. Freezes are in
 * freeze.c, the reading calls and bulk release/prune in list.c, waiting in
 * wait.c; a name of several holders (--slots, --shared), asked for or
 * met, is handed to slots.c; where records live is a backend's
 * (backend.h: the directory store in dir.c over store.c, queue.c and
 * sidecar.c).
 *
 * DESIGN
 *
 * Every transition on a name is one transition of the backend
 * (lokt__transition):
 *
 *	begin -> read + parse the record -> judge -> decide
 *	-> create, replace or remove it -> audit -> end
 *
 * which the directory store makes one critical section under the name's
 * sidecar flock (`locks/.<name>.lk`; freezes have their own in freezes/),
 * each write one link, rename or unlink.
 *
 * Transitions:
 *   acquire  free: new lock_id and a fence above every fence the name
 *            had (the directory store: max(sidecar, file's) + 1 written
 *            to the sidecar first, then the file published with link(2)).
 *            Ours and live (lokt__holds): renewed in place (same lock_id,
 *            fence and holder; new acquired_ts and TTL), even while frozen;
 *            a detached lock (holder pid 1) keeps its TTL when renewed
 *            without one, any lock with opts->keep_ttl.
 *            Live, another's: HELD (deny). Frozen: FROZEN (freeze-deny).
 *            Free but live waiters queued ahead: HELD (FIFO). Stale:
 *            removed (stale-break with the reason, or corrupt-break), then
 *            acquired as free in the same critical section.
 *            Future version: refused, never touched.
 *   renew    only the acquisition with the caller's lock_id; else LOST.
 *   release  by lock_id (only that acquisition), or by owner (the same
 *            owner from anywhere); another owner's lock only when stale
 *            and BREAK_STALE, or with FORCE.
 *            The lock then goes to the first live waiter that offered
 *            its record, in the same transition, when the store can
 *            (the hand-over, hand_over below).
 *
 * Why this is atomic in the directory store (a networked backend gets
 * the same from compares, backend.h): every transition on a name, in
 * every process and thread, takes the same flock before it reads and holds it until after
 * its single link/rename/unlink. So no two transitions on one name
 * interleave: two breakers of one stale lock run one after the other, and
 * the second reads the first one's fresh lock, judges it live and is
 * refused; a breaker racing a renewal either runs first (the renewal then
 * finds another lock_id: LOST) or second (the lock is live again: refused).
 * flock is dropped by the kernel when its holder dies, and a file changes
 * by one system call, so a transition that crashes half-way leaves either
 * the old record or the new one, and blocks nobody.
 *
 * What a reader may assume: a record file is never seen half-written (but
 * lokt 1.x writes after an O_EXCL create, hence the empty-file re-read in
 * store.c); reading needs no lock; a fence never repeats or goes down for
 * a name. What it may not: that a record it read is still there.
 *
 * lokt 1.x does not take the sidecar. Publishing with link(2) never
 * overwrites a file it created (EEXIST: we re-read and report it held);
 * its own stale-breaking (read, check, unlink) is outside our guarantees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

void lokt__result_init(struct lokt_result *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->broke = LOKT_LIVE;
	ret->lock.uid = -1;
}

/* lokt__judge_bytes; with keep, the parsed record of several holders
 * (NULL for any other). */
static void judge(struct lokt_store *s, enum lokt_kind kind,
		  const char *name, const char *buf, size_t len,
		  const struct lokt_meta *meta, struct lokt_info *ret,
		  struct gate **keep)
{
	struct json_object *o = NULL;
	struct lokt_info in;
	struct timespec now;
	int r;

	memset(&in, 0, sizeof(in));
	r = lokt__record_parse_obj(buf, len, &in.rec, &o);
	if (r == -LOKT_E_FUTURE_VERSION) {
		in.future = true;
	} else if (r < 0) {
		memset(&in.rec, 0, sizeof(in.rec));
		in.rec.uid = -1;
		in.stale = LOKT_STALE_CORRUPT;
	} else {
		lokt__now(&now);
		in.stale = lokt__judge(&in.rec, s->host, &now,
				       kind == LOKT_LOCK, &in.local, &in.kept);
		if (kind == LOKT_LOCK && lokt__is_gate(&in.rec))
			lokt__gate_judge(s, o, &in, keep);
		else if (kind == LOKT_LOCK && meta->unproven && !in.local &&
			 in.stale == LOKT_LIVE)
			in.stale = LOKT_STALE_DEAD; /* backend.h; a local
						       holder's pid is proof */
	}
	json_object_put(o);
	/* The record's name is the truth: a record copied under another
	 * name is about the name it sits at. */
	snprintf(in.rec.name, sizeof(in.rec.name), "%s", name);
	if (in.rec.uid < 0)
		in.rec.uid = meta->uid;
	if (meta->fence && !in.future && in.stale != LOKT_STALE_CORRUPT)
		in.rec.fence = meta->fence;
	in.mtime = meta->mtime;
	if (!in.mtime.tv_sec && !in.mtime.tv_nsec)
		in.mtime = in.rec.acquired;
	in.size = meta->size;
	*ret = in;
}

void lokt__judge_bytes(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *buf, size_t len,
		       const struct lokt_meta *meta, struct lokt_info *ret)
{
	judge(s, kind, name, buf, len, meta, ret, NULL);
}

/* The end of both loads: judge, hand over or free the bytes. */
static int loaded(struct lokt_store *s, enum lokt_kind kind, const char *name,
		  int r, char *buf, size_t len, const struct lokt_meta *meta,
		  struct lokt_info *ret, char **ret_json)
{
	if (r < 0)
		return r;
	lokt__judge_bytes(s, kind, name, buf, len, meta, ret);
	if (ret_json)
		*ret_json = buf;
	else
		free(buf);
	return 0;
}

int lokt__load_in(struct lokt_txn *t, enum lokt_kind kind,
		  struct lokt_info *ret, char **ret_json)
{
	struct lokt_meta meta;
	char *buf = NULL;
	size_t len = 0;
	int r = t->s->be->read(t, kind, &buf, &len, &meta);

	free(t->gate);
	t->gate = NULL;
	t->gate_json = NULL;
	if (r < 0 || !ret_json || kind != LOKT_LOCK)
		return loaded(t->s, kind, t->name, r, buf, len, &meta, ret,
			      ret_json);
	/* Bytes handed out, which slots.c may parse to change them: the
	 * judgement's parse is kept for it (gate_load). */
	judge(t->s, kind, t->name, buf, len, &meta, ret, &t->gate);
	if (t->gate)
		t->gate_json = buf;
	*ret_json = buf;
	return 0;
}

int lokt__load(struct lokt_store *s, enum lokt_kind kind, const char *name,
	       struct lokt_info *ret, char **ret_json)
{
	struct lokt_meta meta;
	char *buf = NULL;
	size_t len = 0;
	int r = s->be->get(s, kind, name, &buf, &len, &meta);

	return loaded(s, kind, name, r, buf, len, &meta, ret, ret_json);
}

int lokt__transition(struct lokt_store *s, enum lokt_kind kind,
		     const char *name,
		     int (*step)(struct lokt_txn *t, void *ud), void *ud)
{
	struct lokt_txn *t;
	int r, e;

	for (;;) {
		r = s->be->begin(s, kind, name, &t);
		if (r < 0)
			return r;
		r = step(t, ud);
		free(t->gate);
		t->gate = NULL;
		e = s->be->end(t, r >= 0);
		if (e == -EAGAIN)
			continue; /* what was read was not the store's */
		if (r < 0)
			return r; /* a refusal, decided on what was read */
		return e < 0 ? e : r;
	}
}

struct json_object *lokt__holder_extra(const struct lokt_record *rec,
				       const char *reason)
{
	struct json_object *extra = json_object_new_object(), *h;

	if (!extra)
		return NULL;
	if (rec) {
		h = json_object_new_object();
		if (h) {
			json_object_object_add(h, "owner",
					       json_object_new_string(rec->owner));
			json_object_object_add(h, "host",
					       json_object_new_string(rec->host));
			json_object_object_add(h, "pid",
					       json_object_new_int64(rec->pid));
			json_object_object_add(
				h, "lock_id",
				json_object_new_string(rec->lock_id));
			json_object_object_add(extra, "holder", h);
		}
	}
	if (reason)
		json_object_object_add(extra, "reason",
				       json_object_new_string(reason));
	return extra;
}

int lokt__remove_audited(struct lokt_txn *t, const struct lokt_who *who,
			 const struct lokt_info *cur, const char *event,
			 const char *reason)
{
	int r = t->s->be->remove(t, t->kind);

	if (r < 0)
		return r;
	lokt__taudit(t, event, &cur->rec, who,
		     lokt__holder_extra(&cur->rec, reason));
	return 0;
}

int64_t lokt__renew_ttl(const struct lokt_acquire_opts *o,
			const struct lokt_record *rec)
{
	/* A detached lock (held by pid 1) ends by its TTL only: renewed
	 * without one, it keeps its own. */
	if (o->keep_ttl || (!o->ttl_sec && lokt_is_detached(rec)))
		return rec->ttl_sec;
	return o->ttl_sec;
}

void lokt__set_lease(struct lokt_record *rec, int64_t ttl_sec)
{
	lokt__now(&rec->acquired);
	rec->ttl_sec = ttl_sec > 0 ? ttl_sec : 0;
	rec->expires = rec->acquired;
	rec->expires.tv_sec += rec->ttl_sec;
}

int lokt__publish_new(struct lokt_txn *t, const struct lokt_who *who,
		      int64_t ttl_sec, uint64_t floor, pid_t keeper,
		      uint64_t keeper_start, struct lokt_result *ret)
{
	/* Built in ret->lock itself: a backend that learns the fence only
	 * when the transition ends sets it there (backend.h, create). */
	struct lokt_record *rec = &ret->lock;
	int r;

	memset(rec, 0, sizeof(*rec));
	rec->version = LOKT_PROTOCOL_VERSION;
	snprintf(rec->name, sizeof(rec->name), "%s", t->name);
	snprintf(rec->owner, sizeof(rec->owner), "%s", who->owner);
	snprintf(rec->host, sizeof(rec->host), "%s", who->host);
	rec->pid = who->pid;
	rec->pid_start = who->pid_start;
	rec->pid_ns = who->pid_ns;
	snprintf(rec->agent_id, sizeof(rec->agent_id), "%s", who->agent_id);
	rec->uid = who->uid;
	rec->keeper_pid = keeper;
	rec->keeper_start = keeper_start;
	lokt__set_lease(rec, ttl_sec);
	r = lokt__new_id(rec->lock_id);
	r = r ?: t->s->be->create(t, rec, floor);
	if (r < 0) {
		memset(rec, 0, sizeof(*rec));
		rec->uid = -1;
	}
	if (r == -EEXIST) {
		/* Created behind our back (lokt 1.x does not take the
		 * sidecar): never overwrite it, report it as held. */
		if (lokt__load_in(t, t->kind, &ret->other, NULL) == 0)
			ret->have_other = true;
		return -LOKT_E_HELD;
	}
	if (r < 0)
		return r;
	lokt__taudit(t, t->kind == LOKT_FREEZE ? "freeze" : "acquire", rec,
		     who, NULL);
	return 0;
}

/* Is cur the acquisition lock_id? */
static bool same_acquisition(const struct lokt_info *cur, const char *lock_id)
{
	return !cur->future && cur->stale != LOKT_STALE_CORRUPT &&
	       *lock_id && !strcmp(cur->rec.lock_id, lock_id);
}

struct acquire {
	const struct lokt_who *who;
	const struct lokt_acquire_opts *opts;
	uint64_t seq;
	const char *offered; /* a waiter's offered lock_id, or NULL */
	uint64_t keeper_start; /* opts->keeper's */
	bool quiet;
	struct lokt_queue q;
	struct lokt_result *ret;
};

/* One attempt of an acquisition, as a transition on the name's lock. */
static int acquire_in(struct lokt_txn *t, void *ud)
{
	struct acquire *a = ud;
	const struct lokt_who *who = a->who;
	struct lokt_result *ret = a->ret;
	struct lokt_queue *q = &a->q;
	struct lokt_info cur;
	struct lokt_record rec;
	uint64_t floor = 0;
	char *json = NULL;
	bool have;
	int r;

	lokt__result_init(ret);
	memset(q, 0, sizeof(*q));
	t->tended = a->opts->tend || a->opts->keeper > 0;
	r = lokt__load_in(t, LOKT_LOCK, &cur, &json);
	if (r < 0 && r != -LOKT_E_NOT_FOUND)
		return r;
	have = r == 0;
	if (have && a->offered && same_acquisition(&cur, a->offered)) {
		/* Handed over to us by its releaser (wait.c). */
		free(json);
		ret->lock = cur.rec;
		return 0;
	}
	r = t->s->be->queue(t, a->seq, q);
	if (r == 0 && (lokt__slots_asked(a->opts) ||
		       (have && (cur.slots || cur.shared))))
		r = lokt__slots_acquire_in(t, who, a->opts, a->quiet,
					   have ? &cur : NULL, json, q, ret);
	else if (r == 0)
		r = 1; /* a lock of one holder: below */
	free(json);
	if (r <= 0)
		return r;
	if (have && (cur.future || cur.stale == LOKT_LIVE)) {
		if (!cur.future && lokt__holds(&cur.rec, who)) {
			rec = cur.rec;
			lokt__set_lease(&rec, lokt__renew_ttl(a->opts, &rec));
			r = t->s->be->replace(t, &rec);
			if (r < 0)
				return r;
			ret->lock = rec;
			ret->renewed = true;
			lokt__taudit(t, "renew", &rec, who, NULL);
			return 0;
		}
		ret->other = cur;
		ret->have_other = true;
		ret->waiters_ahead = q->ahead;
		if (cur.future)
			return -LOKT_E_FUTURE_VERSION;
		if (!a->quiet)
			lokt__taudit(t, "deny", NULL, who,
				     lokt__holder_extra(&cur.rec, NULL));
		return -LOKT_E_HELD;
	}

	r = lokt__frozen(t, who, &ret->other);
	if (r < 0)
		return r;
	if (r > 0) {
		ret->have_other = true;
		ret->other.freeze = true;
		if (!a->quiet)
			lokt__taudit(t, "freeze-deny", NULL, who,
				     lokt__holder_extra(&ret->other.rec, NULL));
		return -LOKT_E_FROZEN;
	}
	/* Free (or stale): only now is a lock that would never end
	 * refused, so that one held says who holds it. Nothing is broken
	 * or audited before. */
	if (lokt__init_holds(who, a->opts->ttl_sec))
		return -EINVAL;
	if (q->ahead > 0) {
		ret->waiters_ahead = q->ahead;
		if (!a->quiet)
			lokt__taudit(t, "deny", NULL, who,
				     lokt__holder_extra(NULL, "queue"));
		return -LOKT_E_HELD;
	}

	/* Fences are never reused: a record at the last one is left alone
	 * (breaking it would forget the fence it holds). */
	if (have && cur.rec.fence == UINT64_MAX)
		return -EOVERFLOW;
	if (have) {
		r = lokt__remove_audited(t, who, &cur,
					 cur.stale == LOKT_STALE_CORRUPT ?
						 "corrupt-break" :
						 "stale-break",
					 lokt_stale_name(cur.stale));
		if (r < 0 && r != -LOKT_E_NOT_FOUND)
			return r;
		ret->broke = cur.stale;
		ret->broken = cur.rec;
		floor = cur.rec.fence;
	}
	return lokt__publish_new(t, who, a->opts->ttl_sec, floor,
				 a->opts->keeper, a->keeper_start, ret);
}

int lokt__acquire_step(struct lokt_store *s, const char *name,
		       const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts, uint64_t seq,
		       const char *offered, bool quiet,
		       struct lokt_queue *ret_q, struct lokt_result *ret)
{
	struct acquire a = { .who = who, .opts = opts, .seq = seq,
			     .offered = offered, .quiet = quiet, .ret = ret };
	int r;

	lokt__result_init(ret);
	if (opts->keeper > 0 &&
	    (r = lokt__pid_start(opts->keeper, &a.keeper_start)) < 0)
		return r;
	r = lokt__transition(s, LOKT_LOCK, name, acquire_in, &a);
	if (ret_q)
		*ret_q = a.q;
	return r;
}

LOKT_API int lokt_acquire(struct lokt_store *s, const char *name,
			  const struct lokt_who *who,
			  const struct lokt_acquire_opts *opts,
			  struct lokt_result *ret)
{
	const struct lokt_acquire_opts none = { 0 };
	volatile sig_atomic_t *outer;
	struct lokt_result local;
	int r;

	if (!ret)
		ret = &local;
	lokt__result_init(ret);
	if (!opts)
		opts = &none;
	r = lokt_name_check(name);
	if (r < 0)
		return r;
	/* A waiter would wait for a lock it can never hold. */
	if (who && opts->wait && lokt__init_holds(who, opts->ttl_sec))
		return -EINVAL;
	if (!s || !who || lokt__who_check(who) < 0 || opts->ttl_sec < 0 ||
	    opts->ttl_sec > LOKT_TTL_MAX_SEC || opts->keeper < 0 ||
	    opts->slots > LOKT_SLOTS_MAX || (opts->slots && opts->shared))
		return -EINVAL;
	if (opts->wait)
		return lokt__acquire_wait(s, name, who, opts, ret);
	/* A flock held up by another process gives up on a cancel too
	 * (store.c, flock_blocking): guard's ^C. */
	outer = lokt__wait_cancel;
	lokt__wait_cancel = opts->cancel;
	r = lokt__acquire_step(s, name, who, opts, 0, NULL, false, NULL, ret);
	lokt__wait_cancel = outer;
	return r;
}

/* Audit, in transition t, a holder finding its acquisition lock_id gone
 * or replaced. */
static void audit_lost(struct lokt_txn *t, const char *lock_id,
		       const struct lokt_who *who,
		       const struct lokt_result *ret)
{
	struct lokt_record mine;

	memset(&mine, 0, sizeof(mine));
	snprintf(mine.lock_id, sizeof(mine.lock_id), "%s", lock_id);
	lokt__taudit(t, "lost", &mine, who,
		     lokt__holder_extra(ret->have_other ? &ret->other.rec : NULL,
					ret->have_other ? "taken" : "gone"));
}

LOKT_API int lokt_audit_lost(struct lokt_store *s, const char *name,
			     const char *lock_id, const struct lokt_who *who,
			     const char *reason)
{
	struct lokt_record mine;
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !lock_id || !who || !reason)
		return -EINVAL;
	memset(&mine, 0, sizeof(mine));
	snprintf(mine.lock_id, sizeof(mine.lock_id), "%s", lock_id);
	lokt__audit(s, "lost", name, &mine, who,
		    lokt__holder_extra(NULL, reason));
	return 0;
}

/* The start of renew, keep and release: ret set up (the caller's, or
 * local), *lock_id copied into id (it may point into *ret, which is about
 * to be cleared), the name checked. */
static int call_start(const char *name, const char **lock_id,
		      char id[LOKT_ID_LEN + 2], struct lokt_result **ret,
		      struct lokt_result *local)
{
	if (!*ret)
		*ret = local;
	snprintf(id, LOKT_ID_LEN + 2, "%s", *lock_id ? *lock_id : "");
	*lock_id = *lock_id ? id : NULL;
	lokt__result_init(*ret);
	return lokt_name_check(name);
}

/* What renew, keep and release of one acquisition take. */
struct held {
	const struct lokt_who *who;
	const char *lock_id;
	int64_t ttl_sec; /* renew */
	pid_t keeper; /* keep */
	uint64_t keeper_start;
	unsigned flags; /* release */
	struct lokt_result *ret;
};

/* The acquisition h->lock_id, read in t: 0 with it in *cur, or LOST
 * (audited when audit) with what is there instead in ret->other. */
static int find_mine(struct lokt_txn *t, struct held *h, bool audit,
		     struct lokt_info *cur, char **json)
{
	int r;

	lokt__result_init(h->ret);
	r = lokt__load_in(t, LOKT_LOCK, cur, json);
	if (r == 0 && (cur->slots || cur->shared))
		return 1; /* one holder of several: slots.c */
	if (r == 0 && !same_acquisition(cur, h->lock_id)) {
		h->ret->other = *cur;
		h->ret->have_other = true;
	}
	if (r == -LOKT_E_NOT_FOUND || (r == 0 && h->ret->have_other)) {
		if (audit)
			audit_lost(t, h->lock_id, h->who, h->ret);
		return -LOKT_E_LOST;
	}
	return r;
}

static int renew_in(struct lokt_txn *t, void *ud)
{
	struct held *h = ud;
	struct lokt_info cur;
	char *json = NULL;
	int r;

	r = find_mine(t, h, true, &cur, &json);
	if (r > 0)
		r = lokt__slots_renew_in(t, &cur, json, h->who, h->lock_id,
					 h->ttl_sec, h->ret) ?: 1;
	free(json);
	if (r != 0)
		return r < 0 ? r : 0;
	/* Through a door, the lock_id (which anyone may read) is the
	 * holder's user's only. */
	if (!lokt__may_force(&cur.rec, h->who)) {
		h->ret->other = cur;
		h->ret->have_other = true;
		return -LOKT_E_NOT_OWNER;
	}
	/* Even if its TTL ran out: nobody broke it, it is ours. */
	lokt__set_lease(&cur.rec, h->ttl_sec);
	r = t->s->be->replace(t, &cur.rec);
	if (r < 0)
		return r;
	h->ret->lock = cur.rec;
	h->ret->renewed = true;
	lokt__taudit(t, "renew", &cur.rec, h->who, NULL);
	return 0;
}

LOKT_API int lokt_renew(struct lokt_store *s, const char *name,
			const char *lock_id, const struct lokt_who *who,
			int64_t ttl_sec, struct lokt_result *ret)
{
	char id[LOKT_ID_LEN + 2]; /* lock_id may point into *ret */
	struct lokt_result local;
	struct held h;
	int r;

	r = call_start(name, &lock_id, id, &ret, &local);
	if (r < 0)
		return r;
	if (!s || !lock_id || !who || ttl_sec < 0 ||
	    ttl_sec > LOKT_TTL_MAX_SEC)
		return -EINVAL;
	h = (struct held){ .who = who, .lock_id = lock_id,
			   .ttl_sec = ttl_sec, .ret = ret };
	return lokt__transition(s, LOKT_LOCK, name, renew_in, &h);
}

static int keep_in(struct lokt_txn *t, void *ud)
{
	struct held *h = ud;
	struct lokt_info cur;
	char *json = NULL;
	int r;

	r = find_mine(t, h, false, &cur, &json);
	if (r > 0)
		r = lokt__slots_keep_in(t, &cur, json, h->lock_id, h->keeper,
					h->keeper_start, h->ret) ?: 1;
	free(json);
	if (r != 0)
		return r < 0 ? r : 0;
	cur.rec.keeper_pid = h->keeper;
	cur.rec.keeper_start = h->keeper_start;
	r = t->s->be->replace(t, &cur.rec);
	if (r == 0)
		h->ret->lock = cur.rec;
	return r;
}

LOKT_API int lokt_keep(struct lokt_store *s, const char *name,
		       const char *lock_id, pid_t keeper,
		       struct lokt_result *ret)
{
	char id[LOKT_ID_LEN + 2]; /* lock_id may point into *ret */
	struct lokt_result local;
	struct held h;
	uint64_t start = 0;
	int r;

	r = call_start(name, &lock_id, id, &ret, &local);
	if (r < 0)
		return r;
	if (!s || !lock_id || keeper < 0)
		return -EINVAL;
	if (keeper > 0 && (r = lokt__pid_start(keeper, &start)) < 0)
		return r;
	h = (struct held){ .lock_id = lock_id, .keeper = keeper,
			   .keeper_start = start, .ret = ret };
	return lokt__transition(s, LOKT_LOCK, name, keep_in, &h);
}

LOKT_API int lokt_tend(struct lokt_store *s, const char *name,
		       const char *lock_id, int64_t *ret_next_ms)
{
	int64_t next;
	int r = lokt_name_check(name);

	if (!ret_next_ms)
		ret_next_ms = &next;
	*ret_next_ms = -1;
	if (r < 0)
		return r;
	if (!s || !lock_id || !*lock_id)
		return -EINVAL;
	return s->be->tend ? s->be->tend(s, name, lock_id, ret_next_ms) : 0;
}

/* Decide a release of cur (see lokt_release), without acting: 0 with the
 * audit event (and reason) to remove it under, or the refusal (LOST,
 * NOT_OWNER, FUTURE_VERSION) with ret->other set. */
static int release_decide(const struct lokt_who *who, const char *lock_id,
			  unsigned flags, const struct lokt_info *cur,
			  const char **ret_event, const char **ret_reason,
			  struct lokt_result *ret)
{
	const char *event = "release", *reason = NULL;
	bool breaking = flags & (LOKT_RELEASE_BREAK_STALE | LOKT_RELEASE_FORCE);

	if (lock_id && !same_acquisition(cur, lock_id)) {
		ret->other = *cur;
		ret->have_other = true;
		return -LOKT_E_LOST;
	}
	if (cur->future) {
		if (!(flags & LOKT_RELEASE_FORCE))
			goto refuse_future;
		event = "force-break";
		reason = "future-version";
	} else if (cur->stale == LOKT_STALE_CORRUPT) {
		if (!breaking)
			goto refuse;
		event = "corrupt-break";
		reason = "corrupt";
	} else if (lokt__owns(&cur->rec, who)) {
		if (cur->stale != LOKT_LIVE)
			reason = lokt_stale_name(cur->stale);
	} else if (cur->stale != LOKT_LIVE && breaking) {
		event = "stale-break";
		reason = lokt_stale_name(cur->stale);
	} else if (flags & LOKT_RELEASE_FORCE) {
		if (!lokt__may_force(&cur->rec, who))
			goto refuse;
		event = "force-break";
	} else if (!lock_id || (flags & LOKT_RELEASE_OWN) ||
		   !lokt__may_force(&cur->rec, who)) {
		goto refuse;
	} /* else: the lock_id is the holder's own; releasing is its right
	   * (through a door, of the holder's user: anyone may read it) */
	*ret_event = event;
	*ret_reason = reason;
	return 0;

refuse:
	ret->other = *cur;
	ret->have_other = true;
	return -LOKT_E_NOT_OWNER;
refuse_future:
	ret->other = *cur;
	ret->have_other = true;
	return -LOKT_E_FUTURE_VERSION;
}

/* The waiter a record was offered for, as the audit names it. */
static void who_of(const struct lokt_record *rec, struct lokt_who *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->owner, sizeof(ret->owner), "%s", rec->owner);
	snprintf(ret->host, sizeof(ret->host), "%s", rec->host);
	ret->pid = (pid_t)rec->pid;
	ret->pid_start = rec->pid_start;
	ret->pid_ns = rec->pid_ns;
	snprintf(ret->agent_id, sizeof(ret->agent_id), "%s", rec->agent_id);
	ret->uid = (uid_t)rec->uid;
}

/* The hand-over (docs/protocol.md, "Hand-over on etcd"): in release
 * transition t, where cur is to be removed under event and reason,
 * publish instead, in its place, the record the first waiter offered,
 * as the waiter's own acquisition would have: not while the name is
 * frozen, a fence above every fence the name had, its TTL counted from
 * now, audited "acquire" with the waiter's identity after the release.
 * Never to the holder being released: a waiter that acquired by itself
 * still offers until it has left the queue. 0 when handed over; 1 when
 * not (the caller removes the record, the waiter wakes on that and tries
 * as before). */
static int hand_over(struct lokt_txn *t, const struct lokt_who *who,
		     const struct lokt_info *cur, const char *event,
		     const char *reason)
{
	const struct lokt_backend *be = t->s->be;
	struct lokt_record rec;
	struct lokt_info frz;
	struct lokt_who to;
	bool handed = false;

	if (!be->offer || !be->fence || cur->future ||
	    cur->rec.fence == UINT64_MAX)
		return 1;
	/* A queue we cannot read or hand over to (foreign, unreadable)
	 * does not stop the release: it frees the lock as before. */
	if (be->offer(t, &rec) < 0 || rec.ttl_sec < 0 ||
	    rec.ttl_sec > LOKT_TTL_MAX_SEC)
		goto out;
	who_of(&rec, &to);
	if (cur->stale != LOKT_STALE_CORRUPT && rec.pid == cur->rec.pid &&
	    rec.pid_start == cur->rec.pid_start &&
	    rec.pid_ns == cur->rec.pid_ns && !strcmp(rec.host, cur->rec.host))
		goto out;
	if (lokt__frozen(t, &to, &frz) != 0 ||
	    be->fence(t, cur->rec.fence, &rec.fence) < 0)
		goto out;
	rec.version = LOKT_PROTOCOL_VERSION;
	lokt__set_lease(&rec, rec.ttl_sec);
	if (be->replace(t, &rec) < 0)
		goto out;
	handed = true;
	lokt__taudit(t, event, &cur->rec, who,
		     lokt__holder_extra(&cur->rec, reason));
	lokt__taudit(t, "acquire", &rec, &to, NULL);
out:
	if (be->offer_end)
		be->offer_end(t, handed);
	return handed ? 0 : 1;
}

static int release_in(struct lokt_txn *t, void *ud)
{
	struct held *h = ud;
	struct lokt_result *ret = h->ret;
	const char *event, *reason;
	struct lokt_info cur;
	char *json = NULL;
	int r;

	lokt__result_init(ret);
	r = lokt__load_in(t, LOKT_LOCK, &cur, &json);
	if (r == -LOKT_E_NOT_FOUND && h->lock_id) {
		/* SEEN: not the caller's loss (a keeper whose holder
		 * released it, a loss audited already, a confirmed break). */
		if (!(h->flags & LOKT_RELEASE_SEEN))
			audit_lost(t, h->lock_id, h->who, ret);
		return -LOKT_E_LOST;
	}
	if (r == 0 && (cur.slots || cur.shared))
		r = lokt__slots_release_in(t, &cur, json, h->who, h->lock_id,
					   h->flags, ret) ?: 1;
	free(json);
	if (r != 0)
		return r < 0 ? r : 0;
	r = release_decide(h->who, h->lock_id, h->flags, &cur, &event, &reason,
			   ret);
	if (r == -LOKT_E_LOST && !(h->flags & LOKT_RELEASE_SEEN))
		audit_lost(t, h->lock_id, h->who, ret);
	if (r < 0)
		return r;
	r = hand_over(t, h->who, &cur, event, reason);
	if (r > 0)
		r = lokt__remove_audited(t, h->who, &cur, event, reason);
	if (r < 0)
		return r;
	ret->lock = cur.rec;
	if (!strcmp(event, "stale-break") || !strcmp(event, "corrupt-break")) {
		ret->broke = cur.stale;
		ret->broken = cur.rec;
	}
	return 0;
}

/* The transition could not begin for lack of write permission
 * (err: a store the caller may read but not write, or a read-only one).
 * Nothing can be released then, but an unlocked read still tells the
 * refusals apart: free, another owner's, not ours any more. Anything the
 * caller would be allowed to do keeps err, which says what to fix. The
 * read may be a moment old; a refusal from it decides nothing in the
 * store, and the caller could not have changed the store anyway. */
static int release_unwritable(struct lokt_store *s, const char *name,
			      const struct lokt_who *who, const char *lock_id,
			      unsigned flags, int err, struct lokt_result *ret)
{
	const char *event, *reason;
	struct lokt_info cur;
	int r;

	r = lokt__load(s, LOKT_LOCK, name, &cur, NULL);
	if (r == -LOKT_E_NOT_FOUND)
		return lock_id ? -LOKT_E_LOST : -LOKT_E_NOT_FOUND;
	if (r < 0)
		return err;
	r = release_decide(who, lock_id, flags, &cur, &event, &reason, ret);
	return r < 0 ? r : err;
}

LOKT_API int lokt_release(struct lokt_store *s, const char *name,
			  const struct lokt_who *who, const char *lock_id,
			  unsigned flags, struct lokt_result *ret)
{
	char id[LOKT_ID_LEN + 2]; /* lock_id may point into *ret */
	struct lokt_result local;
	struct held h;
	int r;

	r = call_start(name, &lock_id, id, &ret, &local);
	if (r < 0)
		return r;
	if (!s || !who)
		return -EINVAL;
	h = (struct held){ .who = who, .lock_id = lock_id, .flags = flags,
			   .ret = ret };
	r = lokt__transition(s, LOKT_LOCK, name, release_in, &h);
	if (r == -EACCES || r == -EPERM || r == -EROFS)
		return release_unwritable(s, name, who, lock_id, flags, r, ret);
	return r;
}
