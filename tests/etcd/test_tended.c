// SPDX-License-Identifier: MIT
/*
 * Locks whose lease their holder tends itself (lokt_acquire_opts.keeper,
 * lokt_tend: guard and its watchdog), on a real etcd member, through
 * liblokt's public API; the "other hosts" are forked processes with
 * stores of their own.
 *
 * Such a holder begins its release or renewal from the record it wrote
 * last instead of reading it (core/etcd/backend.c, snapshot): these
 * tests change the lock behind its back and check that the release
 * never removes another's lock, and that the renewal finds it lost.
 * Also: lokt_tend keeps the lease alive past its TTL and says LOST once
 * it is gone; no lokt-keeper process is started for a tended lock.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elsewhere.h"
#include "lokt.h"
#include "member.h"

static struct etcd_cluster cluster;
static char root[128];

static void start(void)
{
	if (!etcd_binary())
		cr_skip_test("etcd is not installed (Debian package etcd-server)");
	cr_assert_eq(etcd_start(&cluster, 1), 0, "etcd did not start");
	snprintf(root, sizeof(root), "etcd://%s/tended", cluster.endpoint[0]);
	/* A short lease: what outlives it was kept alive. */
	setenv("LOKT_ETCD_LEASE", "2", 1);
}

static void stop(void)
{
	etcd_stop(&cluster);
}

static struct lokt_store *open_store(void)
{
	struct lokt_store *s = NULL;

	cr_assert_eq(lokt_store_open(root, &s), 0, "cannot open %s", root);
	return s;
}

static void who_of(pid_t pid, struct lokt_who *who)
{
	cr_assert_eq(lokt_who_self(pid, who), 0);
}

/* The steal's process (elsewhere.h), another host as far as liblokt
 * can tell: on store argv[0], force lock argv[1] away and take it,
 * detached with a TTL. */
static int steal_run(int argc, char **argv)
{
	struct lokt_store *s;
	struct lokt_who who;
	struct lokt_acquire_opts o = { .ttl_sec = 60 };
	int r;

	if (argc != 2 || lokt_store_open(argv[0], &s) < 0 ||
	    lokt_who_self(LOKT_DETACHED_PID, &who) < 0)
		return 10;
	r = lokt_release(s, argv[1], &who, NULL, LOKT_RELEASE_FORCE, NULL);
	if (r < 0 && r != -LOKT_E_NOT_FOUND)
		return 11;
	r = lokt_acquire(s, argv[1], &who, &o, NULL);
	lokt_store_close(s);
	return r < 0 ? 12 : 0;
}

const struct elsewhere_role elsewhere_roles[] = {
	{ "steal", steal_run },
	{ NULL, NULL },
};

/* Steal name from this process's lock, in a process of its own: started
 * afresh, not forked as it is, since this one may have threads by now
 * (a watch's relay). */
static void steal(const char *name)
{
	const char *args[] = { root, name, NULL };
	int code = elsewhere_run("steal", args);

	cr_assert_eq(code, 0, "the other process could not take %s (%d)",
		     name, code);
}

/* A lock taken with this process as its keeper (tended here). */
static void take_tended(struct lokt_store *s, const char *name,
			struct lokt_who *who, struct lokt_result *res)
{
	struct lokt_acquire_opts o = { .keeper = getpid() };

	who_of(getpid(), who);
	cr_assert_eq(lokt_acquire(s, name, who, &o, res), 0);
	cr_assert_gt(res->lock.fence, 0);
	cr_assert_eq(res->lock.keeper_pid, getpid());
}

Test(tended, release_after_a_steal_removes_nothing, .init = start,
     .fini = stop)
{
	struct lokt_store *s = open_store();
	struct lokt_result res, now;
	struct lokt_info in;
	struct lokt_who who;
	char mine[LOKT_ID_LEN + 1];

	take_tended(s, "t1", &who, &res);
	snprintf(mine, sizeof(mine), "%s", res.lock.lock_id);
	/* Renewed once: the record written last is the renewal's. */
	cr_assert_eq(lokt_renew(s, "t1", mine, &who, 30, &now), 0);
	steal("t1");
	cr_assert_eq(lokt_release(s, "t1", &who, mine, 0, &now),
		     -LOKT_E_LOST, "released a lock that is not ours");
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "t1", &in, NULL), 0,
		     "the other's lock is gone");
	cr_assert_str_neq(in.rec.lock_id, mine);
	cr_assert_eq(in.rec.pid, LOKT_DETACHED_PID);
	lokt_store_close(s);
}

