// SPDX-License-Identifier: MIT
/*
 * Requests to etcd v3's JSON gateway: one POST per call through libcurl,
 * the answer parsed with json-c, fail-over between the cluster's endpoints,
 * TLS and authentication tokens. The contract is in gateway.h.
 *
 * THREADS. A struct lokt_gw is shared by the threads of a server (the
 * mount's FUSE workers). Each call uses an easy handle of its own; the
 * connection cache is shared (a CURLSH, one mutex per kind of data it
 * shares: libcurl may hold one while it takes another) so a busy
 * server keeps a few connections open instead of one per request. The
 * current endpoint and the token are read and written under g->lock.
 *
 * FAIL-OVER. Calls start at the endpoint that answered last. A member that
 * cannot be reached, or has no leader, applied nothing: the next one is
 * tried. A failure after the request was sent (a timeout, a connection
 * reset, "request timed out" during a leader change) is ambiguous for a
 * write: it is returned as -ETIMEDOUT for the transition to resolve by
 * reading; an idempotent request, and a lease grant (gateway.h,
 * LOKT_GW_RESEND), is simply tried on the next member.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gateway-internal.h"
#include "lokt.h"

#define DEFAULT_TIMEOUT_MS 8000
#define CONNECT_TIMEOUT_MS 2000
#define ANSWER_MAX (8 << 20) /* bytes: a range of 100k records fits */

/*
 * LATE. curl counts a request's timeout on the clock, and the clock runs
 * on while the process is stopped (SIGSTOP, a shell's ^Z) or not
 * scheduled. A request sent just before such a stop finds, when the
 * process runs again, its time gone and the answer unread in its socket:
 * the cluster did answer, and reporting that it did not (a waiting guard
 * exits 1) would be wrong. So a timeout noticed more than LATE_MS after
 * it fell due (the transfer took longer than its timeout by that much)
 * says the process was not running when it fell due, not that the
 * member was silent: an idempotent request is sent again to the same
 * member (so is a lease grant: LOKT_GW_RESEND), up to LATE_TRIES times
 * in one call, each with LATE_MS at most past the caller's deadline,
 * which may have gone by while the process was stopped. A write
 * stays ambiguous (-ETIMEDOUT), and the transition resolves it by
 * reading, which is idempotent.
 */
#define LATE_MS 1000
#define LATE_TRIES 3


