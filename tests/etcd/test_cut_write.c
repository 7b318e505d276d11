// SPDX-License-Identifier: MIT
/*
 * A write cut short by the caller's deadline (lokt_store_set_deadline, as
 * a wait with --timeout sets it) or by the request's own timeout may
 * still have been applied, or be applied later: the store must find out
 * (make it unable to apply later, read it back, or revoke its lease),
 * past the deadline if need be. Never a lock left behind a caller told it
 * failed, never a write made twice (README, "Across hosts": leader loss;
 * docs/protocol.md, "Transactions").
 *
 * Between the store and a real etcd member sits a proxy (a thread here)
 * that passes every request on, and from each of the next `armed` write
 * transactions on (a txn with a put) keeps that connection's answers to
 * itself: etcd applies the write, the caller never hears of it, and its
 * request runs into the deadline. Or (`delay`) it keeps the next write
 * transaction's request itself, and passes it on only when the test says
 * so, after the caller has given up: a write still on its way when it was
 * read back.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elsewhere.h"
#include "lokt.h"
#include "member.h"

/* The deadline of a call whose write the proxy keeps: long enough for
 * the reads before that write even under ASan on a loaded machine (the
 * test fails, "the proxy did not see...", if it passes before the
 * write is sent); each such test waits it out once. */
#define CUT_MS 3000

static struct etcd_cluster cluster;
static int listen_fd = -1, proxy_port;
static atomic_int armed; /* the next write txns whose answers are kept */
static atomic_int held; /* connections whose answers were kept */
static atomic_int delay; /* the next write txns whose requests are kept */
static atomic_int let_go; /* pass the kept requests on now */
static atomic_int late; /* kept requests passed on: 1 refused, 2 applied */
static atomic_int die; /* the member "dies" once an answer is kept: */
static atomic_int dead; /* ... from then on nothing is passed on, */
static atomic_int dead_posts; /* ... and the requests are counted */
/* The name whose lock's lease ends (revoked at the member) as the proxy
 * keeps a write; meanwhile no other request is passed on. */
static const char *_Atomic revoke_on_keep;
static atomic_int revoking;
static atomic_int revoked; /* 1: revoked, -1: could not be */
static pthread_t acceptor;

struct conn {
	int client, member;
};

/* A kept request (its bytes in kept), passed on once the test lets it
 * go; whether etcd applied it goes to `late`. */
