// SPDX-License-Identifier: MIT
/*
 * FUSE's low-level protocol: the nodes the kernel knows, what it may
 * remember of them, and each request turned into a path for the handlers
 * of ops.c and files.c (which know nothing of nodes).
 *
 * NODES. The fixed tree has fixed inode numbers: the root, locks/,
 * freezes/, audit, slots/, shared/ and slots/1 .. slots/32. Each lock or
 * freeze file the kernel has looked up is a node made here, named by its
 * directory and its name, counted as FUSE counts lookups (LOOKUP and
 * CREATE add one, FORGET takes them back) and freed at zero. A node names
 * a path, never a record: the lock behind it may be released and taken
 * again while the kernel keeps the node, and every request on it asks the
 * store afresh. A file removed through the mount (unlink) leaves its
 * node's name at once, so that the next lookup of that name makes a new
 * node, and the old one is "removed": its path is NULL (ops.c,
 * LOKTFS_REMOVED) for the files still open on it.
 *
 * CACHING. Locks change behind the kernel's back (the lokt CLI, other
 * mounts, other hosts on etcd, expiry), so the kernel may remember
 * nothing about a lock: the attribute timeout is 0 everywhere (every stat
 * asks getattr), a name that is not there is not remembered (no negative
 * entries), and a lock file's entry has timeout 0, so every path through
 * it is looked up again. File contents are generated at read time
 * (direct_io). A released lock is never shown as held, nor a taken one
 * as free, by any call: even one that asks for no attribute (statx with
 * an empty mask, open with O_PATH) walks the path, and the walk asks.
 *
 * tests/fs/cache.sh counts the requests and makes those calls.
 *
 * Only the fixed tree's entries are remembered (ENTRY_FIXED): those names
 * never change. Before this file the daemon used libfuse's high-level
 * API, which has one entry timeout for all, so the kernel looked up
 * locks/ again for every path through it: ls -l cost three requests per
 * file, LOOKUP locks, LOOKUP x, GETATTR x. Now it costs two
 * (docs/performance.md, "The mount's listing").
 *
 * THREADING. The loop is multi-threaded; each handler runs on a worker
 * thread with its request in `current` (thread-local), which is how
 * ops.c and files.c learn who is asking. The node table is the only
 * state shared between requests, under one mutex held for a hash lookup;
 * besides, each file's node has a lock of its own (node_enter), so that
 * an unlink through the mount and the other requests on that file see
 * each other whole, as libfuse's high-level API had them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"

/* How long the kernel may remember an entry of the fixed tree. */
#define ENTRY_FIXED 86400.0

enum {
	INO_ROOT = FUSE_ROOT_ID,
	INO_LOCKS,
	INO_FREEZES,
	INO_AUDIT,
	INO_SLOTS,
	INO_SHARED,
	INO_SLOTS_K, /* slots/K is INO_SLOTS_K + K - 1 */
	INO_FIRST_FILE = INO_SLOTS_K + LOKT_SLOTS_MAX,
};

/* Longest path of a file: "/slots/32/" and the longest name the kernel
 * sends (FUSE_NAME_MAX, 1024), which ops.c and files.c then judge. */
#define PATH_LEN (16 + 1024 + 1)

struct node {
	fuse_ino_t ino;
	fuse_ino_t parent; /* a fixed directory */
	uint64_t nlookup;
	unsigned pins; /* requests using it (node_enter, ll_unlink) */
	bool removed; /* unlinked through the mount: out of by_name */
	/* Read-held by a request acting on the node's lock, write-held by
	 * an unlink of its name from the release to the node's removal. */
	pthread_rwlock_t busy;
	struct node *next_name, *next_ino;
	char name[];
};

#define BUCKETS 65536u

static struct node *by_name[BUCKETS], *by_ino[BUCKETS];
static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static fuse_ino_t next_ino = INO_FIRST_FILE;
static struct loktfs *the_fs;
static __thread fuse_req_t current;

/* "/slots/1" .. "/slots/32". */
static char slots_paths[LOKT_SLOTS_MAX][16];

