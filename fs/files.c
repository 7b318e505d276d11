// SPDX-License-Identifier: MIT
/*
 * One lock or freeze file through the mount: what touch, ">", echo, cat
 * and rm do to it (README, "The filesystem"; loktfs(8)). Each handler
 * translates the request and makes one liblokt call; the rules (who
 * holds, who may release, what is stale) are liblokt's.
 *
 *   open for writing, create   acquire (or renew, for the holder) with the
 *                              lock's current TTL, else default_ttl; a
 *                              freeze with freeze_ttl
 *   write "30m"                renew with that TTL (locks: by lock_id)
 *   write anything else        EINVAL; an acquisition made by this very
 *                              open is given back, so nothing is left
 *   touch (utimens)            acquire or renew; the times are ignored
 *   truncate to 0              allowed (O_TRUNC); to anything else EPERM
 *   read                       the lock file's JSON, read now
 *   any of these after rm      the open file names no lock: read is end
 *                              of file, touch ESTALE (ops.c, REMOVED)
 *   unlink                     release, or break if stale; unfreeze
 *   /audit                     read-only view of audit.log, readable by
 *                              whom the file itself lets read it
 *
 * Names that are not lock names do not exist on lookup; creating one is
 * EINVAL, except dotfiles (an editor's .x.swp), which are EPERM like
 * every other file that cannot be made here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

/* Longest text a write may bring: a duration and a newline. */
#define TEXT_MAX 64

/* State of one open of a lock or freeze, or of audit, in fi->fh. */
struct handle {
	enum lokt_kind kind;
	char name[LOKT_NAME_MAX + 1];
	char lock_id[LOKT_ID_LEN + 1]; /* locks: the acquisition we hold */
	bool created; /* this open made the lock or freeze (not a renewal) */
	struct lokt_who who; /* who made it: loktfs_create_undo gives it back */
	bool failed; /* a write was refused; so are the next ones */
	size_t len;
	char text[TEXT_MAX + 1];
	/* An open of audit: the log it opened, or -1 (none yet, or
	 * AUDIT_KEPT_MAX kept already: read as it is at each read). */
	int audit_fd;
	bool audit_snapshot; /* audit_fd is an etcd store's snapshot */
	bool reader; /* opened for reading only */
	/* The record as the last read at offset 0 of this open showed it:
	 * reads further on go on with it (snap_lock), so that a reader of a
	 * few bytes at a time (dd bs=7, bash's read) never stitches one
	 * record out of pieces of several. NULL: none read yet. */
	char *snap;
};

/* Snapshots take at most SNAP_BUDGET bytes in all (snap_bytes, under
 * snap_lock): a user holding many opens of a large record, each read at
 * offset 0, must not grow the daemon without bound. Past it, a read
 * further on is of the record at that instant. (Kept also when a read
 * took the whole record: cat's next read, at the end, must find the end
 * of that record, not bytes of a longer one written since.) */
#define SNAP_BUDGET (64u << 20)
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t snap_bytes;

/* Keep copy (or NULL: none) as h's snapshot, within the budget; frees
 * what it does not keep. Under snap_lock. */
static void snap_set(struct handle *h, char *copy)
{
	size_t add = copy ? strlen(copy) + 1 : 0;

	if (h->snap) {
		snap_bytes -= strlen(h->snap) + 1;
		free(h->snap);
		h->snap = NULL;
	}
	if (copy && snap_bytes + add <= SNAP_BUDGET) {
		h->snap = copy;
		snap_bytes += add;
	} else {
		free(copy);
	}
}

/* Descriptors kept by opens of audit at most: a user holding many opens
 * must not run the daemon out of descriptors. */
#define AUDIT_KEPT_MAX 64
static atomic_int audit_kept;
static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t ttl_sec_of(int64_t ms)
{
	return (ms + 999) / 1000;
}

/* Acquire or renew a lock, or make or extend a freeze, for `who`. An
 * existing lock or place keeps its TTL (touch by the holder extends the
 * lease it has; none stays none: keep_ttl), an existing freeze its own;
 * a new one gets the mount's default. A semaphore's or shared name's
 * record has no TTL of its own: each place has its own. */