static void pass_on_late(struct conn *c, const char *kept, size_t len)
{
	struct pollfd p = { .fd = c->member, .events = POLLIN };
	char buf[65536];
	ssize_t n;

	for (int i = 0; i < 3000 && !atomic_load(&let_go); i++)
		usleep(10000);
	if (write(c->member, kept, len) != (ssize_t)len ||
	    poll(&p, 1, 10000) <= 0 || (n = read(c->member, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = '\0';
	/* The gateway leaves out a false "succeeded". */
	atomic_store(&late, strstr(buf, "\"succeeded\":true") ? 2 : 1);
}

/* End the lease of the lock revoke_on_keep names, straight at the
 * member (etcdctl): the lease in its held key (docs/protocol.md, "Keys"),
 * as when its holder's host is cut off and it expires. */
static void revoke_lease(void)
{
	const char *name = atomic_load(&revoke_on_keep);
	char cmd[512], out[512] = "", *p;
	long long lease;
	FILE *f;

	if (!name)
		return;
	atomic_store(&revoking, 1);
	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints %s get /cut/held/%s "
		 "--print-value-only 2>/dev/null",
		 cluster.endpoint[0], name);
	f = popen(cmd, "r");
	if (f && !fgets(out, sizeof(out), f))
		out[0] = 0;
	if (f)
		pclose(f);
	p = strstr(out, "\"lease\":");
	lease = p ? strtoll(p + 8, NULL, 10) : 0;
	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints %s lease revoke %llx "
		 ">/dev/null 2>&1",
		 cluster.endpoint[0], lease);
	atomic_store(&revoked, lease > 0 && system(cmd) == 0 ? 1 : -1);
	atomic_store(&revoking, 0);
}

/* One connection, both ways, until either side closes. */
static void *relay(void *arg)
{
	struct conn *c = arg;
	struct pollfd p[2] = { { .fd = c->client, .events = POLLIN },
			       { .fd = c->member, .events = POLLIN } };
	bool in_txn = false, keep = false, later = false;
	char buf[65536], *kept = NULL;
	size_t kept_len = 0;
	ssize_t n;

	while (poll(p, 2, -1) > 0) {
		if (p[0].revents) {
			n = read(c->client, buf, sizeof(buf));
			if (n <= 0)
				break;
			while (atomic_load(&revoking))
				usleep(1000);
			if (atomic_load(&dead)) {
				if (memmem(buf, (size_t)n, "POST ", 5))
					atomic_fetch_add(&dead_posts, 1);
				continue;
			}
			if (memmem(buf, (size_t)n, "POST ", 5))
				in_txn = memmem(buf, (size_t)n,
						"POST /v3/kv/txn", 15);
			if (in_txn && !later &&
			    memmem(buf, (size_t)n, "request_put", 11) &&
			    atomic_fetch_sub(&delay, 1) > 0) {
				later = true;
				revoke_lease();
			}
			if (later) {
				kept = realloc(kept, kept_len + (size_t)n);
				memcpy(kept + kept_len, buf, (size_t)n);
				kept_len += (size_t)n;
				continue;
			}
			if (in_txn && !keep &&
			    memmem(buf, (size_t)n, "request_put", 11) &&
			    atomic_fetch_sub(&armed, 1) > 0) {
				keep = true;
				atomic_fetch_add(&held, 1);
				if (atomic_load(&die))
					atomic_store(&dead, 1);
			}
			if (write(c->member, buf, (size_t)n) != n)
				break;
		}
		if (p[1].revents) {
			n = read(c->member, buf, sizeof(buf));
			if (n <= 0)
				break;
			if (!keep && write(c->client, buf, (size_t)n) != n)
				break;
		}
	}
	close(c->client);
	if (later)
		pass_on_late(c, kept, kept_len);
	free(kept);
	close(c->member);
	free(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	pthread_t th;
	int fd;

	(void)arg;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)cluster.client_port[0]);
	while ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct conn *c = malloc(sizeof(*c));

		c->client = fd;
		c->member = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(c->member, (struct sockaddr *)&to, sizeof(to)) < 0 ||
		    pthread_create(&th, NULL, relay, c) != 0) {
			close(c->client);
			close(c->member);
			free(c);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

static void start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	if (!etcd_binary())
		cr_skip_test("etcd is not installed (Debian package etcd-server)");
	cr_assert_eq(etcd_start(&cluster, 1), 0, "etcd did not start");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(listen_fd >= 0);
	cr_assert_eq(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(listen_fd, 16), 0);
	cr_assert_eq(getsockname(listen_fd, (struct sockaddr *)&a, &len), 0);
	proxy_port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&acceptor, NULL, accept_loop, NULL), 0);
}