/* Nodes' busy locks prefer their writer: glibc's default lets new
 * readers in while a writer waits, so any user reading a lock file in a
 * loop from a few threads (reads need no permission to write it) kept
 * its holder's rm waiting for ever, and with it, the kernel holding the
 * directory for the unlink, every creation in it. A waiting writer now
 * waits only for the readers already in (each one short transition);
 * no request read-holds a node twice, as this kind requires. */
static pthread_rwlockattr_t busy_attr;

void loktfs_ll_setup(struct loktfs *fs)
{
	pthread_rwlockattr_init(&busy_attr);
	pthread_rwlockattr_setkind_np(&busy_attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	the_fs = fs;
	for (unsigned k = 1; k <= LOKT_SLOTS_MAX; k++)
		snprintf(slots_paths[k - 1], sizeof(slots_paths[0]),
			 "/slots/%u", k);
}

struct loktfs *loktfs_get(void)
{
	return the_fs;
}

const struct fuse_ctx *loktfs_ctx(void)
{
	return fuse_req_ctx(current);
}

int loktfs_getgroups(int size, gid_t list[])
{
	return fuse_req_getgroups(current, size, list);
}

static size_t name_bucket(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return (size_t)(h ^ (h >> 32)) & (BUCKETS - 1);
}

static struct node *find_name(fuse_ino_t parent, const char *name)
{
	struct node *n = by_name[name_bucket(parent, name)];

	while (n && (n->parent != parent || strcmp(n->name, name)))
		n = n->next_name;
	return n;
}

static struct node *find_ino(fuse_ino_t ino)
{
	struct node *n = by_ino[ino & (BUCKETS - 1)];

	while (n && n->ino != ino)
		n = n->next_ino;
	return n;
}

static void unlink_name(struct node *n)
{
	struct node **pp = &by_name[name_bucket(n->parent, n->name)];

	while (*pp != n)
		pp = &(*pp)->next_name;
	*pp = n->next_name;
}

/* One more lookup of parent/name by the kernel: its node's number, or 0
 * when out of memory. */
static fuse_ino_t node_ref(fuse_ino_t parent, const char *name)
{
	size_t len = strlen(name);
	struct node *n;
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&nodes_lock);
	n = find_name(parent, name);
	if (!n) {
		n = calloc(1, sizeof(*n) + len + 1);
		if (n && pthread_rwlock_init(&n->busy, &busy_attr) != 0) {
			free(n);
			n = NULL;
		}
		if (n) {
			memcpy(n->name, name, len + 1);
			n->parent = parent;
			n->ino = next_ino++;
			n->next_name = by_name[name_bucket(parent, name)];
			by_name[name_bucket(parent, name)] = n;
			n->next_ino = by_ino[n->ino & (BUCKETS - 1)];
			by_ino[n->ino & (BUCKETS - 1)] = n;
		}
	}
	if (n) {
		n->nlookup++;
		ino = n->ino;
	}
	pthread_mutex_unlock(&nodes_lock);
	return ino;
}

/* Free n once the kernel has forgotten it and no request uses it. Under
 * nodes_lock. */
static void node_drop(struct node *n)
{
	struct node **pp;

	if (n->nlookup || n->pins)
		return;
	if (!n->removed)
		unlink_name(n);
	pp = &by_ino[n->ino & (BUCKETS - 1)];
	while (*pp != n)
		pp = &(*pp)->next_ino;
	*pp = n->next_ino;
	pthread_rwlock_destroy(&n->busy);
	free(n);
}

static void node_forget(fuse_ino_t ino, uint64_t count)
{
	struct node *n;

	if (ino < INO_FIRST_FILE)
		return;
	pthread_mutex_lock(&nodes_lock);
	n = find_ino(ino);
	if (n) {
		n->nlookup -= count < n->nlookup ? count : n->nlookup;
		node_drop(n);
	}
	pthread_mutex_unlock(&nodes_lock);
}

static void node_unpin(struct node *n)
{
	pthread_rwlock_unlock(&n->busy);
	pthread_mutex_lock(&nodes_lock);
	n->pins--;
	node_drop(n);
	pthread_mutex_unlock(&nodes_lock);
}

