// SPDX-License-Identifier: MIT
/*
 * A store shared by several users through the CLI or the library: a root
 * that others may write (an admin's `install -d -m 2775 -g deploy`) passes
 * its group/other write bits on to what liblokt creates inside, so the
 * second user can take a lock whose sidecar and queue the first user
 * created. Real processes with real uids: root creates, `nobody` follows.
 * Without the share bits, nobody's open of root's 0644 sidecar fails with
 * EACCES (checked by hand when these were written). And on a store the
 * second user may only read, a release still tells not-owner and
 * not-found apart.
 */
#include <grp.h>
#include <sys/stat.h>

#include "proto.h"

#define NOBODY 65534

static char *dir, *root;

/* A temp dir others may traverse, and a root of mode `mode` in it. */
static void shared_setup(mode_t mode)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to run a second user (uid %d)",
			     NOBODY);
	dir = unit_tmpdir();
	cr_assert_eq(chmod(dir, 0711), 0);
	cr_assert(asprintf(&root, "%s/root", dir) > 0);
	cr_assert_eq(mkdir(root, 0700), 0);
	cr_assert_eq(chmod(root, mode), 0); /* whatever the umask */
}

static void shared_teardown(void)
{
	if (dir)
		unit_rmrf(dir);
	free(root);
	free(dir);
	dir = root = NULL;
}

TestSuite(shared, .fini = shared_teardown, .timeout = 60);

static mode_t mode_of(const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* In a child: become nobody, then acquire "x" (waiting up to 60 s when
 * wait) and release it. Exit CHILD_WON, or CHILD_ERROR+ with the step. */
static int as_nobody(bool wait)
{
	struct lokt_acquire_opts opts = { .wait = wait, .timeout_ms = 60000 };
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;

	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return CHILD_ERROR;
	if (lokt_store_open(root, &s) < 0)
		return CHILD_ERROR + 1;
	me = who_of(getpid(), "bob");
	if (lokt_acquire(s, "x", &me, &opts, &res) < 0)
		return CHILD_ERROR + 2;
	if (res.lock.uid != NOBODY)
		return CHILD_ERROR + 3;
	if (lokt_release(s, "x", &me, res.lock.lock_id, 0, &res) < 0)
		return CHILD_ERROR + 4;
	lokt_store_close(s);
	return CHILD_WON;
}

/* Until pid waits for "x"; fails at once if pid exits first. */
static void wait_for_waiter(struct lokt_store *s, pid_t pid)
{
	size_t n = 0;
	int st;

	for (;;) {
		cr_assert_eq(lokt_waiters(s, "x", &n), 0);
		if (n > 0)
			return;
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the waiter exited (status %#x) before "
				       "it queued",
				       st);
		sleep_us(10000);
	}
}

Test(shared, second_user_takes_a_lock_the_first_created)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;
	pid_t pid;

	shared_setup(02777);
	cr_assert_eq(lokt_store_open(root, &s), 0);
	me = who_of(getpid(), "alice");
	cr_assert_eq(lokt_acquire(s, "x", &me, &opts, &res), 0);
	cr_assert_eq(res.lock.fence, 1);
	cr_assert_eq(lokt_release(s, "x", &me, NULL, 0, &res), 0);

	cr_expect_eq(mode_of("locks") & 0022, 0022, "locks/ is %o",
		     mode_of("locks"));
	cr_expect_eq(mode_of("freezes") & 0022, 0022);
	cr_expect_eq(mode_of("locks/.x.lk") & 0022, 0022,
		     "sidecar is %o", mode_of("locks/.x.lk"));

	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(as_nobody(false));
	cr_assert_eq(reap(pid), CHILD_WON, "nobody could not take x");

	/* The fence went on from the second user's acquisition. */
	cr_assert_eq(lokt_acquire(s, "x", &me, &opts, &res), 0);
	cr_assert_eq(res.lock.fence, 3);
	lokt_store_close(s);
}