static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int lokt__gw_global_init(void)
{
	pthread_once(&global_once, global_init);
	return global_rc == CURLE_OK ? 0 : -ENOMEM;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a,
		       void *ud)
{
	pthread_mutex_lock(&((struct lokt_gw *)ud)->share_lock[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ud)
{
	pthread_mutex_unlock(&((struct lokt_gw *)ud)->share_lock[d]);
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s || !*s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

/* The connections, DNS answers and TLS sessions g's requests share. */
static CURLSH *new_share(struct lokt_gw *g)
{
	CURLSH *sh = curl_share_init();

	if (!sh)
		return NULL;
	curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(sh, CURLSHOPT_USERDATA, g);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return sh;
}

/* Shares a child of fork() inherited: never used, never closed, and kept
 * here so that they stay reachable for leak checkers. */
static CURLSH *forsaken[16];
static size_t n_forsaken;
static pthread_mutex_t forsaken_lock = PTHREAD_MUTEX_INITIALIZER;

static void forsake(CURLSH *sh)
{
	pthread_mutex_lock(&forsaken_lock);
	if (n_forsaken < sizeof(forsaken) / sizeof(forsaken[0]))
		forsaken[n_forsaken++] = sh;
	pthread_mutex_unlock(&forsaken_lock);
}

void lokt__gw_after_fork(struct lokt_gw *g)
{
	CURLSH *sh;

	if (g->pid == getpid())
		return;
	/* A child of fork() (guard's watchdog): the connections it
	 * inherited are the parent's sockets, and a thread of the parent
	 * may have held a mutex. Fresh mutexes and a fresh share; the old
	 * share is left alone, since closing it could end the parent's TLS
	 * sessions. */
	pthread_mutex_init(&g->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&g->share_lock[i], NULL);
	sh = new_share(g);
	if (sh) {
		forsake(g->share);
		g->share = sh;
	}
	g->pid = getpid();
}

int lokt__gw_open(const struct lokt_gw_opts *o, struct lokt_gw **ret)
{
	struct lokt_gw *g;
	int r = 0;

	if (!o || !o->n_endpoints)
		return -EINVAL;
	if (lokt__gw_global_init() < 0)
		return -ENOMEM;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	pthread_mutex_init(&g->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&g->share_lock[i], NULL);
	g->urls = calloc(o->n_endpoints, sizeof(*g->urls));
	if (!g->urls) {
		r = -ENOMEM;
		goto err;
	}
	for (; g->n < o->n_endpoints; g->n++)
		if (asprintf(&g->urls[g->n], "%s://%s",
			     o->cacert ? "https" : "http",
			     o->endpoints[g->n]) < 0) {
			g->urls[g->n] = NULL;
			r = -ENOMEM;
			goto err;
		}
	r = r ?: dup_opt(o->cacert, &g->cacert);
	r = r ?: dup_opt(o->cert, &g->cert);
	r = r ?: dup_opt(o->key, &g->key);
	r = r ?: dup_opt(o->user, &g->user);
	r = r ?: dup_opt(o->password, &g->password);
	r = r ?: dup_opt(o->password_file, &g->password_file);
	if (r < 0)
		goto err;
	g->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	g->share = new_share(g);
	if (!g->share) {
		r = -ENOMEM;
		goto err;
	}
	g->pid = getpid();
	*ret = g;
	return 0;
err:
	lokt__gw_close(g);
	return r;
}

void lokt__gw_close(struct lokt_gw *g)
{
	if (!g)
		return;
	if (g->share)
		curl_share_cleanup(g->share);
	for (size_t i = 0; i < g->n; i++)
		free(g->urls[i]);
	free(g->urls);
	free(g->cacert);
	free(g->cert);
	free(g->key);
	free(g->user);
	if (g->password) /* not left in freed memory */
		explicit_bzero(g->password, strlen(g->password));
	free(g->password);
	free(g->password_file);
	if (g->token)
		explicit_bzero(g->token, strlen(g->token));
	free(g->token);
	pthread_mutex_destroy(&g->lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&g->share_lock[i]);
	free(g);
}

/* ---- one POST -------------------------------------------------------- */

struct answer {
	char *buf;
	size_t len;
	bool too_big;
	bool late; /* timed out while this process was not running */
};

static size_t on_answer(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	size_t add = size * n;
	char *nb;

	if (a->len + add > ANSWER_MAX) {
		a->too_big = true;
		return 0; /* aborts the transfer */
	}
	nb = realloc(a->buf, a->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + a->len, p, add);
	a->buf = nb;
	a->len += add;
	a->buf[a->len] = '\0';
	return add;
}


enum lokt_gw_attempt lokt__gw_classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return GW_ANSWERED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return GW_NOT_SENT;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_FAILED_INIT:
		return GW_LOCAL_ERROR;
	default:
		return GW_AMBIGUOUS;
	}
}

/* An easy handle for one request to endpoint ep (headers in *ret_hdr, to
 * free after the transfer), NULL when out of memory. */
CURL *lokt__gw_request(struct lokt_gw *g, size_t ep, const char *path,
			 const char *body, const char *token,
			 struct curl_slist **ret_hdr)
{
	struct curl_slist *hdr = NULL, *h;
	char *auth = NULL, *url = NULL;
	CURL *c;

	c = curl_easy_init();
	if (!c || asprintf(&url, "%s%s", g->urls[ep], path) < 0) {
		curl_easy_cleanup(c);
		return NULL;
	}
	h = curl_slist_append(hdr, "Content-Type: application/json");
	if (h)
		hdr = h;
	if (token && asprintf(&auth, "Authorization: %s", token) >= 0) {
		h = curl_slist_append(hdr, auth);
		if (h)
			hdr = h;
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url); /* libcurl copies it */
	free(url);
	curl_easy_setopt(c, CURLOPT_SHARE, g->share);
	curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (g->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, g->cacert);
	if (g->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, g->cert);
	if (g->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, g->key);
	*ret_hdr = hdr;
	return c;
}

static int64_t now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The deadline of this thread's requests (lokt__gw_set_deadline): one
 * thread's (the loktfs keeper's) never cuts another's short. */
static __thread struct {
	struct lokt_gw *g;
	int64_t ms;
} deadline_of;

static enum lokt_gw_attempt post(struct lokt_gw *g, size_t ep, const char *path,
			 const char *body, const char *token, long *status,
			 struct answer *a)
{
	struct curl_slist *hdr = NULL;
	CURLcode rc;
	CURL *c;

	int64_t timeout = g->timeout_ms,
		deadline = deadline_of.g == g ? deadline_of.ms : 0, sent;

	if (deadline) {
		deadline -= now_ms();
		if (deadline <= 0)
			return GW_NOT_SENT; /* too late to ask */
		if (deadline < timeout)
			timeout = deadline;
	}
	char why[CURL_ERROR_SIZE] = "";

