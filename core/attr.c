// SPDX-License-Identifier: MIT
/*
 * The directory store's attr call (backend.h): what stat(2) of a lock or
 * freeze file shows through the mount (owner, time, size), read without
 * judging the record, for lokt_get_attr. `ls -l`
 * of 100,000 locks asks it twice per file within a few microseconds (a
 * lookup and a getattr, the kernel caching nothing of a lock file),
 * so the parsed answer is kept for a file whose identity has not
 * changed, and each call costs one fstatat instead of reading and
 * parsing the record.
 *
 * DESIGN: why the cache is never stale. An entry is keyed on the
 * record's device, inode, size and ctime (what changes mtime changes
 * ctime too, to the present), read by fstat of the
 * very descriptor its bytes were read from, and is looked up with a
 * fresh fstatat each call. Every write to a file sets its ctime to the
 * current time, which a user cannot choose (utimensat sets mtime, and
 * ctime to now), and a new file (a renewal's rename, a reused inode
 * number) gets a ctime of its creation. A timestamp is only as fine as
 * the filesystem's clock tick, so a change in the same tick as the
 * cached read could keep ctime, mtime and size: hence an entry is kept
 * only when the file's ctime was at least CACHE_AGE_MS old when it was
 * read ("racily clean", as git's index calls it). Any later change then
 * gives a ctime in the present, different from the cached one. (A wall
 * clock stepped back by more than CACHE_AGE_MS between two changes of
 * one inode number could defeat this; and stores made through a shared
 * mapping of the file after the write that stamped its times, which
 * change none: nobody maps a record.) Our writers never rewrite a record
 * in place anyway (temporary file + link or rename); lokt 1.x writes one
 * after an O_EXCL create, which changes its size.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "store.h"

/* How old a record's ctime must be for its parse to be kept (see DESIGN). */
#define CACHE_AGE_MS 1000
/* The table: one entry per file (device and inode), open addressing. It
 * starts at TAB_MIN entries and doubles when three quarters full, up to
 * TAB_MAX (12 MiB: 262,144 entries of 48 bytes, for 196,608 records);
 * full at that size, it is emptied and starts again. A listing reads
 * every record, so a table smaller than the store (it was 4,096 entries,
 * direct-mapped) lost each entry before the next listing came back to
 * it: `ls -l` of 10,000 locks read every record again each time. */
#define TAB_MIN 4096
#define TAB_MAX (1u << 18)

size_t lokt__attr_max = TAB_MAX;

/* A kept parse: the file's identity (device, inode, size and ctime: a
 * change of mtime changes ctime too) and what its record says. */
struct slot {
	uint64_t dev, ino; /* ino 0: an empty entry */
	int64_t ctime_ns;
	int64_t acquired_sec;
	uint32_t acquired_nsec;
	uint32_t size;
	uint32_t uid; /* (uint32_t)-1: none */
};

#define NO_UID UINT32_MAX
#define NS_SEC_MAX (INT64_MAX / 1000000000 - 1)

/* A file's ctime in nanoseconds, or false when out of that range (then
 * its parse is not kept). */
static bool ns_of_ctime(const struct stat *st, int64_t *ret)
{
	if (st->st_ctim.tv_sec > NS_SEC_MAX || st->st_ctim.tv_sec < -NS_SEC_MAX)
		return false;
	*ret = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	return true;
}

static struct {
	pthread_mutex_t lock;
	struct slot *v;
	size_t cap, used; /* cap: 0 or a power of two */
} tab = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The entry of the file st is (whatever it holds), or the empty one where
 * it would go; NULL when there is no table. With tab.lock held. */
static struct slot *slot_of(const struct stat *st)
{
	uint64_t h = (uint64_t)st->st_ino * 0x9e3779b97f4a7c15ULL ^
		     (uint64_t)st->st_dev;
	size_t i;

	if (!tab.cap)
		return NULL;
	for (i = (size_t)(h >> 32) & (tab.cap - 1);; i = (i + 1) & (tab.cap - 1))
		if (tab.v[i].ino == 0 || (tab.v[i].ino == st->st_ino &&
					  tab.v[i].dev == st->st_dev))
			return &tab.v[i];
}

static bool slot_matches(const struct slot *c, const struct stat *st)
{
	int64_t ns;

	return c && c->ino != 0 && c->ino == (uint64_t)st->st_ino &&
	       c->dev == (uint64_t)st->st_dev && st->st_size >= 0 &&
	       c->size == (uint64_t)st->st_size && ns_of_ctime(st, &ns) &&
	       c->ctime_ns == ns;
}

/* Room for one more entry: the table made, doubled (its entries placed
 * again), or at its largest emptied. false when no memory (nothing is
 * kept then). With tab.lock held. */
