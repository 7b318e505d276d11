// SPDX-License-Identifier: MIT
/*
 * Names with several holders at once: semaphores of N slots (`lokt lock
 * --slots N`) and shared locks (`--shared`: any number of shared holders,
 * or one exclusive holder). Every transition on such a name: acquire,
 * renew, keep, release, release by owner, prune; the record that keeps
 * them is gate.c's. protocol.c and list.c hand a name over to these when
 * it is, or is asked to become, one of several holders.
 *
 * DESIGN
 *
 * All the holders of a name live in the name's one record, the *gate*:
 *
 *	locks/NAME.json = { the fields lokt 1.x reads, for a holder it can
 *	                    never judge stale: owner "lokt-slots", host
 *	                    "lokt-slots.invalid", pid 1, no TTL;
 *	                    "fence": the last fence issued;
 *	                    "slots": N  or  "shared": true;
 *	                    "holders": [ one lock record per holder ] }
 *
 * So a transition on such a name is what it is on any name: one
 * transition of the backend (backend.h) on the name's one record. The
 * directory store makes it one critical section under the name's
 * sidecar flock, and the gate changes by one link (created), rename
 * (replaced) or unlink (its last holder left): a holder added, renewed,
 * released or broken is one atomic rewrite of the gate, and two of them
 * never interleave. Nothing else is kept: the queue of waiters is the
 * name's queue (queue.c), whatever they ask.
 *
 * Each holder is a whole record of its own: its lock_id (new for each
 * acquisition), owner, host, pid and start time, agent_id, TTL, keeper,
 * and a fence issued by the backend's fence call (the directory store:
 * the sidecar's counter, as for any acquisition), so above every fence
 * the name had, whatever mode it was in. Each holder is judged as a lock
 * of one holder is (identity.c: TTL, pid and start time on its host,
 * keeper): a holder is renewed, released, kept or broken by its lock_id,
 * alone, each break audited with that holder's record.
 *
 * The modes. A name is free, exclusive (a plain record), a semaphore of
 * one N, or shared. Whatever its live holders hold decides:
 *   --slots N   free or a semaphore of N with a place left: a new holder.
 *               A semaphore of another N, shared holders, an exclusive
 *               holder: MODE, refused at once (even with --wait).
 *   --shared    free or shared: a new holder. An exclusive holder: HELD
 *               (it is the writer: wait). A semaphore: MODE.
 *   exclusive   on shared holders: HELD (the writer waits for readers);
 *               on a semaphore: MODE.
 * A holder asking again from its subtree (lokt__holds) renews its own
 * place. A name whose holders are all stale is free: they are broken
 * (stale-break each) by the acquisition that takes it, in any mode.
 *
 * Order and fairness are those of every name: the lock first (re-entry,
 * then live holders in the way), then the freeze, then the queue (only
 * the first live waiter may take a free place, and a non-waiter only
 * when nobody waits), then stale holders are broken. A writer waiting
 * for readers is at the head of the queue: every later shared request
 * finds it there and queues behind it, so it is never starved.
 *
 * lokt 1.x reads the gate as a lock held on another host with no TTL:
 * held, never stale, so it can neither take nor break it; `unlock` of
 * 1.x refuses it (another owner's) unless forced. What 1.x never sees:
 * the holders. The gate holds at most LOKT_SLOTS_MAX holders: one
 * record of at most 64 KiB.
 *
 * The etcd store keeps the gate as any record, and each holder's
 * liveness on a lease of its own (core/etcd/backend.c, "gates"). A
 * store without fence and put calls refuses these names (-ENOTSUP).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

bool lokt__slots_asked(const struct lokt_acquire_opts *opts)
{
	return opts->slots > 0 || opts->shared;
}

/* ---- transitions ---------------------------------------------------- */

/* Load the gate cur (its bytes json) read in this transition: parsed
 * already when it was loaded and judged (lokt__load_in), or now. */
static int gate_load(struct lokt_txn *t, const struct lokt_info *cur,
		     const char *json, struct gate **ret)
{
	struct gate *g;
	int r;

	(void)cur;
	if (t->gate && t->gate_json == json) {
		*ret = t->gate;
		t->gate = NULL;
		t->gate_json = NULL;
		return 0;
	}
	g = malloc(sizeof(*g));
	if (!g)
		return -ENOMEM;
	r = lokt__gate_parse(json, strlen(json), g);
	if (r < 0) {
		free(g);
		return r;
	}
	*ret = g;
	return 0;
}

