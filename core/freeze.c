// SPDX-License-Identifier: MIT
/*
 * Freezes: `freezes/<name>.json` blocks every new acquisition of <name>
 * until it is removed or its TTL runs out; a holder already inside is not
 * interrupted (its re-entrant renewals still pass). Freezes are judged by
 * TTL only: the process that froze exits at once. A future-version freeze
 * counts as active and is removed only by force.
 *
 * Each freeze transition is a transition on the freeze (the directory
 * store: under its own sidecar, `freezes/.<name>.lk`), exactly as lock
 * transitions are (protocol.c). An acquisition that meets an expired
 * freeze clears it in a transition on the freeze nested in its own. Where
 * the store asks (backend.h, freeze_under_lock: the directory store),
 * freeze and unfreeze nest theirs in a transition on the lock, so that
 * no acquisition is between its look at the freeze and its publication
 * meanwhile. The order is always lock, then freeze, and no transition
 * on a freeze begins one on a lock, so the two cannot deadlock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

/* In a transition on the name's freeze: remove a stale (expired or
 * corrupt) freeze, audited as `event` or corrupt-break. */
static int remove_stale(struct lokt_txn *t, const struct lokt_who *who,
			const struct lokt_info *cur, const char *event)
{
	if (cur->stale == LOKT_STALE_CORRUPT)
		return lokt__remove_audited(t, who, cur, "corrupt-break",
					    "corrupt");
	return lokt__remove_audited(t, who, cur, event,
				    lokt_stale_name(cur->stale));
}

struct frz {
	const struct lokt_who *who;
	struct lokt_info *cur;
	int64_t ttl_sec; /* freeze */
	bool force; /* unfreeze */
	struct lokt_result *ret;
	int (*step)(struct lokt_txn *t, void *ud); /* freeze_in, unfreeze_in */
};

/* Clear an expired or corrupt freeze, re-judged in its own transition
 * since it may have been replaced meanwhile: 1 with a live one in
 * *f->cur, 0 when there is none now. */
static int clear_stale_in(struct lokt_txn *t, void *ud)
{
	struct frz *f = ud;
	int r;

	r = lokt__load_in(t, LOKT_FREEZE, f->cur, NULL);
	if (r == 0 && (f->cur->future || f->cur->stale == LOKT_LIVE))
		return 1;
	if (r == 0)
		r = remove_stale(t, f->who, f->cur, "auto-prune");
	return r == -LOKT_E_NOT_FOUND ? 0 : r;
}

int lokt__frozen(struct lokt_txn *t, const struct lokt_who *who,
		 struct lokt_info *ret)
{
	struct lokt_info cur;
	struct frz f = { .who = who, .cur = &cur };
	int r;

	r = lokt__load_in(t, LOKT_FREEZE, &cur, NULL);
	if (r == -LOKT_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	if (!cur.future && cur.stale != LOKT_LIVE)
		r = lokt__transition(t->s, LOKT_FREEZE, t->name,
				     clear_stale_in, &f);
	else
		r = 1;
	if (r > 0)
		*ret = cur;
	return r;
}

static int freeze_step_in(struct lokt_txn *t, void *ud)
{
	struct frz *f = ud;

	return lokt__transition(t->s, LOKT_FREEZE, t->name, f->step, f);
}

/* f->step as a transition on the name's freeze, nested in one on its
 * lock where the store asks (see the top). */
static int under_lock(struct lokt_store *s, const char *name, struct frz *f)
{
	if (s->be->freeze_under_lock)
		return lokt__transition(s, LOKT_LOCK, name, freeze_step_in, f);
	return lokt__transition(s, LOKT_FREEZE, name, f->step, f);
}

/* lokt_freeze as a transition on the name's freeze. */
static int freeze_in(struct lokt_txn *t, void *ud)
{
	struct frz *f = ud;
	struct lokt_result *ret = f->ret;
	struct lokt_record rec;
	struct lokt_info cur;
	uint64_t floor = 0;
	int r;

	lokt__result_init(ret);
	r = lokt__load_in(t, LOKT_FREEZE, &cur, NULL);
	if (r < 0 && r != -LOKT_E_NOT_FOUND)
		return r;
	if (r == 0 && (cur.future || cur.stale == LOKT_LIVE)) {
		if (cur.future || !lokt__owns(&cur.rec, f->who)) {
			ret->other = cur;
			ret->other.freeze = true;
			ret->have_other = true;
			return cur.future ? -LOKT_E_FUTURE_VERSION :
					    -LOKT_E_HELD;
		}
		rec = cur.rec; /* ours: extend */
		lokt__set_lease(&rec, f->ttl_sec);
		r = t->s->be->replace(t, &rec);
		if (r < 0)
			return r;
		ret->lock = rec;
		ret->renewed = true;
		lokt__taudit(t, "freeze", &rec, f->who,
			     lokt__holder_extra(NULL, "extended"));
		return 0;
	}
	if (r == 0 && cur.rec.fence == UINT64_MAX)
		return -EOVERFLOW; /* never reuse a fence: see acquire */
	if (r == 0) {
		r = remove_stale(t, f->who, &cur, "auto-prune");
		if (r < 0 && r != -LOKT_E_NOT_FOUND)
			return r;
		floor = cur.rec.fence;
	}
	return lokt__publish_new(t, f->who, f->ttl_sec, floor, 0, 0, ret);
}

LOKT_API int lokt_freeze(struct lokt_store *s, const char *name,
			 const struct lokt_who *who, int64_t ttl_sec,
			 struct lokt_result *ret)
{
	struct lokt_result local;
	struct frz f;
	int r;