static int take(const struct loktfs_path *p, const struct lokt_who *who,
		struct lokt_result *res)
{
	struct loktfs *fs = loktfs_get();
	struct lokt_acquire_opts opts = { .slots = p->slots,
					  .shared = p->shared,
					  .ttl_sec = fs->default_ttl_sec,
					  .keep_ttl = true };
	const char *name = p->name;
	struct lokt_info cur;
	int64_t ttl = fs->freeze_ttl_sec;
	int r;

	if (p->kind == LOKT_FREEZE) {
		if (lokt_get(fs->store, LOKT_FREEZE, name, &cur, NULL) == 0 &&
		    cur.stale == LOKT_LIVE && cur.rec.ttl_sec > 0)
			ttl = cur.rec.ttl_sec;
		return lokt_freeze(fs->store, name, who, ttl, res);
	}
	/* On etcd the daemon keeps the lock (keeper.c): no process per
	 * lock. */
	r = loktfs_keeper_reserve(who->uid);
	if (r < 0) {
		/* Past the caller's share: a renewal of the lock it holds,
		 * by its lock_id (an acquisition would make a new lock if
		 * that one went meanwhile, kept by a process of its own);
		 * another's lock is busy as ever; a place, never. */
		if (p->slots || p->shared ||
		    lokt_get(fs->store, LOKT_LOCK, name, &cur, NULL) < 0 ||
		    cur.stale != LOKT_LIVE)
			return r;
		if (!lokt_holds(&cur.rec, who))
			return -LOKT_E_HELD;
		r = lokt_renew(fs->store, name, cur.rec.lock_id, who,
			       cur.rec.ttl_sec, res);
		res->renewed = r == 0;
		return r == -LOKT_E_LOST ? -EDQUOT : r;
	}
	opts.tend = r > 0;
	r = lokt_acquire(fs->store, name, who, &opts, res);
	if (r == 0 && opts.tend && !res->renewed)
		return loktfs_keeper_add(name, res->lock.lock_id, who->uid,
					 who->pid, who->pid_start);
	if (opts.tend)
		loktfs_keeper_unreserve();
	return r;
}

static int open_for_write(const struct loktfs_path *p,
			  struct fuse_file_info *fi)
{
	struct lokt_result res;
	struct lokt_who who;
	struct handle *h;
	int r;

	r = loktfs_caller(&who);
	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->audit_fd = -1;
	r = take(p, &who, &res);
	if (r < 0) {
		free(h);
		return -lokt_errno(r);
	}
	h->kind = p->kind;
	snprintf(h->name, sizeof(h->name), "%s", p->name);
	snprintf(h->lock_id, sizeof(h->lock_id), "%s", res.lock.lock_id);
	h->created = !res.renewed;
	h->who = who;
	fi->fh = (uintptr_t)h;
	return 0;
}

static int entry_path(const char *path, struct loktfs_path *p)
{
	int r = loktfs_parse_path(path, p);

	if (r < 0)
		return r;
	if (p->node == LOKTFS_ROOT || p->node == LOKTFS_DIR ||
	    p->node == LOKTFS_MODE_DIR)
		return -EISDIR;
	return 0;
}

/* Is gid one of the caller's supplementary groups? All of them: a caller
 * may have up to NGROUPS_MAX (65,536), and one past the first 64 counts
 * as it does for the kernel. */
static bool caller_in_group(gid_t gid)
{
	gid_t small[64], *v = small;
	int n, cap = 64;
	bool in = false;

	n = loktfs_getgroups(cap, v);
	if (n > cap) {
		v = malloc((size_t)n * sizeof(*v));
		cap = n;
		n = v ? loktfs_getgroups(cap, v) : -1;
	}
	for (int i = 0; i < n && i < cap && !in; i++)
		in = v[i] == gid;
	if (v != small)
		free(v);
	return in;
}

/* May the caller read a file of this owner and mode? As the kernel
 * would judge it for the caller's own open (the daemon runs as root, so
 * the kernel does not judge it for us): owner, then group (primary or
 * supplementary), then others; root may. */
