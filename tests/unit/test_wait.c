// SPDX-License-Identifier: MIT
/*
 * Waiting, with real processes: waiters forked in a known order are
 * served in that order; a waiter killed with SIGKILL does not block those
 * behind it; a plain acquisition of a free lock with waiters queued is
 * refused; a holder's death, a release, an unfreeze and a freeze's expiry
 * wake waiters; timeouts and cancellation leave no ticket behind; a
 * waiter behind one that acquires is rung and moves to the head while
 * that one still holds. Only orders and outcomes are asserted; waits are
 * for states, with generous deadlines.
 *
 * Every test here runs with the waiters' periodic re-check off
 * (lokt__wait_recheck_ms < 0): each wake-up it needs must come from an
 * event (inotify, a doorbell, a pidfd, an expiry timer), or it hangs and
 * fails.
 */
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "proto.h"
#include "protocol.h" /* lokt__wait_recheck_ms */

static void wait_setup(void)
{
	fx_setup();
	lokt__wait_recheck_ms = -1; /* inherited by the forked waiters */
}

TestSuite(wait, .init = wait_setup, .fini = fx_teardown, .timeout = 100);

#define CHILD_TIMEOUT 4
#define CHILD_CANCELED 5

static volatile sig_atomic_t canceled;

static void on_usr1(int sig)
{
	canceled = 1;
}

/* Set before forking: a waiter that acquires holds until go.<k> exists. */
static bool hold_for_go;

struct seen {
	size_t max_position;
	int k; /* the waiter's number */
	bool reported; /* its first progress report is known to the test */
	bool at_head; /* it has reported position 1 */
};

/* A marker file of waiter k: "reported" (its place, once), "head" (it
 * reported position 1), "go" (the test lets it release). */
static void marker_path(char *buf, size_t size, const char *what, int k)
{
	char rel[32];

	snprintf(rel, sizeof(rel), "%s.%d", what, k);
	fx_path(buf, size, rel);
}

static void marker_make(const char *what, int k)
{
	char path[PATH_MAX];
	int fd;

	marker_path(path, sizeof(path), what, k);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

static bool marker_exists(const char *what, int k)
{
	char path[PATH_MAX];

	marker_path(path, sizeof(path), what, k);
	return access(path, F_OK) == 0;
}

static void progress(const struct lokt_progress *p, void *userdata)
{
	struct seen *s = userdata;

	if (p->position > s->max_position)
		s->max_position = p->position;
	if (!s->reported) {
		marker_make("reported", s->k);
		s->reported = true;
	}
	if (p->position == 1 && !s->at_head) {
		marker_make("head", s->k);
		s->at_head = true;
	}
}

/* A waiter: queue for name, then log "k:max-position" and release. */
static int waiter(const char *name, int k, int64_t timeout_ms, int log)
{
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART */
	struct seen seen = { .k = k };
	struct lokt_acquire_opts opts = {
		.wait = true,
		.timeout_ms = timeout_ms,
		.progress = progress,
		.userdata = &seen,
		.cancel = &canceled,
	};
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;
	char line[32];
	int r, len;

	sigaction(SIGUSR1, &sa, NULL);
	if (lokt_store_open(fx.root, &s) < 0)
		return CHILD_ERROR;
	me = who_of(getpid(), "waiter");
	r = lokt_acquire(s, name, &me, &opts, &res);
	if (r == -LOKT_E_TIMEOUT)
		return CHILD_TIMEOUT;
	if (r == -LOKT_E_CANCELED)
		return CHILD_CANCELED;
	if (r < 0)
		return CHILD_ERROR;
	len = snprintf(line, sizeof(line), "%d:%zu ", k, seen.max_position);
	if (log >= 0 && write(log, line, len) != len)
		return CHILD_ERROR;
	for (int i = 0; hold_for_go && !marker_exists("go", k); i++) {
		if (i == 20000)
			return CHILD_ERROR;
		sleep_us(5000);
	}
	sleep_us(20000);
	if (lokt_release(s, name, &me, res.lock.lock_id, 0, &res) < 0)
		return CHILD_ERROR;
	lokt_store_close(s);
	return CHILD_WON;
}

static pid_t spawn_waiter(const char *name, int k, int64_t timeout_ms,
			  int log)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0)
		_exit(waiter(name, k, timeout_ms, log));
	return pid;
}

