// SPDX-License-Identifier: MIT
/*
 * Long requests that wait for a lock ("wait": true): the request's
 * connection is suspended and one thread waits in liblokt's queue for it
 * (lokt_acquire with wait: first come first served with every other
 * waiter of the store, `lokt lock --wait` included, woken by events, never
 * by polling), then resumes the connection, whose handler answers.
 *
 * DESIGN
 *
 * A thread per wait, bounded: at most loktd.max_waits at once (MAX_WAITS,
 * fewer when the open-file limit is low: main.c; further waits are
 * answered 503 with Retry-After), each with a small stack. The
 * threads that serve HTTP (libmicrohttpd's) never block on a lock, so
 * connections that wait do not hold up anyone else; thousands of idle
 * connections cost libmicrohttpd a socket each, not a thread.
 *
 * A suspended connection is not watched by libmicrohttpd, so a watcher
 * thread looks at the clients' sockets every second: a client that hung
 * up cancels its wait; one that hung up just as the lock came is
 * released at once, not left to its TTL. (Not liblokt's progress
 * callback: with one, every waiter counts the whole queue each time.) The thread resumes the connection only after the handler has
 * suspended it (both under `lock`), and the connection cannot complete
 * while suspended, so the wait outlives its thread's last use of it.
 * Shutdown cancels every wait and waits for the threads to resume their
 * connections before the daemon stops.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loktd.h"

#define WAIT_STACK (256 * 1024)

struct wait {
	struct MHD_Connection *conn;
	char name[LOKT_NAME_MAX + 1];
	struct lokt_who who;
	int64_t ttl_sec, timeout_ms, started_ms;
	unsigned slots; /* lokt_acquire_opts' */
	bool shared;
	int fd; /* the client's socket, -1 unknown */
	volatile sig_atomic_t cancel;
	acquired_fn done_fn;
	bool done;
	int r;
	struct lokt_result res;
	struct wait *next; /* in `active` */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static struct wait *active;
static atomic_size_t n_active; /* changed under lock */
static pthread_t watcher;

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool client_gone(const struct wait *w)
{
	struct pollfd p = { .fd = w->fd, .events = POLLRDHUP };

	if (w->fd < 0)
		return false;
	return poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Every second, one poll(2) over the sockets of all waiting clients:
 * a client that hung up cancels its wait (liblokt's wait wakes at least
 * once a second and sees it). */
static void *watch_thread(void *arg)
{
	struct pollfd p[MAX_WAITS];
	struct wait *of[MAX_WAITS];
	struct timespec until;
	size_t n;

	pthread_mutex_lock(&lock);
	while (!loktd.stopping) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&idle, &lock, &until);
		n = 0;
		for (struct wait *w = active; w && n < MAX_WAITS; w = w->next)
			if (w->fd >= 0) {
				p[n] = (struct pollfd){ .fd = w->fd,
							.events = POLLRDHUP };
				of[n++] = w;
			}
		if (n && poll(p, n, 0) > 0)
			for (size_t i = 0; i < n; i++)
				if (p[i].revents & (POLLRDHUP | POLLHUP |
						    POLLERR | POLLNVAL))
					of[i]->cancel = 1;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *wait_thread(void *arg)
{
	struct wait *w = arg;
	struct lokt_acquire_opts o = {
		.ttl_sec = w->ttl_sec,
		.wait = true,
		.timeout_ms = w->timeout_ms,
		.cancel = &w->cancel,
		.slots = w->slots,
		.shared = w->shared,
	};
	struct lokt_result gone;
	struct wait **pp;

	w->r = lokt_acquire(loktd.store, w->name, &w->who, &o, &w->res);
	if (w->r >= 0 && client_gone(w)) {
		/* nobody to tell: give it back now */
		(void)lokt_release(loktd.store, w->name, &w->who,
				   w->res.lock.lock_id, 0, &gone);
		w->r = -LOKT_E_CANCELED;
	}
	metrics_wait(mono_ms() - w->started_ms);
	metrics_acquire(w->r, w->res.renewed);

	pthread_mutex_lock(&lock);
	for (pp = &active; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->done = true;
	MHD_resume_connection(w->conn);
	if (--n_active == 0)
		pthread_cond_broadcast(&idle);
	pthread_mutex_unlock(&lock);
	return NULL;
}

enum MHD_Result acquire_or_wait(struct req *q, const char *name,
				const struct lokt_who *who, int64_t ttl_sec,
				int64_t wait_ms, unsigned slots, bool shared,
				acquired_fn done)
{
	struct lokt_acquire_opts o = { .ttl_sec = ttl_sec, .slots = slots,
				       .shared = shared };
	const union MHD_ConnectionInfo *ci;
	struct lokt_result res = { 0 };
	pthread_attr_t attr;
	struct wait *w;
	pthread_t t;
	int r;

	r = lokt_acquire(loktd.store, name, who, &o, &res);
	if (!wait_ms || (r != -LOKT_E_HELD && r != -LOKT_E_FROZEN)) {
		metrics_acquire(r, res.renewed);
		return done(q, name, r, &res);
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return MHD_NO;
	w->conn = q->conn;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->who = *who;
	w->ttl_sec = ttl_sec;
	w->timeout_ms = wait_ms;
	w->slots = slots;
	w->shared = shared;
	w->started_ms = mono_ms();
	w->done_fn = done;
	ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	w->fd = ci ? ci->connect_fd : -1;

	pthread_mutex_lock(&lock);
	if (loktd.stopping || n_active >= loktd.max_waits) {
		pthread_mutex_unlock(&lock);
		free(w);
		metrics_refusal(OUT_BUSY);
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
				   "%s", loktd.stopping ?
						 "loktd is shutting down" :
						 "too many requests are waiting; "
						 "retry");
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WAIT_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, wait_thread, w);
	pthread_attr_destroy(&attr);
	if (r) {
		pthread_mutex_unlock(&lock);
		free(w);
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
				   "cannot start a waiting thread; retry");
	}
	w->next = active;
	active = w;
	n_active++;
	q->wait = w;
	/* Under `lock`: the thread resumes only what is suspended. */
	MHD_suspend_connection(q->conn);
	pthread_mutex_unlock(&lock);
	return MHD_YES;
}

enum MHD_Result wait_answer(struct req *q)
{
	struct wait *w = q->wait;
	bool done;

	pthread_mutex_lock(&lock);
	done = w->done;
	pthread_mutex_unlock(&lock);
	if (!done || q->answered)
		return MHD_YES;
	return w->done_fn(q, w->name, w->r, &w->res);
}

void wait_free(struct wait *w)
{
	free(w);
}

int waits_start(void)
{
	return -pthread_create(&watcher, NULL, watch_thread, NULL);
}

void waits_stop(void)
{
	pthread_mutex_lock(&lock);
	for (struct wait *w = active; w; w = w->next)
		w->cancel = 1;
	while (n_active)
		pthread_cond_wait(&idle, &lock);
	pthread_cond_broadcast(&idle); /* the watcher sees `stopping` */
	pthread_mutex_unlock(&lock);
	pthread_join(watcher, NULL);
}

size_t waits_active(void)
{
	return n_active;
}
