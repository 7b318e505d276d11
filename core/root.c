// SPDX-License-Identifier: MIT
/*
 * Where the store lives. Discovery, first match wins (README, "Command
 * reference"): $LOKT_ROOT; <git common dir>/lokt, so that every worktree
 * and every subdirectory of one repository share one root; the nearest
 * existing .lokt/ walking up; the host-wide store of /etc/lokt.conf (or
 * $LOKT_CONFIG), so that ops scripts anywhere on a host share one store,
 * as they share /run/lock; else <cwd>/.lokt.
 *
 * The git common dir is found by reading files, never by running git: a
 * `.git` directory is the common dir (unless it has a `commondir` file); a
 * `.git` file ("gitdir: X") names a worktree's (or submodule's) git dir,
 * whose `commondir` file, when present, names the common dir relative to
 * it. The result is canonicalized so that all roads give the same string.
 *
 * Also here: creating the store's directories, and telling a network
 * filesystem apart (flock and pid checks do not hold across hosts).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "internal.h"

/* "<dir>/<rel>", or rel itself when absolute; malloc'd, NULL on ENOMEM. */
static char *join(const char *dir, const char *rel)
{
	char *p;

	if (rel[0] == '/')
		return strdup(rel);
	if (asprintf(&p, "%s%s%s", dir,
		     dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", rel) < 0)
		return NULL;
	return p;
}

/* First line of a small file, without the newline; -errno. */
static int read_line(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

/* The common dir for git dir `gitdir`: its `commondir` file, if any, taken
 * relative to it; else gitdir itself. Canonical, malloc'd. */
static int common_dir(const char *gitdir, char **ret)
{
	char line[PATH_MAX], *path, *cdir, *real;
	int r;

	path = join(gitdir, "commondir");
	if (!path)
		return -ENOMEM;
	r = read_line(path, line, sizeof(line));
	free(path);
	if (r == 0 && line[0]) {
		cdir = join(gitdir, line);
		if (!cdir)
			return -ENOMEM;
	} else {
		cdir = strdup(gitdir);
		if (!cdir)
			return -ENOMEM;
	}
	real = realpath(cdir, NULL);
	free(cdir);
	if (!real)
		return -errno;
	*ret = real;
	return 0;
}

/* May entry (dir/.git, dir/.lokt) choose our store? Only when it is the
 * caller's or root's, itself, not through a symlink someone else made:
 * in a directory others may write (/tmp), anyone could otherwise plant a
 * .git file naming any directory, or a .lokt of their own, and make
 * another user's lokt keep its locks there, apart from everyone else's
 * (git likewise refuses a repository of "dubious ownership"). */
static bool trusted_entry(const char *entry)
{
	struct stat st;

	return lstat(entry, &st) == 0 &&
	       (st.st_uid == geteuid() || st.st_uid == 0);
}

/* If dir/.git exists, the common dir of that repository in *ret and 1;
 * 0 when there is no .git here (or it is unusable, or someone else's);
 * -ENOMEM. */
static int git_here(const char *dir, char **ret)
{
	char line[PATH_MAX], *dotgit, *gitdir;
	struct stat st;
	int r;

	dotgit = join(dir, ".git");
	if (!dotgit)
		return -ENOMEM;
	if (!trusted_entry(dotgit) || stat(dotgit, &st) < 0) {
		free(dotgit);
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		r = common_dir(dotgit, ret);
		free(dotgit);
		return r == -ENOMEM ? r : r == 0;
	}
	r = read_line(dotgit, line, sizeof(line));
	free(dotgit);
	if (r < 0 || strncmp(line, "gitdir:", 7) != 0)
		return 0;
	gitdir = join(dir, line + 7 + strspn(line + 7, " \t"));
	if (!gitdir)
		return -ENOMEM;
	r = common_dir(gitdir, ret);
	free(gitdir);
	return r == -ENOMEM ? r : r == 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Cut the last component of an absolute path in place; false at "/". */
static bool up(char *path)
{
	char *slash = strrchr(path, '/');

	if (!slash || (slash == path && !path[1]))
		return false;
	slash[slash == path ? 1 : 0] = '\0';
	return true;
}

/* Walk up from start: the first git repository's <common dir>/lokt. */
static int find_git(const char *start, char **ret_root)
{
	char *dir = strdup(start), *common;
	int r;

	if (!dir)
		return -ENOMEM;
	do {
		r = git_here(dir, &common);
		if (r != 0)
			break;
	} while (up(dir));
	free(dir);
	if (r <= 0)
		return r;
	*ret_root = join(common, "lokt");
	free(common);
	return *ret_root ? 1 : -ENOMEM;
}

/* Walk up from start: the nearest existing .lokt directory (of the
 * caller or root: trusted_entry). */
static int find_dotlokt(const char *start, char **ret_root)
{
	char *dir = strdup(start), *cand;

	if (!dir)
		return -ENOMEM;
	do {
		cand = join(dir, ".lokt");
		if (!cand) {
			free(dir);
			return -ENOMEM;
		}
		if (is_dir(cand) && trusted_entry(cand)) {
			free(dir);
			*ret_root = cand;
			return 1;
		}
		free(cand);
	} while (up(dir));
	free(dir);
	return 0;
}

LOKT_API const char *lokt_config_path(void)
{
	const char *env = getenv("LOKT_CONFIG");

	return env && *env ? env : "/etc/lokt.conf";
}

/* The host-wide store named by the configuration file: 1 with *ret_root,
 * 0 when there is none (no /etc/lokt.conf, or LOKT_CONFIG=/dev/null),
 * -ENOENT when LOKT_CONFIG names a file that does not exist, -EINVAL when it is not "key = value"
 * lines ('#' comments, on lines of their own) with root = an absolute
 * directory, or cannot be read. A value with a blank then '#' in it is
 * refused, not taken whole: `root = /srv/locks  # shared` meant a comment,
 * and a store named "/srv/locks  # shared" would be made and used by
 * whoever read the file, while a lokt of another configuration used the
 * one meant. */
static int config_root(char **ret_root)
{
	char line[PATH_MAX + 64], *k, *v, *e, *root = NULL;
	const char *env = getenv("LOKT_CONFIG");
	FILE *f;
	int r = 0;

	/* /dev/null, as git and ssh take it for a file of theirs: none, no
	 * host-wide
	 * store. A file LOKT_CONFIG names must be there: a name mistyped
	 * would give each directory a store of its own, and two deploys
	 * run from two directories would not exclude each other. */
	if (env && !strcmp(env, "/dev/null"))
		return 0;
	f = fopen(lokt_config_path(), "re");
	if (!f)
		return errno != ENOENT ? -EINVAL : env && *env ? -ENOENT : 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		k = line + strspn(line, " \t");
		if (*k == '#' || *k == '\n' || !*k)
			continue;
		v = strchr(k, '=');
		if (!v) {
			r = -EINVAL;
			break;
		}
		for (e = v; e > k && strchr(" \t", e[-1]); e--)
			;
		*e = '\0';
		v += 1 + strspn(v + 1, " \t");
		v[strcspn(v, "\r\n")] = '\0';
		for (e = v + strlen(v); e > v && strchr(" \t", e[-1]); e--)
			*--e = '\0';
		if (strcmp(k, "root") || (v[0] != '/' && !lokt_root_is_url(v)) ||
		    strstr(v, " #") || strstr(v, "\t#") || root) {
			r = -EINVAL;
			break;
		}
		root = strdup(v);
		if (!root)
			r = -ENOMEM;
	}
	fclose(f);
	if (r == 0 && !root)
		r = -EINVAL;
	if (r < 0) {
		free(root);
		return r;
	}
	*ret_root = root;
	return 1;
}

LOKT_API int lokt_root_find(const char *cwd, char **ret_root)
{
	const char *env = getenv("LOKT_ROOT");
	char *base, *root = NULL;
	int r;

	if (!ret_root)
		return -EINVAL;
	base = cwd ? realpath(cwd, NULL) : getcwd(NULL, 0);
	if (!base)
		return -errno;
	if (env && env[0]) {
		root = lokt_root_is_url(env) ? strdup(env) : join(base, env);
		r = root ? 1 : -ENOMEM;
	} else {
		r = find_git(base, &root);
		if (r == 0)
			r = find_dotlokt(base, &root);
		if (r == 0)
			r = config_root(&root);
		if (r == 0) {
			root = join(base, ".lokt");
			r = root ? 1 : -ENOMEM;
		}
	}
	free(base);
	if (r < 0)
		return r;
	/* "a/b/" and "a/b" are one root. */
	for (size_t n = strlen(root); n > 1 && root[n - 1] == '/'; n--)
		root[n - 1] = '\0';
	*ret_root = root;
	return 0;
}

/* mkdir that accepts an existing directory. */
static int mkdir_one(const char *path)
{
	if (mkdir(path, 0755) == 0 || (errno == EEXIST && is_dir(path)))
		return 0;
	return errno == EEXIST ? -ENOTDIR : -errno;
}

int lokt__ensure_root(const char *root)
{
	char *p = strdup(root);
	int r = 0;

	if (!p)
		return -ENOMEM;
	/* Nearly always there already: one stat, not two calls per level. */
	if (is_dir(root)) {
		free(p);
		return 0;
	}
	/* mkdir -p root: parents first. */
	for (char *s = strchr(p + 1, '/'); s && r == 0;
	     s = strchr(s + 1, '/')) {
		*s = '\0';
		r = mkdir_one(p);
		*s = '/';
	}
	if (r == 0)
		r = mkdir_one(p);
	free(p);
	return r;
}

int lokt__ensure_dirs(const char *root)
{
	char *sub;
	int r = lokt__ensure_root(root);

	for (int i = 0; i < 2 && r == 0; i++) {
		sub = join(root, i == 0 ? "locks" : "freezes");
		if (!sub)
			return -ENOMEM;
		r = mkdir_one(sub);
		free(sub);
	}
	return r;
}

/* statfs f_type values (linux/magic.h and the filesystems' sources). */
static const unsigned long network_magics[] = {
    0x6969UL,	  /* NFS */
    0x517bUL,	  /* SMB */
    0xff534d42UL, /* CIFS */
    0xfe534d42UL, /* SMB2 */
    0x01021997UL, /* 9P */
    0x00c36400UL, /* Ceph */
    0x5346414fUL, /* AFS */
    0x6b414653UL, /* kAFS */
    0x73757245UL, /* Coda */
    0x0bd00bd0UL, /* Lustre */
    0x01161970UL, /* GFS2 */
    0x7461636fUL, /* OCFS2 */
    0x564cUL,	  /* NCP */
    /* FUSE: sshfs, GlusterFS, s3fs... A FUSE root is never local in the
     * sense that matters here, and a loktfs mount is never a root (it
     * is a view of one), so all of FUSE counts as network. */
    0x65735546UL,
};

LOKT_API int lokt_is_network_fs(const char *path)
{
	struct statfs st;
	char *p;
	int r = 0;

	if (!path || !path[0])
		return -EINVAL;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	/* A root not created yet will live on its nearest existing parent. */
	while (statfs(p, &st) < 0) {
		r = -errno;
		if (r != -ENOENT || !up(p))
			break;
		r = 0;
	}
	free(p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(network_magics) / sizeof(*network_magics);
	     i++)
		if ((unsigned long)st.f_type == network_magics[i])
			return 1;
	return 0;
}

LOKT_API bool lokt_root_is_url(const char *root)
{
	/* The scheme in any case, as config.c reads it. */
	return root && !strncasecmp(root, "etcd://", 7);
}