/* Wait (generously) until waiter k has reported its place in line: only
 * then is its first position known to count every waiter ahead of it. */
static void wait_reported(int k)
{
	for (int i = 0; i < 2000; i++) {
		if (marker_exists("reported", k))
			return;
		sleep_us(5000);
	}
	cr_assert_fail("waiter %d never reported its place", k);
}

/* Wait (generously) until name has n live waiters. */
static void wait_waiters(const char *name, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(lokt_waiters(fx.s, name, &got), 0);
		if (got == n)
			return;
		sleep_us(5000);
	}
	cr_assert_fail("%zu waiters, want %zu", got, n);
}

static int open_log(char *path, size_t size)
{
	int fd;

	fx_path(path, size, "order");
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	cr_assert(fd >= 0);
	return fd;
}

static void expect_log(const char *path, const char *want)
{
	char buf[128] = "";
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f);
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	cr_expect_str_eq(buf, want);
}

Test(wait, fifo_order_and_queue_blocks_plain_acquire)
{
	struct lokt_who me = who_of(getpid(), "holder");
	struct lokt_who other = who_of(getppid(), "other");
	struct lokt_result res;
	char logp[PATH_MAX];
	pid_t w[3];
	int log = open_log(logp, sizeof(logp)), i;

	cr_assert_eq(lokt_acquire(fx.s, "q", &me, NULL, &res), 0);
	for (i = 0; i < 3; i++) {
		w[i] = spawn_waiter("q", i + 1, 60000, log);
		wait_waiters("q", i + 1);
		wait_reported(i + 1);
	}
	/* Stop the first waiter: alive, so still first in line. */
	kill(w[0], SIGSTOP);
	cr_assert_eq(lokt_release(fx.s, "q", &me, NULL, 0, &res), 0);
	cr_expect_eq(lokt_acquire(fx.s, "q", &other, NULL, &res),
		     -LOKT_E_HELD, "a free lock with waiters is not free");
	cr_expect_eq(res.waiters_ahead, 3);
	cr_expect_not(res.have_other);
	kill(w[0], SIGCONT);
	for (i = 0; i < 3; i++)
		cr_expect_eq(reap(w[i]), CHILD_WON, "waiter %d", i + 1);
	close(log);
	expect_log(logp, "1:1 2:2 3:3 ");
	wait_waiters("q", 0);
}

Test(wait, killed_waiter_does_not_block)
{
	struct lokt_who me = who_of(getpid(), "holder");
	struct lokt_result res;
	char logp[PATH_MAX];
	pid_t w[3];
	int log = open_log(logp, sizeof(logp)), i;

	cr_assert_eq(lokt_acquire(fx.s, "q", &me, NULL, &res), 0);
	for (i = 0; i < 3; i++) {
		w[i] = spawn_waiter("q", i + 1, 60000, log);
		wait_waiters("q", i + 1);
		wait_reported(i + 1);
	}
	kill(w[0], SIGKILL);
	cr_expect_eq(reap(w[0]), 128 + SIGKILL);
	wait_waiters("q", 2);
	cr_assert_eq(lokt_release(fx.s, "q", &me, NULL, 0, &res), 0);
	cr_expect_eq(reap(w[1]), CHILD_WON);
	cr_expect_eq(reap(w[2]), CHILD_WON);
	close(log);
	/* Waiter 2 saw itself second until waiter 1's ticket was found dead. */
	expect_log(logp, "2:2 3:3 ");
}

/* Waiter 2 waits behind waiter 1. When 1 acquires, it leaves the queue and
 * rings 2's doorbell: 2 moves to the head (reports position 1) while 1 is
 * alive and holds, so neither a death nor a re-check (off) can be what
 * woke it. Then 1 releases and 2 gets in. */
