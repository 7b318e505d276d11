// SPDX-License-Identifier: MIT
/*
 * The HTTP side of loktd: one access handler for libmicrohttpd that reads
 * a request's body (at most LOKTD_BODY_MAX bytes, else 413: at once when
 * its length is given, after the rest is dropped when it is chunked),
 * splits the path and hands it to a route; the tokens file and the
 * caller's identity; and the helpers every route answers with (JSON with
 * Cache-Control: no-store, errors with the words of `lokt --json`).
 *
 * Authentication (with --tokens): a state-changing request needs
 * `Authorization: Bearer TOKEN`; its owner is the token's. Reading needs
 * no token. Tokens are compared in constant time (every byte of every
 * token, whatever matches) and never logged. Requests from web pages the
 * caller has open are judged by what the browser says of them
 * (from_web_page_ok), with tokens or without.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "loktd.h"

#define TOKEN_MAX 256 /* bytes; longer tokens are refused when loaded */
/* Bytes of a chunked body over LOKTD_BODY_MAX read and dropped before
 * its 413; past this the connection is closed without an answer. */
#define DROP_MAX (16 * LOKTD_BODY_MAX)

/* ---- answers ----------------------------------------------------------- */

static enum MHD_Result send_buf(struct req *q, unsigned status,
				const char *type, char *text, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE) /* busy, stopping, etcd down */
		MHD_add_response_header(resp, "Retry-After", "1");
	/* The dashboard: its own inline style and script, its own requests
	 * (/v1/dashboard, /v1/events), never framed by another page. */
	if (!strncmp(type, "text/html", 9)) {
		MHD_add_response_header(
			resp, "Content-Security-Policy",
			"default-src 'none'; script-src 'unsafe-inline'; "
			"style-src 'unsafe-inline'; connect-src 'self'; "
			"img-src 'self' data:; base-uri 'none'; "
			"form-action 'self'; frame-ancestors 'none'");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	}
	ret = MHD_queue_response(q->conn, status, resp);
	MHD_destroy_response(resp);
	q->answered = true;
	return ret;
}

enum MHD_Result reply_text(struct req *q, unsigned status, const char *type,
			   char *text)
{
	if (!text)
		return MHD_NO;
	return send_buf(q, status, type, text, strlen(text));
}

