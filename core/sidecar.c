// SPDX-License-Identifier: MIT
/*
 * The life of sidecars (`.<name>.lk`): removing those of names unused for
 * long, and the store-wide fence floor that keeps fences rising across a
 * removal. How a sidecar is locked is store.c's (lokt__name_lock).
 *
 * DESIGN
 *
 * A sidecar is both the object of a name's mutual exclusion and its fence
 * counter, so removing one must break neither:
 *
 *   - Exclusion: a process may have opened the sidecar just before it is
 *     removed and be waiting in flock; once it gets the lock it holds an
 *     orphan, while a newcomer creates and locks a new file. So
 *     lokt__name_lock checks, after flock, that the file it locked is
 *     still the one at the path (same st_dev and st_ino: store.c,
 *     still_linked) and starts over if not. A sidecar is only removed
 *     by a holder of its flock: every locker either locked it before
 *     (and is done), or finds it gone.
 *   - Fences: before a sidecar is unlinked, its counter is raised into
 *     `.fence-floor` of its directory (under that file's flock; it only
 *     ever grows). A sidecar found empty by lokt__name_lock (created, or
 *     never acquired) is seeded from the floor under its own flock, so the
 *     next fence of a removed name is above every fence it had.
 *
 * A sidecar is removed only under its flock, when its name has no record
 * and no queue (an empty queue directory is removed with it), and when it
 * has not been written for min_age seconds: its mtime changes with every
 * fence issued, i.e. every acquisition. Or at once, by the transition
 * that finds it of two hard links (lokt__sidecar_retire), which it never
 * writes: as a removal, its counter raised into the floor first. A floor
 * of two links is replaced by a file of its own (floor_raise), and its
 * writers check after their flock that theirs is still the one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define FLOOR_FILE ".fence-floor"

static int read_counter(int fd, uint64_t *ret)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*ret = strtoull(buf, NULL, 10);
	return 0;
}

static int write_counter(int fd, uint64_t v)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);

	if (pwrite(fd, buf, len, 0) != len)
		return errno ? -errno : -EIO;
	return ftruncate(fd, len) < 0 ? -errno : 0;
}

/* Are a and b the same file? */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/* Is the floor fd (of stat *st) the file of the sidecar we hold, held
 * (a link planted so: -1, none)? Then its flock is ours already: taken
 * again, on another open file, it would wait for ourselves. */
static bool floor_is_held(const struct stat *st, int held)
{
	struct stat hs;

	return held >= 0 && fstat(held, &hs) == 0 && same_file(st, &hs);
}

int lokt__floor_read(const struct lokt_store *s, int dfd, int held,
		      uint64_t *ret)
{
	struct stat st;
	int fd = lokt__open_in(dfd, FLOOR_FILE, O_RDONLY, S_IFREG, &st), r;

	if (fd == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (fd < 0)
		return fd;
	r = floor_is_held(&st, held) ? 0 : lokt__flock_wait(s, fd, LOCK_SH);
	if (r == 0)
		r = read_counter(fd, ret);
	close(fd);
	return r;
}

/* Is the file of stat *st still dfd's floor? A floor replaced (below)
 * while we waited for its flock is opened again. */
static bool floor_linked(int dfd, const struct stat *st)
{
	struct stat at;

	return fstatat(dfd, FLOOR_FILE, &at, AT_SYMLINK_NOFOLLOW) == 0 &&
	       same_file(&at, st);
}

/* Put a floor of v, mode `mode`, in place of dfd's (under its flock):
 * a new file (lokt__temp_name), renamed over it. */
static int floor_replace(int dfd, uint64_t v, mode_t mode)
{
	char tmp[sizeof(FLOOR_FILE) + 24];
	int fd, r;

	if ((r = lokt__temp_name(dfd, FLOOR_FILE, tmp, sizeof(tmp))) < 0)
		return r;
	fd = openat(dfd, tmp,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = fchmod(fd, mode) < 0 ? -errno : 0;
	r = r ?: write_counter(fd, v);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dfd, tmp, dfd, FLOOR_FILE) < 0)
		r = errno == EPERM || errno == EACCES ? -LOKT_E_FOREIGN :
							-errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	return r;
}