static bool make_room(void)
{
	struct slot *old = tab.v, *nv;
	size_t ocap = tab.cap, ncap;

	if (tab.cap && (tab.used + 1) * 4 <= tab.cap * 3)
		return true;
	ncap = tab.cap ? tab.cap * 2 : TAB_MIN;
	if (ncap > lokt__attr_max && tab.cap) {
		memset(tab.v, 0, tab.cap * sizeof(*tab.v));
		tab.used = 0;
		return true;
	}
	nv = calloc(ncap, sizeof(*nv));
	if (!nv)
		return false;
	tab.v = nv;
	tab.cap = ncap;
	tab.used = 0;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].ino) {
			struct stat key = { .st_dev = old[i].dev,
					    .st_ino = old[i].ino };
			struct slot *sl = slot_of(&key); /* tab.cap > 0 */

			if (sl) {
				*sl = old[i];
				tab.used++;
			}
		}
	}
	free(old);
	return true;
}

bool lokt__attr_kept(const struct stat *st)
{
	bool kept;

	pthread_mutex_lock(&tab.lock);
	kept = slot_matches(slot_of(st), st);
	pthread_mutex_unlock(&tab.lock);
	return kept;
}

static void fill(struct lokt_attr *ret, const struct stat *st, int64_t uid,
		 const struct timespec *acquired)
{
	ret->uid = uid;
	ret->acquired = *acquired;
	ret->mtime = st->st_mtim;
	ret->size = (size_t)st->st_size;
}

/* Read and parse the record (lokt__attr_of: the owner and time
 * lokt__judge_bytes would give it), and keep the parse when the file is
 * settled (see DESIGN). */
static int attr_read(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, struct lokt_attr *ret)
{
	struct lokt_meta meta = { 0 };
	struct timespec now;
	int64_t ns;
	struct slot *c;
	struct stat st;
	size_t len;
	char *buf;
	int r;

	/* The age is the file's when it is read: a thread that stalls
	 * between the read and the judgement must not make a young file's
	 * parse look settled. */
	lokt__now(&now);
	r = lokt__file_read(s, kind, name, &buf, &len, &st);
	if (r < 0)
		return r;
	meta.uid = st.st_uid;
	meta.mtime = st.st_mtim;
	meta.size = st.st_size;
	lokt__attr_of(buf, len, &meta, ret);
	free(buf);
	if (lokt__test_pause)
		lokt__test_pause("attr-read");
	if (lokt__ms_between(&now, &st.st_ctim) < CACHE_AGE_MS)
		return 0; /* racily clean: not kept */
	if (!ns_of_ctime(&st, &ns) || st.st_size < 0 || st.st_size > UINT32_MAX ||
	    ret->uid < -1 || ret->uid >= (int64_t)NO_UID)
		return 0; /* not what an entry holds */
	pthread_mutex_lock(&tab.lock);
	c = slot_of(&st);
	if (!c || c->ino == 0) { /* a new entry */
		if (!make_room()) {
			pthread_mutex_unlock(&tab.lock);
			return 0;
		}
		c = slot_of(&st);
		tab.used++;
	}
	*c = (struct slot){ .dev = st.st_dev,
			    .ino = st.st_ino,
			    .ctime_ns = ns,
			    .acquired_sec = ret->acquired.tv_sec,
			    .acquired_nsec = (uint32_t)ret->acquired.tv_nsec,
			    .size = (uint32_t)st.st_size,
			    .uid = ret->uid < 0 ? NO_UID : (uint32_t)ret->uid };
	pthread_mutex_unlock(&tab.lock);
	return 0;
}

int lokt__dir_attr(struct lokt_store *s, enum lokt_kind kind,
		   const char *name, struct lokt_attr *ret)
{
	char file[LOKT_NAME_MAX + 8];
	struct timespec acquired;
	struct stat st;
	bool hit = false;
	int64_t uid = 0;
	struct slot *c;
	int r;

	r = lokt__store_follow(s);
	if (r < 0)
		return r;
	snprintf(file, sizeof(file), "%s.json", name);
	if (fstatat(lokt__kind_fd(s, kind), file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -LOKT_E_NOT_FOUND : -errno;
	if (!S_ISREG(st.st_mode))
		return -LOKT_E_FOREIGN;
	pthread_mutex_lock(&tab.lock);
	c = slot_of(&st);
	if (slot_matches(c, &st)) {
		hit = true;
		uid = c->uid == NO_UID ? -1 : (int64_t)c->uid;
		acquired.tv_sec = (time_t)c->acquired_sec;
		acquired.tv_nsec = c->acquired_nsec;
	}
	pthread_mutex_unlock(&tab.lock);
	if (!hit)
		return attr_read(s, kind, name, ret);
	fill(ret, &st, uid, &acquired);
	return 0;
}