enum MHD_Result reply_json(struct req *q, unsigned status,
			   struct json_object *doc)
{
	const char *s = json_object_to_json_string_ext(
		doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *text = NULL;

	if (asprintf(&text, "%s\n", s) < 0)
		text = NULL;
	json_object_put(doc);
	return reply_text(q, status, "application/json", text);
}

enum MHD_Result reply_error(struct req *q, unsigned status, const char *word,
			    const char *fmt, ...)
{
	struct json_object *doc = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (q->tracker) { /* Tracker's shape: {"success": false, "error"} */
		json_object_object_add(doc, "success",
				       json_object_new_boolean(0));
		json_object_object_add(doc, "error",
				       json_object_new_string(msg));
		return reply_json(q, status, doc);
	}
	json_object_object_add(doc, "error", json_object_new_string(word));
	json_object_object_add(doc, "message", json_object_new_string(msg));
	json_object_object_add(doc, "fence", NULL);
	return reply_json(q, status, doc);
}

unsigned http_status(int r)
{
	switch (-r) {
	case LOKT_E_HELD:
	case LOKT_E_FROZEN:
	case LOKT_E_TIMEOUT:
	case LOKT_E_FUTURE_VERSION:
	case LOKT_E_CORRUPT:
	case LOKT_E_FOREIGN:
	case LOKT_E_MODE:
		return MHD_HTTP_CONFLICT;
	case LOKT_E_NOT_FOUND:
	case LOKT_E_LOST:
		return MHD_HTTP_NOT_FOUND;
	case LOKT_E_NOT_OWNER:
		return MHD_HTTP_FORBIDDEN;
	case LOKT_E_BAD_NAME:
	case EINVAL:
	case ERANGE:
		return MHD_HTTP_BAD_REQUEST;
	case ENOTSUP: /* slots on a store that has none */
		return MHD_HTTP_NOT_IMPLEMENTED;
	case LOKT_E_CANCELED:
	case EAGAIN:
	case LOKT_E_UNAVAILABLE: /* the etcd cluster: try again */
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static void refusal_message(int r, const char *what, const char *name,
			    const struct lokt_result *res, char *msg,
			    size_t size)
{
	const struct lokt_record *o = &res->other.rec;

	switch (-r) {
	case LOKT_E_HELD:
		if (res->have_other)
			snprintf(msg, size,
				 "\"%s\" is held by %s@%s (fence %llu) — wait "
				 "with \"wait\": true, or see GET "
				 "/v1/locks/%s/why",
				 name, o->owner, o->host,
				 (unsigned long long)o->fence, name);
		else
			snprintf(msg, size,
				 "%zu waiter(s) are queued ahead for lock "
				 "\"%s\" — wait with \"wait\": true",
				 res->waiters_ahead, name);
		break;
	case LOKT_E_MODE:
		snprintf(msg, size,
			 "lock \"%s\" is held in another mode (%s) — ask "
			 "in that mode",
			 name, !res->have_other ? "exclusively" :
			       res->other.slots ? "a semaphore: see its slots" :
			       res->other.shared ? "shared" : "exclusively");
		break;
	case LOKT_E_FROZEN:
		if (!strcmp(what, "freeze")) {
			snprintf(msg, size,
				 "\"%s\" is already frozen by %s@%s — only "
				 "its owner can extend or lift it, or wait "
				 "until it expires",
				 name, o->owner, o->host);
			break;
		}
		snprintf(msg, size,
			 "lock \"%s\" is frozen by %s@%s — wait, or lift it "
			 "with DELETE /v1/freezes/%s",
			 name, o->owner, o->host, name);
		break;
	case LOKT_E_TIMEOUT:
		snprintf(msg, size,
			 "timed out waiting for lock \"%s\"%s%s%s%s — try a "
			 "longer timeout",
			 name,
			 !res->have_other      ? "" :
			 res->other.freeze     ? ", still frozen by " :
						 ", still held by ",
			 res->have_other ? o->owner : "",
			 res->have_other ? "@" : "",
			 res->have_other ? o->host : "");
		break;
	case LOKT_E_NOT_OWNER:
		/* Its uid too: a local caller of another user is refused
		 * whatever owner it names (loktd(8), HOLDERS AND OWNERS). */
		if (res->have_other && o->uid >= 0)
			snprintf(msg, size,
				 "\"%s\" belongs to %s (uid %lld), not to you "
				 "— %s refused",
				 name, o->owner, (long long)o->uid, what);
		else
			snprintf(msg, size,
				 "\"%s\" belongs to %s, not to you — %s "
				 "refused",
				 name,
				 res->have_other ? o->owner : "another owner",
				 what);
		break;
	case LOKT_E_NOT_FOUND:
		snprintf(msg, size, "\"%s\" is not %s — nothing to %s", name,
			 !strcmp(what, "unfreeze") ? "frozen" : "held", what);
		break;
	case LOKT_E_LOST:
		snprintf(msg, size,
			 "that acquisition of \"%s\" is gone (released, "
			 "expired or broken)",
			 name);
		break;
	case LOKT_E_BAD_NAME:
		snprintf(msg, size, "bad lock name \"%s\": %s", name,
			 lokt_name_rule());
		break;
	default:
		snprintf(msg, size, "cannot %s \"%s\": %s", what, name,
			 lokt_strerror(r));
		break;
	}
}

enum MHD_Result reply_refusal(struct req *q, int r, const char *what,
			      const char *name, const struct lokt_result *res)
{
	struct json_object *doc = json_object_new_object();
	char msg[1500];

	refusal_message(r, what, name, res, msg, sizeof(msg));
	if (q->tracker) { /* Tracker's shape: {"success": false, "error"} */
		json_object_object_add(doc, "success",
				       json_object_new_boolean(0));
		json_object_object_add(doc, "error",
				       json_object_new_string(msg));
		return reply_json(q, http_status(r), doc);
	}
	json_object_object_add(doc, "error",
			       json_object_new_string(lokt_error_word(r)));
	json_object_object_add(doc, "message", json_object_new_string(msg));
	json_object_object_add(doc, "name", json_object_new_string(name));
	if (res->have_other) {
		/* The record in the way: a holder's, or the name's freeze. */
		json_object_object_add(doc,
				       res->other.freeze ? "freeze" : "holder",
				       info_json(&res->other));
		json_object_object_add(
			doc, "fence",
			res->other.rec.fence ?
				json_object_new_uint64(res->other.rec.fence) :
				NULL);
	} else {
		json_object_object_add(doc, "fence", NULL);
	}
	if (-r == LOKT_E_HELD && !res->have_other)
		json_object_object_add(
			doc, "waiters_ahead",
			json_object_new_int64((int64_t)res->waiters_ahead));
	return reply_json(q, http_status(r), doc);
}

/* ---- requests ---------------------------------------------------------- */

const char *query(struct req *q, const char *key)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND,
					   key);
}

struct json_object *body_json(struct req *q, enum MHD_Result *ret)
{
	struct json_tokener *tok;
	struct json_object *doc;
	size_t i;