static const char *fixed_path(fuse_ino_t ino)
{
	static const char *const paths[] = {
		[INO_ROOT] = "/",	  [INO_LOCKS] = "/locks",
		[INO_FREEZES] = "/freezes", [INO_AUDIT] = "/audit",
		[INO_SLOTS] = "/slots",   [INO_SHARED] = "/shared",
	};

	if (ino >= INO_ROOT && ino < INO_SLOTS_K)
		return paths[ino];
	if (ino >= INO_SLOTS_K && ino < INO_FIRST_FILE)
		return slots_paths[ino - INO_SLOTS_K];
	return NULL;
}

/* dir "/" name into buf (the root's children: dir ""). */
static int join(char *buf, const char *dir, const char *name)
{
	size_t d = strlen(dir), n = strlen(name);

	if (d + 1 + n >= PATH_LEN)
		return -ENAMETOOLONG;
	memcpy(buf, dir, d);
	buf[d] = '/';
	memcpy(buf + d + 1, name, n + 1);
	return 0;
}

/* Begin a request on node ino: its path into *ret, a fixed string, or
 * buf (PATH_LEN bytes), or NULL for a removed file; a file's node is
 * pinned and read-held in *held until node_leave, so that an unlink of
 * its name through the mount (which releases the lock, then removes the
 * node) is never seen half-done: before it the lock is there, after it
 * the file is removed, never a free name on a node about to be removed
 * (which an open would take, and then lose with the node). -ESTALE for a
 * number this daemon never gave, or has freed (the kernel forgot it). */
static int node_enter(fuse_ino_t ino, char *buf, const char **ret,
		      struct node **held)
{
	struct node *n;
	int r = 0;

	*held = NULL;
	*ret = fixed_path(ino);
	if (*ret)
		return 0;
	pthread_mutex_lock(&nodes_lock);
	n = find_ino(ino);
	if (n)
		n->pins++;
	pthread_mutex_unlock(&nodes_lock);
	if (!n)
		return -ESTALE;
	pthread_rwlock_rdlock(&n->busy);
	*held = n;
	pthread_mutex_lock(&nodes_lock);
	if (!n->removed) {
		r = join(buf, fixed_path(n->parent), n->name);
		*ret = buf;
	}
	pthread_mutex_unlock(&nodes_lock);
	return r;
}

static void node_leave(struct node *held)
{
	if (held)
		node_unpin(held);
}

/* The path of name in the directory parent, into buf (PATH_LEN bytes). */
static int child_path(fuse_ino_t parent, const char *name, char *buf)
{
	const char *d = fixed_path(parent);

	if (!d || parent == INO_AUDIT)
		return -ENOTDIR;
	return join(buf, parent == INO_ROOT ? "" : d, name);
}

/* The fixed number of a path of the fixed tree; 0 for a file. */
static fuse_ino_t fixed_ino(const struct loktfs_path *p)
{
	switch (p->node) {
	case LOKTFS_ROOT:
		return INO_ROOT;
	case LOKTFS_DIR:
		return p->kind == LOKT_LOCK ? INO_LOCKS : INO_FREEZES;
	case LOKTFS_AUDIT:
		return INO_AUDIT;
	case LOKTFS_MODE_DIR:
		if (p->shared)
			return INO_SHARED;
		return p->slots ? INO_SLOTS_K + p->slots - 1 : INO_SLOTS;
	default:
		return 0;
	}
}

static void reply_attr(fuse_req_t req, fuse_ino_t ino, const char *path,
		       int r)
{
	struct stat st;

	if (r == 0)
		r = loktfs_getattr(path, &st);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, 0);
}

/* The entry of parent/name at path, with its attributes now: a fixed
 * one remembered for ENTRY_FIXED, a file's for no time at all. */
static int make_entry(fuse_ino_t parent, const char *name, const char *path,
		      struct fuse_entry_param *e)
{
	struct loktfs_path p;
	int r;

	memset(e, 0, sizeof(*e));
	r = loktfs_getattr(path, &e->attr);
	if (r < 0)
		return r;
	if (loktfs_parse_path(path, &p) < 0)
		return -ENOENT;
	e->ino = fixed_ino(&p);
	if (e->ino) {
		e->entry_timeout = ENTRY_FIXED;
	} else {
		e->ino = node_ref(parent, name);
		if (!e->ino)
			return -ENOMEM;
	}
	e->attr.st_ino = e->ino;
	return 0;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	char path[PATH_LEN];
	int r;