static bool may_read(const struct stat *st)
{
	const struct fuse_ctx *ctx = loktfs_ctx();

	if (ctx->uid == 0)
		return true;
	if (ctx->uid == st->st_uid)
		return st->st_mode & S_IRUSR;
	if (ctx->gid == st->st_gid || caller_in_group(st->st_gid))
		return st->st_mode & S_IRGRP;
	return st->st_mode & S_IROTH;
}

/* /audit opens when the store's audit.log would let the caller read it.
 * Before the first event there is nothing to read: an empty file, as
 * stat_audit shows it (the daemon's, 0400). Anything but a regular file
 * planted as audit.log is refused (liblokt does not open it). */
static int open_audit(struct fuse_file_info *fi)
{
	struct lokt_store *s = loktfs_get()->store;
	struct handle *h;
	struct stat st;
	int fd = -1, r;

	r = lokt_audit_open(s, &fd, &st);
	if (r == -ENOENT) {
		memset(&st, 0, sizeof(st));
		st.st_uid = getuid();
		st.st_mode = S_IFREG | 0400;
	} else if (r < 0) {
		return r;
	}
	h = may_read(&st) ? calloc(1, sizeof(*h)) : NULL;
	if (!h) {
		if (fd >= 0)
			close(fd);
		return may_read(&st) ? -ENOMEM : -EACCES;
	}
	/* Read from the file as opened: a rotation while it is read (it is
	 * renamed audit.log.1) must not splice the new log's bytes onto
	 * the old one's, mid-line. An etcd store's log is a snapshot made
	 * at each open of it: kept too (offsets stay put, and a cat makes
	 * one), and made again when a read reaches its end (tail -f). */
	h->audit_fd = -1;
	h->audit_snapshot = lokt_root_is_url(lokt_store_root(s));
	if (fd >= 0 && atomic_fetch_add(&audit_kept, 1) < AUDIT_KEPT_MAX) {
		h->audit_fd = fd;
		fd = -1;
	} else if (fd >= 0) {
		atomic_fetch_sub(&audit_kept, 1);
	}
	if (fd >= 0)
		close(fd);
	fi->fh = (uintptr_t)h;
	return 0;
}

static int read_audit(struct fuse_file_info *fi, char *buf, size_t size,
		      off_t off)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	ssize_t n;
	int fd, r;

	if (h && h->audit_fd >= 0 && !h->audit_snapshot) {
		n = pread(h->audit_fd, buf, size, off);
		return n < 0 ? -errno : (int)n;
	}
	if (h && h->audit_fd >= 0) {
		/* Another thread may read this open at once: one at a time
		 * while its snapshot may be replaced. */
		pthread_mutex_lock(&audit_lock);
		n = pread(h->audit_fd, buf, size, off);
		if (n == 0 && lokt_audit_open(loktfs_get()->store, &fd,
					      NULL) == 0) {
			close(h->audit_fd);
			h->audit_fd = fd;
			n = pread(fd, buf, size, off);
		}
		r = n < 0 ? -errno : (int)n;
		pthread_mutex_unlock(&audit_lock);
		return r;
	}
	r = lokt_audit_open(loktfs_get()->store, &fd, NULL);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	n = pread(fd, buf, size, off);
	if (n < 0)
		n = -errno;
	close(fd);
	return (int)n;
}

int loktfs_open(const char *path, struct fuse_file_info *fi)
{
	struct loktfs_path p;
	struct lokt_info info;
	int r;

	r = entry_path(path, &p);
	if (r < 0)
		return r;
	if (p.node == LOKTFS_AUDIT)
		return (fi->flags & O_ACCMODE) == O_RDONLY ? open_audit(fi)
							   : -EACCES;
	if (lokt_name_check(p.name) < 0)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return open_for_write(&p, fi);
	r = lokt_get(loktfs_get()->store, p.kind, p.name, &info, NULL);
	r = r < 0 ? -lokt_errno(r) : loktfs_mode_check(&p);
	if (r == 0) {
		struct handle *h = calloc(1, sizeof(*h));

		if (!h)
			return -ENOMEM;
		h->audit_fd = -1;
		h->reader = true;
		h->kind = p.kind;
		fi->fh = (uintptr_t)h;
	}
	return r;
}

int loktfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct loktfs_path p;

	/* Files exist only as locks and freezes. */
	if (loktfs_parse_path(path, &p) < 0 || p.node != LOKTFS_ENTRY)
		return -EPERM;
	/* A dotfile (an editor's .x.swp) is not a lock one asked for. */
	if (p.name[0] == '.')
		return -EPERM;
	if (lokt_name_check(p.name) < 0)
		return -EINVAL;
	return open_for_write(&p, fi);
}

int loktfs_read(const char *path, char *buf, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct loktfs_path p;
	struct lokt_info info;
	struct handle *h;
	char *json;
	size_t len;
	int r;

	r = entry_path(path, &p);
	if (r < 0)
		return r;
	if (p.node == LOKTFS_AUDIT)
		return read_audit(fi, buf, size, off);
	if (p.node == LOKTFS_REMOVED)
		return 0;
	r = loktfs_mode_check(&p);
	if (r < 0)
		return r;
	h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	/* At offset 0, or nothing read yet: the record now. Further on:
	 * the rest of the one this open showed (struct handle). */
	pthread_mutex_lock(&snap_lock);
	if (h && h->snap && off > 0) {
		json = strdup(h->snap);
		pthread_mutex_unlock(&snap_lock);
		if (!json)
			return -ENOMEM;
	} else {
		pthread_mutex_unlock(&snap_lock);
		r = lokt_get(loktfs_get()->store, p.kind, p.name, &info,
			     &json);
		if (r < 0)
			return -lokt_errno(r);
		if (h) {
			pthread_mutex_lock(&snap_lock);
			snap_set(h, strdup(json));
			pthread_mutex_unlock(&snap_lock);
		}
	}
	len = strlen(json);
	if (off < 0 || (size_t)off >= len) {
		size = 0;
	} else {
		if (size > len - (size_t)off)
			size = len - (size_t)off;
		memcpy(buf, json + off, size);
	}
	free(json);
	return (int)size;
}

/* Give back the lock or freeze this open made, if it made one. */
static void give_back(struct handle *h, const struct lokt_who *who)
{
	struct lokt_store *s = loktfs_get()->store;
	struct lokt_result res;

	if (h->created && h->kind == LOKT_LOCK)
		lokt_release(s, h->name, who, h->lock_id, 0, &res);
	else if (h->created)
		lokt_unfreeze(s, h->name, who, false, &res);
	h->created = false;
}

/* A write that is not a duration: give back what this open took, so a
 * failed `echo garbage > locks/x` leaves the store as it was. */
static int refuse_text(struct handle *h, const struct lokt_who *who)
{
	h->failed = true;
	give_back(h, who);
	return -EINVAL;
}

void loktfs_create_undo(struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (h)
		give_back(h, &h->who);
	loktfs_release(NULL, fi);
}

/* Apply the text of one write: a duration per line (blank lines and a
 * trailing newline or spaces are fine), each renewing in turn, once
 * every line is known to be one. Each write is taken whole, wherever it
 * writes: text was kept from one write to the next, so a second `30s`
 * without a newline renewed with 60 s (and pwrite at 0 did the same),
 * and a keep-alive writing without newlines lost its lock to the
 * 64-byte limit. */
static int apply_text(struct handle *h, const struct lokt_who *who)
{
	struct lokt_store *s = loktfs_get()->store;
	char text[TEXT_MAX + 1], *line, *save = NULL;
	int64_t ms[TEXT_MAX / 2 + 1];
	struct lokt_result res;
	size_t n = 0;
	int r = 0;

	if (memchr(h->text, '\0', h->len))
		return refuse_text(h, who);
	memcpy(text, h->text, h->len);
	text[h->len] = '\0';
	h->len = 0;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *end;

		line += strspn(line, " \t\r");
		end = line + strlen(line);
		while (end > line && strchr(" \t\r", end[-1]))
			*--end = '\0';
		if (*line == '\0')
			continue;
		if (lokt_duration_parse(line, &ms[n]) < 0 || ms[n] <= 0)
			return refuse_text(h, who);
		n++;
	}
	/* Applied or not (a renewal may fail for a while: the store busy,
	 * the cluster away), the next write is a value of its own. */
	for (size_t i = 0; i < n && r == 0; i++) {
		if (h->kind == LOKT_FREEZE)
			r = lokt_freeze(s, h->name, who, ttl_sec_of(ms[i]),
					&res);
		else
			r = lokt_renew(s, h->name, h->lock_id, who,
				       ttl_sec_of(ms[i]), &res);
	}
	return r < 0 ? -lokt_errno(r) : 0;
}