	for (i = 0; i < q->body_len && isspace((unsigned char)q->body[i]); i++)
		;
	if (i == q->body_len)
		return json_object_new_object();
	tok = json_tokener_new();
	/* Text that is not UTF-8 is malformed JSON (RFC 8259): refused
	 * here, 400, whatever field carries it. */
	if (tok)
		json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	doc = json_tokener_parse_ex(tok, q->body, (int)q->body_len);
	if (doc && json_tokener_get_parse_end(tok) < q->body_len) {
		/* trailing bytes after the document: only blanks allowed */
		for (i = json_tokener_get_parse_end(tok); i < q->body_len; i++)
			if (!isspace((unsigned char)q->body[i]))
				break;
		if (i < q->body_len) {
			json_object_put(doc);
			doc = NULL;
		}
	}
	json_tokener_free(tok);
	if (!doc || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		metrics_refusal(OUT_BAD_REQUEST);
		*ret = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "the body is not a JSON object");
		return NULL;
	}
	return doc;
}

bool duration_arg(struct req *q, const char *what, const char *text,
		  int64_t *ret_ms, enum MHD_Result *ret)
{
	int r = lokt_duration_parse(text, ret_ms);

	if (r >= 0 && *ret_ms > 0)
		return true;
	metrics_refusal(OUT_BAD_REQUEST);
	*ret = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_duration",
			   "bad %s \"%.64s\": give a duration such as 90s, "
			   "30m, 2h or 1h30m (at most 100 years)",
			   what, text);
	return false;
}

/* Constant time in the tokens' contents: every byte of every token is
 * looked at, whichever matches. */
static const struct loktd_token *token_find(const char *given)
{
	const struct loktd_token *found = NULL;
	size_t glen = strnlen(given, TOKEN_MAX + 1);

	for (size_t i = 0; i < loktd.n_tokens; i++) {
		const char *t = loktd.tokens[i].token;
		size_t tlen = strlen(t);
		unsigned char diff = glen != tlen;

		for (size_t k = 0; k < TOKEN_MAX; k++) {
			unsigned char a = k < glen ? (unsigned char)given[k] : 0;
			unsigned char b = k < tlen ? (unsigned char)t[k] : 0;

			diff |= a ^ b;
		}
		if (!diff && !found)
			found = &loktd.tokens[i];
	}
	return found;
}

