/* SPDX-License-Identifier: MIT */
/*
 * For the daemons (loktfs, loktd), not installed, never called by
 * liblokt: a library leaves its caller's limits alone.
 */
#ifndef LOKT_NOFILE_H
#define LOKT_NOFILE_H

#include <sys/resource.h>

/* The soft open-file limit raised to the hard one (at most 65536), and
 * the limit in force after (1024 when it cannot be read). On etcd a
 * daemon keeps a descriptor per lock it keeps (fs/keeper.c, up to 4096),
 * and loktd one per connection and per wait: at a soft limit of 1024 one
 * user's locks or connections left none for anyone's request. */
static inline unsigned lokt_nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < 65536) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 65536 ? 65536 : (unsigned)rl.rlim_cur;
}

#endif