Test(shared, second_user_waits_in_a_queue_the_first_created)
{
	struct lokt_acquire_opts opts = { 0 }, wait = { .wait = true,
							.timeout_ms = 60000 };
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;
	pid_t pid;

	shared_setup(0777);
	cr_assert_eq(lokt_store_open(root, &s), 0);
	me = who_of(getpid(), "alice");

	/* A waiter of root's creates the queue directory. */
	cr_assert_eq(lokt_acquire(s, "x", &me, &opts, &res), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct lokt_who w = who_of(getpid(), "carol");

		_exit(lokt_acquire(s, "x", &w, &wait, &res) == 0 &&
				      lokt_release(s, "x", &w, NULL, 0,
						   &res) == 0 ?
			      CHILD_WON :
			      CHILD_ERROR);
	}
	wait_for_waiter(s, pid);
	cr_assert_eq(lokt_release(s, "x", &me, NULL, 0, &res), 0);
	cr_assert_eq(reap(pid), CHILD_WON);

	cr_expect_eq(mode_of("locks/.x.q") & 0022, 0022, "queue is %o",
		     mode_of("locks/.x.q"));

	/* nobody queues behind root's lock in root's queue and gets in
	 * when it is released. */
	cr_assert_eq(lokt_acquire(s, "x", &me, &opts, &res), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(as_nobody(true));
	wait_for_waiter(s, pid);
	cr_assert_eq(lokt_release(s, "x", &me, NULL, 0, &res), 0);
	cr_assert_eq(reap(pid), CHILD_WON, "nobody did not get x");
	lokt_store_close(s);
}

Test(shared, sticky_root_is_not_passed_on)
{
	struct lokt_store *s;

	shared_setup(01777);
	cr_assert_eq(lokt_store_open(root, &s), 0);
	cr_expect_eq(mode_of("locks") & 01022, 0022, "locks/ is %o",
		     mode_of("locks"));
	lokt_store_close(s);
}

Test(shared, private_root_stays_private)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;

	shared_setup(0755);
	cr_assert_eq(lokt_store_open(root, &s), 0);
	me = who_of(getpid(), "alice");
	cr_assert_eq(lokt_acquire(s, "x", &me, &opts, &res), 0);
	cr_expect_eq(mode_of("locks/.x.lk") & 0022, 0);
	cr_expect_eq(mode_of("locks") & 0022, 0);
	lokt_store_close(s);
}

/* In a child: become nobody, and release on root's 0755 store, which
 * nobody may read but not write. Exit CHILD_WON, or CHILD_ERROR+ with
 * the step that answered wrong. */
static int release_as_nobody(void)
{
	static const char other_id[] = "0123456789abcdef0123456789abcdef";
	struct lokt_who bob, alice;
	struct lokt_result res;
	struct lokt_store *s;

	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return CHILD_ERROR;
	if (lokt_store_open(root, &s) < 0)
		return CHILD_ERROR + 1;
	bob = who_of(getpid(), "bob");
	alice = who_of(getpid(), "alice");
	if (lokt_release(s, "x", &bob, NULL, 0, &res) != -LOKT_E_NOT_OWNER ||
	    strcmp(res.other.rec.owner, "alice"))
		return CHILD_ERROR + 2;
	if (lokt_release(s, "free", &bob, NULL, 0, &res) != -LOKT_E_NOT_FOUND)
		return CHILD_ERROR + 3;
	if (lokt_release(s, "x", &bob, other_id, 0, &res) != -LOKT_E_LOST ||
	    lokt_release(s, "free", &bob, other_id, 0, &res) != -LOKT_E_LOST)
		return CHILD_ERROR + 4;
	/* Allowed, but impossible: the system error says what to fix. */
	if (lokt_release(s, "x", &alice, NULL, 0, &res) != -EACCES ||
	    lokt_release(s, "x", &bob, NULL, LOKT_RELEASE_FORCE, &res) !=
		    -EACCES)
		return CHILD_ERROR + 5;
	lokt_store_close(s);
	return CHILD_WON;
}

Test(shared, release_on_a_store_the_caller_cannot_write)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;
	pid_t pid;
	int rc;

	shared_setup(0755);
	cr_assert_eq(lokt_store_open(root, &s), 0);
	me = who_of(getpid(), "alice");
	cr_assert_eq(lokt_acquire(s, "x", &me, &opts, &res), 0);

	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(release_as_nobody());
	rc = reap(pid);
	cr_assert_eq(rc, CHILD_WON,
		     "nobody's release answered wrong at step %d (exit %d)",
		     rc - CHILD_ERROR, rc);
	cr_expect_eq(lokt_release(s, "x", &me, NULL, 0, &res), 0,
		     "the lock was still there, untouched");
	lokt_store_close(s);
}
