// SPDX-License-Identifier: MIT
/*
 * Watching keys of etcd for changes, as a file descriptor that poll(2)
 * reports readable: the etcd counterpart of inotify on the store's
 * directory. A thread keeps one /v3/watch stream open and turns each
 * event into a count on an eventfd.
 *
 * Nothing may be missed between the read a waiter based its decision on
 * and the watch: the stream starts from the revision after that read, and
 * after a break it starts again from the revision after the last event
 * seen. When that is impossible (the stream broke, the revision was
 * compacted away, the member answered with an error), the fd is made
 * readable anyway: "something may have changed, read again" is always a
 * safe thing to say, and a missed change never is.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "kv.h"
#include "watch.h"

#define LINE_MAX_BYTES (4 << 20) /* one event line; a record is ~500 B */

struct lokt_gw_watch {
	struct lokt_gw *g;
	char *key, *range_end; /* base64 */
	int64_t next_rev; /* where a new stream starts; 0: now */
	int efd;
	struct lokt_gw_stream st;
	pthread_t thread;
	bool started;
	char *line; /* a partial line of the stream */
	size_t len;
	int64_t last_delete; /* the revision of the last event when it was a
				deletion, else 0 (atomic) */
	/* lokt__gw_watch_expect's: a value to look for in what is put, and
	 * the mod_revision of the first put that held it (atomic both). */
	char *want;
	int64_t found;
	char *found_value; /* that put's value, set before found */
	int64_t found_create; /* ... and its key's create_revision */
	/* lokt__gw_watch_keep's: what a kept value holds, and the newest
	 * put of such a value, until its key is deleted or put without it
	 * (key NULL: none; under keep_lock). */
	char *keep_want;
	pthread_mutex_t keep_lock;
	struct lokt_kv kept;
};

static void kept_clear(struct lokt_gw_watch *w)
{
	pthread_mutex_lock(&w->keep_lock);
	free(w->kept.key);
	free(w->kept.value);
	memset(&w->kept, 0, sizeof(w->kept));
	pthread_mutex_unlock(&w->keep_lock);
}

static void ring(struct lokt_gw_watch *w)
{
	uint64_t one = 1;

	(void)!write(w->efd, &one, sizeof(one));
}

/* A put event's kv: does its value hold what the owner expects? */
static void look_for(struct lokt_gw_watch *w, struct json_object *kv,
		     int64_t rev)
{
	const char *want = __atomic_load_n(&w->want, __ATOMIC_SEQ_CST);
	struct json_object *v;
	char *value = NULL;
	size_t len = 0;

	if (!want || __atomic_load_n(&w->found, __ATOMIC_SEQ_CST) ||
	    !json_object_object_get_ex(kv, "value", &v) ||
	    lokt__b64_decode(json_object_get_string(v), &value, &len) < 0)
		return;
	if (memmem(value, len, want, strlen(want)) &&
	    !memchr(value, '\0', len)) {
		free(w->found_value);
		w->found_value = value;
		w->found_create = lokt__gw_int(kv, "create_revision", 0);
		value = NULL;
		__atomic_store_n(&w->found, rev, __ATOMIC_SEQ_CST);
	}
	free(value);
}

/* An event's kv for lokt__gw_watch_keep: kept when its value holds what
 * is wanted, forgotten when its key is deleted or put without it. */
static void keep_event(struct lokt_gw_watch *w, struct json_object *kv,
		       int64_t rev, bool del)
{
	const char *want = __atomic_load_n(&w->keep_want, __ATOMIC_SEQ_CST);
	char *key = NULL, *value = NULL;
	size_t klen = 0, vlen = 0;
	struct json_object *v;
	bool holds;

	if (!want || !json_object_object_get_ex(kv, "key", &v) ||
	    lokt__b64_decode(json_object_get_string(v), &key, &klen) < 0)
		return;
	if (!del && json_object_object_get_ex(kv, "value", &v) &&
	    lokt__b64_decode(json_object_get_string(v), &value, &vlen) < 0)
		value = NULL;
	holds = value && !memchr(value, '\0', vlen) &&
		memmem(value, vlen, want, strlen(want));
	pthread_mutex_lock(&w->keep_lock);
	if (holds) {
		free(w->kept.key);
		free(w->kept.value);
		w->kept = (struct lokt_kv){
			.key = key,
			.value = value,
			.key_len = klen,
			.value_len = vlen,
			.create_rev = lokt__gw_int(kv, "create_revision", 0),
			.mod_rev = rev,
			.version = lokt__gw_int(kv, "version", 0),
			.lease = lokt__gw_int(kv, "lease", 0),
		};
		key = value = NULL;
	} else if (w->kept.key && w->kept.key_len == klen &&
		   !memcmp(w->kept.key, key, klen)) {
		free(w->kept.key);
		free(w->kept.value);
		memset(&w->kept, 0, sizeof(w->kept));
	}
	pthread_mutex_unlock(&w->keep_lock);
	free(key);
	free(value);
}

