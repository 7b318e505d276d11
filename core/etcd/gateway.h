/* SPDX-License-Identifier: MIT */
/*
 * Private to the etcd backend: requests to etcd v3's JSON gateway
 * (POST /v3/kv/txn, /v3/lease/grant, ...) over libcurl, with fail-over
 * between the endpoints of one cluster, TLS, and user/password tokens.
 *
 * What the caller may assume of lokt__gw_call:
 *   0        the request was applied (or answered) by a member that had a
 *            leader; *ret holds its JSON answer.
 *   -ETIMEDOUT  ambiguous: the request may or may not have been applied (a
 *            member went away or gave up after it was sent, during a leader
 *            change, say). A transition must re-read and look for its own
 *            lock_id before it decides anything.
 *   -EHOSTUNREACH  no endpoint could be reached, or none had a leader:
 *            nothing was applied.
 *   -LOKT_E_LOGIN  the login was refused (a wrong user or password).
 *   -LOKT_E_DENIED  the user may not do this (its role's permissions).
 *   other -errno  the cluster refused the request (EINVAL: bad request,
 *            ENOENT: lease not found, ENOSPC: quota, E2BIG: request too
 *            large, EIO: anything else).
 * Idempotent requests (reads, keepalives) are retried on the next endpoint
 * where an ambiguous failure leaves nothing to doubt.
 */
#ifndef LOKT_ETCD_GATEWAY_H
#define LOKT_ETCD_GATEWAY_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lokt_gw;

struct lokt_gw_opts {
	const char *const *endpoints; /* "HOST:PORT", n_endpoints of them */
	size_t n_endpoints;
	const char *cacert; /* PEM file: use https and verify the members */
	const char *cert, *key; /* client certificate and key (PEM) */
	const char *user, *password; /* etcd authentication, or NULL */
	/* Where password came from, read again when a login is refused
	 * (the password changed meanwhile), or NULL. */
	const char *password_file;
	int64_t timeout_ms; /* one request, one endpoint; 0: 8000 */
};

int lokt__gw_open(const struct lokt_gw_opts *o, struct lokt_gw **ret);
void lokt__gw_close(struct lokt_gw *g); /* NULL is fine */

/* Why the last request that failed failed ("ENDPOINT: curl's words",
 * e.g. a TLS certificate refused), into buf; "" when none did. */
const char *lokt__gw_last_error(struct lokt_gw *g, char *buf, size_t size);

/* pthread_create for a thread of liblokt's own, with every signal
 * blocked in it: a signal meant for the caller (guard's SIGCHLD, read
 * from a signalfd) must never be taken, and lost, by one of ours.
 * 0 or -errno. */
int lokt__thread_start(pthread_t *th, void *(*fn)(void *), void *arg);

/* No request of this thread waits past mono_ms (CLOCK_MONOTONIC ms; 0:
 * none): a request that would is not sent, or given up, as if no member
 * answered. Other threads' requests are not affected. */
void lokt__gw_set_deadline(struct lokt_gw *g, int64_t mono_ms);

/* This thread's deadline moved to at least ms from now, if it has one
 * that is sooner (to resolve a write the deadline cut short, which must
 * not be left unknown): the deadline before, for lokt__gw_set_deadline
 * to put back; 0 when it had none. */
int64_t lokt__gw_grace(struct lokt_gw *g, int64_t ms);

/* This thread given a deadline one request's timeout from now, if it has
 * none (so that resolving a cut write costs one request's time at most,
 * not one per request it makes): true when it set one, to be cleared with
 * lokt__gw_set_deadline(g, 0). */
bool lokt__gw_bound(struct lokt_gw *g);

/* IDEMPOTENT: sent again as it is, to the next member when one fails us
 * after it was sent, to the same one after a timeout that fell due while
 * this process was not running (gateway.c, LATE). RESEND: the same, for
 * a request that is safe to send twice though not idempotent (a lease
 * grant: a lease granted by a member that failed us expires unused); a
 * failure of every member is still -ETIMEDOUT for it. */
enum { LOKT_GW_IDEMPOTENT = 1 << 0, LOKT_GW_RESEND = 1 << 1 };

/* POST req (a JSON object, not consumed) to path ("/v3/kv/range"); the
 * answer in *ret (json_object_put it). See the top of this file. */
int lokt__gw_call(struct lokt_gw *g, const char *path,
		  struct json_object *req, unsigned flags,
		  struct json_object **ret);

/* A streaming request (a watch): its answer arrives in pieces for as long
 * as the member keeps it open. One stream runs in one thread at a time;
 * lokt__gw_stream_stop may be called from any thread. */
struct lokt_gw_stream {
	void *multi; /* CURLM, for a prompt wake-up */
	volatile int stop; /* atomically set by lokt__gw_stream_stop */
};

int lokt__gw_stream_init(struct lokt_gw_stream *st);
void lokt__gw_stream_stop(struct lokt_gw_stream *st);
void lokt__gw_stream_free(struct lokt_gw_stream *st);

/* POST body to path on the current endpoint (the next ones when nothing
 * could be sent), and feed each piece of the answer to on_data (which
 * returns false to end the stream) until the member ends it or the stream
 * is stopped. 0 when stopped (or ended by on_data), -EPIPE when the member
 * ended it or the connection broke, -EHOSTUNREACH when nobody answered. */
int lokt__gw_stream_run(struct lokt_gw *g, struct lokt_gw_stream *st,
			const char *path, const char *body,
			bool (*on_data)(const char *p, size_t n, void *ud),
			void *ud);

/* The endpoint that answered the last call, "HOST:PORT" (for doctor). */
const char *lokt__gw_endpoint(struct lokt_gw *g, char *buf, size_t size);

/* Base64 (RFC 4648, padded), as the gateway carries keys and values.
 * Malloc'd and NUL-terminated; decode refuses anything not canonical. */
int lokt__b64_encode(const void *data, size_t len, char **ret);
int lokt__b64_decode(const char *s, char **ret, size_t *ret_len);

/* A 64-bit number as the gateway writes it (a JSON string of digits, or
 * an integer); absent or malformed: def. */
int64_t lokt__gw_int(struct json_object *o, const char *key, int64_t def);

#endif /* LOKT_ETCD_GATEWAY_H */