int loktfs_write(const char *path, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct lokt_who who;
	int r;

	if (!h || h->reader)
		return -EBADF;
	if (h->failed)
		return -EINVAL;
	r = loktfs_caller(&who);
	if (r < 0)
		return r;
	/* A descriptor handed to another user (inherited, passed over a
	 * socket) does not make its lock theirs to renew or give back. */
	if (who.uid != h->who.uid && who.uid != 0)
		return -EPERM;
	if (size > TEXT_MAX)
		return refuse_text(h, &who);
	memcpy(h->text, buf, size);
	h->len = size;
	r = apply_text(h, &who);
	return r < 0 ? r : (int)size;
}

int loktfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	struct loktfs_path p;
	struct lokt_info info;
	int r;

	r = loktfs_parse_path(path, &p);
	if (r < 0)
		return r;
	if ((p.node != LOKTFS_ENTRY && p.node != LOKTFS_REMOVED) || size != 0)
		return -EPERM;
	if (h) {
		h->len = 0;
		return 0;
	}
	if (p.node == LOKTFS_REMOVED)
		return 0;
	r = lokt_get(loktfs_get()->store, p.kind, p.name, &info, NULL);
	return r < 0 ? -lokt_errno(r) : 0;
}

int loktfs_utimens(const char *path, const struct timespec tv[2],
		   struct fuse_file_info *fi)
{
	struct lokt_result res;
	struct loktfs_path p;
	struct lokt_who who;
	int r;

	r = loktfs_parse_path(path, &p);
	if (r < 0)
		return r;
	if (p.node == LOKTFS_REMOVED)
		return -ESTALE;
	if (p.node != LOKTFS_ENTRY)
		return -EPERM;
	r = loktfs_caller(&who);
	if (r < 0)
		return r;
	r = take(&p, &who, &res);
	return r < 0 ? -lokt_errno(r) : 0;
}

int loktfs_unlink(const char *path)
{
	struct lokt_store *s = loktfs_get()->store;
	struct lokt_result res;
	struct loktfs_path p;
	struct lokt_who who;
	int r;

	r = loktfs_parse_path(path, &p);
	if (r < 0)
		return r;
	if (p.node != LOKTFS_ENTRY)
		return -EPERM;
	if (lokt_name_check(p.name) < 0)
		return -ENOENT;
	r = loktfs_mode_check(&p);
	if (r < 0)
		return r;
	r = loktfs_caller(&who);
	if (r < 0)
		return r;
	if (p.kind == LOKT_FREEZE)
		r = lokt_unfreeze(s, p.name, &who, false, &res);
	else
		r = lokt_release(s, p.name, &who, NULL,
				 LOKT_RELEASE_BREAK_STALE, &res);
	return r < 0 ? -lokt_errno(r) : 0;
}

bool loktfs_unlinked(const char *path)
{
	struct loktfs_path p;
	struct lokt_info in;
	int r;

	if (loktfs_parse_path(path, &p) < 0 || p.node != LOKTFS_ENTRY)
		return false;
	r = lokt_get(loktfs_get()->store, p.kind, p.name, &in, NULL);
	/* Gone; or a record of one holder, which is another's taken since
	 * (the release removed ours). A record of several holders that is
	 * still there keeps the others' places. */
	return r == -LOKT_E_NOT_FOUND || (r == 0 && !in.slots && !in.shared);
}

int loktfs_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (h && h->audit_fd >= 0) {
		close(h->audit_fd);
		atomic_fetch_sub(&audit_kept, 1);
	}
	if (h) {
		pthread_mutex_lock(&snap_lock);
		snap_set(h, NULL);
		pthread_mutex_unlock(&snap_lock);
	}
	free(h);
	fi->fh = 0;
	return 0;
}
