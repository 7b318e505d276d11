// SPDX-License-Identifier: MIT
/*
 * GET /v1/events: server-sent events, for the dashboard and for anyone
 * who wants to follow the store.
 *
 *   event: audit    data: one audit log line (every transition, by any
 *                   door: lokt, the mount, loktd), as it is appended
 *   event: change   data: {} — the set of locks or freezes changed
 *                   without an audit line (a TTL ran out)
 *   : ping          every 15 s, so proxies keep the stream open
 *
 * DESIGN
 *
 * One thread follows the audit log (lokt_audit_follow: inotify, as tail
 * -F) and one looks at the listing every second for expiries; both append
 * to every stream's buffer. A stream is libmicrohttpd's content reader:
 * with nothing to send it suspends its connection (returning 0 would spin
 * the polling thread), and the next append resumes it. Resuming happens
 * under `lock`, and a stream leaves the list (sse_closed, from the
 * request's completion) under it too, so a closed connection is never
 * resumed. A stream that falls 1 MiB behind is ended. Reference counts:
 * the list's and the response's; the last one frees the stream.
 */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loktd.h"

#define BUF_MAX (1024 * 1024)
#define PING_S 15

struct sse {
	struct MHD_Connection *conn;
	int fd; /* its socket, looked at while suspended (hung_up) */
	unsigned char from[16]; /* the client's address (addr_of) */
	char *buf;
	size_t len, off, cap;
	bool suspended, closing;
	int refs;
	struct sse *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick = PTHREAD_COND_INITIALIZER;
static struct sse *streams;
static atomic_size_t n_streams; /* changed under lock */
static pthread_t follower, ticker;
static volatile sig_atomic_t cancel;
static bool started;

static void unref(struct sse *s)
{
	if (--s->refs == 0) {
		free(s->buf);
		free(s);
	}
}

/* Under lock. */
static void wake(struct sse *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

/* Under lock: text (n bytes) queued for s, and s woken. */
static void push(struct sse *s, const char *text, size_t n)
{
	char *nb;

	if (s->closing)
		return;
	if (s->len - s->off + n > BUF_MAX) {
		s->closing = true; /* too far behind */
	} else {
		/* What was sent goes first: a reader that never quite caught
		 * up grew the buffer by all it was ever sent. Held to BUF_MAX
		 * and this line. */
		if (s->off && s->len + n > s->cap) {
			memmove(s->buf, s->buf + s->off, s->len - s->off);
			s->len -= s->off;
			s->off = 0;
		}
		if (s->len + n > s->cap) {
			nb = realloc(s->buf, s->len + n);
			if (!nb) {
				s->closing = true;
				wake(s);
				return;
			}
			s->buf = nb;
			s->cap = s->len + n;
		}
		memcpy(s->buf + s->len, text, n);
		s->len += n;
	}
	wake(s);
}

static void broadcast(const char *text)
{
	size_t n = strlen(text);

	pthread_mutex_lock(&lock);
	for (struct sse *s = streams; s; s = s->next)
		push(s, text, n);
	pthread_mutex_unlock(&lock);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	size_t n;

	pthread_mutex_lock(&lock);
	if (s->len > s->off) {
		n = s->len - s->off < max ? s->len - s->off : max;
		memcpy(buf, s->buf + s->off, n);
		s->off += n;
		if (s->off == s->len)
			s->off = s->len = 0;
		pthread_mutex_unlock(&lock);
		return (ssize_t)n;
	}
	if (s->closing) {
		pthread_mutex_unlock(&lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	pthread_mutex_unlock(&lock);
	return 0;
}

static void reader_free(void *cls)
{
	pthread_mutex_lock(&lock);
	unref(cls);
	pthread_mutex_unlock(&lock);
}

void sse_closed(struct sse *s)
{
	struct sse **pp;

	pthread_mutex_lock(&lock);
	for (pp = &streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			n_streams--;
			unref(s);
			break;
		}
	pthread_mutex_unlock(&lock);
}

size_t events_clients(void)
{
	return n_streams;
}

/* The client's address of conn, as 16 bytes (IPv4 mapped), or zeros. */
static void addr_of(struct MHD_Connection *conn, unsigned char out[16])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(out, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12,
		       &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		       4);
	} else if (sa && sa->sa_family == AF_INET6) {
		memcpy(out,
		       &((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr,
		       16);
	}
}

/* Streams open from the address from (under lock). */
static size_t streams_from(const unsigned char from[16])
{
	size_t n = 0;

	for (const struct sse *s = streams; s; s = s->next)
		n += !memcmp(s->from, from, 16);
	return n;
}

/* The streams one address may hold beyond loopback: a quarter. */
static size_t per_address(void)
{
	return loktd.max_streams / 4 ? loktd.max_streams / 4 : 1;
}

enum MHD_Result events_route(struct req *q)
{
	const union MHD_ConnectionInfo *ci;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned char from[16];
	struct sse *s;
	bool full, mine = false;

	if (loktd.stopping)
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping",
				   "loktd is shutting down");
	if (!strcmp(q->method, "HEAD")) {
		/* What a GET would answer, without a stream (or its place). */
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "Content-Type",
					"text/event-stream");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		ret = MHD_queue_response(q->conn, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
		q->answered = true;
		return ret;
	}
	/* A stream needs no token and stays open as long as its reader
	 * likes (libmicrohttpd's idle timeout does not apply to a suspended
	 * connection): bounded, so that readers cannot take every
	 * connection loktd has; and beyond loopback, a quarter of them from
	 * one address, so that one reader cannot take every dashboard's. */
	addr_of(q->conn, from);
	pthread_mutex_lock(&lock);
	full = n_streams >= loktd.max_streams;
	if (!full && loktd.beyond_loopback)
		full = mine = streams_from(from) >= per_address();
	if (!full)
		n_streams++; /* its place, taken now */
	pthread_mutex_unlock(&lock);
	if (mine) {
		metrics_refusal(OUT_BUSY);
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
				   "%zu event streams are open from this "
				   "address, as many as loktd serves one "
				   "address — close some, or retry later",
				   per_address());
	}
	if (full) {
		metrics_refusal(OUT_BUSY);
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
				   "%zu event streams are open, as many as "
				   "loktd serves at once — retry later",
				   loktd.max_streams);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto fail;
	s->conn = q->conn;
	ci = MHD_get_connection_info(q->conn,
				     MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = ci ? ci->connect_fd : -1;
	memcpy(s->from, from, sizeof(from));
	s->refs = 2;
	s->buf = strdup(": loktd events\nretry: 1000\n\n");
	s->len = s->cap = s->buf ? strlen(s->buf) : 0;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader,
						 s, reader_free);
	if (!resp) {
		free(s->buf);
		free(s);
		goto fail;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	pthread_mutex_lock(&lock);
	s->next = streams;
	streams = s;
	q->sse = s;
	pthread_mutex_unlock(&lock);
	ret = MHD_queue_response(q->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	q->answered = true;
	return ret;
fail:
	pthread_mutex_lock(&lock);
	n_streams--;
	pthread_mutex_unlock(&lock);
	return MHD_NO;
}

static int on_event(const struct lokt_event *ev, void *userdata)
{
	char *text = NULL;

	if (asprintf(&text, "event: audit\ndata: %s\n\n", ev->line) >= 0)
		broadcast(text);
	free(text);
	return cancel;
}

static void *follow_thread(void *arg)
{
	struct lokt_audit_filter f = { 0 };

	clock_gettime(CLOCK_REALTIME, &f.since); /* no history */
	while (!cancel) {
		(void)lokt_audit_follow(loktd.store, &f, on_event, NULL,
					&cancel);
		if (!cancel) { /* no log yet, or an error: try again soon */
			struct timespec t = { 1, 0 };

			nanosleep(&t, NULL);
		}
	}
	return NULL;
}

/* A digest of who holds what, so that a lock that expired (no audit
 * line) still tells the streams. */
static uint64_t digest(void)
{
	uint64_t h = 1469598103934665603ULL;
	enum lokt_kind kinds[] = { LOKT_LOCK, LOKT_FREEZE };
	struct lokt_info *all;
	size_t n;

	for (size_t k = 0; k < 2; k++) {
		all = NULL;
		n = 0;
		if (lokt_list(loktd.store, kinds[k], &all, &n) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			const char *parts[] = { all[i].rec.name,
						all[i].rec.lock_id };

			for (size_t p = 0; p < 2; p++)
				for (const char *c = parts[p]; *c; c++)
					h = (h ^ (unsigned char)*c) *
					    1099511628211ULL;
			h = (h ^ (uint64_t)all[i].stale) * 1099511628211ULL;
		}
		h = (h ^ k) * 1099511628211ULL;
		free(all);
	}
	return h;
}

/* Under lock. A suspended stream is not watched by libmicrohttpd: one
 * whose reader hung up kept its place until the next ping (15 s), and a
 * client opening and dropping streams kept every reader out (503). Its
 * socket is looked at each second, as a waiting client's (waits.c): a
 * stream whose socket failed ends; one whose reader sent its end (which
 * a reader that only stopped writing, shutdown(SHUT_WR), does too) is
 * sent a ping, which a reader gone answers with a reset, and
 * libmicrohttpd ends it then. */
static void hung_up(void)
{
	struct pollfd *p;
	struct sse **of;
	size_t n = 0;

	if (!n_streams)
		return;
	p = calloc(n_streams, sizeof(*p));
	of = calloc(n_streams, sizeof(*of));
	for (struct sse *s = streams; p && of && s && n < n_streams;
	     s = s->next)
		if (s->suspended && !s->closing && s->fd >= 0) {
			p[n] = (struct pollfd){ .fd = s->fd,
						.events = POLLRDHUP };
			of[n++] = s;
		}
	if (n && poll(p, n, 0) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (p[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
				of[i]->closing = true;
				wake(of[i]);
			} else if (p[i].revents & POLLRDHUP) {
				push(of[i], ": ping\n\n", 8);
			}
		}
	}
	free(p);
	free(of);
}

static void *tick_thread(void *arg)
{
	uint64_t last = digest(), now;
	struct timespec until;
	int since_ping = 0;

	pthread_mutex_lock(&lock);
	while (!cancel) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&tick, &lock, &until);
		if (cancel || !n_streams)
			continue;
		hung_up();
		pthread_mutex_unlock(&lock);
		now = digest();
		/* Anything sent starts the next PING_S seconds over. */
		if (now != last) {
			broadcast("event: change\ndata: {}\n\n");
			since_ping = 0;
		} else if (++since_ping >= PING_S) {
			broadcast(": ping\n\n");
			since_ping = 0;
		}
		last = now;
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int events_start(void)
{
	int r;

	r = pthread_create(&follower, NULL, follow_thread, NULL);
	if (r)
		return -r;
	r = pthread_create(&ticker, NULL, tick_thread, NULL);
	if (r) {
		cancel = 1;
		pthread_join(follower, NULL);
		return -r;
	}
	started = true;
	return 0;
}

void events_stop(void)
{
	if (started) {
		pthread_mutex_lock(&lock);
		cancel = 1;
		pthread_cond_broadcast(&tick);
		pthread_mutex_unlock(&lock);
		pthread_join(follower, NULL);
		pthread_join(ticker, NULL);
		started = false;
	}
	pthread_mutex_lock(&lock);
	for (struct sse *s = streams; s; s = s->next) {
		s->closing = true;
		wake(s);
	}
	pthread_mutex_unlock(&lock);
}