Test(wait, doorbell_moves_the_next_waiter_to_the_head)
{
	struct lokt_who me = who_of(getpid(), "holder");
	struct lokt_result res;
	char logp[PATH_MAX];
	int log = open_log(logp, sizeof(logp)), i;
	pid_t w[2];

	hold_for_go = true;
	cr_assert_eq(lokt_acquire(fx.s, "q", &me, NULL, &res), 0);
	for (i = 0; i < 2; i++) {
		w[i] = spawn_waiter("q", i + 1, 60000, log);
		wait_waiters("q", i + 1);
		wait_reported(i + 1);
	}
	cr_expect_not(marker_exists("head", 2), "2 is behind 1");
	cr_assert_eq(lokt_release(fx.s, "q", &me, NULL, 0, &res), 0);
	wait_waiters("q", 1); /* 1 acquired and left the queue */
	for (i = 0; i < 2000 && !marker_exists("head", 2); i++)
		sleep_us(5000);
	cr_expect(marker_exists("head", 2), "2 was rung to the head");
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "q", &res.other, NULL), 0);
	cr_expect_eq(res.other.rec.pid, w[0], "while 1 holds");
	marker_make("go", 1);
	marker_make("go", 2);
	cr_expect_eq(reap(w[0]), CHILD_WON);
	cr_expect_eq(reap(w[1]), CHILD_WON);
	close(log);
	expect_log(logp, "1:1 2:2 ");
	wait_waiters("q", 0);
}

/* A member of a shared store plants files where doorbells go: a symlink
 * where the next waiter's bell will be made, and a regular file in place
 * of a waiting waiter's bell. The first is replaced by a FIFO, its target
 * untouched; the second is not written when the waiter ahead leaves and
 * rings; the queue still works. */
Test(wait, planted_bells_are_neither_followed_nor_written)
{
	struct lokt_who me = who_of(getpid(), "holder");
	struct lokt_result res;
	char qdir[PATH_MAX], bell1[PATH_MAX + 32], bell2[PATH_MAX + 32];
	char victim[PATH_MAX];
	struct stat st;
	pid_t w1, w2;
	int fd;

	fx_path(qdir, sizeof(qdir), "root/locks/.q.q");
	fx_path(victim, sizeof(victim), "victim");
	snprintf(bell1, sizeof(bell1), "%s/%020d.bell", qdir, 1);
	snprintf(bell2, sizeof(bell2), "%s/%020d.bell", qdir, 2);
	fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "keep", 4), 4);
	close(fd);
	cr_assert_eq(mkdir(qdir, 0755), 0);
	cr_assert_eq(symlink(victim, bell1), 0);

	cr_assert_eq(lokt_acquire(fx.s, "q", &me, NULL, &res), 0);
	w1 = spawn_waiter("q", 1, -1, -1);
	wait_waiters("q", 1);
	wait_reported(1);
	cr_expect(lstat(bell1, &st) == 0 && S_ISFIFO(st.st_mode),
		  "the planted symlink was replaced by a doorbell");
	cr_expect(stat(victim, &st) == 0 && S_ISREG(st.st_mode) &&
			  st.st_size == 4,
		  "its target untouched");

	w2 = spawn_waiter("q", 2, 60000, -1);
	wait_waiters("q", 2);
	wait_reported(2);
	cr_assert_eq(unlink(bell2), 0);
	fd = open(bell2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	cr_assert(fd >= 0);
	close(fd);
	kill(w1, SIGUSR1); /* waiter 1 leaves and rings 2's "bell" */
	cr_expect_eq(reap(w1), CHILD_CANCELED);
	cr_expect(lstat(bell2, &st) == 0 && S_ISREG(st.st_mode) &&
			  st.st_size == 0,
		  "a regular file is not rung");
	cr_assert_eq(lokt_release(fx.s, "q", &me, NULL, 0, &res), 0);
	cr_expect_eq(reap(w2), CHILD_WON, "the queue still works");
	wait_waiters("q", 0);
}

Test(wait, holder_death_wakes_waiter)
{
	struct lokt_info in;
	pid_t holder, w;

	holder = fork();
	cr_assert(holder >= 0);
	if (holder == 0) {
		struct lokt_who me = who_of(getpid(), "holder");
		struct lokt_result res;

		if (lokt_acquire(fx.s, "q", &me, NULL, &res) < 0)
			_exit(CHILD_ERROR);
		for (;;)
			pause();
	}
	for (int i = 0; lokt_get(fx.s, LOKT_LOCK, "q", &in, NULL) < 0; i++) {
		cr_assert_lt(i, 2000, "the holder never acquired");
		sleep_us(5000);
	}
	w = spawn_waiter("q", 1, 60000, -1);
	wait_waiters("q", 1);
	kill(holder, SIGKILL);
	cr_expect_eq(reap(holder), 128 + SIGKILL);
	cr_expect_eq(reap(w), CHILD_WON);
	cr_expect(audit_has("\"reason\":\"dead\""));
}

