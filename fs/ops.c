// SPDX-License-Identifier: MIT
/*
 * The tree of the mount: which paths exist, what they look like to
 * stat(2) and readdir(3), and statfs. What happens to one lock or freeze
 * file is in files.c; ll.c turns each FUSE request into a path, answers
 * what the mount refuses, and says what the kernel may remember.
 *
 *   /            dir 0755
 *   /locks       dir 01777: anyone may create, like /tmp; who may do what
 *   /freezes     dir 01777  to a lock is decided by the lock rules (core)
 *   /audit       the store's audit.log, read-only: its owner, its mode
 *                without write bits (0600 shows as 0400)
 *   /locks/N     one file per held lock, 0644, owned by the holder's uid
 *   /freezes/N   one file per active freeze
 *   /slots       dir 0755 of the semaphores' sizes in use ("3")
 *   /slots/K     dir 01777 (K from 1 to 32, each there): one file per
 *                semaphore of K places that has holders
 *   /shared      dir 01777: one file per name with shared holders
 *   /slots/K/N, /shared/N   the record of every holder of N; touch takes
 *                (or renews) the caller's place, rm releases it
 *
 * THREADING. The daemon runs libfuse's multi-threaded loop: every
 * handler runs on a FUSE worker thread, several at once. Handlers share
 * no mutable state here: the struct loktfs and the store's root path are
 * fixed before the loop starts (if the store is moved, liblokt reopens
 * it at that path, safely for threads using the old one; see
 * core/store.c), and liblokt serializes transitions on a name with a
 * kernel lock held for microseconds, across threads and processes alike.
 * No handler waits for a lock to become free (there is no --wait through
 * the mount), so a slow or stuck caller holds only its own worker thread
 * and the requests on its own file, never the others. The per-open state
 * of files.c belongs to one open file; the kernel serializes writes to
 * one file.
 *
 * CACHING (ll.c says what and why): the kernel remembers no lock, its
 * attributes, nor a lock file's name; file contents are generated at
 * read time with direct_io. A released lock is never shown as held.
 *
 * REMOVED WHILE OPEN. A lock or freeze file that is still open when it
 * is removed through the mount (rm: released, broken or unfrozen) has no
 * name any more, and ll.c hands the handlers of that open file a NULL
 * path (loktfs_parse_path calls it LOKTFS_REMOVED, so no handler ever
 * reads a NULL path). It names no lock, so it shows none, as the rule
 * above wants: read gives end of file, not the holder it showed at open
 * (a lock rm gave back is not held), and ftruncate to 0 succeeds (to
 * anything else EPERM, as for every lock file). fstat, futimens and
 * write fail with ESTALE in ll.c, as they did when libfuse's high-level
 * API served the mount; getattr here answers an empty file with no
 * links, for ftruncate's reply and lseek to the end. An rm of one place
 * of a semaphore or shared lock removes no file while other places are
 * held (ll.c, ll_unlink): their open files still name it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

/* "/slots", "/slots/K", "/slots/K/NAME", "/shared", "/shared/NAME";
 * -ENOENT for anything else. K is written as "%u" would, 1 to 32. */
static int parse_mode_path(const char *path, struct loktfs_path *ret)
{
	struct loktfs_path p = { .node = LOKTFS_MODE_DIR, .kind = LOKT_LOCK };
	const char *rest;
	char *end;
	unsigned long k;

	if (!strncmp(path, "/shared", 7) && (!path[7] || path[7] == '/')) {
		p.shared = true;
		rest = path + 7;
	} else if (!strncmp(path, "/slots", 6) && (!path[6] || path[6] == '/')) {
		rest = path + 6;
		if (*rest) {
			if (rest[1] < '1' || rest[1] > '9')
				return -ENOENT;
			k = strtoul(rest + 1, &end, 10);
			if (k > LOKT_SLOTS_MAX || (*end && *end != '/'))
				return -ENOENT;
			p.slots = (unsigned)k;
			rest = end;
		}
	} else {
		return -ENOENT;
	}
	if (*rest) {
		if (rest[0] != '/' || !rest[1] || strchr(rest + 1, '/') ||
		    (!p.shared && !p.slots))
			return -ENOENT;
		p.node = LOKTFS_ENTRY;
		p.name = rest + 1;
	}
	*ret = p;
	return 0;
}

