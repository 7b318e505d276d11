// SPDX-License-Identifier: MIT
/*
 * The etcd gateway client (core/etcd/gateway.c) against real etcd members:
 * base64 as the gateway carries keys, a put and a range, fail-over past a
 * dead endpoint and past a killed member, the error when nothing answers,
 * and authentication with a token (and a wrong password refused); watches
 * that start from a revision and outlive the member they were on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway.h"
#include "kv.h"
#include "lokt.h"
#include "member.h"
#include "watch.h"

static struct etcd_cluster cluster;

static void need_etcd(void)
{
	if (!etcd_binary())
		cr_skip_test("etcd is not installed (Debian package etcd-server)");
}

static struct lokt_gw *gw_for(const char *const *eps, size_t n,
			      const char *user, const char *password)
{
	struct lokt_gw_opts o = { .endpoints = eps, .n_endpoints = n,
				  .user = user, .password = password,
				  .timeout_ms = 3000 };
	struct lokt_gw *g = NULL;

	cr_assert_eq(lokt__gw_open(&o, &g), 0);
	return g;
}

/* {"key": b64(key), extra...} */
static struct json_object *keyreq(const char *key, const char *value)
{
	struct json_object *o = json_object_new_object();
	char *k, *v;

	cr_assert_eq(lokt__b64_encode(key, strlen(key), &k), 0);
	json_object_object_add(o, "key", json_object_new_string(k));
	free(k);
	if (value) {
		cr_assert_eq(lokt__b64_encode(value, strlen(value), &v), 0);
		json_object_object_add(o, "value", json_object_new_string(v));
		free(v);
	}
	return o;
}

/* The value of key through g, or NULL when absent. */
static char *get(struct lokt_gw *g, const char *key)
{
	struct json_object *req = keyreq(key, NULL), *ans = NULL, *kvs, *v;
	char *out = NULL;
	size_t len;

	cr_assert_eq(lokt__gw_call(g, "/v3/kv/range", req, LOKT_GW_IDEMPOTENT,
				   &ans), 0);
	json_object_put(req);
	if (json_object_object_get_ex(ans, "kvs", &kvs) &&
	    json_object_array_length(kvs) == 1 &&
	    json_object_object_get_ex(json_object_array_get_idx(kvs, 0),
				      "value", &v))
		cr_assert_eq(lokt__b64_decode(json_object_get_string(v), &out,
					      &len), 0);
	json_object_put(ans);
	return out;
}

static int put(struct lokt_gw *g, const char *key, const char *value)
{
	struct json_object *req = keyreq(key, value), *ans = NULL;
	int r = lokt__gw_call(g, "/v3/kv/put", req, 0, &ans);

	json_object_put(req);
	json_object_put(ans);
	return r;
}

Test(base64, round_trip_and_canonical)
{
	const char *cases[] = { "", "f", "fo", "foo", "foob", "fooba",
				"foobar", "locks/deploy" };
	char *enc, *dec;
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		cr_assert_eq(lokt__b64_encode(cases[i], strlen(cases[i]), &enc),
			     0);
		cr_assert_eq(lokt__b64_decode(enc, &dec, &len), 0);
		cr_assert_eq(len, strlen(cases[i]));
		cr_assert_str_eq(dec, cases[i]);
		free(enc);
		free(dec);
	}
	cr_assert_eq(lokt__b64_encode("foob", 4, &enc), 0);
	cr_assert_str_eq(enc, "Zm9vYg==");
	free(enc);
	/* Not base64, wrong length, or bits that padding must drop set. */
	cr_assert_eq(lokt__b64_decode("Zm9v!g==", &dec, &len), -EINVAL);
	cr_assert_eq(lokt__b64_decode("Zm9", &dec, &len), -EINVAL);
	cr_assert_eq(lokt__b64_decode("Zh==", &dec, &len), -EINVAL);
	cr_assert_eq(lokt__b64_decode("Zm9=v", &dec, &len), -EINVAL);
}

Test(gateway, numbers_as_strings)
{
	struct json_object *o = json_tokener_parse(
		"{\"a\":\"9223372036854775807\",\"b\":12,\"c\":\"x1\"}");

	cr_assert_eq(lokt__gw_int(o, "a", -1), INT64_MAX);
	cr_assert_eq(lokt__gw_int(o, "b", -1), 12);
	cr_assert_eq(lokt__gw_int(o, "c", -1), -1);
	cr_assert_eq(lokt__gw_int(o, "absent", 0), 0);
	json_object_put(o);
}

static void start1(void)
{
	need_etcd();
	cr_assert_eq(etcd_start(&cluster, 1), 0, "etcd did not start");
}

static void stop(void)
{
	etcd_stop(&cluster);
}

