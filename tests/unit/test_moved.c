// SPDX-License-Identifier: MIT
/*
 * A store moved while open (core/store.c, lokt__store_follow): an open
 * lokt_store serves the directory its root path names now, as any
 * program opening that path does, never the one it opened first. Each
 * test moves the root away with rename(2) and checks, with a second
 * store opened at the path (what the lokt CLI does), that the two grant
 * no lock twice; and a store moved again and again stops following.
 */
#include "proto.h"

TestSuite(moved, .init = fx_setup, .fini = fx_teardown);

static const struct lokt_acquire_opts no_opts = { 0 };

static void move_root(const char *to)
{
	char dst[PATH_MAX];

	fx_path(dst, sizeof(dst), to);
	cr_assert_eq(rename(fx.root, dst), 0, "rename: %s", strerror(errno));
}

Test(moved, follows_the_store_made_at_the_path)
{
	struct lokt_who me = who_of(getpid(), "me");
	struct lokt_who other = who_of(getppid(), "other");
	struct lokt_result res, theirs;
	struct lokt_store *s2;
	struct lokt_info info;

	cr_assert_eq(lokt_acquire(fx.s, "a", &me, &no_opts, &res), 0);
	move_root("root.old");
	cr_assert_eq(lokt_store_open(fx.root, &s2), 0);
	cr_assert_eq(lokt_acquire(s2, "b", &other, &no_opts, &theirs), 0);

	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "a", &info, NULL),
		     -LOKT_E_NOT_FOUND, "a lock of the moved store is shown");
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "b", &info, NULL), 0,
		     "the lock of the store at the path is not seen");
	cr_expect_str_eq(info.rec.lock_id, theirs.lock.lock_id);
	cr_expect_eq(lokt_acquire(fx.s, "b", &me, &no_opts, &res),
		     -LOKT_E_HELD, "granted a lock the other store holds");
	lokt_store_close(s2);
}

/* A root made again at the path by another user (the path in a
 * directory others may write) is theirs: never followed. */
Test(moved, not_to_a_root_of_another_owner)
{
	struct lokt_who me = who_of(getpid(), "me");
	struct lokt_result res;
	char path[PATH_MAX];

	if (geteuid() != 0)
		cr_skip_test("needs root to chown the new root");
	cr_assert_eq(lokt_acquire(fx.s, "d", &me, &no_opts, &res), 0);
	move_root("root.old");
	cr_assert_eq(mkdir(fx.root, 0777), 0);
	fx_path(path, sizeof(path), "root/locks");
	cr_assert_eq(mkdir(path, 0777), 0);
	fx_path(path, sizeof(path), "root/freezes");
	cr_assert_eq(mkdir(path, 0777), 0);
	cr_assert_eq(chown(fx.root, 65534, 65534), 0);
	cr_expect_eq(lokt_acquire(fx.s, "d", &me, &no_opts, &res),
		     -LOKT_E_FOREIGN, "followed a root of another owner");
	fx_path(path, sizeof(path), "root/locks/d.json");
	cr_expect_neq(access(path, F_OK), 0, "wrote into their root");
	cr_assert_eq(chown(fx.root, 0, 0), 0);
	cr_expect_eq(lokt_acquire(fx.s, "d", &me, &no_opts, &res), 0,
		     "root's own root is followed");
}

/* A member of a shared store (its root another user's) whose store is
 * moved makes it again at the path as itself: that root is its own, and
 * followed (a check of the owner alone refused it for good). */
Test(moved, to_the_root_it_made_itself)
{
	char path[PATH_MAX];
	pid_t pid;
	int st;

	if (geteuid() != 0)
		cr_skip_test("needs root to act as two users");
	cr_assert_eq(chmod(fx.dir, 0777), 0);
	cr_assert_eq(chmod(fx.root, 0777), 0);
	fx_path(path, sizeof(path), "root/locks");
	cr_assert_eq(chmod(path, 0777), 0);
	fx_path(path, sizeof(path), "root/freezes");
	cr_assert_eq(chmod(path, 0777), 0);
	cr_assert_eq(chown(fx.root, 1001, 1001), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct lokt_acquire_opts opts = { 0 };
		struct lokt_result res;
		struct lokt_store *s;
		struct lokt_who me;

		if (setgid(65534) < 0 || setuid(65534) < 0 ||
		    lokt_store_open(fx.root, &s) < 0)
			_exit(10);
		me = who_of(getpid(), "member");
		if (lokt_acquire(s, "e", &me, &opts, &res) < 0)
			_exit(11);
		fx_path(path, sizeof(path), "root.old");
		if (rename(fx.root, path) < 0)
			_exit(12);
		/* Made again here, by us: ours. */
		_exit(lokt_acquire(s, "e", &me, &opts, &res) == 0 ? 0 : 13);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "the member's process failed (exit %d)", WEXITSTATUS(st));
}

Test(moved, makes_the_store_again_at_the_path)
{
	struct lokt_who me = who_of(getpid(), "me");
	struct lokt_who other = who_of(getppid(), "other");
	struct lokt_result res;
	struct lokt_store *s2;
	char path[PATH_MAX];

	cr_assert_eq(lokt_acquire(fx.s, "c", &me, &no_opts, &res), 0);
	move_root("root.old");
	cr_assert_eq(lokt_acquire(fx.s, "c", &me, &no_opts, &res), 0);
	cr_expect_not(res.renewed, "renewed the lock of the moved store");
	fx_path(path, sizeof(path), "root/locks/c.json");
	cr_expect_eq(access(path, F_OK), 0, "c is not in the store at the path");
	cr_assert_eq(lokt_store_open(fx.root, &s2), 0);
	cr_expect_eq(lokt_acquire(s2, "c", &other, &no_opts, &res),
		     -LOKT_E_HELD, "two stores granted c");
	lokt_store_close(s2);
}

Test(moved, stops_following_after_256_moves)
{
	struct lokt_who me = who_of(getpid(), "me");
	struct lokt_result res;
	char old[PATH_MAX];
	int i;

	/* Each move is followed (and keeps a few fds), up to 256. */
	for (i = 0; i < 256; i++) {
		snprintf(old, sizeof(old), "old.%d", i);
		move_root(old);
		cr_assert_eq(lokt_acquire(fx.s, "m", &me, &no_opts, &res), 0,
			     "move %d not followed", i + 1);
	}
	move_root("old.last");
	cr_assert_eq(lokt_acquire(fx.s, "m", &me, &no_opts, &res), -ESTALE,
		     "move 257 was followed: fds grow without end");
}
