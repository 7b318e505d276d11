// SPDX-License-Identifier: MIT
/*
 * Reading the store (one record, all records, the waiters of a name) and
 * the transitions that walk it: releasing every lock of an owner, and
 * pruning every stale lock and expired freeze. Each walked name gets its
 * own critical section under its sidecar (protocol.c), where the record is
 * re-read and re-judged: what the listing saw may have changed since.
 *
 * A foreign file (LOKT_E_FOREIGN: a symlink, FIFO or directory named like
 * a record) is skipped by every walk: one planted file must not make the
 * listing of every other name fail. lokt doctor reports it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol.h"
#include "store.h"

/* How old a temporary file of another naming (`.NAME.json.<id>.tmp`,
 * queue `.<id>.tmp`, written by earlier versions) must be before
 * lokt_prune removes it: its writer needed microseconds, not an hour. */
#define TEMP_MAX_AGE_SEC 3600
/* How long a free name must have had no acquisition before lokt_prune
 * removes its sidecar (sidecar.c). */
#define SIDECAR_IDLE_SEC (24 * 3600)

LOKT_API int lokt_get(struct lokt_store *s, enum lokt_kind kind,
		      const char *name, struct lokt_info *ret, char **ret_json)
{
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret)
		return -EINVAL;
	r = lokt__store_follow(s);
	if (r < 0)
		return r;
	return lokt__load(s, kind, name, ret, ret_json);
}

static int by_name(const void *a, const void *b)
{
	const struct lokt_info *x = a, *y = b;

	return strcmp(x->rec.name, y->rec.name);
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

LOKT_API int lokt_list(struct lokt_store *s, enum lokt_kind kind,
		       struct lokt_info **ret, size_t *ret_n)
{
	char name[LOKT_NAME_MAX + 1];
	struct lokt_info *v = NULL, *nv;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!s || !ret || !ret_n)
		return -EINVAL;
	r = lokt__store_follow(s);
	if (r < 0)
		return r;
	r = lokt__opendir(lokt__kind_fd(s, kind), &d);
	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		if (!entry_name(de->d_name, name, sizeof(name)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		r = lokt__load(s, kind, name, &v[n], NULL);
		/* gone since readdir, or not ours to read */
		if (r == -LOKT_E_NOT_FOUND || r == -LOKT_E_FOREIGN) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		n++;
	}
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	if (n)
		qsort(v, n, sizeof(*v), by_name);
	*ret = v;
	*ret_n = n;
	return 0;
}

LOKT_API int lokt_waiters(struct lokt_store *s, const char *name,
			  size_t *ret_n)
{
	struct lokt_queue q;
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret_n)
		return -EINVAL;
	r = lokt__queue_scan(s, name, 0, false, &q);
	if (r < 0)
		return r;
	*ret_n = q.live;
	return 0;
}

/* Under the sidecar: remove name if it is (still) a lock of owner. */
static int release_owned(struct lokt_store *s, const char *name,
			 const struct lokt_who *who, const char *owner)
{
	struct lokt_info cur;
	int lk, r;

	r = lokt__name_lock(s, LOKT_LOCK, name, &lk);
	if (r < 0)
		return r;
	r = lokt__load(s, LOKT_LOCK, name, &cur, NULL);
	if (r == 0 && (cur.future || cur.stale == LOKT_STALE_CORRUPT ||
		       strcmp(cur.rec.owner, owner)))
		r = -LOKT_E_NOT_FOUND;
	if (r == 0)
		r = lokt__remove_audited(
			s, LOKT_LOCK, name, who, &cur,
			strcmp(owner, who->owner) ? "force-break" : "release",
			NULL);
	lokt__name_unlock(lk);
	return r;
}

LOKT_API int lokt_release_all(struct lokt_store *s, const struct lokt_who *who,
			      const char *owner, size_t *ret_count)
{
	struct lokt_info *v;
	size_t n, i, count = 0;
	int r;

	if (!s || !who)
		return -EINVAL;
	if (!owner)
		owner = who->owner;
	r = lokt_list(s, LOKT_LOCK, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++) {
		if (v[i].future || v[i].stale == LOKT_STALE_CORRUPT ||
		    strcmp(v[i].rec.owner, owner))
			continue;
		r = release_owned(s, v[i].rec.name, who, owner);
		if (r == 0)
			count++;
		else if (r == -LOKT_E_NOT_FOUND || r == -LOKT_E_FOREIGN)
			r = 0; /* gone, or a planted sidecar: the next name */
	}
	free(v);
	if (r < 0)
		return r;
	if (ret_count)
		*ret_count = count;
	return 0;
}

/* Under the sidecar: remove name if it is (still) stale. 1 if removed. */
static int prune_one(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, const struct lokt_who *who)
{
	struct lokt_info cur;
	int lk, r;

	r = lokt__name_lock(s, kind, name, &lk);
	if (r < 0)
		return r;
	r = lokt__load(s, kind, name, &cur, NULL);
	if (r == 0 && !cur.future && cur.stale != LOKT_LIVE) {
		if (cur.stale == LOKT_STALE_CORRUPT)
			r = lokt__remove_audited(s, kind, name, who, &cur,
						 "corrupt-break", "corrupt");
		else
			r = lokt__remove_audited(s, kind, name, who, &cur,
						 "auto-prune",
						 lokt_stale_name(cur.stale));
		r = r < 0 ? r : 1;
	}
	lokt__name_unlock(lk);
	return r == -LOKT_E_NOT_FOUND ? 0 : r;
}

static int prune_kind(struct lokt_store *s, enum lokt_kind kind,
		      const struct lokt_who *who, size_t *count)
{
	struct lokt_info *v;
	size_t n, i;
	int r;

	r = lokt_list(s, kind, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++) {
		if (v[i].future || v[i].stale == LOKT_LIVE)
			continue;
		r = prune_one(s, kind, v[i].rec.name, who);
		if (r > 0)
			(*count)++;
		else if (r == -LOKT_E_FOREIGN)
			r = 0; /* a planted sidecar: the next name */
	}
	free(v);
	return r < 0 ? r : 0;
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

	r = lokt__opendir(lokt__kind_fd(s, kind), &d);
	if (r < 0)
		return r;
	while ((de = readdir(d)))
		if (de->d_name[0] == '.')
			prune_temps_of(s, kind, dirfd(d), de->d_name, now);
	closedir(d);
	return 0;
}

LOKT_API int lokt_prune(struct lokt_store *s, const struct lokt_who *who,
			size_t *ret_count)
{
	size_t count = 0;
	int r;

	if (!s || !who)
		return -EINVAL;
	r = prune_kind(s, LOKT_LOCK, who, &count);
	if (r == 0)
		r = prune_kind(s, LOKT_FREEZE, who, &count);
	if (r == 0)
		r = prune_temps(s, LOKT_LOCK);
	if (r == 0)
		r = prune_temps(s, LOKT_FREEZE);
	if (r == 0)
		r = lokt__sidecars_prune(s, LOKT_LOCK, SIDECAR_IDLE_SEC, NULL);
	if (r == 0)
		r = lokt__sidecars_prune(s, LOKT_FREEZE, SIDECAR_IDLE_SEC,
					 NULL);
	if (r < 0)
		return r;
	if (ret_count)
		*ret_count = count;
	return 0;
}
