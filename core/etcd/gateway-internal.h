/* SPDX-License-Identifier: MIT */
/*
 * Private to gateway.c and stream.c: the gateway's state and the pieces
 * of a request that unary calls and streams share.
 */
#ifndef LOKT_ETCD_GATEWAY_INTERNAL_H
#define LOKT_ETCD_GATEWAY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>

#include "gateway.h"

struct lokt_gw {
	char **urls; /* "http(s)://HOST:PORT" */
	size_t n;
	size_t current; /* under lock */
	char *cacert, *cert, *key, *user, *password_file;
	char *password; /* under lock: replaced when password_file changes */
	char *token; /* under lock; NULL until authenticated */
	int64_t timeout_ms;
	char last_error[CURL_ERROR_SIZE + 64]; /* under lock: "" or
						  "ENDPOINT: why" */
	CURLSH *share;
	pid_t pid; /* the process that made share (lokt__gw_after_fork) */
	pthread_mutex_t lock;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

/* How one attempt ended. */
enum lokt_gw_attempt {
	GW_ANSWERED, /* *status and the body are valid */
	GW_NOT_SENT, /* nothing reached the member */
	GW_AMBIGUOUS, /* sent, no answer */
	GW_LOCAL_ERROR, /* our side: out of memory, bad TLS files */
};

/* In a child of fork(): stop using what the parent's connections were
 * (see gateway.c). Called first by every request. */
void lokt__gw_after_fork(struct lokt_gw *g);

/* curl_global_init, once per process; 0 or -ENOMEM. */
int lokt__gw_global_init(void);

/* How a transfer that ended with rc went. */
enum lokt_gw_attempt lokt__gw_classify(CURLcode rc);

/* An easy handle for one request to endpoint ep (headers in *ret_hdr, to
 * free after the transfer), NULL when out of memory. */
CURL *lokt__gw_request(struct lokt_gw *g, size_t ep, const char *path,
		       const char *body, const char *token,
		       struct curl_slist **ret_hdr);

/* The token to send to ep (malloc'd copy, NULL without authentication);
 * a fresh one when stale. Free with lokt__gw_token_free. */
int lokt__gw_token(struct lokt_gw *g, size_t ep, bool stale, char **ret);
void lokt__gw_token_free(char *tok);

#endif /* LOKT_ETCD_GATEWAY_INTERNAL_H */