	c = lokt__gw_request(g, ep, path, body, token, &hdr);
	if (!c)
		return GW_LOCAL_ERROR;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, why);
	sent = now_ms();
	rc = curl_easy_perform(c);
	/* See LATE above. */
	a->late = rc == CURLE_OPERATION_TIMEDOUT &&
		  now_ms() - sent > timeout + LATE_MS;
	/* What went wrong first since the last answer, for doctor: "no
	 * route" says less than "SSL certificate problem: ..." */
	pthread_mutex_lock(&g->lock);
	if (rc == CURLE_OK)
		g->last_error[0] = 0;
	else if (!g->last_error[0])
		snprintf(g->last_error, sizeof(g->last_error), "%s: %s",
			 strstr(g->urls[ep], "://") ?
				 strstr(g->urls[ep], "://") + 3 :
				 g->urls[ep],
			 *why ? why : curl_easy_strerror(rc));
	pthread_mutex_unlock(&g->lock);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	if (a->too_big)
		return GW_LOCAL_ERROR;
	return lokt__gw_classify(rc);
}

/* ---- errors of the gateway -------------------------------------------- */

/* The error object of an answer: unary {"error","code"}, stream
 * {"error":{...}} nested under "result" in some versions. */
static struct json_object *error_of(struct json_object *o)
{
	struct json_object *e;

	if (json_object_object_get_ex(o, "error", &e) &&
	    json_object_get_type(e) == json_type_object)
		return e;
	if (json_object_object_get_ex(o, "code", &e))
		return o;
	return NULL;
}

static const char *message_of(struct json_object *e)
{
	struct json_object *m;

	if ((json_object_object_get_ex(e, "message", &m) ||
	     json_object_object_get_ex(e, "error", &m)) &&
	    json_object_get_type(m) == json_type_string)
		return json_object_get_string(m);
	return "";
}

/* gRPC status codes, as etcd's gateway reports them. */
enum { G_INVALID = 3, G_DEADLINE = 4, G_NOT_FOUND = 5, G_DENIED = 7,
       G_EXHAUSTED = 8, G_OUT_OF_RANGE = 11, G_UNAVAILABLE = 14,
       G_UNAUTHENTICATED = 16 };

enum verdict { V_ERRNO, V_RETRY_NEXT, V_GW_AMBIGUOUS, V_REAUTH,
	       V_LATE /* ambiguous, and timed out late (LATE above) */ };

static enum verdict judge_error(struct json_object *e, int *ret_errno)
{
	const char *msg = message_of(e);
	int code = (int)lokt__gw_int(e, "code", 2);

	*ret_errno = -EIO;
	switch (code) {
	case G_UNAVAILABLE:
		/* "no leader" is said before anything is proposed. */
		if (strstr(msg, "no leader"))
			return V_RETRY_NEXT;
		return V_GW_AMBIGUOUS;
	case G_DEADLINE:
		return V_GW_AMBIGUOUS;
	case G_UNAUTHENTICATED:
		return V_REAUTH;
	case G_INVALID:
		/* etcd says "invalid auth token" with this code too, and
		 * "revision of auth store is old" for a token made before a
		 * change of users or roles (every JWT token until it
		 * lapses): a fresh token is asked for, and the request sent
		 * again (it was refused before it was applied). */
		if (strstr(msg, "auth token") ||
		    strstr(msg, "revision of auth store is old"))
			return V_REAUTH;
		/* With auth on: no token, or a wrong user or password. */
		if (strstr(msg, "user name is empty") ||
		    strstr(msg, "authentication failed")) {
			*ret_errno = -LOKT_E_LOGIN;
			return V_ERRNO;
		}
		*ret_errno = strstr(msg, "too large") ? -E2BIG : -EINVAL;
		return V_ERRNO;
	case G_NOT_FOUND:
		*ret_errno = -ENOENT;
		return V_ERRNO;
	case G_OUT_OF_RANGE:
		/* A read at a revision compacted away (kv.h: -ERANGE). */
		if (strstr(msg, "compacted"))
			*ret_errno = -ERANGE;
		return V_ERRNO;
	case G_DENIED:
		*ret_errno = -LOKT_E_DENIED;
		return V_ERRNO;
	case G_EXHAUSTED:
		*ret_errno = strstr(msg, "too large") ? -E2BIG : -ENOSPC;
		return V_ERRNO;
	}
	return V_ERRNO;
}

/* ---- authentication --------------------------------------------------- */

static int authenticate(struct lokt_gw *g, size_t ep, char **ret_token);

