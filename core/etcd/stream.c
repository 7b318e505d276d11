// SPDX-License-Identifier: MIT
/*
 * Streaming requests to etcd's gateway (a watch): one transfer driven by
 * a curl multi handle, so that another thread can end it at once with
 * curl_multi_wakeup instead of waiting for the next progress tick. Which
 * endpoint is tried first, and the token, are the gateway's (gateway.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "gateway-internal.h"

int lokt__gw_stream_init(struct lokt_gw_stream *st)
{
	if (lokt__gw_global_init() < 0)
		return -ENOMEM;
	st->stop = 0;
	st->multi = curl_multi_init();
	return st->multi ? 0 : -ENOMEM;
}

void lokt__gw_stream_stop(struct lokt_gw_stream *st)
{
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	if (st->multi)
		curl_multi_wakeup(st->multi);
}

void lokt__gw_stream_free(struct lokt_gw_stream *st)
{
	if (st->multi)
		curl_multi_cleanup(st->multi);
	st->multi = NULL;
}

static bool stopped(struct lokt_gw_stream *st)
{
	return __atomic_load_n(&st->stop, __ATOMIC_SEQ_CST);
}

struct feed {
	bool (*on_data)(const char *p, size_t n, void *ud);
	void *ud;
	bool ended; /* on_data said so */
	bool got; /* anything arrived */
};

static size_t on_piece(char *p, size_t size, size_t n, void *ud)
{
	struct feed *f = ud;

	f->got = true;
	if (!f->on_data(p, size * n, f->ud)) {
		f->ended = true;
		return 0;
	}
	return size * n;
}

/* Drive one transfer to its end, or until stopped. */
static CURLcode stream_once(struct lokt_gw_stream *st, CURL *c)
{
	CURLcode rc = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(st->multi, c) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running && !stopped(st)) {
		if (curl_multi_perform(st->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(st->multi, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(st->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			rc = msg->data.result;
	curl_multi_remove_handle(st->multi, c);
	return rc;
}

int lokt__gw_stream_run(struct lokt_gw *g, struct lokt_gw_stream *st,
			const char *path, const char *body,
			bool (*on_data)(const char *p, size_t n, void *ud),
			void *ud)
{
	struct feed f = { .on_data = on_data, .ud = ud };
	struct curl_slist *hdr = NULL;
	size_t start, ep, i;
	CURLcode rc;
	char *tok;
	CURL *c;
	int r;

	lokt__gw_after_fork(g);
	pthread_mutex_lock(&g->lock);
	start = g->current;
	pthread_mutex_unlock(&g->lock);
	for (i = 0; i < g->n && !stopped(st); i++) {
		ep = (start + i) % g->n;
		r = lokt__gw_token(g, ep, false, &tok);
		if (r == -EHOSTUNREACH)
			continue;
		if (r < 0)
			return r;
		c = lokt__gw_request(g, ep, path, body, tok, &hdr);
		lokt__gw_token_free(tok);
		if (!c)
			return -ENOMEM;
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_piece);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
		/* A quiet watch is not a dead one; TCP keepalive finds a
		 * member that went away without a word. */
		curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 5L);
		/* A connection of its own: a stream holds its connection as
		 * long as it runs, and taking the idle one of the shared
		 * cache would make the process's next request (a waiter's
		 * acquisition, a guard's release) connect anew, on the path
		 * a handoff waits for (docs/performance.md). */
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		rc = stream_once(st, c);
		curl_easy_cleanup(c);
		curl_slist_free_all(hdr);
		if (stopped(st) || f.ended)
			return 0;
		if (lokt__gw_classify(rc) == GW_NOT_SENT && !f.got)
			continue;
		return -EPIPE;
	}
	if (stopped(st))
		return 0;
	pthread_mutex_lock(&g->lock);
	if (g->current == start)
		g->current = (start + 1) % g->n;
	pthread_mutex_unlock(&g->lock);
	return -EHOSTUNREACH;
}