/* Write g back in t: removed when its last holder left. */
static int gate_store(struct lokt_txn *t, const struct gate *g, bool create)
{
	char *json;
	int r;

	if (!g->n)
		return t->s->be->remove(t, LOKT_LOCK);
	r = lokt__gate_format(g, &json);
	if (r < 0)
		return r;
	r = t->s->be->put(t, json, create);
	free(json);
	return r;
}

static void gate_drop(struct gate *g, size_t i)
{
	memmove(&g->h[i], &g->h[i + 1], (g->n - i - 1) * sizeof(g->h[0]));
	g->n--;
}

/* The holder in the way (or none), the reason, and the name's mode:
 * "slots": N or "shared": true. */
static struct json_object *mode_extra(const struct lokt_record *holder,
				      const char *reason, unsigned slots,
				      bool shared)
{
	struct json_object *extra = lokt__holder_extra(holder, reason);

	if (extra && slots)
		json_object_object_add(extra, "slots",
				       json_object_new_int64(slots));
	if (extra && shared)
		json_object_object_add(extra, "shared",
				       json_object_new_boolean(true));
	return extra;
}

/* A refusal of an acquisition: other in the way, audited as deny (with
 * reason) unless quiet. A refusal of the mode ends a wait: audited even
 * then. */
static int refuse(struct lokt_txn *t, const struct lokt_who *who, bool quiet,
		  int r, const struct lokt_info *other,
		  struct json_object *extra, struct lokt_result *ret)
{
	if (other) {
		ret->other = *other;
		ret->have_other = true;
	}
	if ((!quiet || r == -LOKT_E_MODE) && r != -LOKT_E_FUTURE_VERSION)
		lokt__taudit(t, "deny", NULL, who, extra);
	else
		json_object_put(extra);
	return r;
}

/* Is what a gate holds (slots N, or shared) what opts asks? An exclusive
 * request is the writer of shared holders, never a semaphore's. */
static bool mode_fits(const struct gate *g,
		      const struct lokt_acquire_opts *opts)
{
	if (g->slots)
		return opts->slots == g->slots;
	return !opts->slots;
}

/* Add a holder for who to g: a fence above floor, audited "acquire". */
static int gate_add(struct lokt_txn *t, struct gate *g,
		    const struct lokt_who *who,
		    const struct lokt_acquire_opts *opts, uint64_t floor,
		    struct lokt_result *ret)
{
	struct lokt_record *h = &g->h[g->n];
	int r;

	memset(h, 0, sizeof(*h));
	h->version = LOKT_PROTOCOL_VERSION;
	snprintf(h->name, sizeof(h->name), "%s", t->name);
	snprintf(h->owner, sizeof(h->owner), "%s", who->owner);
	snprintf(h->host, sizeof(h->host), "%s", who->host);
	h->pid = who->pid;
	h->pid_start = who->pid_start;
	h->pid_ns = who->pid_ns;
	snprintf(h->agent_id, sizeof(h->agent_id), "%s", who->agent_id);
	h->uid = who->uid;
	/* guard's watchdog, named from the start (lokt_acquire_opts). */
	if (opts->keeper > 0 &&
	    lokt__pid_start(opts->keeper, &h->keeper_start) == 0)
		h->keeper_pid = opts->keeper;
	lokt__set_lease(h, opts->ttl_sec);
	r = lokt__new_id(h->lock_id);
	r = r ?: t->s->be->fence(t, floor, &h->fence);
	if (r < 0)
		return r;
	g->top.fence = h->fence;
	g->n++;
	ret->lock = *h;
	return 0;
}

/* A new gate for the asker's mode, its top what lokt 1.x reads. */
static int gate_new(struct lokt_txn *t, const struct lokt_acquire_opts *opts,
		    struct gate *g)
{
	memset(g, 0, sizeof(*g));
	g->top.version = LOKT_PROTOCOL_VERSION;
	snprintf(g->top.name, sizeof(g->top.name), "%s", t->name);
	snprintf(g->top.owner, sizeof(g->top.owner), GATE_OWNER);
	snprintf(g->top.host, sizeof(g->top.host), GATE_HOST);
	g->top.pid = LOKT_DETACHED_PID;
	g->top.uid = -1;
	lokt__set_lease(&g->top, 0);
	g->slots = opts->slots;
	return lokt__new_id(g->top.lock_id);
}