/* 1 to max bytes of UTF-8 without control characters: what an owner
 * name (max LOKT_STR_MAX - 1) or Tracker's who (WHO_MAX) may be. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max || !lokt_text_ok(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int caller(struct req *q, const char *owner_hint, const char *who_tag,
	   struct lokt_who *ret_who, enum MHD_Result *ret)
{
	const struct loktd_token *t = NULL;
	const char *auth, *owner = LOKTD_DEFAULT_OWNER;
	struct lokt_who w;
	unsigned char raw[8];
	char id[17];
	int r;

	if (loktd.tokens) {
		auth = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
						   "Authorization");
		if (auth && !strncasecmp(auth, "Bearer ", 7))
			t = token_find(auth + 7);
		if (!t) {
			metrics_refusal(OUT_UNAUTHORIZED);
			*ret = reply_error(q, MHD_HTTP_UNAUTHORIZED,
					   "unauthorized",
					   "%s — send \"Authorization: Bearer "
					   "TOKEN\" with a token of loktd's "
					   "--tokens file",
					   auth ? "bad token" : "missing token");
			return -1;
		}
		owner = t->owner;
	} else if (owner_hint) {
		owner = owner_hint;
	}
	if (who_tag && !text_ok(who_tag, WHO_MAX)) {
		/* Refused whole: never cut (into a character, maybe) nor
		 * dropped from the agent id. */
		metrics_refusal(OUT_BAD_REQUEST);
		*ret = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "bad who: 1 to %d bytes of UTF-8, no "
				   "control characters",
				   WHO_MAX);
		return -1;
	}
	if (!text_ok(owner, LOKT_STR_MAX - 1)) {
		metrics_refusal(OUT_BAD_REQUEST);
		*ret = reply_error(q, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "bad owner: 1 to %d bytes of UTF-8, no "
				   "control characters",
				   LOKT_STR_MAX - 1);
		return -1;
	}
	r = lokt_who_self(LOKT_DETACHED_PID, &w);
	if (r < 0) {
		*ret = reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "error",
				   "cannot tell who asks: %s",
				   lokt_strerror(r));
		return -1;
	}
	snprintf(w.owner, sizeof(w.owner), "%s", owner);
	if (!loktd.tokens) {
		/* A local caller: acts as its own user (peer.c). */
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		r = ci ? loktd_peer_uid(ci->connect_fd, &w.uid) : -EBADF;
		if (r < 0) {
			*ret = reply_error(q, MHD_HTTP_FORBIDDEN, "unknown_caller",
					   "cannot tell which local user asks "
					   "(%s): without --tokens, loktd acts "
					   "only for a user it can name",
					   strerror(-r));
			return -1;
		}
	}
	/* A fresh agent id per request: two requests of one owner never
	 * re-enter each other's lock (pid 1 is everyone's ancestor). */
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		*ret = reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "error",
				   "no random bytes for an agent id");
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	snprintf(w.agent_id, sizeof(w.agent_id), "%s%s%s%s",
		 LOKTD_AGENT_PREFIX, id, who_tag ? ":" : "",
		 who_tag ? who_tag : "");
	w.via = "loktd";
	*ret_who = w;
	return 0;
}

const char *record_who(const struct lokt_record *rec, char *buf, size_t size)
{
	size_t n = strlen(LOKTD_AGENT_PREFIX);
	const char *p;

	if (!strncmp(rec->agent_id, LOKTD_AGENT_PREFIX, n) &&
	    (p = strchr(rec->agent_id + n, ':'))) {
		snprintf(buf, size, "%s", p + 1);
		return buf;
	}
	return rec->owner;
}

/* ---- the tokens file --------------------------------------------------- */

void loktd_tokens_free(struct loktd_token *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].token);
		free(t[i].owner);
	}
	free(t);
}

/* Lines "TOKEN OWNER"; blank lines and lines starting with '#' skipped.
 * -EINVAL (with the line number in *ret_n) for anything else. */