Test(wait, unfreeze_and_freeze_expiry_wake_waiters)
{
	struct lokt_who me = who_of(getpid(), "ops");
	struct lokt_result res;
	pid_t w;

	cr_assert_eq(lokt_freeze(fx.s, "q", &me, 600, &res), 0);
	w = spawn_waiter("q", 1, 60000, -1);
	wait_waiters("q", 1);
	cr_assert_eq(lokt_unfreeze(fx.s, "q", &me, false, &res), 0);
	cr_expect_eq(reap(w), CHILD_WON);

	cr_assert_eq(lokt_freeze(fx.s, "q", &me, 1, &res), 0);
	w = spawn_waiter("q", 2, 60000, -1);
	cr_expect_eq(reap(w), CHILD_WON, "woken when the freeze expired");
}

Test(wait, timeout_and_cancel_leave_no_ticket)
{
	struct lokt_who me = who_of(getpid(), "holder");
	struct lokt_result res;
	pid_t w;

	cr_assert_eq(lokt_acquire(fx.s, "q", &me, NULL, &res), 0);
	w = spawn_waiter("q", 1, 200, -1);
	cr_expect_eq(reap(w), CHILD_TIMEOUT);
	cr_expect(audit_has("\"reason\":\"timeout\""));
	wait_waiters("q", 0);

	w = spawn_waiter("q", 1, -1, -1);
	wait_waiters("q", 1);
	kill(w, SIGUSR1);
	cr_expect_eq(reap(w), CHILD_CANCELED);
	wait_waiters("q", 0);
	/* Nothing left in the queue directory either. */
	char q[PATH_MAX];
	int n = 0;

	fx_path(q, sizeof(q), "root/locks/.q.q");
	DIR *d = opendir(q);

	cr_assert_not_null(d);
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	cr_expect_eq(n, 0);
}

/* lokt_watch: readable when the name's record changes, by this process or
 * another; quiet (0) for other names. */
static int watch_poll(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms);
}

Test(wait, watch_sees_the_name_change_and_only_it)
{
	struct lokt_who me = who_of(getpid(), "alice");
	struct lokt_acquire_opts none = { 0 };
	struct lokt_result res;
	pid_t pid;
	int fd;

	cr_assert_eq(lokt_watch(fx.s, LOKT_LOCK, "x", &fd), 0);
	cr_expect_eq(lokt_watch(fx.s, LOKT_LOCK, "../x", &fd), -LOKT_E_BAD_NAME);
	cr_expect_eq(watch_poll(fd, 0), 0, "nothing happened yet");
	cr_expect_eq(lokt_watch_changed(fd, "x"), 0);

	cr_assert_eq(lokt_acquire(fx.s, "y", &me, &none, &res), 0);
	cr_expect_eq(lokt_watch_changed(fd, "x"), 0, "y is not x");

	cr_assert_eq(lokt_acquire(fx.s, "x", &me, &none, &res), 0);
	cr_expect_eq(watch_poll(fd, 10000), 1);
	cr_expect_eq(lokt_watch_changed(fd, "x"), 1, "x was created");
	cr_expect_eq(lokt_watch_changed(fd, "x"), 0, "and that was consumed");

	/* Another process breaks it: the holder learns without polling the
	 * file. */
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct lokt_who bob = who_of(getpid(), "bob");

		_exit(lokt_release(fx.s, "x", &bob, NULL, LOKT_RELEASE_FORCE,
				   &res) == 0 ?
			      CHILD_WON :
			      CHILD_ERROR);
	}
	cr_assert_eq(reap(pid), CHILD_WON);
	cr_expect_eq(watch_poll(fd, 10000), 1);
	cr_expect_eq(lokt_watch_changed(fd, "x"), 1, "x was removed");
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "x", &res.other, NULL),
		     -LOKT_E_NOT_FOUND);
	close(fd);
	cr_expect_eq(lokt_watch_changed(-1, "x"), -EINVAL);
}

/* Zeroes a stretch of the stack below the caller's frame, where the next
 * call's locals will be. */