Test(tended, renew_after_a_steal_is_lost, .init = start, .fini = stop)
{
	struct lokt_store *s = open_store();
	struct lokt_result res, now;
	struct lokt_info in;
	struct lokt_who who;
	char mine[LOKT_ID_LEN + 1];

	take_tended(s, "t2", &who, &res);
	snprintf(mine, sizeof(mine), "%s", res.lock.lock_id);
	steal("t2");
	cr_assert_eq(lokt_renew(s, "t2", mine, &who, 30, &now), -LOKT_E_LOST);
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "t2", &in, NULL), 0);
	cr_assert_str_neq(in.rec.lock_id, mine);
	cr_assert_eq(in.rec.ttl_sec, 60, "the other's lock was rewritten");
	lokt_store_close(s);
}

Test(tended, release_of_our_own_lock_still_works, .init = start,
     .fini = stop)
{
	struct lokt_store *s = open_store();
	struct lokt_result res, now;
	struct lokt_info in;
	struct lokt_who who;

	take_tended(s, "t3", &who, &res);
	cr_assert_eq(lokt_renew(s, "t3", res.lock.lock_id, &who, 0, &now), 0);
	cr_assert_eq(lokt_release(s, "t3", &who, res.lock.lock_id, 0, &now),
		     0);
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "t3", &in, NULL),
		     -LOKT_E_NOT_FOUND);
	lokt_store_close(s);
}

/* The lease lives while it is tended, past its TTL, and dies without. */
Test(tended, tend_keeps_the_lease_and_says_lost_when_gone, .init = start,
     .fini = stop)
{
	struct lokt_store *s = open_store();
	struct timespec half = { 0, 500 * 1000000L };
	struct lokt_result res;
	struct lokt_info in;
	struct lokt_who who;
	int64_t next = 0;

	take_tended(s, "t4", &who, &res);
	/* No keeper process: nobody but us keeps the lease alive. */
	for (int i = 0; i < 8; i++) { /* 4 s: twice the lease */
		cr_assert_eq(lokt_tend(s, "t4", res.lock.lock_id, &next), 0);
		cr_assert_gt(next, 0);
		nanosleep(&half, NULL);
	}
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "t4", &in, NULL), 0,
		     "the tended lock did not outlive its lease");
	/* Untended, it goes with its lease. */
	for (int i = 0; i < 20 && lokt_get(s, LOKT_LOCK, "t4", &in, NULL) == 0;
	     i++)
		nanosleep(&half, NULL);
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "t4", &in, NULL),
		     -LOKT_E_NOT_FOUND, "the lease outlived its holder");
	cr_assert_eq(lokt_tend(s, "t4", res.lock.lock_id, &next),
		     -LOKT_E_LOST);
	lokt_store_close(s);
}

/* A process that did not make the lock (guard's watchdog) finds its
 * lease; a lock that is not tended has none to find. */
Test(tended, tend_from_another_process, .init = start, .fini = stop)
{
	struct lokt_store *s = open_store();
	struct lokt_result res;
	struct lokt_who who;
	int status;
	pid_t pid;

	take_tended(s, "t5", &who, &res);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct lokt_store *o;
		int64_t next;

		if (lokt_store_open(root, &o) < 0)
			_exit(10);
		_exit(lokt_tend(o, "t5", res.lock.lock_id, &next) == 0 &&
				      next > 0 &&
				      lokt_tend(o, "t5", "0123456789abcdef0123456789abcdef",
						&next) == -LOKT_E_LOST ?
			      0 :
			      11);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	lokt_store_close(s);
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* SIGSTOP pid and return once every thread of it is stopped (kill(2)
 * returns before: a thread on another core may still answer). */
static void stop_member(pid_t pid)
{
	char path[64], buf[512], *p;
	struct dirent *de;
	bool all;
	DIR *d;

	kill(pid, SIGSTOP);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	for (int i = 0; i < 500; i++) {
		d = opendir(path);
		cr_assert_not_null(d);
		all = true;
		while ((de = readdir(d)) && all) {
			FILE *f;

			if (de->d_name[0] == '.')
				continue;
			snprintf(buf, sizeof(buf), "%s/%s/stat", path, de->d_name);
			f = fopen(buf, "r");
			if (!f)
				continue;
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
			p = strrchr(buf, ')');
			all = p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
		}
		closedir(d);
		if (all)
			return;
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
	}
	cr_assert_fail("etcd (pid %d) did not stop", (int)pid);
}

/* A cluster that does not answer: a call is given up at the deadline
 * (guard sets one within its lease), not after the request timeout. */
Test(tended, deadline_bounds_a_call, .init = start, .fini = stop)
{
	struct lokt_store *s;
	struct lokt_info in;
	int64_t t0, took;
	int r;

	setenv("LOKT_ETCD_TIMEOUT", "30s", 1);
	s = open_store();
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "d1", &in, NULL),
		     -LOKT_E_NOT_FOUND);
	stop_member(cluster.pid[0]);
	t0 = mono_ms();
	lokt_store_set_deadline(s, t0 + 500);
	r = lokt_get(s, LOKT_LOCK, "d1", &in, NULL);
	took = mono_ms() - t0;
	kill(cluster.pid[0], SIGCONT);
	cr_assert_eq(r, -LOKT_E_UNAVAILABLE, "got %d", r);
	/* 30 s without the deadline; anything near 0.5 s with it. */
	cr_assert_lt(took, 10000, "a call waited %lld ms past its deadline",
		     (long long)took);
	lokt_store_set_deadline(s, 0);
	cr_assert_eq(lokt_get(s, LOKT_LOCK, "d1", &in, NULL),
		     -LOKT_E_NOT_FOUND, "the deadline outlived its clearing");
	lokt_store_close(s);
	unsetenv("LOKT_ETCD_TIMEOUT");
}