/* Raise the floor of dfd to at least v.
 *
 * A floor of more than one hard link (a link planted to a file elsewhere
 * that holds a number, where fs.protected_hardlinks is off, or one made
 * by a backup: cp -al) is never written: a floor of its own, holding the
 * higher of the two, takes its place. */
static int floor_raise(struct lokt_store *s, int dfd, int held, uint64_t v)
{
	mode_t want = 0600 | s->share | s->share << 1;
	uint64_t cur = 0;
	struct stat st;
	int fd, r;

	for (;;) {
		fd = lokt__open_in(dfd, FLOOR_FILE, O_RDWR | O_CREAT, S_IFREG,
				   &st);
		if (fd < 0)
			return fd;
		if (floor_is_held(&st, held)) {
			r = 0; /* its flock is ours: not replaced meanwhile */
			break;
		}
		r = lokt__flock_wait(s, fd, LOCK_EX);
		if (r == 0 && fstat(fd, &st) < 0)
			r = -errno;
		if (r < 0 || floor_linked(dfd, &st))
			break;
		close(fd);
	}
	/* New, or made readable (0644) by an earlier lokt: as a sidecar. */
	if (r == 0 && st.st_nlink == 1 && (st.st_mode & 0777) != want &&
	    st.st_uid == geteuid())
		(void)fchmod(fd, want);
	if (r == 0)
		r = read_counter(fd, &cur);
	if (r == 0 && st.st_nlink > 1)
		r = floor_replace(dfd, v > cur ? v : cur, want);
	else if (r == 0 && v > cur)
		r = write_counter(fd, v);
	close(fd);
	return r;
}