static __attribute__((noinline)) void clear_stack(void)
{
	volatile char pad[16384];

	memset((char *)pad, 0, sizeof(pad));
}

/* A networked store's watch is a socket, each byte a change (etcd's
 * relay, core/etcd/backend.c): lokt_watch_changed says 1 for it, whatever
 * the stack held, and then 0 once it is drained. Read as inotify events
 * (the header's mask and length from a zeroed stack), it said 0. */
Test(wait, a_socket_watch_reports_each_byte_as_a_change)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
		     0);
	cr_expect_eq(lokt_watch_changed(sv[0], "x"), 0, "nothing yet");
	cr_assert_eq(write(sv[1], "!", 1), 1);
	clear_stack();
	cr_expect_eq(lokt_watch_changed(sv[0], "x"), 1, "one change");
	cr_assert_eq(write(sv[1], "!!", 2), 2);
	clear_stack();
	cr_expect_eq(lokt_watch_changed(sv[0], "x"), 1, "two changes");
	cr_expect_eq(lokt_watch_changed(sv[0], "x"), 0, "drained");
	close(sv[0]);
	close(sv[1]);
}

/* A waiter's inotify instance is kept by the store for its next waiter
 * (core/dirwait.c). A store moved in between is watched where it is now:
 * a waiter that waited once, then waits again after the root was moved
 * and made anew, is woken by a release in the new store (re-checks are
 * off: nothing else would wake it before its timeout). */
Test(wait, a_kept_watch_follows_a_moved_store)
{
	struct lokt_who me = who_of(getpid(), "holder");
	struct lokt_result res;
	struct lokt_store *s2;
	struct lokt_info in;
	char old[PATH_MAX];
	pid_t pid;

	cr_assert_eq(lokt_acquire(fx.s, "q", &me, NULL, &res), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct lokt_acquire_opts o = { .wait = true,
					       .timeout_ms = 30000 };
		struct lokt_who w = who_of(getpid(), "waiter");
		struct lokt_result cres;
		struct lokt_store *s;

		if (lokt_store_open(fx.root, &s) < 0 ||
		    lokt_acquire(s, "q", &w, &o, &cres) < 0 ||
		    lokt_release(s, "q", &w, cres.lock.lock_id, 0, &cres) < 0)
			_exit(CHILD_ERROR);
		marker_make("first", 1);
		for (int i = 0; !marker_exists("moved", 1); i++) {
			if (i == 20000)
				_exit(CHILD_ERROR);
			sleep_us(5000);
		}
		switch (lokt_acquire(s, "q", &w, &o, &cres)) {
		case 0:
			_exit(CHILD_WON);
		case -LOKT_E_TIMEOUT:
			_exit(CHILD_TIMEOUT);
		default:
			_exit(CHILD_ERROR);
		}
	}
	wait_waiters("q", 1);
	cr_assert_eq(lokt_release(fx.s, "q", &me, NULL, 0, &res), 0);
	for (int i = 0; !marker_exists("first", 1); i++) {
		cr_assert_lt(i, 2000, "the first wait never ended");
		sleep_us(5000);
	}
	fx_path(old, sizeof(old), "root.old");
	cr_assert_eq(rename(fx.root, old), 0);
	cr_assert_eq(lokt_store_open(fx.root, &s2), 0);
	cr_assert_eq(lokt_acquire(s2, "q", &me, NULL, &res), 0);
	marker_make("moved", 1);
	for (size_t n = 0, i = 0; n != 1; i++) {
		cr_assert_lt(i, 2000, "the second wait never began");
		cr_assert_eq(lokt_waiters(s2, "q", &n), 0);
		sleep_us(5000);
	}
	cr_assert_eq(lokt_release(s2, "q", &me, NULL, 0, &res), 0);
	/* Its wait ends at 30 s with a last attempt, which would win: it
	 * must win long before, as a waiter woken does. */
	for (int i = 0; lokt_get(s2, LOKT_LOCK, "q", &in, NULL) < 0 ||
			strcmp(in.rec.owner, "waiter");
	     i++) {
		cr_assert_lt(i, 2000, "not woken in the moved store");
		sleep_us(5000);
	}
	cr_expect_eq(reap(pid), CHILD_WON);
	lokt_store_close(s2);
}
