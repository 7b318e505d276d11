// SPDX-License-Identifier: MIT
/*
 * lokt_with_lock: run a callback while holding a lock, and give the lock
 * back on every path. The release is by lock_id, so a callback that ran
 * past its TTL never removes the lock of whoever broke it and came next;
 * that case is reported as -LOKT_E_LOST. When the acquisition was a
 * re-entrant renewal (the caller already held the lock), the lock is left
 * held: it belongs to the outer holder, who releases it.
 */
#include <errno.h>

#include "protocol.h"

LOKT_API int lokt_with_lock(struct lokt_store *s, const char *name,
			    const struct lokt_who *who,
			    const struct lokt_acquire_opts *opts,
			    int (*fn)(void *userdata,
				      const struct lokt_record *held),
			    void *userdata, int *ret_fn,
			    struct lokt_result *ret)
{
	struct lokt_result local, rel;
	int r, fr;

	if (!ret)
		ret = &local;
	if (!fn) {
		lokt__result_init(ret);
		return -EINVAL;
	}
	r = lokt_acquire(s, name, who, opts, ret);
	if (r < 0)
		return r;
	fr = fn(userdata, &ret->lock);
	if (ret_fn)
		*ret_fn = fr;
	if (ret->renewed)
		return 0;
	return lokt_release(s, name, who, ret->lock.lock_id, 0, &rel);
}
