// SPDX-License-Identifier: MIT
/*
 * The directory store behind the seam (backend.h): the table of calls
 * that protocol.c, freeze.c, list.c and wait.c use, over the primitives of
 * store.c (records, sidecar flocks, fences), queue.c (waiter tickets),
 * sidecar.c (idle sidecars), watch.c (inotify) and dirwait.c (what a
 * waiter sleeps on). A transition is the name's sidecar flock, held from
 * begin to end; each write is one link, rename or unlink, done at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "store.h"

/* How old a temporary file of another naming (lokt__temp_name's beside
 * something planted, `<stem>.<id>.tmp`; earlier versions' `.<id>.tmp` in
 * a queue) must be before tidy removes it: its writer needed
 * microseconds, not an hour. */
#define TEMP_MAX_AGE_SEC 3600
/* How long a free name must have had no acquisition before tidy removes
 * its sidecar (sidecar.c). */
#define SIDECAR_IDLE_SEC (24 * 3600)

struct dir_txn {
	struct lokt_txn t;
	int lk; /* the sidecar, flock()ed */
};

static void meta_of(const struct stat *st, struct lokt_meta *ret)
{
	ret->uid = st->st_uid;
	ret->mtime = st->st_mtim;
	ret->size = st->st_size;
	ret->fence = 0; /* the record's own */
	ret->unproven = false;
}

static int dir_begin(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, struct lokt_txn **ret)
{
	struct dir_txn *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	r = lokt__name_lock(s, kind, name, &d->lk);
	if (r < 0) {
		free(d);
		return r;
	}
	d->t = (struct lokt_txn){ .s = s, .kind = kind, .name = name };
	*ret = &d->t;
	return 0;
}

static int dir_read_at(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, char **ret_buf, size_t *ret_len,
		       struct lokt_meta *ret_meta)
{
	struct stat st;
	int r;

	r = lokt__file_read(s, kind, name, ret_buf, ret_len, &st);
	if (r == 0 && ret_meta)
		meta_of(&st, ret_meta);
	return r;
}

static int dir_read(struct lokt_txn *t, enum lokt_kind kind, char **ret_buf,
		    size_t *ret_len, struct lokt_meta *ret_meta)
{
	return dir_read_at(t->s, kind, t->name, ret_buf, ret_len, ret_meta);
}

static int dir_queue(struct lokt_txn *t, uint64_t seq, struct lokt_queue *ret)
{
	if (t->kind != LOKT_LOCK)
		return -EINVAL;
	return lokt__queue_scan(t->s, t->name, seq, true, ret);
}

static int write_rec(struct lokt_txn *t, const struct lokt_record *rec,
		     bool publish)
{
	char *json;
	int r;

	r = lokt_record_format(rec, &json);
	if (r < 0)
		return r;
	if (publish)
		r = lokt__file_publish(t->s, t->kind, t->name, json);
	else
		r = lokt__file_replace(t->s, t->kind, t->name, json);
	free(json);
	return r;
}

static int dir_create(struct lokt_txn *t, struct lokt_record *rec,
		      uint64_t floor)
{
	struct dir_txn *d = (struct dir_txn *)t;
	int r;

	r = lokt__fence_next(d->lk, floor, &rec->fence);
	return r < 0 ? r : write_rec(t, rec, true);
}

static int dir_replace(struct lokt_txn *t, const struct lokt_record *rec)
{
	return write_rec(t, rec, false);
}

static int dir_fence(struct lokt_txn *t, uint64_t floor, uint64_t *ret)
{
	return lokt__fence_next(((struct dir_txn *)t)->lk, floor, ret);
}

static int dir_put(struct lokt_txn *t, const char *json, bool create)
{
	if (create)
		return lokt__file_publish(t->s, t->kind, t->name, json);
	return lokt__file_replace(t->s, t->kind, t->name, json);
}

static int dir_remove(struct lokt_txn *t, enum lokt_kind kind)
{
	if (kind != t->kind)
		return -EINVAL; /* not under the flock that would make it safe */
	return lokt__file_remove(t->s, kind, t->name);
}

static void dir_audit(struct lokt_txn *t, const char *line, size_t len)
{
	lokt__audit_file_append(t->s, line, len);
}

static int dir_end(struct lokt_txn *t, bool commit)
{
	struct dir_txn *d = (struct dir_txn *)t;

	(void)commit; /* every write is already made, each atomic */
	lokt__name_unlock(d->lk);
	free(d);
	return 0;
}

