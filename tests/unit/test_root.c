// SPDX-License-Identifier: MIT
/*
 * Root discovery (LOKT_ROOT, git common dir across worktrees and
 * subdirectories, nearest .lokt, ./.lokt), the store's directories, and
 * network filesystem detection. Repositories are made with the real git.
 */
#include <errno.h>
#include <sys/stat.h>

#include "unit.h"

static char *tmp;

static void setup(void)
{
	char *t = unit_tmpdir();

	/* Discovery returns canonical paths: compare with canonical ones. */
	tmp = realpath(t, NULL);
	cr_assert_not_null(tmp);
	free(t);
	unsetenv("LOKT_ROOT");
}

static void teardown(void)
{
	unit_rmrf(tmp);
	free(tmp);
}

TestSuite(root, .init = setup, .fini = teardown);

static char *path(const char *rel)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", tmp, rel) > 0);
	return p;
}

static void mkdirs(const char *rel)
{
	char *cmd;

	cr_assert(asprintf(&cmd, "mkdir -p '%s/%s'", tmp, rel) > 0);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
}

/* Run a shell command in the temporary directory. */
static void sh(const char *cmd)
{
	char *full;

	cr_assert(asprintf(&full, "cd '%s' && %s", tmp, cmd) > 0);
	cr_assert_eq(system(full), 0, "failed: %s", full);
	free(full);
}

static char *find(const char *rel)
{
	char *cwd = path(rel), *root = NULL;

	cr_assert_eq(lokt_root_find(cwd, &root), 0, "from %s", cwd);
	free(cwd);
	return root;
}

Test(root, env_wins)
{
	char *root;

	mkdirs("a/.lokt");
	setenv("LOKT_ROOT", "/srv/locks/", 1);
	root = find("a");
	cr_expect_str_eq(root, "/srv/locks");
	free(root);
	setenv("LOKT_ROOT", "rel/dir", 1);
	root = find("a");
	char *want = path("a/rel/dir");
	cr_expect_str_eq(root, want, "relative LOKT_ROOT is made absolute");
	free(want);
	free(root);
}

/* Discovery walks up past the temporary directory: a .lokt/ (or .git)
 * in one of its ancestors (say /tmp/.lokt left by someone) would win,
 * rightly. The tests that need none say so and skip. */
static void need_clean_ancestors(void)
{
	char *dir = strdup(tmp), *slash, *cand;
	struct stat st;

	cr_assert_not_null(dir);
	while ((slash = strrchr(dir, '/'))) {
		*slash = '\0';
		for (int i = 0; i < 2; i++) {
			cr_assert(asprintf(&cand, "%s/%s", dir,
					   i ? ".git" : ".lokt") > 0);
			if (stat(cand, &st) == 0)
				cr_skip_test("%s exists and rightly wins "
					     "discovery; remove it to run this "
					     "test",
					     cand);
			free(cand);
		}
	}
	free(dir);
}

Test(root, default_is_dot_lokt_here)
{
	need_clean_ancestors();
	mkdirs("x/y");
	char *root = find("x/y"), *want = path("x/y/.lokt");

	cr_expect_str_eq(root, want);
	free(root);
	free(want);
}

Test(root, nearest_dot_lokt)
{
	mkdirs(".lokt");
	mkdirs("a/.lokt");
	mkdirs("a/b/c");
	char *root = find("a/b/c"), *want = path("a/.lokt");

	cr_expect_str_eq(root, want);
	free(root);
	free(want);
	root = find("a/.lokt");
	want = path("a/.lokt");
	cr_expect_str_eq(root, want, "from inside .lokt itself");
	free(root);
	free(want);
}

Test(root, default_cwd_is_working_directory)
{
	char *root = NULL, *want = path("w/.lokt");

	need_clean_ancestors();
	mkdirs("w");
	cr_assert_eq(chdir(tmp), 0);
	cr_assert_eq(chdir("w"), 0);
	cr_assert_eq(lokt_root_find(NULL, &root), 0);
	cr_expect_str_eq(root, want);
	free(root);
	free(want);
}

#define GIT "git -c user.name=t -c user.email=t@example.com " \
	    "-c init.defaultBranch=main -c advice.detachedHead=false "

Test(root, git_repository_worktrees_and_subdirs)
{
	char *a, *b, *c, *d, *want;

	sh(GIT "init -q repo && " GIT "-C repo commit -q --allow-empty -m i"
	       " && mkdir -p repo/sub/deep repo/.lokt repo/sub/.lokt");
	sh(GIT "-C repo worktree add -q ../wt && mkdir -p wt/x/y");
	want = path("repo/.git/lokt");
	a = find("repo");
	b = find("repo/sub/deep");
	c = find("wt");
	d = find("wt/x/y");
	cr_expect_str_eq(a, want);
	cr_expect_str_eq(b, want, "a subdirectory (even with a .lokt in "
				  "between: git comes first)");
	cr_expect_str_eq(c, want, "a linked worktree");
	cr_expect_str_eq(d, want, "a subdirectory of a linked worktree");
	free(a);
	free(b);
	free(c);
	free(d);
	free(want);
}

Test(root, gitdir_file_without_commondir)
{
	char *root, *want;

	/* As a submodule: .git is a file naming a git dir elsewhere. */
	mkdirs("store/modules/m");
	mkdirs("top/m/src");
	sh("printf 'gitdir: ../../store/modules/m\\n' > top/m/.git");
	root = find("top/m/src");
	want = path("store/modules/m/lokt");
	cr_expect_str_eq(root, want);
	free(root);
	free(want);
}

Test(root, ensure_dirs)
{
	char *root = path("deep/er/root"), *file = path("deep/er/root/locks");
	struct stat st;

	cr_assert_eq(lokt__ensure_dirs(root), 0);
	cr_assert_eq(lokt__ensure_dirs(root), 0, "idempotent");
	cr_expect_eq(stat(file, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	free(file);
	file = path("deep/er/root/freezes");
	cr_expect_eq(stat(file, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	free(file);
	free(root);

	unit_write(tmp, "plain", "x", 1);
	root = path("plain");
	cr_expect_eq(lokt__ensure_dirs(root), -ENOTDIR);
	free(root);
}

Test(root, local_filesystems)
{
	char *missing = path("not/yet/created");

	cr_expect_eq(lokt_is_network_fs(tmp), 0, "%s is local", tmp);
	cr_expect_eq(lokt_is_network_fs(missing), 0,
		     "a root not created yet is judged by its parent");
	cr_expect_eq(lokt_is_network_fs("/proc"), 0);
	cr_expect_eq(lokt_is_network_fs(""), -EINVAL);
	free(missing);
}