/* The acquisition on a gate g (cur): refusals and re-entry. 1 when it
 * may go on (a place is free, or every holder is stale). */
static int gate_decide(struct lokt_txn *t, const struct lokt_who *who,
		       const struct lokt_acquire_opts *opts, bool quiet,
		       const struct lokt_info *cur, struct gate *g,
		       struct lokt_result *ret)
{
	struct lokt_info hi, first;
	size_t i, live = 0;
	int r;

	for (i = 0; i < g->n; i++) {
		lokt__holder_info(t->s, g, &g->h[i], cur, &hi);
		if (hi.stale != LOKT_LIVE)
			continue;
		if (!live++)
			first = hi;
		if (!lokt__slots_asked(opts) || !mode_fits(g, opts) ||
		    !lokt__holds(&g->h[i], who))
			continue;
		/* Its own place, asked for again: renewed, even frozen. */
		lokt__set_lease(&g->h[i], lokt__renew_ttl(opts, &g->h[i]));
		r = gate_store(t, g, false);
		if (r < 0)
			return r;
		ret->lock = g->h[i];
		ret->renewed = true;
		lokt__taudit(t, "renew", &g->h[i], who, NULL);
		return 0;
	}
	if (!live)
		return 1;
	if (!mode_fits(g, opts))
		return refuse(t, who, quiet, -LOKT_E_MODE, &first,
			      mode_extra(&first.rec, "mode", g->slots, !g->slots), ret);
	if (!lokt__slots_asked(opts) ||
	    live >= (g->slots ? g->slots : LOKT_SLOTS_MAX))
		return refuse(t, who, quiet, -LOKT_E_HELD, &first,
			      lokt__holder_extra(&first.rec, NULL), ret);
	return 1;
}

/* The stale holders a transition drops from its gate: audited
 * (stale-break) only once the gate is stored, so that a transition that
 * fails after dropping them (a record grown past its bytes, a store
 * error) leaves no line for what did not happen. */
struct broken {
	size_t n;
	struct lokt_record rec[LOKT_SLOTS_MAX];
	enum lokt_stale why[LOKT_SLOTS_MAX];
};

/* Drop every stale holder of g, each kept in *b; the first one dropped
 * in ret. */
static void gate_break_stale(struct lokt_txn *t, const struct lokt_info *cur,
			     struct gate *g, struct broken *b,
			     struct lokt_result *ret)
{
	struct lokt_info hi;
	size_t i = 0;

	while (i < g->n) {
		lokt__holder_info(t->s, g, &g->h[i], cur, &hi);
		if (hi.stale == LOKT_LIVE) {
			i++;
			continue;
		}
		b->rec[b->n] = hi.rec;
		b->why[b->n++] = hi.stale;
		if (ret->broke == LOKT_LIVE) {
			ret->broke = hi.stale;
			ret->broken = hi.rec;
		}
		gate_drop(g, i);
	}
}

/* The stale-break lines of the holders in b, now that they are gone. */
static void audit_broken(struct lokt_txn *t, const struct lokt_who *who,
			 const struct broken *b)
{
	for (size_t i = 0; i < b->n; i++)
		lokt__taudit(t, "stale-break", &b->rec[i], who,
			     lokt__holder_extra(&b->rec[i],
						lokt_stale_name(b->why[i])));
}

/* The lock of one holder cur, met by a request for slots or shared:
 * refusals. 1 when it may go on (cur is stale). */
static int plain_decide(struct lokt_txn *t, const struct lokt_who *who,
			const struct lokt_acquire_opts *opts, bool quiet,
			const struct lokt_info *cur, struct lokt_result *ret)
{
	if (cur->future)
		return refuse(t, who, quiet, -LOKT_E_FUTURE_VERSION, cur, NULL,
			      ret);
	if (cur->stale != LOKT_LIVE)
		return 1;
	if (opts->slots)
		return refuse(t, who, quiet, -LOKT_E_MODE, cur,
			      mode_extra(&cur->rec, "mode", 0, false), ret);
	return refuse(t, who, quiet, -LOKT_E_HELD, cur,
		      lokt__holder_extra(&cur->rec, NULL), ret);
}

static int take(struct lokt_txn *t, const struct lokt_who *who,
		const struct lokt_acquire_opts *opts,
		const struct lokt_info *cur, struct gate *g, bool is_gate,
		struct lokt_result *ret)
{
	struct broken *b = calloc(1, sizeof(*b));
	uint64_t floor = 0;
	int r;