int loktfs_parse_path(const char *path, struct loktfs_path *ret)
{
	static const struct {
		const char *dir;
		enum lokt_kind kind;
	} dirs[] = { { "locks", LOKT_LOCK }, { "freezes", LOKT_FREEZE } };
	size_t i, n;

	if (!path) {
		*ret = (struct loktfs_path){ .node = LOKTFS_REMOVED };
		return 0;
	}
	if (strcmp(path, "/") == 0) {
		*ret = (struct loktfs_path){ .node = LOKTFS_ROOT };
		return 0;
	}
	if (strcmp(path, "/audit") == 0) {
		*ret = (struct loktfs_path){ .node = LOKTFS_AUDIT };
		return 0;
	}
	if (parse_mode_path(path, ret) == 0)
		return 0;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		n = strlen(dirs[i].dir);
		if (path[0] != '/' || strncmp(path + 1, dirs[i].dir, n) != 0)
			continue;
		if (path[n + 1] == '\0') {
			*ret = (struct loktfs_path){ .node = LOKTFS_DIR,
						     .kind = dirs[i].kind };
			return 0;
		}
		if (path[n + 1] != '/' || path[n + 2] == '\0' ||
		    strchr(path + n + 2, '/'))
			return -ENOENT;
		*ret = (struct loktfs_path){ .node = LOKTFS_ENTRY,
					     .kind = dirs[i].kind,
					     .name = path + n + 2 };
		return 0;
	}
	return -ENOENT;
}

int loktfs_mode_check(const struct loktfs_path *p)
{
	struct lokt_info in;
	int r;

	if (p->node != LOKTFS_ENTRY || (!p->slots && !p->shared))
		return 0;
	r = lokt_get(loktfs_get()->store, LOKT_LOCK, p->name, &in, NULL);
	if (r < 0)
		return -lokt_errno(r);
	if (p->slots ? in.slots != p->slots : !in.shared)
		return -ENOENT;
	return 0;
}

/* Who is asking, as liblokt's holder rules see it. A request without a
 * process (pid 0: made by the kernel itself) acts for nobody. */
int loktfs_caller(struct lokt_who *ret)
{
	const struct fuse_ctx *ctx = loktfs_ctx();
	int r;

	if (ctx->pid <= 0)
		return -EPERM;
	r = lokt_who_caller(ctx->pid, ctx->uid, ret);
	if (r < 0)
		return -lokt_errno(r);
	ret->via = "loktfs";
	return 0;
}

static void stat_entry(const struct lokt_attr *a, struct stat *st)
{
	struct timespec t = a->acquired;

	if (t.tv_sec == 0 && t.tv_nsec == 0)
		t = a->mtime;
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_uid = a->uid >= 0 ? (uid_t)a->uid : 0;
	st->st_gid = 0;
	(void)lokt_user_of(st->st_uid, NULL, 0, &st->st_gid);
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_atim = st->st_mtim = st->st_ctim = t;
}

/* Directories take their times from the store's own directories. */
static void stat_dir(const char *sub, mode_t mode, nlink_t nlink,
		     struct stat *st)
{
	const char *root = lokt_store_root(loktfs_get()->store);
	struct stat real;
	char *path;

	if (asprintf(&path, "%s/%s", root, sub) >= 0) {
		/* lstat: a locks/ swapped for a symlink shows its own times,
		 * never those of what it names. */
		if (lstat(path, &real) == 0) {
			st->st_atim = real.st_atim;
			st->st_mtim = real.st_mtim;
			st->st_ctim = real.st_ctim;
		}
		free(path);
	}
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = nlink;
	st->st_uid = getuid();
	st->st_gid = getgid();
}

/* The audit log as it is: its size (so that tail -f sees it grow), owner
 * and mode, write bits dropped. Before the first event, or when something
 * other than a regular file sits there: empty, the daemon's, 0400, with
 * the store's times. */
static void stat_audit(struct stat *st)
{
	struct lokt_store *s = loktfs_get()->store;
	struct stat real;
	int fd;

	if (lokt_audit_open(s, &fd, &real) == 0) {
		close(fd);
		st->st_size = real.st_size;
		st->st_blocks = real.st_blocks;
		st->st_mode = S_IFREG | (real.st_mode & 0444);
		st->st_uid = real.st_uid;
		st->st_gid = real.st_gid;
	} else {
		if (stat(lokt_store_root(s), &real) < 0)
			memset(&real, 0, sizeof(real));
		st->st_mode = S_IFREG | 0400;
		st->st_uid = getuid();
		st->st_gid = getgid();
	}
	st->st_atim = real.st_atim;
	st->st_mtim = real.st_mtim;
	st->st_ctim = real.st_ctim;
	st->st_nlink = 1;
}