static int dir_get(struct lokt_store *s, enum lokt_kind kind, const char *name,
		   char **ret_buf, size_t *ret_len, struct lokt_meta *ret_meta)
{
	int r = lokt__store_follow(s);

	return r < 0 ? r : dir_read_at(s, kind, name, ret_buf, ret_len, ret_meta);
}

/* A DIR* of the kind's directory as the root's path names it now. */
static int opendir_kind(struct lokt_store *s, enum lokt_kind kind, DIR **ret)
{
	int r = lokt__store_follow(s);

	return r < 0 ? r : lokt__opendir(lokt__kind_fd(s, kind), ret);
}

/* The lock name of a directory entry "<name>.json", or false. */
static bool entry_name(const char *d_name, char *buf, size_t size)
{
	size_t len = strlen(d_name);

	if (d_name[0] == '.' || len <= 5 || len - 5 >= size ||
	    strcmp(d_name + len - 5, ".json"))
		return false;
	memcpy(buf, d_name, len - 5);
	buf[len - 5] = '\0';
	return lokt_name_check(buf) == 0;
}

static int dir_list(struct lokt_store *s, enum lokt_kind kind,
		    int (*fn)(const char *name, const char *buf, size_t len,
			      const struct lokt_meta *meta, void *ud),
		    void *ud)
{
	char name[LOKT_NAME_MAX + 1], *buf;
	struct lokt_meta meta;
	struct dirent *de;
	size_t len;
	DIR *d;
	int r;

	r = opendir_kind(s, kind, &d);
	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		if (!entry_name(de->d_name, name, sizeof(name)))
			continue;
		r = dir_read_at(s, kind, name, &buf, &len, &meta);
		/* gone since readdir, or not ours to read */
		if (r == -LOKT_E_NOT_FOUND || r == -LOKT_E_FOREIGN) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		r = fn(name, buf, len, &meta, ud);
		free(buf);
		if (r < 0)
			break;
	}
	closedir(d);
	return r < 0 ? r : 0;
}

/* Is the entry de of directory dfd a regular file? Without a system call
 * when the filesystem says (d_type). */
static bool entry_regular(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_REG;
	return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

/* The entries dir_list would report (a record name, ".json", a regular
 * file: a foreign file is skipped there too) from the directory alone.
 * A record removed between readdir and the caller's use is named, as
 * dir_list reports one removed just after it was read. */
static int dir_names(struct lokt_store *s, enum lokt_kind kind,
		     int (*fn)(const char *name, void *ud), void *ud)
{
	char name[LOKT_NAME_MAX + 1];
	struct dirent *de;
	DIR *d;
	int r;

	r = opendir_kind(s, kind, &d);
	if (r < 0)
		return r;
	while ((de = readdir(d)))
		if (entry_name(de->d_name, name, sizeof(name)) &&
		    entry_regular(dirfd(d), de) && (r = fn(name, ud)) < 0)
			break;
	closedir(d);
	return r < 0 ? r : 0;
}

/* The queue of name; -LOKT_E_FOREIGN as well when its sidecar is a
 * foreign file, which fails every transition of the name as its queue
 * would: a caller asking whether the name can be taken learns it here. */
static int dir_waiters(struct lokt_store *s, const char *name,
		       struct lokt_queue *ret)
{
	char side[LOKT_NAME_MAX + 8];
	int r;

	snprintf(side, sizeof(side), ".%s.lk", name);
	r = lokt__counter_file_check(s->locks_fd, side);
	if (r == -LOKT_E_FOREIGN)
		return r;
	return lokt__queue_scan(s, name, 0, false, ret);
}

static int dir_watch(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, int *ret_fd)
{
	int ino, r;

	(void)name; /* lokt_watch_changed filters by name */
	r = lokt__store_follow(s);
	if (r < 0)
		return r;
	/* An instance a waiter of ours left idle, if any: a guard that
	 * waited for its lock then holds one instance, not two (they count
	 * against fs.inotify.max_user_instances). It may still watch the
	 * other kind's directory too, which can only wake the caller for
	 * nothing (lokt_watch_changed checks the name). */
	ino = lokt__dir_ino_take(s);
	if (ino < 0)
		return ino;
	r = lokt__watch_add(ino, s, kind);
	if (r < 0) {
		close(ino);
		return r;
	}
	*ret_fd = ino;
	return 0;
}

/* Does d_name end in suffix (and have something before it)? */
static bool ends_with(const char *d_name, const char *suffix)
{
	size_t len = strlen(d_name), sl = strlen(suffix);

	return len > sl && !strcmp(d_name + len - sl, suffix);
}

/* Remove a temporary file of an old naming scheme when it is a regular
 * file older than TEMP_MAX_AGE_SEC. unlinkat never follows a symlink. */
static void remove_old_temp(int dfd, const char *file, time_t now)
{
	struct stat st;

	if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && now - st.st_mtime > TEMP_MAX_AGE_SEC)
		unlinkat(dfd, file, 0);
}