	if (!b)
		return -ENOMEM;
	if (cur && !is_gate) {
		r = -EOVERFLOW;
		if (cur->rec.fence == UINT64_MAX)
			goto out;
		r = lokt__remove_audited(t, who, cur,
					 cur->stale == LOKT_STALE_CORRUPT ?
						 "corrupt-break" :
						 "stale-break",
					 lokt_stale_name(cur->stale));
		if (r < 0 && r != -LOKT_E_NOT_FOUND)
			goto out;
		ret->broke = cur->stale;
		ret->broken = cur->rec;
		floor = cur->rec.fence;
	}
	if (is_gate) {
		r = -EOVERFLOW;
		if (g->top.fence == UINT64_MAX)
			goto out;
		floor = g->top.fence;
		gate_break_stale(t, cur, g, b, ret);
		if (!lokt__slots_asked(opts)) {
			uint64_t ks = 0;

			/* The writer, after readers that are all gone. */
			r = t->s->be->remove(t, LOKT_LOCK);
			if (r < 0 && r != -LOKT_E_NOT_FOUND)
				goto out;
			audit_broken(t, who, b);
			if (opts->keeper > 0)
				(void)lokt__pid_start(opts->keeper, &ks);
			r = lokt__publish_new(t, who, opts->ttl_sec, floor,
					      ks ? opts->keeper : 0, ks, ret);
			goto out;
		}
		r = -EPROTO; /* gate_decide let only stale ones by */
		if (g->n && !mode_fits(g, opts))
			goto out;
		if (!g->n) {
			/* Every holder gone: the asker's mode now. */
			g->slots = opts->slots;
		}
	} else {
		r = gate_new(t, opts, g);
		if (r < 0)
			goto out;
	}
	r = gate_add(t, g, who, opts, floor, ret);
	r = r ?: gate_store(t, g, !is_gate);
	if (r == -E2BIG && g->n > 1) {
		/* One more holder would take the record past GATE_BYTES_MAX
		 * (long owner names and agent ids, control characters six
		 * bytes each once escaped): full, as at N holders, until one
		 * leaves. */
		struct lokt_info first;

		lokt__holder_info(t->s, g, &g->h[0], cur, &first);
		lokt__result_init(ret);
		ret->other = first;
		ret->have_other = true;
		r = -LOKT_E_HELD;
	} else if (r == -EEXIST) {
		/* Created behind our back (lokt 1.x): report it as held. */
		lokt__result_init(ret);
		if (lokt__load_in(t, LOKT_LOCK, &ret->other, NULL) == 0)
			ret->have_other = true;
		r = -LOKT_E_HELD;
	} else if (r == 0) {
		audit_broken(t, who, b);
		lokt__taudit(t, "acquire", &ret->lock, who,
			     mode_extra(NULL, NULL, g->slots, !g->slots));
	}
out:
	free(b);
	return r;
}

int lokt__slots_acquire_in(struct lokt_txn *t, const struct lokt_who *who,
			   const struct lokt_acquire_opts *opts, bool quiet,
			   const struct lokt_info *cur, const char *json,
			   const struct lokt_queue *q, struct lokt_result *ret)
{
	bool is_gate = cur && (cur->slots || cur->shared);
	struct gate *g = NULL;
	int r;

	if (!t->s->be->fence || !t->s->be->put)
		return -ENOTSUP;
	if (is_gate)
		r = gate_load(t, cur, json, &g);
	else
		r = (g = malloc(sizeof(*g))) ? 0 : -ENOMEM;
	if (r < 0)
		return r;
	if (is_gate)
		r = gate_decide(t, who, opts, quiet, cur, g, ret);
	else if (cur)
		r = plain_decide(t, who, opts, quiet, cur, ret);
	else
		r = 1;
	if (r <= 0)
		goto out;

	r = lokt__frozen(t, who, &ret->other);
	if (r > 0) {
		ret->have_other = true;
		ret->other.freeze = true;
		if (!quiet)
			lokt__taudit(t, "freeze-deny", NULL, who,
				     lokt__holder_extra(&ret->other.rec, NULL));
		r = -LOKT_E_FROZEN;
	}
	if (r < 0)
		goto out;
	/* A place left: a lock that would never end is refused now (one
	 * held says who holds it), before anything is broken or audited. */
	if (lokt__init_holds(who, opts->ttl_sec)) {
		r = -EINVAL;
		goto out;
	}
	if (q->ahead > 0) {
		ret->waiters_ahead = q->ahead;
		r = refuse(t, who, quiet, -LOKT_E_HELD, NULL,
			   lokt__holder_extra(NULL, "queue"), ret);
		goto out;
	}
	r = take(t, who, opts, cur, g, is_gate, ret);
out:
	free(g);
	return r;
}