static int parse_answer(const struct answer *a, struct json_object **ret)
{
	struct json_object *o;

	if (!a->buf)
		return -EPROTO;
	o = json_tokener_parse(a->buf);
	if (!o || json_object_get_type(o) != json_type_object) {
		json_object_put(o);
		return -EPROTO;
	}
	*ret = o;
	return 0;
}

/* One request on endpoint ep: 0 and *ret, or a verdict and errno. */
static enum verdict try_one(struct lokt_gw *g, size_t ep, const char *path,
			    const char *body, const char *token,
			    struct json_object **ret, int *ret_errno)
{
	struct answer a = { 0 };
	struct json_object *o = NULL, *e;
	enum verdict v = V_ERRNO;
	enum lokt_gw_attempt at;
	long status = 0;

	*ret_errno = 0;
	at = post(g, ep, path, body, token, &status, &a);
	if (at == GW_NOT_SENT) {
		v = V_RETRY_NEXT;
	} else if (at == GW_AMBIGUOUS) {
		v = a.late ? V_LATE : V_GW_AMBIGUOUS;
	} else if (at == GW_LOCAL_ERROR) {
		*ret_errno = a.too_big ? -E2BIG : -EIO;
	} else if (parse_answer(&a, &o) < 0) {
		/* A proxy's error page, or a member shutting down. */
		v = status >= 500 ? V_GW_AMBIGUOUS : V_ERRNO;
		*ret_errno = -EPROTO;
	} else if ((e = error_of(o)) != NULL || status != 200) {
		if (e)
			v = judge_error(e, ret_errno);
		else
			v = status == 401 ? V_REAUTH : V_GW_AMBIGUOUS;
		json_object_put(o);
	} else {
		*ret = o;
	}
	free(a.buf);
	return v;
}

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* A login refused: is the password file saying something else now (the
 * password changed with `etcdctl user passwd` and the file rewritten)?
 * Then that is the password from now on. */
static bool password_again(struct lokt_gw *g)
{
	char why[256], *now = NULL;
	bool changed = false;

	if (!g->password_file ||
	    lokt__etcd_password_read(g->password_file, &now, why,
				     sizeof(why)) < 0)
		return false;
	pthread_mutex_lock(&g->lock);
	if (!g->password || strcmp(now, g->password)) {
		secret_free(g->password);
		g->password = now;
		now = NULL;
		changed = true;
	}
	pthread_mutex_unlock(&g->lock);
	secret_free(now);
	return changed;
}

static int authenticate_as(struct lokt_gw *g, size_t ep, char **ret_token)
{
	struct json_object *req, *ans = NULL, *t;
	enum verdict v;
	int r;

	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "name", json_object_new_string(g->user));
	pthread_mutex_lock(&g->lock);
	json_object_object_add(req, "password",
			       json_object_new_string(g->password ?: ""));
	pthread_mutex_unlock(&g->lock);
	v = try_one(g, ep, "/v3/auth/authenticate",
		    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
		    NULL, &ans, &r);
	json_object_put(req);
	if (r == 0 && v == V_ERRNO && ans) {
		if (json_object_object_get_ex(ans, "token", &t) &&
		    json_object_get_type(t) == json_type_string)
			*ret_token = strdup(json_object_get_string(t));
		else
			r = -EPROTO;
		json_object_put(ans);
		if (r == 0 && !*ret_token)
			r = -ENOMEM;
		return r;
	}
	if (v == V_REAUTH || r == -EINVAL)
		return -LOKT_E_LOGIN; /* wrong user or password */
	return v == V_ERRNO ? r : -EHOSTUNREACH;
}

static int authenticate(struct lokt_gw *g, size_t ep, char **ret_token)
{
	int r = authenticate_as(g, ep, ret_token);

	if (r == -LOKT_E_LOGIN && password_again(g))
		r = authenticate_as(g, ep, ret_token);
	return r;
}

/* The token to send (malloc'd copy, NULL without auth); a fresh one when
 * stale is set. */
int lokt__gw_token(struct lokt_gw *g, size_t ep, bool stale, char **ret)
{
	char *tok = NULL;
	int r = 0;

	*ret = NULL;
	if (!g->user)
		return 0;
	pthread_mutex_lock(&g->lock);
	if (g->token && !stale)
		tok = strdup(g->token);
	pthread_mutex_unlock(&g->lock);
	if (!tok) {
		/* Tokens lapse after a while idle: fetched again on demand. */
		r = authenticate(g, ep, &tok);
		if (r < 0)
			return r;
		pthread_mutex_lock(&g->lock);
		free(g->token);
		g->token = strdup(tok);
		pthread_mutex_unlock(&g->lock);
	}
	*ret = tok;
	return tok ? 0 : -ENOMEM;
}

