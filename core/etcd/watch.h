/* SPDX-License-Identifier: MIT */
/*
 * Private to the etcd backend: watching a key, or a range of keys, as a
 * pollable file descriptor (watch.c).
 */
#ifndef LOKT_ETCD_WATCH_H
#define LOKT_ETCD_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct lokt_gw;
struct lokt_gw_watch;

/* Watch key (or [key, range_end) when range_end is set) from revision
 * start_rev (0: from now). Lengths in bytes; keys need not be text. */
int lokt__gw_watch_open(struct lokt_gw *g, const char *key, size_t key_len,
			const char *range_end, size_t end_len,
			int64_t start_rev, struct lokt_gw_watch **ret);

/* Readable (POLLIN) when a watched key may have changed. */
int lokt__gw_watch_fd(const struct lokt_gw_watch *w);

/* 1 when something may have changed since the last call (read again),
 * 0 when not; never blocks. */
int lokt__gw_watch_consume(struct lokt_gw_watch *w);

/* The revision of the last change delivered when it was a deletion (of a
 * watched key), else 0: a hint, not the store's word (a later change may
 * be on its way). */
int64_t lokt__gw_watch_last_delete(const struct lokt_gw_watch *w);

/* Tell the watch to end, without waiting for it to (close does). */
void lokt__gw_watch_stop(struct lokt_gw_watch *w); /* NULL is fine */

void lokt__gw_watch_close(struct lokt_gw_watch *w); /* NULL is fine */

#endif /* LOKT_ETCD_WATCH_H */