/* An open file whose lock or freeze was removed: empty, unlinked. */
static void stat_removed(struct stat *st)
{
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 0;
	st->st_uid = getuid();
	st->st_gid = getgid();
}

int loktfs_getattr(const char *path, struct stat *st)
{
	struct loktfs_path p;
	struct lokt_attr attr;
	int r;

	r = loktfs_parse_path(path, &p);
	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	switch (p.node) {
	case LOKTFS_ROOT: /* . and .. and locks, freezes, slots, shared */
		stat_dir("", 0755, 6, st);
		return 0;
	case LOKTFS_DIR:
		stat_dir(p.kind == LOKT_LOCK ? "locks" : "freezes", 01777, 2,
			 st);
		return 0;
	case LOKTFS_AUDIT:
		stat_audit(st);
		return 0;
	case LOKTFS_REMOVED:
		stat_removed(st);
		return 0;
	case LOKTFS_MODE_DIR:
		/* slots/ lists the K in use, as many as it lists: 1, "not
		 * counted", so that find looks into each (2 would say it
		 * has no subdirectory). */
		stat_dir("locks", p.shared || p.slots ? 01777 : 0755,
			 p.shared || p.slots ? 2 : 1, st);
		return 0;
	case LOKTFS_ENTRY:
		break;
	}
	if (lokt_name_check(p.name) < 0)
		return -ENOENT;
	r = loktfs_mode_check(&p);
	if (r < 0)
		return r;
	r = lokt_get_attr(loktfs_get()->store, p.kind, p.name, &attr);
	if (r < 0)
		return -lokt_errno(r);
	stat_entry(&attr, st);
	return 0;
}

/* /slots: the sizes of the semaphores that have holders; /slots/K and
 * /shared: the names held in that mode, each once (lokt_list lists every
 * holder, in name order). */
static int readdir_mode(const struct loktfs_path *p, void *buf,
			loktfs_fill_t fill)
{
	bool used[LOKT_SLOTS_MAX + 1] = { false };
	const char *last = "";
	struct lokt_info *v;
	char k[16];
	size_t i, n;
	int r;

	r = lokt_list(loktfs_get()->store, LOKT_LOCK, &v, &n);
	if (r < 0)
		return -lokt_errno(r);
	for (i = 0, r = 0; i < n && r == 0; i++) {
		if (!p->slots && !p->shared) {
			if (v[i].slots && !used[v[i].slots]) {
				used[v[i].slots] = true;
				snprintf(k, sizeof(k), "%u", v[i].slots);
				r = fill(buf, k, S_IFDIR);
			}
			continue;
		}
		if ((p->slots ? v[i].slots != p->slots : !v[i].shared) ||
		    !strcmp(v[i].rec.name, last))
			continue;
		r = fill(buf, v[i].rec.name, S_IFREG);
		last = v[i].rec.name;
	}
	free(v);
	return r;
}

int loktfs_readdir(const char *path, void *buf, loktfs_fill_t fill)
{
	static const char *const top[] = { "locks", "freezes", "audit",
					    "slots", "shared" };
	struct loktfs_path p;
	size_t i, n;
	char **names;
	int r;

	r = loktfs_parse_path(path, &p);
	if (r < 0)
		return r;
	if (p.node == LOKTFS_REMOVED)
		return -ENOENT;
	if (p.node == LOKTFS_AUDIT || p.node == LOKTFS_ENTRY)
		return -ENOTDIR;
	r = fill(buf, ".", S_IFDIR);
	if (r == 0)
		r = fill(buf, "..", S_IFDIR);
	if (r < 0)
		return r;
	if (p.node == LOKTFS_ROOT) {
		for (i = 0; i < sizeof(top) / sizeof(top[0]) && r == 0; i++)
			r = fill(buf, top[i],
				 strcmp(top[i], "audit") ? S_IFDIR : S_IFREG);
		return r;
	}
	if (p.node == LOKTFS_MODE_DIR)
		return readdir_mode(&p, buf, fill);
	/* Names only: every entry's attributes are asked by getattr at
	 * the moment they are looked at. */
	r = lokt_list_names(loktfs_get()->store, p.kind, &names, &n);
	if (r < 0)
		return -lokt_errno(r);
	for (i = 0; i < n && r == 0; i++)
		r = fill(buf, names[i], S_IFREG);
	free(names);
	return r;
}

int loktfs_statfs(const char *path, struct statvfs *st)
{
	if (statvfs(lokt_store_root(loktfs_get()->store), st) < 0)
		return -errno;
	st->f_namemax = LOKT_NAME_MAX;
	return 0;
}
