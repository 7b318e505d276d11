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

/* Look for want (bytes of text) in every value put from now on: the
 * first put that holds it is remembered (lokt__gw_watch_found). Only
 * the one thread that owns w calls it; want is copied. */
int lokt__gw_watch_expect(struct lokt_gw_watch *w, const char *want);

/* The mod_revision of the first put seen since lokt__gw_watch_expect
 * whose value held what it was given, else 0; *ret_value (may be NULL):
 * that value, text, the watch's until it is closed; *ret_create (may be
 * NULL): its key's create_revision. A put the member applied: the
 * store's word then, unlike a deletion's hint (it may have changed
 * since). */
int64_t lokt__gw_watch_found(const struct lokt_gw_watch *w,
			     const char **ret_value, int64_t *ret_create);

/* Keep the newest put, from now on, whose value (text) holds want,
 * until its key is deleted or put without it, or the stream breaks
 * (then nothing is kept: what happened meanwhile is not known). Only the
 * thread that owns w calls it; want is copied. */
int lokt__gw_watch_keep(struct lokt_gw_watch *w, const char *want);

/* 1 with a copy of the put kept in *ret (its key and value malloc'd,
 * text; the caller frees them), 0 when none is, -ENOMEM. A hint: the
 * key may have changed since; compare it. */
struct lokt_kv;
int lokt__gw_watch_kept(struct lokt_gw_watch *w, struct lokt_kv *ret);

/* Tell the watch to end, without waiting for it to (close does). */
void lokt__gw_watch_stop(struct lokt_gw_watch *w); /* NULL is fine */

void lokt__gw_watch_close(struct lokt_gw_watch *w); /* NULL is fine */

#endif /* LOKT_ETCD_WATCH_H */