/* The holder lock_id of g, or -1. */
static ssize_t gate_find(const struct gate *g, const char *lock_id)
{
	size_t i;

	for (i = 0; lock_id && *lock_id && i < g->n; i++)
		if (!strcmp(g->h[i].lock_id, lock_id))
			return (ssize_t)i;
	return -1;
}

/* Audit, in t, the holder lock_id finding its place gone. */
static void audit_lost(struct lokt_txn *t, const char *lock_id,
		       const struct lokt_who *who)
{
	struct lokt_record mine;

	memset(&mine, 0, sizeof(mine));
	snprintf(mine.lock_id, sizeof(mine.lock_id), "%s", lock_id);
	lokt__taudit(t, "lost", &mine, who, lokt__holder_extra(NULL, "gone"));
}

int lokt__slots_renew_in(struct lokt_txn *t, const struct lokt_info *cur,
			 const char *json, const struct lokt_who *who,
			 const char *lock_id, int64_t ttl_sec,
			 struct lokt_result *ret)
{
	struct gate *g;
	ssize_t i;
	int r;

	r = gate_load(t, cur, json, &g);
	if (r < 0)
		return r;
	i = gate_find(g, lock_id);
	if (i < 0) {
		audit_lost(t, lock_id, who);
		r = -LOKT_E_LOST;
		goto out;
	}
	if (!lokt__may_force(&g->h[i], who)) { /* a door: protocol.c */
		lokt__holder_info(t->s, g, &g->h[i], cur, &ret->other);
		ret->have_other = true;
		r = -LOKT_E_NOT_OWNER;
		goto out;
	}
	/* Even if its TTL ran out: nobody broke it, it is its own. */
	lokt__set_lease(&g->h[i], ttl_sec);
	r = gate_store(t, g, false);
	if (r < 0)
		goto out;
	ret->lock = g->h[i];
	ret->renewed = true;
	lokt__taudit(t, "renew", &g->h[i], who, NULL);
out:
	free(g);
	return r;
}

int lokt__slots_keep_in(struct lokt_txn *t, const struct lokt_info *cur,
			const char *json, const char *lock_id, pid_t keeper,
			uint64_t keeper_start, struct lokt_result *ret)
{
	struct gate *g;
	ssize_t i;
	int r;

	r = gate_load(t, cur, json, &g);
	if (r < 0)
		return r;
	i = gate_find(g, lock_id);
	r = -LOKT_E_LOST;
	if (i >= 0) {
		g->h[i].keeper_pid = keeper;
		g->h[i].keeper_start = keeper_start;
		r = gate_store(t, g, false);
		if (r == 0)
			ret->lock = g->h[i];
	}
	free(g);
	return r;
}

/* Remove holder i of g, audited as event (reason: its staleness). */
static void gate_remove_one(struct lokt_txn *t, const struct lokt_who *who,
			    const struct lokt_info *cur, struct gate *g,
			    size_t i, const char *event,
			    struct lokt_result *ret)
{
	struct lokt_info hi;
	const char *reason = NULL;

	lokt__holder_info(t->s, g, &g->h[i], cur, &hi);
	if (hi.stale != LOKT_LIVE)
		reason = lokt_stale_name(hi.stale);
	if (!strcmp(event, "stale-break") && ret->broke == LOKT_LIVE) {
		ret->broke = hi.stale;
		ret->broken = hi.rec;
	}
	if (!ret->lock.lock_id[0])
		ret->lock = hi.rec;
	lokt__taudit(t, event, &hi.rec, who,
		     lokt__holder_extra(&hi.rec, reason));
	gate_drop(g, i);
}

/* Release without a lock_id (see lokt_release): the asker's own place;
 * else every place of its owner; else stale ones with BREAK_STALE;
 * everything with FORCE. How many were removed, or a refusal. */