	current = req;
	r = child_path(parent, name, path);
	if (r == 0)
		r = make_entry(parent, name, path, &e);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* Interrupted: the kernel never had the entry. */
	if (fuse_reply_entry(req, &e) == -ENOENT)
		node_forget(e.ino, 1);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* fstat of a file removed through the mount: ESTALE (docs/loktfs.8),
 * as libfuse's high-level API answered it. The kernel sends fstat
 * without the open file; when it does send one (lseek to SEEK_END), the
 * file is empty and unlinked (ops.c, REMOVED WHILE OPEN). */
static void ll_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	char buf[PATH_LEN];
	const char *path;
	struct node *held;
	int r;

	current = req;
	r = node_enter(ino, buf, &path, &held);
	reply_attr(req, ino, path, r == 0 && !path && !fi ? -ESTALE : r);
	node_leave(held);
}

/* chmod, chown: refused, a lock file is not a file one can shape;
 * truncate and touch: files.c. Then the attributes as they are now. */
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT },
				  { .tv_nsec = UTIME_OMIT } };
	char buf[PATH_LEN];
	const char *path;
	struct node *held;
	int r;

	current = req;
	r = node_enter(ino, buf, &path, &held);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
				 FUSE_SET_ATTR_GID)))
		r = -EPERM;
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		r = loktfs_truncate(path, attr->st_size, fi);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		/* futimens of a removed file: ESTALE (docs/loktfs.8). */
		r = path ? loktfs_utimens(path, tv, fi) : -ESTALE;
	}
	reply_attr(req, ino, path, r);
	node_leave(held);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char buf[PATH_LEN];
	const char *path;
	struct node *held;
	int r;

	current = req;
	r = node_enter(ino, buf, &path, &held);
	/* Removed: the kernel walks the path again (ESTALE), and finds the
	 * name free, or taken anew (another node). */
	if (r == 0)
		r = path ? loktfs_open(path, fi) : -ESTALE;
	if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		fi->direct_io = 1;
		if (fuse_reply_open(req, fi) == -ENOENT)
			loktfs_release(path, fi);
	}
	node_leave(held);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	char path[PATH_LEN];
	int r;

	current = req;
	r = child_path(parent, name, path);
	if (r == 0)
		r = loktfs_create(path, mode, fi);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* The open fails if its entry cannot be made, or its caller is gone
	 * (interrupted): what it took is given back, so that a failed open
	 * leaves the store as it was. */
	r = make_entry(parent, name, path, &e);
	if (r < 0) {
		loktfs_create_undo(fi);
		fuse_reply_err(req, -r);
		return;
	}
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		loktfs_create_undo(fi);
		node_forget(e.ino, 1);
	}
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char pbuf[PATH_LEN];
	const char *path;
	char *buf;
	struct node *held;
	int r;

	current = req;
	r = node_enter(ino, pbuf, &path, &held);
	buf = r == 0 ? malloc(size ? size : 1) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	if (r == 0)
		r = loktfs_read(path, buf, size, off, fi);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
	node_leave(held);
}

/* write to a removed file: ESTALE (docs/loktfs.8). */
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	char buf[PATH_LEN];
	const char *path;
	struct node *held;
	int r;

	current = req;
	r = node_enter(ino, buf, &path, &held);
	if (r == 0 && !path)
		r = -ESTALE;
	if (r == 0)
		r = loktfs_write(path, data, size, off, fi);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, (size_t)r);
	node_leave(held);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	current = req;
	loktfs_release(NULL, fi);
	fuse_reply_err(req, 0);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[PATH_LEN];
	struct node *n;
	int r;

	current = req;
	r = child_path(parent, name, path);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* The name's node, write-held from the release to its removal
	 * (node_enter). */
	pthread_mutex_lock(&nodes_lock);
	n = find_name(parent, name);
	if (n)
		n->pins++;
	pthread_mutex_unlock(&nodes_lock);
	if (n)
		pthread_rwlock_wrlock(&n->busy);
	r = loktfs_unlink(path);
	/* Removed, unless rm of one place of a semaphore or shared lock left
	 * the other holders' (their open files still name it, and renew it
	 * by writing). A lock taken by another since the release is another
	 * file: open files of the removed one must not show it. */
	if (r == 0 && n && loktfs_unlinked(path)) {
		pthread_mutex_lock(&nodes_lock);
		if (!n->removed) {
			unlink_name(n);
			n->removed = true;
		}
		pthread_mutex_unlock(&nodes_lock);
	}
	if (n)
		node_unpin(n);
	fuse_reply_err(req, -r);
}