	if (!ret)
		ret = &local;
	lokt__result_init(ret);
	r = lokt_name_check(name);
	if (r < 0)
		return r;
	if (!s || !who || lokt__who_check(who) < 0 || ttl_sec <= 0 ||
	    ttl_sec > LOKT_TTL_MAX_SEC)
		return -EINVAL;
	f = (struct frz){ .who = who, .ttl_sec = ttl_sec, .ret = ret,
			  .step = freeze_in };
	return under_lock(s, name, &f);
}

/* Decide an unfreeze of cur (see lokt_unfreeze), without acting: 0 with
 * the audit event (and reason) to remove it under, or the refusal
 * (NOT_OWNER, FUTURE_VERSION) with ret->other set. */
static int unfreeze_decide(const struct lokt_who *who, bool force,
			   const struct lokt_info *cur, const char **ret_event,
			   const char **ret_reason, struct lokt_result *ret)
{
	const char *event = "unfreeze", *reason = NULL;

	if (cur->future) {
		if (!force)
			goto refuse;
		event = "force-unfreeze";
		reason = "future-version";
	} else if (cur->stale == LOKT_STALE_CORRUPT) {
		event = "corrupt-break";
		reason = "corrupt";
	} else if (cur->stale != LOKT_LIVE) {
		reason = lokt_stale_name(cur->stale);
	} else if (!lokt__owns(&cur->rec, who)) {
		if (!force || !lokt__may_force(&cur->rec, who))
			goto refuse;
		event = "force-unfreeze";
	}
	*ret_event = event;
	*ret_reason = reason;
	return 0;
refuse:
	ret->other = *cur;
	ret->other.freeze = true;
	ret->have_other = true;
	return cur->future ? -LOKT_E_FUTURE_VERSION : -LOKT_E_NOT_OWNER;
}

/* lokt_unfreeze where the freeze's sidecar could not be taken for lack of
 * write permission (err): as for a release (protocol.c), an unlocked read
 * still tells "not found" and "not owner" apart; what the caller would be
 * allowed to do keeps err. */
static int unfreeze_unwritable(struct lokt_store *s, const char *name,
			       const struct lokt_who *who, bool force, int err,
			       struct lokt_result *ret)
{
	const char *event, *reason;
	struct lokt_info cur;
	int r;

	r = lokt__load(s, LOKT_FREEZE, name, &cur, NULL);
	if (r == -LOKT_E_NOT_FOUND)
		return r;
	if (r < 0)
		return err;
	r = unfreeze_decide(who, force, &cur, &event, &reason, ret);
	return r < 0 ? r : err;
}

static int unfreeze_in(struct lokt_txn *t, void *ud)
{
	struct frz *f = ud;
	struct lokt_result *ret = f->ret;
	const char *event = NULL, *reason = NULL;
	struct lokt_info cur;
	int r;

	lokt__result_init(ret);
	r = lokt__load_in(t, LOKT_FREEZE, &cur, NULL);
	if (r == 0)
		r = unfreeze_decide(f->who, f->force, &cur, &event, &reason,
				    ret);
	if (r == 0)
		r = lokt__remove_audited(t, f->who, &cur, event, reason);
	if (r == 0)
		ret->lock = cur.rec;
	return r;
}

LOKT_API int lokt_unfreeze(struct lokt_store *s, const char *name,
			   const struct lokt_who *who, bool force,
			   struct lokt_result *ret)
{
	struct lokt_result local;
	struct frz f;
	int r;

	if (!ret)
		ret = &local;
	lokt__result_init(ret);
	r = lokt_name_check(name);
	if (r < 0)
		return r;
	if (!s || !who)
		return -EINVAL;
	f = (struct frz){ .who = who, .force = force, .ret = ret,
			  .step = unfreeze_in };
	r = under_lock(s, name, &f);
	if (r == -EACCES || r == -EPERM || r == -EROFS)
		return unfreeze_unwritable(s, name, who, force, r, ret);
	return r;
}