/* One line of the stream: {"result":{"header":..,"events":[..]}} or an
 * error. false when the stream is of no further use. */
static bool on_line(struct lokt_gw_watch *w, const char *line)
{
	struct json_object *o, *res, *evs, *ev, *kv, *v;
	bool keep = true;
	size_t i, n;

	o = json_tokener_parse(line);
	if (!o)
		return false;
	if (!json_object_object_get_ex(o, "result", &res) ||
	    json_object_object_get_ex(res, "error", &v) ||
	    json_object_object_get_ex(o, "error", &v)) {
		json_object_put(o);
		return false;
	}
	if (json_object_object_get_ex(res, "canceled", &v) &&
	    json_object_get_boolean(v)) {
		/* Compacted past next_rev, or canceled by the member: what
		 * happened in between is lost. Start again from now. */
		w->next_rev = 0;
		keep = false;
		kept_clear(w);
	}
	if (json_object_object_get_ex(res, "events", &evs)) {
		n = json_object_array_length(evs);
		for (i = 0; i < n; i++) {
			ev = json_object_array_get_idx(evs, i);
			if (json_object_object_get_ex(ev, "kv", &kv)) {
				int64_t rev = lokt__gw_int(kv, "mod_revision", 0);
				bool del = json_object_object_get_ex(ev, "type",
								     &v) &&
					   !strcmp(json_object_get_string(v),
						   "DELETE");

				if (rev >= w->next_rev)
					w->next_rev = rev + 1;
				if (!del)
					look_for(w, kv, rev);
				keep_event(w, kv, rev, del);
				__atomic_store_n(&w->last_delete,
						 del ? rev : 0,
						 __ATOMIC_SEQ_CST);
			}
		}
		if (n)
			ring(w);
	}
	json_object_put(o);
	return keep;
}

static bool on_piece(const char *p, size_t n, void *ud)
{
	struct lokt_gw_watch *w = ud;
	char *nl, *nb;
	size_t used;

	if (w->len + n > LINE_MAX_BYTES)
		return false;
	nb = realloc(w->line, w->len + n + 1);
	if (!nb)
		return false;
	w->line = nb;
	memcpy(w->line + w->len, p, n);
	w->len += n;
	w->line[w->len] = '\0';
	while ((nl = memchr(w->line, '\n', w->len))) {
		*nl = '\0';
		used = (size_t)(nl - w->line) + 1;
		if (w->line[0] && !on_line(w, w->line))
			return false;
		memmove(w->line, nl + 1, w->len - used + 1);
		w->len -= used;
	}
	return true;
}

static char *create_body(const struct lokt_gw_watch *w)
{
	struct json_object *o = json_object_new_object(), *c;
	char *body;

	c = json_object_new_object();
	json_object_object_add(c, "key", json_object_new_string(w->key));
	if (w->range_end)
		json_object_object_add(c, "range_end",
				       json_object_new_string(w->range_end));
	if (w->next_rev > 0)
		json_object_object_add(c, "start_revision",
				       json_object_new_int64(w->next_rev));
	json_object_object_add(o, "create_request", c);
	body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return body;
}

