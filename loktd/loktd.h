/* SPDX-License-Identifier: MIT */
/*
 * loktd, the HTTP door onto a lokt store: what its files share. main.c
 * parses the command line and runs the daemon; http.c owns the
 * libmicrohttpd glue (requests, bodies, tokens, responses); api.c our
 * /v1 API; tracker.c the Tracker-compatible /api/v1alpha1; waits.c the
 * long requests that wait for a lock; events.c the server-sent events;
 * metrics.c /metrics and /healthz; dashboard.c the page at /.
 *
 * loktd uses liblokt's public API only (lokt.h), so it serves whatever
 * store liblokt opens. Holders over HTTP have no process: every lock it
 * takes is detached (held by pid 1, judged by its TTL only), owned by the
 * token's owner, and carries a fresh agent id so that two requests never
 * re-enter each other's lock.
 */
#ifndef LOKTD_H
#define LOKTD_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lokt.h"

#define LOKTD_BODY_MAX (64 * 1024) /* bytes of a request body */
#define LOKTD_PAGE_MAX 1000 /* per_page at most */
#define LOKTD_DEFAULT_OWNER "http" /* owner without --tokens */
#define LOKTD_AGENT_PREFIX "http:" /* agent ids of loktd's holders */
/* The most bytes of Tracker's who: what an agent id
 * "http:<16 hex>:<who>" leaves of its LOKT_STR_MAX - 1 (233). */
#define WHO_MAX \
	(LOKT_STR_MAX - 1 - (int)(sizeof(LOKTD_AGENT_PREFIX) - 1) - 16 - 1)
#define MAX_WAITS 256 /* waiting requests at most (waits.c, main.c) */
#define MAX_STREAMS 256 /* event streams at most (events.c, main.c) */

struct loktd_token {
	char *token;
	char *owner;
};

struct loktd {
	struct lokt_store *store;
	const char *root;
	int64_t default_ttl_sec;
	struct loktd_token *tokens; /* NULL: no authentication */
	size_t n_tokens;
	struct MHD_Daemon *mhd;
	atomic_bool stopping;
	size_t max_waits; /* waiting requests at once (waits.c) */
	size_t max_streams; /* event streams at once (events.c) */
	bool beyond_loopback; /* listening beyond loopback (with tokens) */
};

extern struct loktd loktd;

/* One request in flight (MHD's per-request pointer). */
struct req {
	struct MHD_Connection *conn;
	const char *method, *url;
	char *body;
	size_t body_len;
	bool too_big, answered;
	bool tracker; /* a Tracker route: errors in Tracker's shape */
	size_t dropped; /* bytes of a body too large, read and dropped */
	struct wait *wait; /* a long request waiting for a lock */
	struct sse *sse; /* an event stream */
};

/* ---- http.c ------------------------------------------------------------ */

enum MHD_Result loktd_handle(void *cls, struct MHD_Connection *conn,
			     const char *url, const char *method,
			     const char *version, const char *upload,
			     size_t *upload_size, void **req_cls);
void loktd_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		     enum MHD_RequestTerminationCode toe);
int loktd_tokens_load(const char *path, struct loktd_token **ret,
		      size_t *ret_n);
void loktd_tokens_free(struct loktd_token *t, size_t n); /* NULL is fine */

/* Send doc (taken) with status; Cache-Control: no-store. */
enum MHD_Result reply_json(struct req *q, unsigned status,
			   struct json_object *doc);
enum MHD_Result reply_text(struct req *q, unsigned status, const char *type,
			   char *text /* taken */);
/* {"error": word, "message": msg, "fence": null} with status. */
enum MHD_Result reply_error(struct req *q, unsigned status, const char *word,
			    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The refusal of a transition: status from r, the error word, a message,
 * the holder in the way and its fence. */
enum MHD_Result reply_refusal(struct req *q, int r, const char *what,
			      const char *name, const struct lokt_result *res);
unsigned http_status(int r);
const char *query(struct req *q, const char *key);

/* The caller's identity: 0, or a reply was sent (401 or 400) and the
 * handler returns *ret. owner_hint: the owner the request names, used
 * only without tokens. */
int caller(struct req *q, const char *owner_hint, const char *who_tag,
	   struct lokt_who *ret_who, enum MHD_Result *ret);
/* The body as a JSON object (empty body: {}); NULL and a 400 sent. */
struct json_object *body_json(struct req *q, enum MHD_Result *ret);
/* A duration field or query value: seconds (rounded up) in *ret_sec;
 * false and a 400 sent when malformed. */
bool duration_arg(struct req *q, const char *what, const char *text,
		  int64_t *ret_ms, enum MHD_Result *ret);
bool is_loopback_listen(const char *addr);

/* ---- JSON of records (api.c) ------------------------------------------- */

struct json_object *info_json(const struct lokt_info *in);
struct json_object *record_json(const struct lokt_record *rec);
/* Tracker's "who": the part after "http:<id>:" of our agent id, else the
 * owner. */
const char *record_who(const struct lokt_record *rec, char *buf, size_t size);

/* ---- the routes -------------------------------------------------------- */

enum MHD_Result api_route(struct req *q, char **seg, size_t n);
enum MHD_Result tracker_route(struct req *q, char **seg, size_t n);
enum MHD_Result metrics_route(struct req *q);
enum MHD_Result healthz_route(struct req *q);
enum MHD_Result dashboard_route(struct req *q, bool fragment);
enum MHD_Result events_route(struct req *q);

/* ---- waits.c ----------------------------------------------------------- */

/* Acquire name for who; with wait_ms > 0 and the lock held or frozen,
 * wait (the connection is suspended) and answer when done. done(q, r,
 * res) builds the answer in both cases. */
typedef enum MHD_Result (*acquired_fn)(struct req *q, const char *name,
				       int r, const struct lokt_result *res);
enum MHD_Result acquire_or_wait(struct req *q, const char *name,
				const struct lokt_who *who, int64_t ttl_sec,
				int64_t wait_ms, unsigned slots, bool shared,
				acquired_fn done);
/* Called again on a resumed waiting request. */
enum MHD_Result wait_answer(struct req *q);
int waits_start(void);
void waits_stop(void); /* cancel every wait and wait for its end */
void wait_free(struct wait *w);
size_t waits_active(void);

/* ---- events.c ---------------------------------------------------------- */

int events_start(void);
void events_stop(void);
void sse_closed(struct sse *s);
size_t events_clients(void);

/* ---- peer.c ------------------------------------------------------------ */

/* The uid of the local user whose socket is the other end of the TCP
 * connection fd (a loopback client that still holds it): 0 or -errno. */
int loktd_peer_uid(int fd, uid_t *ret);

/* ---- metrics.c --------------------------------------------------------- */

enum outcome {
	OUT_ACQUIRED,
	OUT_RENEWED,
	OUT_HELD,
	OUT_FROZEN,
	OUT_TIMEOUT,
	OUT_NOT_OWNER,
	OUT_NOT_FOUND,
	OUT_BAD_REQUEST,
	OUT_UNAUTHORIZED,
	OUT_BUSY,
	OUT_ERROR,
	OUT_N
};
void metrics_acquire(int r, bool renewed);
void metrics_refusal(enum outcome o);
void metrics_wait(int64_t ms);

#endif /* LOKTD_H */