/* A renewal cut by its deadline (guard renews within its lease, the
 * watchdog before its SIGKILL) is given up then: only a creation gets a
 * grace to be read back (a lock could be left behind it), and with the
 * cluster stopped that grace would hold the renewal 2 s more. */
Test(tended, a_renewal_cut_by_its_deadline_is_not_graced, .init = start,
     .fini = stop)
{
	struct lokt_store *s;
	struct lokt_result res, now;
	struct lokt_who who;
	int64_t t0, took;
	int r;

	setenv("LOKT_ETCD_TIMEOUT", "30s", 1);
	s = open_store();
	take_tended(s, "r1", &who, &res);
	stop_member(cluster.pid[0]);
	t0 = mono_ms();
	lokt_store_set_deadline(s, t0 + 500);
	r = lokt_renew(s, "r1", res.lock.lock_id, &who, 60, &now);
	took = mono_ms() - t0;
	lokt_store_set_deadline(s, 0);
	kill(cluster.pid[0], SIGCONT);
	cr_assert_lt(r, 0, "a renewal with the cluster stopped succeeded");
	/* 0.5 s, or 2.5 s with a creation's grace. */
	cr_assert_lt(took, 1800, "the renewal took %lld ms past a 500 ms "
				 "deadline",
		     (long long)took);
	lokt_store_close(s);
	unsetenv("LOKT_ETCD_TIMEOUT");
}

/* What etcdctl prints for CMD on the member (its first line). */
__attribute__((format(printf, 3, 4))) static void
etcdctl(char *out, size_t size, const char *fmt, ...)
{
	char cmd[512], args[256];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints %s %s 2>&1",
		 cluster.endpoint[0], args);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	if (!fgets(out, (int)size, f))
		out[0] = '\0';
	pclose(f);
}

/* A tended lock lost behind this process's back (forced away and taken
 * elsewhere), then taken again here: releasing the new lock revokes the
 * new lock's lease, not the old one's (an old entry of the same name
 * must not stand for it). */
Test(tended, a_lock_taken_again_revokes_its_own_lease, .init = start,
     .fini = stop, .timeout = 60)
{
	struct lokt_store *s = open_store();
	struct lokt_result res, now;
	struct lokt_who who;
	long long lease = 0;
	char out[512], *p;

	take_tended(s, "t9", &who, &res);
	steal("t9");
	cr_assert_eq(lokt_release(s, "t9", &who, NULL, LOKT_RELEASE_FORCE,
				  NULL),
		     0);
	take_tended(s, "t9", &who, &res);
	etcdctl(out, sizeof(out), "get /tended/held/t9 --print-value-only");
	p = strstr(out, "\"lease\":");
	cr_assert_not_null(p, "no lease in held/t9: %s", out);
	lease = strtoll(p + 8, NULL, 10);
	cr_assert_gt(lease, 0);
	cr_assert_eq(lokt_release(s, "t9", &who, res.lock.lock_id, 0, &now), 0);
	etcdctl(out, sizeof(out), "lease timetolive %llx", lease);
	cr_assert(strstr(out, "expired") != NULL,
		  "the released lock's lease was left alive: %s", out);
	lokt_store_close(s);
}