void lokt__gw_token_free(char *tok)
{
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
}

int lokt__gw_call(struct lokt_gw *g, const char *path,
		  struct json_object *req, unsigned flags,
		  struct json_object **ret)
{
	const char *body;
	bool reauthed = false, ambiguous = false;
	size_t start, ep, i;
	int late = 0;
	char *tok;
	int r = -EHOSTUNREACH, e;

	lokt__gw_after_fork(g);

	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (!body)
		return -ENOMEM;
	pthread_mutex_lock(&g->lock);
	start = g->current;
	pthread_mutex_unlock(&g->lock);
	for (i = 0; i < g->n; i++) {
		enum verdict v;

		ep = (start + i) % g->n;
		e = lokt__gw_token(g, ep, false, &tok);
		if (e == -EHOSTUNREACH)
			continue;
		if (e < 0)
			return e;
		v = try_one(g, ep, path, body, tok, ret, &e);
		while (v == V_LATE &&
		       (flags & (LOKT_GW_IDEMPOTENT | LOKT_GW_RESEND)) &&
		       late++ < LATE_TRIES) {
			/* The caller's deadline may have gone by while we
			 * were stopped: this try has LATE_MS past it. */
			int64_t before = lokt__gw_grace(g, LATE_MS);

			ambiguous = true; /* the first one was sent */
			v = try_one(g, ep, path, body, tok, ret, &e);
			if (before)
				lokt__gw_set_deadline(g, before);
		}
		if (v == V_REAUTH && !reauthed) {
			lokt__gw_token_free(tok);
			reauthed = true;
			e = lokt__gw_token(g, ep, true, &tok);
			if (e < 0)
				return e;
			v = try_one(g, ep, path, body, tok, ret, &e);
		}
		lokt__gw_token_free(tok);
		if (v == V_ERRNO || v == V_REAUTH) {
			if (e == 0 || e == -ENOENT || e == -LOKT_E_LOGIN ||
			    e == -LOKT_E_DENIED || e == -EINVAL ||
			    e == -E2BIG || e == -ENOSPC) {
				pthread_mutex_lock(&g->lock);
				g->current = ep;
				pthread_mutex_unlock(&g->lock);
			}
			/* A fresh token refused too: the login worked (not
			 * LOKT_E_LOGIN), and the user's rights were not
			 * what etcd refused (not LOKT_E_DENIED). */
			return v == V_REAUTH ? -EACCES : e;
		}
		if (v == V_GW_AMBIGUOUS || v == V_LATE) {
			ambiguous = true;
			if (!(flags & (LOKT_GW_IDEMPOTENT | LOKT_GW_RESEND)))
				break;
		}
	}
	/* The next call starts elsewhere: this member failed us. */
	pthread_mutex_lock(&g->lock);
	if (g->current == start)
		g->current = (start + 1) % g->n;
	pthread_mutex_unlock(&g->lock);
	if (ambiguous && !(flags & LOKT_GW_IDEMPOTENT))
		r = -ETIMEDOUT;
	return r;
}

int lokt__thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

const char *lokt__gw_last_error(struct lokt_gw *g, char *buf, size_t size)
{
	pthread_mutex_lock(&g->lock);
	snprintf(buf, size, "%s", g->last_error);
	pthread_mutex_unlock(&g->lock);
	return buf;
}

void lokt__gw_set_deadline(struct lokt_gw *g, int64_t mono_ms)
{
	deadline_of.g = mono_ms ? g : NULL;
	deadline_of.ms = mono_ms;
}

int64_t lokt__gw_grace(struct lokt_gw *g, int64_t ms)
{
	int64_t before = deadline_of.g == g ? deadline_of.ms : 0;

	ms += now_ms();
	if (before && before < ms)
		deadline_of.ms = ms;
	return before;
}

bool lokt__gw_bound(struct lokt_gw *g)
{
	if (deadline_of.g == g && deadline_of.ms)
		return false;
	lokt__gw_set_deadline(g, now_ms() + g->timeout_ms);
	return true;
}

const char *lokt__gw_endpoint(struct lokt_gw *g, char *buf, size_t size)
{
	const char *u;

	pthread_mutex_lock(&g->lock);
	u = g->urls[g->current];
	snprintf(buf, size, "%s", strstr(u, "://") ? strstr(u, "://") + 3 : u);
	pthread_mutex_unlock(&g->lock);
	return buf;
}