/* d_ino of a listed entry: a file's node is made by its lookup, not by
 * a listing (what libfuse's high-level API gives too). */
#define UNKNOWN_INO 0xffffffffu

/* A directory's listing, made when it is read from its start (so
 * rewinddir sees the store as it is then), served in pieces. */
struct listing {
	size_t n, cap;
	struct {
		char *name;
		mode_t type;
	} *v;
};

static void listing_clear(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	l->n = 0;
}

static int listing_add(void *buf, const char *name, mode_t type)
{
	struct listing *l = buf;
	void *v;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!v)
			return -ENOMEM;
		l->v = v;
	}
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return -ENOMEM;
	l->v[l->n++].type = type;
	return 0;
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	const char *path = fixed_path(ino); /* directories are fixed */
	struct listing *l;
	struct stat st;
	int r;

	current = req;
	r = path ? loktfs_getattr(path, &st) : -ENOTDIR;
	if (r == 0 && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	l = r == 0 ? calloc(1, sizeof(*l)) : NULL;
	if (r == 0 && !l)
		r = -ENOMEM;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)l;
	if (fuse_reply_open(req, fi) == -ENOENT)
		free(l);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	struct stat st = { .st_ino = UNKNOWN_INO };
	size_t len = 0, one, i;
	char *buf;
	int r;

	current = req;
	if (off == 0) {
		listing_clear(l);
		r = loktfs_readdir(fixed_path(ino), l, listing_add);
		if (r < 0) {
			listing_clear(l);
			fuse_reply_err(req, -r);
			return;
		}
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (i = off < 0 ? l->n : (size_t)off; i < l->n; i++) {
		st.st_mode = l->v[i].type;
		one = fuse_add_direntry(req, buf + len, size - len,
					l->v[i].name, &st, (off_t)(i + 1));
		if (one > size - len)
			break;
		len += one;
	}
	fuse_reply_buf(req, buf, len);
	free(buf);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;

	listing_clear(l);
	free(l->v);
	free(l);
	fuse_reply_err(req, 0);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int r;

	current = req;
	r = loktfs_statfs("/", &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_statfs(req, &st);
}

/* No extended attributes here, and said so: "not supported", not "no
 * such attribute". Unanswered, the kernel would answer a POSIX ACL's
 * name with ENODATA (no ACL) for every file, and ls -l, which stops
 * asking a filesystem that does not support ACLs but not one whose files
 * merely have none, walked each path twice: two more LOOKUPs per file of
 * ls -l (docs/performance.md, "The mount's listing"). */
static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	fuse_reply_err(req, EOPNOTSUPP);
}

/*
 * Refused: the tree is fixed and a lock file is not a file one can shape.
 * EPERM, never a silent success, so scripts notice.
 */
static void refuse(fuse_req_t req)
{
	fuse_reply_err(req, EPERM);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	refuse(req);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	refuse(req);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	refuse(req);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	refuse(req);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	refuse(req);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	refuse(req);
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	refuse(req);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	refuse(req);
}

const struct fuse_lowlevel_ops loktfs_ll_ops = {
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.open = ll_open,
	.create = ll_create,
	.read = ll_read,
	.write = ll_write,
	.release = ll_release,
	.unlink = ll_unlink,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.releasedir = ll_releasedir,
	.statfs = ll_statfs,
	.getxattr = ll_getxattr,
	.setxattr = ll_setxattr,
	.removexattr = ll_removexattr,
	.mkdir = ll_mkdir,
	.mknod = ll_mknod,
	.rmdir = ll_rmdir,
	.symlink = ll_symlink,
	.link = ll_link,
	.rename = ll_rename,
};