static int release_some(struct lokt_txn *t, const struct lokt_who *who,
			const struct lokt_info *cur, struct gate *g,
			unsigned flags, struct lokt_result *ret)
{
	struct lokt_info hi, first;
	size_t i, removed = 0;
	bool any = false;

	for (i = 0; !(flags & LOKT_RELEASE_FORCE) && i < g->n; i++) {
		lokt__holder_info(t->s, g, &g->h[i], cur, &hi);
		if (hi.stale == LOKT_LIVE && lokt__holds(&g->h[i], who)) {
			gate_remove_one(t, who, cur, g, i, "release", ret);
			return 1;
		}
	}
	for (i = 0; i < g->n;) {
		lokt__holder_info(t->s, g, &g->h[i], cur, &hi);
		if (!any) {
			first = hi;
			any = true;
		}
		if (lokt__owns(&g->h[i], who))
			gate_remove_one(t, who, cur, g, i, "release", ret);
		else if (hi.stale != LOKT_LIVE &&
			 (flags & (LOKT_RELEASE_BREAK_STALE |
				   LOKT_RELEASE_FORCE)))
			gate_remove_one(t, who, cur, g, i, "stale-break", ret);
		else if ((flags & LOKT_RELEASE_FORCE) &&
			 lokt__may_force(&g->h[i], who))
			gate_remove_one(t, who, cur, g, i, "force-break", ret);
		else {
			i++;
			continue;
		}
		removed++;
	}
	if (removed)
		return (int)removed;
	if (any) {
		ret->other = first;
		ret->have_other = true;
	}
	return -LOKT_E_NOT_OWNER;
}

int lokt__slots_release_in(struct lokt_txn *t, const struct lokt_info *cur,
			   const char *json, const struct lokt_who *who,
			   const char *lock_id, unsigned flags,
			   struct lokt_result *ret)
{
	struct gate *g;
	ssize_t i;
	int r;

	r = gate_load(t, cur, json, &g);
	if (r < 0)
		return r;
	if (lock_id) {
		i = gate_find(g, lock_id);
		if (i < 0) {
			if (!(flags & LOKT_RELEASE_SEEN))
				audit_lost(t, lock_id, who);
			r = -LOKT_E_LOST;
			goto out;
		}
		if (!lokt__may_force(&g->h[i], who) || /* a door */
		    ((flags & LOKT_RELEASE_OWN) &&
		     !lokt__owns(&g->h[i], who))) {
			lokt__holder_info(t->s, g, &g->h[i], cur, &ret->other);
			ret->have_other = true;
			r = -LOKT_E_NOT_OWNER;
			goto out;
		}
		gate_remove_one(t, who, cur, g, (size_t)i, "release", ret);
	} else {
		r = release_some(t, who, cur, g, flags, ret);
		if (r < 0)
			goto out;
	}
	r = gate_store(t, g, false);
out:
	free(g);
	return r < 0 ? r : 0;
}

int lokt__slots_release_owner_in(struct lokt_txn *t,
				 const struct lokt_info *cur, const char *json,
				 const struct lokt_who *who, const char *owner)
{
	struct lokt_result res;
	struct gate *g;
	size_t i = 0, removed = 0;
	int r;

	r = gate_load(t, cur, json, &g);
	if (r < 0)
		return r;
	lokt__result_init(&res);
	while (i < g->n) {
		if (strcmp(g->h[i].owner, owner)) {
			i++;
			continue;
		}
		gate_remove_one(t, who, cur, g, i,
				strcmp(owner, who->owner) ? "force-break" :
							    "release",
				&res);
		removed++;
	}
	r = removed ? gate_store(t, g, false) : -LOKT_E_NOT_FOUND;
	free(g);
	return r < 0 ? r : (int)removed;
}

int lokt__slots_prune_in(struct lokt_txn *t, const struct lokt_info *cur,
			 const char *json, const struct lokt_who *who)
{
	struct lokt_result res;
	struct lokt_info hi;
	struct gate *g;
	size_t i = 0;
	int r, removed = 0;

	r = gate_load(t, cur, json, &g);
	if (r < 0)
		return r;
	lokt__result_init(&res);
	while (i < g->n) {
		lokt__holder_info(t->s, g, &g->h[i], cur, &hi);
		if (hi.stale == LOKT_LIVE) {
			i++;
			continue;
		}
		gate_remove_one(t, who, cur, g, i, "auto-prune", &res);
		removed++;
	}
	r = removed ? gate_store(t, g, false) : 0;
	free(g);
	return r < 0 ? r : removed;
}