Test(gateway, put_range_and_failover, .init = start1, .fini = stop)
{
	/* A port with nobody behind it first: nothing sent, next one. */
	const char *eps[] = { "127.0.0.1:1", cluster.endpoint[0] };
	struct lokt_gw *g = gw_for(eps, 2, NULL, NULL);
	char buf[64], *v;

	cr_assert_eq(put(g, "t/k", "hello"), 0);
	v = get(g, "t/k");
	cr_assert_str_eq(v, "hello");
	free(v);
	cr_assert_null(get(g, "t/absent"));
	cr_assert_str_eq(lokt__gw_endpoint(g, buf, sizeof(buf)),
			 cluster.endpoint[0]);
	lokt__gw_close(g);
}

Test(gateway, nothing_answers)
{
	const char *eps[] = { "127.0.0.1:1", "127.0.0.1:2" };
	struct lokt_gw *g = gw_for(eps, 2, NULL, NULL);
	struct json_object *req = keyreq("k", "v"), *ans = NULL;

	cr_assert_eq(lokt__gw_call(g, "/v3/kv/put", req, 0, &ans),
		     -EHOSTUNREACH);
	cr_assert_null(ans);
	json_object_put(req);
	lokt__gw_close(g);
}

Test(gateway, refusal_is_an_errno, .init = start1, .fini = stop)
{
	const char *eps[] = { cluster.endpoint[0] };
	struct lokt_gw *g = gw_for(eps, 1, NULL, NULL);
	struct json_object *req = json_object_new_object(), *ans = NULL;

	/* Keepalive of a lease that does not exist: etcd says not found
	 * (or answers without a TTL, as 3.4's gateway does). */
	json_object_object_add(req, "ID", json_object_new_string("12345"));
	cr_assert_eq(lokt__gw_call(g, "/v3/lease/timetolive", req,
				   LOKT_GW_IDEMPOTENT, &ans), 0);
	cr_assert_eq(lokt__gw_int(ans, "TTL", 0), -1);
	json_object_put(ans);
	json_object_put(req);
	/* A put without a key is a bad request. */
	req = json_object_new_object();
	cr_assert_eq(lokt__gw_call(g, "/v3/kv/put", req, 0, &ans), -EINVAL);
	json_object_put(req);
	lokt__gw_close(g);
}

/* etcdctl ARGS against endpoint ep. */
static void etcdctl(const char *ep, const char *args)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints=%s %s >/dev/null", ep,
		 args);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(gateway, authentication, .init = start1, .fini = stop)
{
	const char *eps[] = { cluster.endpoint[0] };
	struct lokt_gw *g, *bad;
	char *v;

	etcdctl(eps[0], "user add root:rootpw");
	etcdctl(eps[0], "user add nobody:pw"); /* no role: no key at all */
	etcdctl(eps[0], "auth enable");
	g = gw_for(eps, 1, "root", "rootpw");
	cr_assert_eq(put(g, "t/auth", "yes"), 0);
	v = get(g, "t/auth");
	cr_assert_str_eq(v, "yes");
	free(v);
	lokt__gw_close(g);

	bad = gw_for(eps, 1, "root", "wrong");
	cr_assert_eq(put(bad, "t/auth", "no"), -LOKT_E_LOGIN);
	lokt__gw_close(bad);
	/* Without a token at all: refused, not applied. */
	bad = gw_for(eps, 1, NULL, NULL);
	cr_assert_eq(put(bad, "t/auth", "no"), -LOKT_E_LOGIN);
	lokt__gw_close(bad);
	/* Let in, but without the permission: denied, not applied. */
	bad = gw_for(eps, 1, "nobody", "pw");
	cr_assert_eq(put(bad, "t/auth", "no"), -LOKT_E_DENIED);
	lokt__gw_close(bad);
	v = get(g = gw_for(eps, 1, "root", "rootpw"), "t/auth");
	cr_assert_str_eq(v, "yes");
	free(v);
	lokt__gw_close(g);
}

static void start3(void)
{
	need_etcd();
	cr_assert_eq(etcd_start(&cluster, 3), 0, "etcd did not start");
}

Test(gateway, member_killed, .init = start3, .fini = stop)
{
	const char *eps[] = { cluster.endpoint[0], cluster.endpoint[1],
			      cluster.endpoint[2] };
	struct lokt_gw *g = gw_for(eps, 3, NULL, NULL);
	char buf[64], *v;

	cr_assert_eq(put(g, "t/m", "1"), 0);
	etcd_kill(&cluster, 0);
	/* The first endpoint is gone: a read goes to the next member. */
	v = get(g, "t/m");
	cr_assert_str_eq(v, "1");
	free(v);
	cr_assert_str_neq(lokt__gw_endpoint(g, buf, sizeof(buf)),
			  cluster.endpoint[0]);
	lokt__gw_close(g);
}

/* A member that dies under each request: a child process that accepts
 * a connection, reads the request and resets it (as a member SIGKILLed
 * while it served the request does). Its endpoint in buf; its pid. */
static pid_t resetting_member(char *buf, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(buf, size, "127.0.0.1:%d", ntohs(a.sin_port));
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		char req[4096];

		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				_exit(1);
			(void)!read(c, req, sizeof(req));
			setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			close(c);
		}
	}
	close(fd);
	return pid;
}