int lokt__sidecar_retire(struct lokt_store *s, int dfd, int lk,
			 const char *file)
{
	uint64_t counter = 0;
	int r = read_counter(lk, &counter);

	if (r == 0 && counter > 0)
		r = floor_raise(s, dfd, lk, counter);
	/* Not ours to unlink (a sticky locks/, someone else's link): the
	 * name cannot be used, as with any file planted there. */
	if (r == 0 && unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
		r = errno == EPERM || errno == EACCES ? -LOKT_E_FOREIGN :
							-errno;
	return r;
}

/* Is there an entry `file` in dfd (of any type)? */
static bool entry_exists(int dfd, const char *file)
{
	struct stat st;

	return fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	       errno != ENOENT;
}

/* Under name's flock: remove its sidecar if it is idle. 1 if removed. */
static int remove_idle(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, time_t older_than)
{
	char file[LOKT_NAME_MAX + 16];
	uint64_t counter = 0;
	struct stat st;
	int dfd, lk, r;

	r = lokt__name_lock(s, kind, name, &lk);
	if (r < 0)
		return r;
	dfd = lokt__kind_fd(s, kind); /* after a move lokt__name_lock followed */
	if (fstat(lk, &st) < 0 || st.st_mtime > older_than)
		goto keep;
	snprintf(file, sizeof(file), "%s.json", name);
	if (entry_exists(dfd, file))
		goto keep;
	snprintf(file, sizeof(file), ".%s.q", name);
	if (kind == LOKT_LOCK && entry_exists(dfd, file) &&
	    unlinkat(dfd, file, AT_REMOVEDIR) < 0)
		goto keep; /* waiters, or something else in there */
	r = read_counter(lk, &counter);
	if (r == 0 && counter > 0)
		r = floor_raise(s, dfd, lk, counter);
	snprintf(file, sizeof(file), ".%s.lk", name);
	if (r == 0)
		r = unlinkat(dfd, file, 0) < 0 ? -errno : 1;
	lokt__name_unlock(lk);
	return r;
keep:
	lokt__name_unlock(lk);
	return 0;
}

int lokt__sidecars_prune(struct lokt_store *s, enum lokt_kind kind,
			 int64_t min_age_sec, size_t *ret_count)
{
	char name[LOKT_NAME_MAX + 1];
	struct dirent *de;
	struct stat st;
	size_t len, count = 0;
	DIR *d;
	struct timespec now;
	time_t older_than;
	int r = 0;

	/* Not time(2): it reads the kernel's coarse clock, which lags a
	 * file's fine-grained timestamp by up to a tick, and a sidecar
	 * written just now could seem written in the next second. */
	lokt__now(&now);
	older_than = now.tv_sec - min_age_sec;
	r = lokt__opendir(lokt__kind_fd(s, kind), &d);
	if (r < 0)
		return r;
	while (r >= 0 && (de = readdir(d))) {
		len = strlen(de->d_name);
		if (de->d_name[0] != '.' || len < 5 || len - 4 > LOKT_NAME_MAX ||
		    strcmp(de->d_name + len - 3, ".lk"))
			continue;
		memcpy(name, de->d_name + 1, len - 4);
		name[len - 4] = '\0';
		/* A cheap look first: most sidecars are in use. */
		if (lokt_name_check(name) < 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime > older_than)
			continue;
		r = remove_idle(s, kind, name, older_than);
		if (r > 0)
			count++;
		else if (r == -LOKT_E_FOREIGN || r == -EAGAIN)
			r = 0; /* planted, or busy: the next one */
	}
	closedir(d);
	if (r < 0)
		return r;
	if (ret_count)
		*ret_count = count;
	return 0;
}

LOKT_API int lokt_store_flock_holder(struct lokt_store *s,
				     enum lokt_kind kind, const char *name,
				     char *path, size_t size)
{
	enum lokt_kind kinds[2] = { kind, kind == LOKT_LOCK ? LOKT_FREEZE :
							      LOKT_LOCK };
	char file[4][LOKT_NAME_MAX + 8], line[256], arrow[4];
	unsigned long long ino;
	unsigned maj, min;
	int pids[4] = { 0 }, pid, i;
	struct stat st[4];
	bool have[4];
	FILE *f;

	if (!s || !name || lokt_root_is_url(s->root))
		return -EOPNOTSUPP;
	if (lokt_name_check(name) < 0)
		return -EINVAL;
	/* The sidecars, then the floors, of the kind's directory first. */
	for (i = 0; i < 4; i++) {
		if (i < 2)
			snprintf(file[i], sizeof(file[i]), ".%s.lk", name);
		else
			snprintf(file[i], sizeof(file[i]), "%s", FLOOR_FILE);
		have[i] = fstatat(lokt__kind_fd(s, kinds[i % 2]), file[i],
				  &st[i], AT_SYMLINK_NOFOLLOW) == 0;
	}
	/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's
	 * line has "->" after the number. The kernel writes the file a page
	 * per read(2), the list of locks free to change between two: a
	 * line that moved back while it was read is skipped. Read three
	 * times, what any read showed kept. */
	for (int round = 0; round < 3 && !pids[0]; round++) {
		f = fopen("/proc/locks", "re");
		if (!f)
			return 0;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%*d: %3s", arrow) == 1 &&
			    !strcmp(arrow, "->"))
				continue;
			if (sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%llu",
				   &pid, &maj, &min, &ino) != 4 ||
			    pid <= 0)
				continue;
			for (i = 0; i < 4; i++)
				if (have[i] && !pids[i] &&
				    major(st[i].st_dev) == maj &&
				    minor(st[i].st_dev) == min &&
				    st[i].st_ino == (ino_t)ino)
					pids[i] = pid;
		}
		fclose(f);
	}
	for (i = 0; i < 4; i++)
		if (pids[i]) {
			if (path)
				snprintf(path, size, "%s/%s/%s", s->root,
					 kinds[i % 2] == LOKT_FREEZE ?
						 "freezes" :
						 "locks",
					 file[i]);
			return pids[i];
		}
	return 0;
}