static void stop(void)
{
	if (listen_fd >= 0) {
		shutdown(listen_fd, SHUT_RDWR);
		pthread_join(acceptor, NULL);
		close(listen_fd);
	}
	etcd_stop(&cluster);
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A store through the proxy, one straight to the member, and this
 * process as the holder. */
static void open_both(struct lokt_store **s, struct lokt_store **direct,
		      struct lokt_who *who)
{
	char root[128];

	snprintf(root, sizeof(root), "etcd://127.0.0.1:%d/cut", proxy_port);
	cr_assert_eq(lokt_store_open(root, s), 0);
	snprintf(root, sizeof(root), "etcd://%s/cut", cluster.endpoint[0]);
	cr_assert_eq(lokt_store_open(root, direct), 0);
	cr_assert_eq(lokt_who_self(getpid(), who), 0);
}

/* open_both, for a detached holder (pid 1: a lock on no lease, which
 * no revocation can take back), with requests given up after 1 s when
 * short (for an answer kept by the proxy to time out). */
static void open_detached(struct lokt_store **s, struct lokt_store **direct,
			  struct lokt_who *who, bool short_timeout)
{
	if (short_timeout)
		cr_assert_eq(setenv("LOKT_ETCD_TIMEOUT", "1s", 1), 0);
	open_both(s, direct, who);
	unsetenv("LOKT_ETCD_TIMEOUT");
	cr_assert_eq(lokt_who_self(LOKT_DETACHED_PID, who), 0);
}

/* After an acquisition of name whose write was cut (r its result, got
 * its lock): either the caller holds it (released here), or it failed
 * and no lock of its is in etcd (old_id: a lock that may still be there
 * from before, or NULL). */
static void expect_resolved(struct lokt_store *s, struct lokt_store *direct,
			    const char *name, int r,
			    const struct lokt_who *who,
			    const struct lokt_result *got, const char *old_id)
{
	struct lokt_result now;
	struct lokt_info info;
	int seen = lokt_get(direct, LOKT_LOCK, name, &info, NULL);

	if (r == 0) {
		cr_assert_eq(seen, 0, "acquired, but no lock in etcd");
		cr_assert_str_eq(info.rec.lock_id, got->lock.lock_id,
				 "acquired, but the lock in etcd is another's");
		cr_assert_eq(lokt_release(s, name, who, got->lock.lock_id, 0,
					  &now),
			     0);
		return;
	}
	cr_assert(seen == -LOKT_E_NOT_FOUND ||
			  (seen == 0 && old_id &&
			   !strcmp(info.rec.lock_id, old_id)),
		  "the acquisition failed (%s) but left its lock in etcd "
		  "(lock_id %s)",
		  lokt_strerror(r), seen == 0 ? info.rec.lock_id : "");
}

/* The creation's answer never comes; the deadline passes. Either the
 * caller holds the lock (the store read it back), or it failed and no
 * lock is there: never a failure with the lock left on its lease. */
Test(cut_write, creation_cut_by_the_deadline_is_resolved, .init = start,
     .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts ao = { .tend = true };
	struct lokt_result got = { 0 };
	struct lokt_who who;
	int r;

	open_both(&s, &direct, &who);

	atomic_store(&armed, 1);
	lokt_store_set_deadline(s, mono_ms() + CUT_MS);
	r = lokt_acquire(s, "c1", &who, &ao, &got);
	lokt_store_set_deadline(s, 0);
	cr_assert_eq(atomic_load(&held), 1,
		     "the proxy did not see the creation (a txn with a put)");

	expect_resolved(s, direct, "c1", r, &who, &got, NULL);
	lokt_store_close(direct);
	lokt_store_close(s);
}

/* A stale lock broken and a new one made: two txns (a creation after a
 * removal of the same key), both answers kept. The removal is cut by the
 * deadline and read back; the creation must not then be sent on the
 * grace that settled the removal, where it is cut again with no time
 * left to read it back or revoke its lease. */
Test(cut_write, creation_after_a_cut_removal_is_not_left_behind,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts stale = { .ttl_sec = 1, .tend = true },
				 ao = { .tend = true };
	struct lokt_result old = { 0 }, got = { 0 };
	struct timespec pause = { 1, 200000000 };
	struct lokt_who who, other;
	int r;

	open_both(&s, &direct, &who);
	other = who;
	snprintf(other.owner, sizeof(other.owner), "cut-other");

	/* A lock of one second's TTL, stale once it has run out (its
	 * lease, tended by nobody here, lasts longer). */
	cr_assert_eq(lokt_acquire(direct, "c2", &other, &stale, &old), 0);
	nanosleep(&pause, NULL);

	atomic_store(&armed, 2);
	lokt_store_set_deadline(s, mono_ms() + CUT_MS);
	r = lokt_acquire(s, "c2", &who, &ao, &got);
	lokt_store_set_deadline(s, 0);
	cr_assert_geq(atomic_load(&held), 1,
		      "the proxy did not see the removal (a txn with a put: "
		      "its audit)");

	expect_resolved(s, direct, "c2", r, &who, &got, old.lock.lock_id);
	lokt_store_close(direct);
	lokt_store_close(s);
}

/* A write cut short is still on its way when the store reads it back (a
 * connection lost while a member still holds the request, a leader
 * change): it reaches etcd after the caller was told it failed. A
 * detached lock has no lease to revoke: only the write's own compare can
 * keep it out (docs/protocol.md, "Transactions"). */
Test(cut_write, a_write_arriving_after_its_read_back_is_refused,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts ao = { .ttl_sec = 600 };
	struct lokt_result got = { 0 };
	struct lokt_who who;
	int r;

	open_detached(&s, &direct, &who, false);

	atomic_store(&delay, 1);
	lokt_store_set_deadline(s, mono_ms() + CUT_MS);
	r = lokt_acquire(s, "c3", &who, &ao, &got);
	lokt_store_set_deadline(s, 0);
	cr_assert_leq(atomic_load(&delay), 0,
		      "the proxy did not see the creation (a txn with a put)");
	cr_assert_neq(r, 0, "acquired, though its creation never reached etcd");

	atomic_store(&let_go, 1);
	for (int i = 0; i < 1000 && !atomic_load(&late); i++)
		usleep(10000);
	cr_assert_neq(atomic_load(&late), 0,
		      "the kept creation was not passed on to etcd");
	cr_assert_eq(atomic_load(&late), 1,
		     "the creation, arriving after the caller was told it "
		     "failed (%s), was applied",
		     lokt_strerror(r));
	expect_resolved(s, direct, "c3", r, &who, &got, NULL);
	lokt_store_close(direct);
	lokt_store_close(s);
}

/* The events of name of one kind in the audit log. */
static size_t events_of(struct lokt_store *s, const char *name,
			const char *event)
{
	struct lokt_audit_filter f = { .name = name };
	struct lokt_event *ev = NULL;
	size_t n = 0, k = 0;

	cr_assert_eq(lokt_audit_read(s, &f, &ev, &n), 0);
	for (size_t i = 0; i < n; i++)
		k += !strcmp(ev[i].event, event);
	lokt_events_free(ev, n);
	return k;
}

/* A renewal applied whose answer was lost (the request timed out, no
 * deadline of the caller's): read back, it is found there, and not sent
 * a second time (one renewal, one audit event). */
Test(cut_write, a_renewal_whose_answer_was_lost_is_found_applied,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts ao = { .ttl_sec = 600 },
				 longer = { .ttl_sec = 900 };
	struct lokt_result got = { 0 }, again = { 0 };
	struct lokt_who who;

	open_detached(&s, &direct, &who, true);
	cr_assert_eq(lokt_acquire(s, "c4", &who, &ao, &got), 0);

	atomic_store(&armed, 1);
	cr_assert_eq(lokt_acquire(s, "c4", &who, &longer, &again), 0,
		     "the renewal failed");
	cr_assert_eq(atomic_load(&held), 1,
		     "the proxy did not see the renewal (a txn with a put)");
	cr_assert(again.renewed);
	cr_assert_str_eq(again.lock.lock_id, got.lock.lock_id);
	cr_assert_eq(events_of(direct, "c4", "renew"), 1,
		     "one renewal was audited as %zu",
		     events_of(direct, "c4", "renew"));
	lokt_store_close(direct);
	lokt_store_close(s);
}

/* The member stops answering anything right after applying a creation
 * (its answer kept): the creation was cut by the request's timeout, not
 * by a deadline of the caller's, and nothing can be learnt. The store
 * says the cluster is unavailable after one more request's time, not
 * after one per try of resolving the write (a lease, then its key, each
 * tried again). */
Test(cut_write, resolving_a_cut_write_takes_one_request_more,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts ao = { .ttl_sec = 600 };
	struct lokt_result got = { 0 };
	struct lokt_who who;
	int r;

	open_detached(&s, &direct, &who, true);

	atomic_store(&die, 1);
	atomic_store(&armed, 1);
	r = lokt_acquire(s, "c5", &who, &ao, &got);
	cr_assert_eq(atomic_load(&dead), 1,
		     "the proxy did not see the creation (a txn with a put)");
	cr_assert_eq(r, -LOKT_E_UNAVAILABLE,
		     "a cut write on a cluster that stopped answering: %s",
		     lokt_strerror(r));
	/* One try, bounded by one request's time. The proxy counted two
	 * once, in a CI run under load (not in 50 runs alone; libcurl
	 * sending a request again on a new connection would do it); what
	 * this guards against made a try per step of resolving the write,
	 * each waiting its full timeout: three or more. */
	cr_assert(atomic_load(&dead_posts) >= 1 &&
			  atomic_load(&dead_posts) <= 2,
		  "%d requests sent to resolve the cut write, each waiting "
		  "its full timeout",
		  atomic_load(&dead_posts));
	lokt_store_close(direct);
	lokt_store_close(s);
}

/* A release cut short while its lock's lease ends (the holder's host cut
 * off: here the lease revoked at the member while the proxy keeps the
 * release, which then never applies). The lock key is gone, but not by
 * the release: the held key it would have deleted with it is still
 * there. The caller is told its lock was lost, as when it finds it
 * expired without a cut; the audit says "expire" once and no "release"
 * (docs/protocol.md, "Transactions"). */
Test(cut_write, a_cut_release_of_a_lock_whose_lease_ended_is_not_applied,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts ao = { .tend = true };
	struct lokt_result got = { 0 }, rel = { 0 }, again = { 0 };
	struct lokt_who who;
	int r;

	if (system("command -v etcdctl >/dev/null") != 0)
		cr_skip_test("etcdctl is not installed (Debian package etcd-client)");
	cr_assert_eq(setenv("LOKT_ETCD_TIMEOUT", "1s", 1), 0);
	open_both(&s, &direct, &who);
	unsetenv("LOKT_ETCD_TIMEOUT");
	cr_assert_eq(lokt_acquire(s, "c6", &who, &ao, &got), 0);

	atomic_store(&revoke_on_keep, "c6");
	atomic_store(&delay, 1);
	r = lokt_release(s, "c6", &who, got.lock.lock_id, 0, &rel);
	cr_assert_leq(atomic_load(&delay), 0,
		      "the proxy did not see the release (a txn with a put)");
	cr_assert_eq(atomic_load(&revoked), 1,
		     "the lock's lease could not be revoked (etcdctl)");

	atomic_store(&let_go, 1);
	for (int i = 0; i < 1000 && !atomic_load(&late); i++)
		usleep(10000);
	cr_assert_eq(atomic_load(&late), 1,
		     "the kept release was not refused when passed on");
	cr_assert_eq(r, -LOKT_E_LOST,
		     "a release that never applied, of a lock whose lease "
		     "ended, said: %s",
		     r ? lokt_strerror(r) : "released");

	/* A transition that reads: it would record an expiry still left
	 * behind (a held key), a second "expire". */
	cr_assert_eq(lokt_acquire(direct, "c6", &who, &ao, &again), 0);
	cr_assert_eq(events_of(direct, "c6", "release"), 0,
		     "the lock that expired was audited as released");
	cr_assert_eq(events_of(direct, "c6", "expire"), 1,
		     "the expiry was audited %zu times",
		     events_of(direct, "c6", "expire"));
	cr_assert_eq(lokt_release(direct, "c6", &who, again.lock.lock_id, 0,
				  &rel),
		     0);
	lokt_store_close(direct);
	lokt_store_close(s);
}

/* The quick waiter's process (elsewhere.h): on store argv[0] (straight
 * to the member), wait for lock argv[1] as guard does (its own keeper:
 * it offers its record for a hand-over, docs/protocol.md), and release
 * it at once when it gets it. 0 when both went well. */
static int quick_waiter_run(int argc, char **argv)
{
	struct lokt_acquire_opts o = { .wait = true, .timeout_ms = 30000 };
	struct lokt_result res;
	struct lokt_store *d;
	struct lokt_who who;

	o.keeper = getpid();
	if (argc != 2 || lokt_store_open(argv[0], &d) < 0 ||
	    lokt_who_self(getpid(), &who) < 0)
		return 10;
	/* Another owner: the holder's would renew its lock. */
	snprintf(who.owner, sizeof(who.owner), "waiter");
	if (lokt_acquire(d, argv[1], &who, &o, &res) < 0)
		return 11;
	if (lokt_release(d, argv[1], &who, res.lock.lock_id, 0, NULL) < 0)
		return 12;
	lokt_store_close(d);
	return 0;
}

const struct elsewhere_role elsewhere_roles[] = {
	{ "quick-waiter", quick_waiter_run },
	{ NULL, NULL },
};

/* The quick waiter for name, in a process started afresh: this one has
 * the proxy's threads, and a copy of it made by fork() could hang on a
 * lock one of them held (elsewhere.h). */
static pid_t quick_waiter(const char *name)
{
	const char *args[] = { NULL, name, NULL };
	char root[128];
	pid_t pid;

	snprintf(root, sizeof(root), "etcd://%s/cut", cluster.endpoint[0]);
	args[0] = root;
	pid = elsewhere_start("quick-waiter", args);
	cr_assert_geq(pid, 0);
	return pid;
}

/* A release that hands the lock over (to the waiter's offer) whose
 * answer was lost: by the time it is read back, the waiter it made the
 * holder has released the lock already, so the bytes it wrote are gone.
 * It was applied all the same: the release says so, once. */
Test(cut_write, a_cut_hand_over_whose_holder_left_is_found_applied,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = NULL, *direct = NULL;
	struct lokt_acquire_opts ao = { .ttl_sec = 600 };
	struct lokt_result got = { 0 }, rel = { 0 };
	struct lokt_info info;
	struct lokt_who who;
	char cmd[256];
	int r, status, offered = 1;
	pid_t w;

	if (system("command -v etcdctl >/dev/null") != 0)
		cr_skip_test(
		    "etcdctl is not installed (Debian package etcd-client)");
	open_detached(&s, &direct, &who, true);
	cr_assert_eq(lokt_acquire(s, "c9", &who, &ao, &got), 0);
	w = quick_waiter("c9");
	snprintf(cmd, sizeof(cmd),
		 "ETCDCTL_API=3 etcdctl --endpoints %s get --prefix "
		 "/cut/queue/c9/ --print-value-only 2>/dev/null | "
		 "grep -q '\"offer\"'",
		 cluster.endpoint[0]);
	for (int i = 0; i < 200 && (offered = system(cmd)) != 0; i++)
		usleep(50000);
	cr_assert_eq(offered, 0, "the waiter did not offer its record");

	atomic_store(&armed, 1);
	r = lokt_release(s, "c9", &who, got.lock.lock_id, 0, &rel);
	cr_assert_eq(atomic_load(&held), 1,
		     "the proxy did not see the release (a txn with a put)");
	cr_assert_eq(waitpid(w, &status, 0), w);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the waiter did not get and release c9 (%d)",
		  WEXITSTATUS(status));
	cr_assert_eq(r, 0, "the release handed over said: %s",
		     lokt_strerror(r));
	cr_assert_eq(lokt_get(direct, LOKT_LOCK, "c9", &info, NULL),
		     -LOKT_E_NOT_FOUND);
	cr_assert_eq(events_of(direct, "c9", "release"), 2,
		     "two releases were audited as %zu",
		     events_of(direct, "c9", "release"));
	cr_assert_eq(events_of(direct, "c9", "lost"), 0,
		     "the lock released was audited as lost");
	lokt_store_close(direct);
	lokt_store_close(s);
}