/* A lease grant that a member took and died under goes to the next
 * member: sent twice it only leaves a lease to expire unused, where
 * giving up made a lokt lock exit 1 ("did not answer") when the leader
 * of three was killed. A put stays ambiguous (-ETIMEDOUT): sent twice it
 * could apply twice; the transition resolves it by reading. */
Test(gateway, lease_grant_fails_over_a_reset, .init = start1, .fini = stop)
{
	char dying[32];
	pid_t pid = resetting_member(dying, sizeof(dying));
	const char *eps[] = { dying, cluster.endpoint[0] };
	struct lokt_gw *g = gw_for(eps, 2, NULL, NULL);
	struct json_object *req = keyreq("t/r", "1"), *ans = NULL;
	int64_t lease = 0;
	int r;

	r = lokt__lease_grant(g, 30, &lease);
	cr_expect_eq(r, 0, "lease grant past a reset member: %d", r);
	cr_expect_neq(lease, 0);
	/* The next call starts at the member that answered: back to the
	 * dying one for the put. */
	lokt__gw_close(g);
	g = gw_for(eps, 2, NULL, NULL);
	cr_expect_eq(lokt__gw_call(g, "/v3/kv/put", req, 0, &ans),
		     -ETIMEDOUT);
	json_object_put(req);
	lokt__gw_close(g);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The revision of the store after a put of key. */
static int64_t put_rev(struct lokt_gw *g, const char *key, const char *value)
{
	struct json_object *req = keyreq(key, value), *ans = NULL, *h;
	int64_t rev;

	cr_assert_eq(lokt__gw_call(g, "/v3/kv/put", req, 0, &ans), 0);
	cr_assert(json_object_object_get_ex(ans, "header", &h));
	rev = lokt__gw_int(h, "revision", 0);
	json_object_put(req);
	json_object_put(ans);
	return rev;
}

/* put_rev while a leader may be being elected: a put may time out,
 * ambiguous (see gateway.h); put again until it lands (a bound: 20). */
static int64_t put_rev_retry(struct lokt_gw *g, const char *key,
			     const char *value)
{
	struct json_object *req = keyreq(key, value), *ans = NULL, *h;
	int64_t rev = 0;
	int r = -1;

	for (int i = 0; i < 20 && r != 0; i++) {
		r = lokt__gw_call(g, "/v3/kv/put", req, 0, &ans);
		cr_assert(r == 0 || r == -ETIMEDOUT || r == -EHOSTUNREACH,
			  "put: %d", r);
	}
	cr_assert_eq(r, 0, "no leader after 20 tries");
	cr_assert(json_object_object_get_ex(ans, "header", &h));
	rev = lokt__gw_int(h, "revision", 0);
	json_object_put(req);
	json_object_put(ans);
	return rev;
}

/* Wait (at most 20 s: a bound, not a measure) for the watch to report a
 * change; true when it did. */
static bool rang(struct lokt_gw_watch *w)
{
	struct pollfd p = { .fd = lokt__gw_watch_fd(w), .events = POLLIN };

	return poll(&p, 1, 20000) == 1 && lokt__gw_watch_consume(w) == 1;
}

Test(watch, from_a_revision, .init = start1, .fini = stop)
{
	const char *eps[] = { cluster.endpoint[0] };
	struct lokt_gw *g = gw_for(eps, 1, NULL, NULL);
	struct lokt_gw_watch *w;
	int64_t rev;

	/* A change made before the watch opens, after the revision it
	 * starts from, is reported: nothing falls between read and watch. */
	rev = put_rev(g, "w/a", "1");
	(void)put_rev(g, "w/a", "2");
	cr_assert_eq(lokt__gw_watch_open(g, "w/", 2, "w0", 2, rev + 1, &w), 0);
	cr_assert(rang(w));
	/* Quiet now; a key outside the range does not ring. */
	(void)put_rev(g, "x/other", "1");
	(void)put_rev(g, "w/b", "1");
	cr_assert(rang(w));
	cr_assert_eq(lokt__gw_watch_consume(w), 0);
	lokt__gw_watch_close(w);
	lokt__gw_close(g);
}

Test(watch, survives_a_member, .init = start3, .fini = stop)
{
	const char *eps[] = { cluster.endpoint[0], cluster.endpoint[1],
			      cluster.endpoint[2] };
	struct lokt_gw *g = gw_for(eps, 3, NULL, NULL);
	struct lokt_gw_watch *w;
	int64_t rev;

	/* From the revision after a read, as a waiter watches: a watch
	 * "from now" could start after the put and miss it. */
	rev = put_rev(g, "other", "0");
	cr_assert_eq(lokt__gw_watch_open(g, "k", 1, NULL, 0, rev + 1, &w), 0);
	(void)put_rev(g, "k", "1");
	cr_assert(rang(w));
	/* The member serving the stream dies: the watch says "read again"
	 * and goes on from another member. */
	etcd_kill(&cluster, 0);
	cr_assert(rang(w));
	(void)put_rev_retry(g, "k", "2");
	cr_assert(rang(w));
	lokt__gw_watch_close(w);
	lokt__gw_close(g);
}