int loktd_tokens_load(const char *path, struct loktd_token **ret,
		      size_t *ret_n)
{
	struct loktd_token *t = NULL, *nt;
	char *line = NULL, *tok, *own, *save;
	size_t cap = 0, n = 0, lineno = 0;
	FILE *f = fopen(path, "re");
	struct stat st;
	int r = 0;

	if (!f)
		return -errno;
	/* Every user could read the tokens, or another change them: an
	 * owner's token is its password (ssh refuses such a key file). */
	if (fstat(fileno(f), &st) < 0 || (st.st_mode & 0026)) {
		fclose(f);
		return -EPERM;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok || tok[0] == '#')
			continue;
		own = strtok_r(NULL, " \t\r\n", &save);
		if (!own || strtok_r(NULL, " \t\r\n", &save) ||
		    strlen(tok) > TOKEN_MAX || strlen(tok) < 16 ||
		    !text_ok(own, LOKT_STR_MAX - 1)) {
			r = -EINVAL;
			break;
		}
		nt = realloc(t, (n + 1) * sizeof(*t));
		if (!nt) {
			r = -ENOMEM;
			break;
		}
		t = nt;
		t[n].token = strdup(tok);
		t[n].owner = strdup(own);
		n++;
		if (!t[n - 1].token || !t[n - 1].owner) {
			r = -ENOMEM;
			break;
		}
	}
	free(line);
	fclose(f);
	if (!r && !n)
		r = -ENODATA;
	if (r < 0) {
		loktd_tokens_free(t, n);
		*ret_n = lineno;
		return r;
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

bool is_loopback_listen(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return !strcmp(host, "localhost");
}

/* ---- requests from web pages ------------------------------------------ */

/* host, or host:port, or [v6]:port: a loopback address or localhost? */
static bool loopback_host(const char *host)
{
	char h[64];
	const char *end;
	size_t n;

	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		host++;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
	}
	n = (size_t)(end - host);
	if (n == 0 || n >= sizeof(h))
		return false;
	memcpy(h, host, n);
	h[n] = '\0';
	return !strcasecmp(h, "localhost") || is_loopback_listen(h);
}

/* Is origin (the Origin header, "scheme://host[:port]") the origin of
 * this very request (its Host), as the dashboard's own requests are? */
static bool same_origin(const char *origin, const char *host)
{
	const char *p = strstr(origin, "://");

	return p && host && !strcasecmp(p + 3, host) &&
	       (!strncmp(origin, "http://", 7) ||
		!strncmp(origin, "https://", 8));
}

/* A web page the caller has open must not act through loktd: a browser
 * sends a form's or a script's cross-site POST without asking first,
 * and an <img> makes a GET. Browsers say where a request comes from
 * (Origin; Sec-Fetch-Site, which curl and CI scripts do not send): a
 * state-changing request from another site is refused. Without tokens
 * (loopback only), a name that resolves to 127.0.0.1 would also let a
 * page read everything (DNS rebinding): the Host must then be a loopback
 * address or localhost. true when the request may go on. */
static bool from_web_page_ok(struct req *q, bool changes,
			     enum MHD_Result *ret)
{
	const char *host, *origin, *site;

	host = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Host");
	if (!loktd.tokens && (!host || !loopback_host(host))) {
		metrics_refusal(OUT_BAD_REQUEST);
		*ret = reply_error(q, MHD_HTTP_FORBIDDEN, "bad_host",
				   "Host \"%.100s\" is not a loopback address "
				   "or localhost: without --tokens loktd "
				   "answers only requests made to those",
				   host ? host : "");
		return false;
	}
	if (!changes)
		return true;
	origin = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
					     "Origin");
	site = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
					   "Sec-Fetch-Site");
	if ((origin && !same_origin(origin, host)) ||
	    (site && strcmp(site, "same-origin") && strcmp(site, "none"))) {
		metrics_refusal(OUT_BAD_REQUEST);
		*ret = reply_error(q, MHD_HTTP_FORBIDDEN, "cross_origin",
				   "a request from another web site (Origin "
				   "\"%.100s\") may not change locks — send "
				   "it from a script or CI job, not a page",
				   origin ? origin : site);
		return false;
	}
	return true;
}

/* ---- dispatch ---------------------------------------------------------- */

#define SEG_MAX 8

static enum MHD_Result route(struct req *q)
{
	char *path = strdup(q->url), *seg[SEG_MAX], *save, *s;
	enum MHD_Result ret;
	size_t n = 0;