/* A watch of a lock this process tends starts at its last write: a
 * steal made before the watch is reported by it (lokt.h, lokt_watch),
 * so guard need not look at once. */
Test(tended, a_watch_sees_what_happened_since_the_last_write, .init = start,
     .fini = stop, .timeout = 60)
{
	struct lokt_store *s = open_store();
	struct lokt_result res;
	struct lokt_who who;
	struct pollfd p;
	int fd = -1;

	take_tended(s, "w1", &who, &res);
	steal("w1");
	cr_assert_eq(lokt_watch(s, LOKT_LOCK, "w1", &fd), 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1,
		     "the steal before the watch was not reported");
	cr_assert_eq(lokt_watch_changed(fd, "w1"), 1);
	close(fd);
	lokt_store_close(s);
}

/* So is a slot of a semaphore (a gate's holder) tended here: a steal
 * made before the watch is reported by it. guard takes slots too, and
 * looks at its lock first only after a periodic wait (cli/guard.c). */
Test(tended, a_watch_of_a_slot_sees_what_happened_since_the_last_write,
     .init = start, .fini = stop, .timeout = 60)
{
	struct lokt_store *s = open_store();
	struct lokt_acquire_opts o = { .keeper = getpid(), .slots = 2 };
	struct lokt_result res;
	struct lokt_who who;
	struct pollfd p;
	int fd = -1;

	who_of(getpid(), &who);
	cr_assert_eq(lokt_acquire(s, "w2", &who, &o, &res), 0);
	cr_assert_gt(res.lock.fence, 0);
	steal("w2");
	cr_assert_eq(lokt_watch(s, LOKT_LOCK, "w2", &fd), 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1,
		     "the steal before the watch was not reported");
	cr_assert_eq(lokt_watch_changed(fd, "w2"), 1);
	close(fd);
	lokt_store_close(s);
}

/* Stack below the caller zeroed, as a fresh thread's is: what a read
 * past the end of a short read finds there decides nothing then. */
static __attribute__((noinline)) void zero_stack(void)
{
	char pad[65536];

	explicit_bzero(pad, sizeof(pad)); /* never left out as dead */
}

/* lokt_watch_changed on an etcd watch (a socket its relay writes a
 * byte to per change, not inotify): 1 for a change, 0 once drained,
 * whatever lies on the stack (read as inotify events, the one byte was
 * an event header read past the read: 0 on a zeroed stack, so guard
 * on etcd never saw its watch fire). */
Test(tended, watch_changed_says_so_on_etcd, .init = start, .fini = stop,
     .timeout = 60)
{
	struct lokt_store *s = open_store();
	struct lokt_result res;
	struct lokt_who who;
	struct pollfd p;
	int fd = -1;

	take_tended(s, "w3", &who, &res);
	cr_assert_eq(lokt_watch(s, LOKT_LOCK, "w3", &fd), 0);
	steal("w3");
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "the steal was not reported");
	zero_stack();
	cr_assert_eq(lokt_watch_changed(fd, "w3"), 1,
		     "a change on the watch was not said to be one");
	zero_stack();
	cr_assert_eq(lokt_watch_changed(fd, "w3"), 0,
		     "nothing pending, yet a change was said");
	close(fd);
	lokt_store_close(s);
}

/* Descriptors this process has open. */
static int open_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A long-lived holder that takes and releases a tended lock again and
 * again, never waiting: each lock watched its queue for an offer while
 * held (the hand-over, docs/protocol.md), and that watch ends with the
 * release; its descriptor and thread must not pile up. */
Test(tended, many_holds_keep_no_queue_watch, .init = start, .fini = stop)
{
	struct lokt_store *s = open_store();
	struct lokt_result res;
	struct lokt_who who;
	int before, after;

	take_tended(s, "t9", &who, &res);
	cr_assert_eq(lokt_release(s, "t9", &who, res.lock.lock_id, 0, NULL), 0);
	before = open_fds();
	for (int i = 0; i < 40; i++) {
		take_tended(s, "t9", &who, &res);
		cr_assert_eq(
		    lokt_release(s, "t9", &who, res.lock.lock_id, 0, NULL), 0);
	}
	after = open_fds();
	cr_assert_leq(after, before + 2,
		      "40 holds left %d descriptors open (%d before)", after,
		      before);
	lokt_store_close(s);
}
