// SPDX-License-Identifier: MIT
/*
 * Freezes: `freezes/<name>.json` blocks every new acquisition of <name>
 * until it is removed or its TTL runs out; a holder already inside is not
 * interrupted (its re-entrant renewals still pass). Freezes are judged by
 * TTL only: the process that froze exits at once. A future-version freeze
 * counts as active and is removed only by force.
 *
 * Each freeze transition runs under the freeze's own sidecar
 * (`freezes/.<name>.lk`), exactly as lock transitions do (protocol.c).
 * An acquisition that meets a freeze holds the lock's sidecar and may take
 * the freeze's to clear an expired one: the order is always lock sidecar,
 * then freeze sidecar, and freeze transitions never take a lock sidecar,
 * so the two cannot deadlock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

/* With the freeze sidecar held: remove a stale (expired or corrupt)
 * freeze, audited as `event` or corrupt-break. */
static int remove_stale(struct lokt_store *s, const char *name,
			const struct lokt_who *who, const struct lokt_info *cur,
			const char *event)
{
	if (cur->stale == LOKT_STALE_CORRUPT)
		return lokt__remove_audited(s, LOKT_FREEZE, name, who, cur,
					    "corrupt-break", "corrupt");
	return lokt__remove_audited(s, LOKT_FREEZE, name, who, cur, event,
				    lokt_stale_name(cur->stale));
}

int lokt__frozen(struct lokt_store *s, const char *name,
		 const struct lokt_who *who, struct lokt_info *ret)
{
	struct lokt_info cur;
	int lk, r;

	r = lokt__load(s, LOKT_FREEZE, name, &cur, NULL);
	if (r == -LOKT_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	if (cur.future || cur.stale == LOKT_LIVE) {
		*ret = cur;
		return 1;
	}
	/* Expired or corrupt: clear it under its sidecar, re-judged there
	 * since it may have been replaced meanwhile. */
	r = lokt__name_lock(s, LOKT_FREEZE, name, &lk);
	if (r < 0)
		return r;
	r = lokt__load(s, LOKT_FREEZE, name, &cur, NULL);
	if (r == 0 && (cur.future || cur.stale == LOKT_LIVE)) {
		*ret = cur;
		r = 1;
	} else if (r == 0) {
		r = remove_stale(s, name, who, &cur, "auto-prune");
	}
	lokt__name_unlock(lk);
	if (r == -LOKT_E_NOT_FOUND)
		r = 0;
	return r;
}

/* The critical section of lokt_freeze; the freeze sidecar lk is held. */
static int freeze_locked(struct lokt_store *s, int lk, const char *name,
			 const struct lokt_who *who, int64_t ttl_sec,
			 struct lokt_result *ret)
{
	struct lokt_record rec;
	struct lokt_info cur;
	uint64_t floor = 0;
	int r;

	r = lokt__load(s, LOKT_FREEZE, name, &cur, NULL);
	if (r < 0 && r != -LOKT_E_NOT_FOUND)
		return r;
	if (r == 0 && (cur.future || cur.stale == LOKT_LIVE)) {
		if (cur.future || strcmp(cur.rec.owner, who->owner)) {
			ret->other = cur;
			ret->have_other = true;
			return cur.future ? -LOKT_E_FUTURE_VERSION :
					    -LOKT_E_HELD;
		}
		rec = cur.rec; /* ours: extend */
		lokt__set_lease(&rec, ttl_sec);
		r = lokt__write_record(s, LOKT_FREEZE, &rec, false);
		if (r < 0)
			return r;
		ret->lock = rec;
		ret->renewed = true;
		lokt__audit(s, "freeze", name, &rec, who,
			    lokt__holder_extra(NULL, "extended"));
		return 0;
	}
	if (r == 0 && cur.rec.fence == UINT64_MAX)
		return -EOVERFLOW; /* never reuse a fence: see acquire */
	if (r == 0) {
		r = remove_stale(s, name, who, &cur, "auto-prune");
		if (r < 0 && r != -LOKT_E_NOT_FOUND)
			return r;
		floor = cur.rec.fence;
	}

	return lokt__publish_new(s, LOKT_FREEZE, lk, name, who, ttl_sec, floor,
				 ret);
}

LOKT_API int lokt_freeze(struct lokt_store *s, const char *name,
			 const struct lokt_who *who, int64_t ttl_sec,
			 struct lokt_result *ret)
{
	struct lokt_result local;
	int lk, r;

	if (!ret)
		ret = &local;
	lokt__result_init(ret);
	r = lokt_name_check(name);
	if (r < 0)
		return r;
	if (!s || !who || ttl_sec <= 0 || ttl_sec > LOKT_TTL_MAX_SEC)
		return -EINVAL;
	r = lokt__name_lock(s, LOKT_FREEZE, name, &lk);
	if (r < 0)
		return r;
	r = freeze_locked(s, lk, name, who, ttl_sec, ret);
	lokt__name_unlock(lk);
	return r;
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
	} else if (strcmp(cur->rec.owner, who->owner)) {
		if (!force)
			goto refuse;
		event = "force-unfreeze";
	}
	*ret_event = event;
	*ret_reason = reason;
	return 0;
refuse:
	ret->other = *cur;
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

LOKT_API int lokt_unfreeze(struct lokt_store *s, const char *name,
			   const struct lokt_who *who, bool force,
			   struct lokt_result *ret)
{
	const char *event = NULL, *reason = NULL;
	struct lokt_result local;
	struct lokt_info cur;
	int lk, r;

	if (!ret)
		ret = &local;
	lokt__result_init(ret);
	r = lokt_name_check(name);
	if (r < 0)
		return r;
	if (!s || !who)
		return -EINVAL;
	r = lokt__name_lock(s, LOKT_FREEZE, name, &lk);
	if (r == -EACCES || r == -EPERM || r == -EROFS)
		return unfreeze_unwritable(s, name, who, force, r, ret);
	if (r < 0)
		return r;
	r = lokt__load(s, LOKT_FREEZE, name, &cur, NULL);
	if (r == 0)
		r = unfreeze_decide(who, force, &cur, &event, &reason, ret);
	if (r == 0)
		r = lokt__remove_audited(s, LOKT_FREEZE, name, who, &cur, event,
					 reason);
	if (r == 0)
		ret->lock = cur.rec;
	lokt__name_unlock(lk);
	return r;
}