/* The temporary files of one name's directory entry `file` in the kind's
 * directory: `.NAME.json.tmp` and the queue's `.ticket.tmp` are only
 * written under NAME's sidecar, so under it they are leftovers of a
 * writer killed half-way and are removed at once. */
static void prune_temps_of(struct lokt_store *s, enum lokt_kind kind,
			   int dfd, const char *file, time_t now)
{
	char name[LOKT_NAME_MAX + 1];
	size_t len = strlen(file);
	bool queue = kind == LOKT_LOCK && ends_with(file, ".q");
	int lk, qfd;

	if (queue && len - 2 < sizeof(name)) {
		memcpy(name, file + 1, len - 3);
		name[len - 3] = '\0';
	} else if (ends_with(file, ".json.tmp") && len - 9 < sizeof(name)) {
		memcpy(name, file + 1, len - 10);
		name[len - 10] = '\0';
	} else {
		if (ends_with(file, ".tmp"))
			remove_old_temp(dfd, file, now);
		return;
	}
	if (lokt_name_check(name) < 0 ||
	    lokt__name_lock(s, kind, name, &lk) < 0)
		return;
	if (!queue) {
		unlinkat(dfd, file, 0);
	} else if ((qfd = lokt__open_in(dfd, file, O_RDONLY | O_DIRECTORY,
					S_IFDIR, NULL)) >= 0) {
		DIR *d = fdopendir(qfd);
		struct dirent *de;

		if (!d) {
			close(qfd);
		} else {
			while ((de = readdir(d)))
				if (!strcmp(de->d_name, ".ticket.tmp"))
					unlinkat(qfd, de->d_name, 0);
				else if (de->d_name[0] == '.' &&
					 ends_with(de->d_name, ".tmp"))
					remove_old_temp(qfd, de->d_name, now);
			closedir(d);
		}
	}
	lokt__name_unlock(lk);
}

/* Remove the temporary files that writers killed half-way left behind in
 * the kind's directory (and, for locks, in its queues). */
static int prune_temps(struct lokt_store *s, enum lokt_kind kind)
{
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;
	int r;

	r = opendir_kind(s, kind, &d);
	if (r < 0)
		return r;
	while ((de = readdir(d)))
		if (de->d_name[0] == '.')
			prune_temps_of(s, kind, dirfd(d), de->d_name, now);
	closedir(d);
	return 0;
}

static int dir_tidy(struct lokt_store *s)
{
	int r = prune_temps(s, LOKT_LOCK);

	if (r == 0)
		r = prune_temps(s, LOKT_FREEZE);
	if (r == 0)
		r = lokt__sidecars_prune(s, LOKT_LOCK, SIDECAR_IDLE_SEC, NULL);
	if (r == 0)
		r = lokt__sidecars_prune(s, LOKT_FREEZE, SIDECAR_IDLE_SEC,
					 NULL);
	return r;
}

const struct lokt_backend lokt__dir_backend = {
	.name = "dir",
	.freeze_under_lock = true,
	.begin = dir_begin,
	.read = dir_read,
	.queue = dir_queue,
	.create = dir_create,
	.fence = dir_fence,
	.put = dir_put,
	.replace = dir_replace,
	.remove = dir_remove,
	.audit = dir_audit,
	.end = dir_end,
	.get = dir_get,
	.list = dir_list,
	.names = dir_names,
	.attr = lokt__dir_attr,
	.waiters = dir_waiters,
	.wait_join = lokt__dir_wait_join,
	.wait_plan = lokt__dir_wait_plan,
	.wait_behind = lokt__dir_wait_behind,
	.wait_sleep = lokt__dir_wait_sleep,
	.wait_leave = lokt__dir_wait_leave,
	.watch = dir_watch,
	.tend = NULL, /* no leases: a holder's liveness is its pid */
	.deadline = lokt__dir_deadline, /* a wait for a name's flock */
	.tidy = dir_tidy,
	.audit_append = lokt__audit_file_append,
	.audit_lines = lokt__dir_audit_lines,
	.audit_follow = NULL, /* follow.c, on the files and inotify */
	.doctor = NULL, /* lokt_doctor checks a directory itself (doctor.c) */
	.close = lokt__dir_close,
};