static void *run(void *ud)
{
	struct lokt_gw_watch *w = ud;
	int64_t pause_ms = 50;
	char *body;

	while (!__atomic_load_n(&w->st.stop, __ATOMIC_SEQ_CST)) {
		body = create_body(w);
		if (!body)
			break;
		w->len = 0;
		(void)lokt__gw_stream_run(w->g, &w->st, "/v3/watch", body,
					  on_piece, w);
		free(body);
		if (__atomic_load_n(&w->st.stop, __ATOMIC_SEQ_CST))
			break;
		/* The stream ended: whatever it would have said since is
		 * unknown, so the owner reads again. */
		__atomic_store_n(&w->last_delete, 0, __ATOMIC_SEQ_CST);
		kept_clear(w);
		ring(w);
		struct timespec ts = { pause_ms / 1000,
				       (pause_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
		if (pause_ms < 1000)
			pause_ms *= 2;
	}
	return NULL;
}

int lokt__gw_watch_open(struct lokt_gw *g, const char *key, size_t key_len,
			const char *range_end, size_t end_len,
			int64_t start_rev, struct lokt_gw_watch **ret)
{
	struct lokt_gw_watch *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->g = g;
	w->efd = -1;
	pthread_mutex_init(&w->keep_lock, NULL);
	w->next_rev = start_rev;
	r = lokt__b64_encode(key, key_len, &w->key);
	if (r == 0 && range_end)
		r = lokt__b64_encode(range_end, end_len, &w->range_end);
	if (r == 0)
		r = lokt__gw_stream_init(&w->st);
	if (r == 0) {
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->efd < 0)
			r = -errno;
	}
	if (r == 0) {
		r = lokt__thread_start(&w->thread, run, w);
		w->started = r == 0;
	}
	if (r < 0) {
		lokt__gw_watch_close(w);
		return r;
	}
	*ret = w;
	return 0;
}

int lokt__gw_watch_fd(const struct lokt_gw_watch *w)
{
	return w->efd;
}

int lokt__gw_watch_expect(struct lokt_gw_watch *w, const char *want)
{
	char *copy = strdup(want);

	if (!copy)
		return -ENOMEM;
	free(__atomic_exchange_n(&w->want, copy, __ATOMIC_SEQ_CST));
	__atomic_store_n(&w->found, 0, __ATOMIC_SEQ_CST);
	return 0;
}

int64_t lokt__gw_watch_found(const struct lokt_gw_watch *w,
			     const char **ret_value, int64_t *ret_create)
{
	int64_t rev = __atomic_load_n(&w->found, __ATOMIC_SEQ_CST);

	if (ret_value)
		*ret_value = rev ? w->found_value : NULL;
	if (ret_create)
		*ret_create = rev ? w->found_create : 0;
	return rev;
}

int lokt__gw_watch_keep(struct lokt_gw_watch *w, const char *want)
{
	char *copy = strdup(want);

	if (!copy)
		return -ENOMEM;
	free(__atomic_exchange_n(&w->keep_want, copy, __ATOMIC_SEQ_CST));
	return 0;
}

int lokt__gw_watch_kept(struct lokt_gw_watch *w, struct lokt_kv *ret)
{
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&w->keep_lock);
	if (w->kept.key) {
		*ret = w->kept;
		ret->key = malloc(w->kept.key_len + 1);
		ret->value = strdup(w->kept.value);
		if (ret->key && ret->value) {
			memcpy(ret->key, w->kept.key, w->kept.key_len);
			ret->key[w->kept.key_len] = '\0';
			r = 1;
		} else {
			free(ret->key);
			free(ret->value);
			memset(ret, 0, sizeof(*ret));
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&w->keep_lock);
	return r;
}

int64_t lokt__gw_watch_last_delete(const struct lokt_gw_watch *w)
{
	return __atomic_load_n(&w->last_delete, __ATOMIC_SEQ_CST);
}

int lokt__gw_watch_consume(struct lokt_gw_watch *w)
{
	uint64_t n = 0;

	if (read(w->efd, &n, sizeof(n)) < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n > 0;
}

void lokt__gw_watch_stop(struct lokt_gw_watch *w)
{
	if (w && w->started)
		lokt__gw_stream_stop(&w->st);
}

void lokt__gw_watch_close(struct lokt_gw_watch *w)
{
	if (!w)
		return;
	if (w->started) {
		lokt__gw_stream_stop(&w->st);
		pthread_join(w->thread, NULL);
	}
	lokt__gw_stream_free(&w->st);
	if (w->efd >= 0)
		close(w->efd);
	free(w->key);
	free(w->range_end);
	free(w->line);
	free(w->want);
	free(w->found_value);
	free(w->keep_want);
	free(w->kept.key);
	free(w->kept.value);
	pthread_mutex_destroy(&w->keep_lock);
	free(w);
}