	if (!path)
		return MHD_NO;
	/* Runs of slashes count as one: what a request is (Tracker's, a
	 * change) is decided from its segments, as its route is, never
	 * from the raw URL (`/api/v1alpha1//unlock/ID` is an unlock). */
	for (s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == SEG_MAX) {
			n = SEG_MAX + 1;
			break;
		}
		seg[n++] = s;
	}
	q->tracker = n >= 2 && n <= SEG_MAX && !strcmp(seg[0], "api") &&
		     !strcmp(seg[1], "v1alpha1");
	/* GET and HEAD only read, but for Tracker's unlock by GET. */
	if (!from_web_page_ok(q,
			      (strcmp(q->method, "GET") &&
			       strcmp(q->method, "HEAD")) ||
				      (q->tracker && n >= 3 &&
				       !strcmp(seg[2], "unlock")),
			      &ret)) {
		free(path);
		return ret;
	}
	if (n > SEG_MAX)
		ret = reply_error(q, MHD_HTTP_NOT_FOUND, "no_route",
				  "no such endpoint");
	else if (n == 0)
		ret = dashboard_route(q, false);
	else if (!strcmp(seg[0], "v1"))
		ret = api_route(q, seg + 1, n - 1);
	else if (q->tracker)
		ret = tracker_route(q, seg + 2, n - 2);
	else if (n == 1 && !strcmp(seg[0], "metrics"))
		ret = metrics_route(q);
	else if (n == 1 && !strcmp(seg[0], "healthz"))
		ret = healthz_route(q);
	else
		ret = reply_error(q, MHD_HTTP_NOT_FOUND, "no_route",
				  "no such endpoint: %.200s", q->url);
	free(path);
	return ret;
}

enum MHD_Result loktd_handle(void *cls, struct MHD_Connection *conn,
			     const char *url, const char *method,
			     const char *version, const char *upload,
			     size_t *upload_size, void **req_cls)
{
	struct req *q = *req_cls;
	const char *len;
	char *nb;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->conn = conn;
		q->method = method;
		q->url = url;
		*req_cls = q;
		len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						  "Content-Length");
		if (len && strtoull(len, NULL, 10) > LOKTD_BODY_MAX)
			q->too_big = true;
		else
			return MHD_YES; /* the body, if any, comes next */
	}
	if (q->wait)
		return wait_answer(q);
	if (q->answered) {
		*upload_size = 0; /* a reply was queued early: drop the rest */
		return MHD_YES;
	}
	if (!q->too_big && *upload_size) {
		if (q->body_len + *upload_size > LOKTD_BODY_MAX) {
			q->too_big = true;
		} else {
			nb = realloc(q->body, q->body_len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			q->body = nb;
			memcpy(q->body + q->body_len, upload, *upload_size);
			q->body_len += *upload_size;
			q->body[q->body_len] = 0;
			*upload_size = 0;
			return MHD_YES;
		}
	}
	if (q->too_big && *upload_size) {
		/* Over the limit in the middle of a body of unknown length
		 * (chunked): libmicrohttpd takes no answer while a body is
		 * still coming, so the rest is read and dropped, up to a
		 * bound, and the 413 goes with the call that ends it. */
		q->dropped += *upload_size;
		*upload_size = 0;
		return q->dropped > DROP_MAX ? MHD_NO : MHD_YES;
	}
	if (q->too_big) {
		metrics_refusal(OUT_BAD_REQUEST);
		return reply_error(q, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				   "the request body is larger than %d bytes",
				   LOKTD_BODY_MAX);
	}
	if (loktd.stopping)
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "stopping", "loktd is shutting down");
	return route(q);
}

void loktd_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		     enum MHD_RequestTerminationCode toe)
{
	struct req *q = *req_cls;

	if (!q)
		return;
	if (q->sse)
		sse_closed(q->sse);
	wait_free(q->wait);
	free(q->body);
	free(q);
	*req_cls = NULL;
}
