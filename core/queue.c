// SPDX-License-Identifier: MIT
/*
 * The waiter queue of a name, on disk: `locks/.<name>.q/` holds one ticket
 * file per waiter, named by a zero-padded sequence number, containing the
 * waiter's "pid start-time". The waiter keeps its ticket open with
 * flock(LOCK_EX) while it waits, so a ticket whose flock can be taken with
 * LOCK_NB belongs to a dead waiter.
 *
 * Ticket numbers are chosen under the name's sidecar lock as one more than
 * the highest ticket present, and dead tickets are removed only under that
 * lock too, so a number is never reused while a scanner might still act on
 * the old file. A ticket is flock()ed before it is renamed into the queue:
 * nobody ever sees a live waiter's ticket unlocked. Its temporary name is
 * fixed, `.ticket.tmp`: it is written under the sidecar lock too, so one
 * found there is a leftover of a waiter killed half-way and is replaced.
 *
 * As in store.c, the queue directory and tickets are opened with
 * lokt__open_in (no symlink followed, no FIFO waited on, the type
 * checked): anything else there is LOKT_E_FOREIGN for that name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store.h"

static void queue_dir_name(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, ".%s.q", name);
}

int lokt__queue_path(const struct lokt_store *s, const char *name,
		     char **ret)
{
	if (asprintf(ret, "%s/locks/.%s.q", s->root, name) < 0)
		return -ENOMEM;
	return 0;
}

/* Open the queue directory; -ENOENT when nobody ever waited. */
static int queue_open(struct lokt_store *s, const char *name, bool create)
{
	char dir[LOKT_NAME_MAX + 8];
	bool made = false;
	int fd;

	queue_dir_name(name, dir, sizeof(dir));
	if (create) {
		made = mkdirat(s->locks_fd, dir, 0755) == 0;
		if (!made && errno != EEXIST)
			return -errno;
	}
	fd = lokt__open_in(s->locks_fd, dir, O_RDONLY | O_DIRECTORY, S_IFDIR,
			   NULL);
	if (fd >= 0 && made)
		lokt__share_fd(s, fd);
	return fd;
}

/* A ticket's sequence number, or 0 for anything else in the directory. */
static uint64_t ticket_seq(const char *d_name)
{
	const char *p;

	if (!*d_name)
		return 0;
	for (p = d_name; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return strtoull(d_name, NULL, 10);
}

/* Call fn for every ticket in the directory dfd (a fresh description, so
 * threads never share a directory offset). */
static int for_each_ticket(int dfd, int (*fn)(int dfd, const char *file,
					      uint64_t seq, void *ud),
			   void *ud)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while (!r && (de = readdir(d))) {
		uint64_t seq = ticket_seq(de->d_name);

		if (seq)
			r = fn(dfd, de->d_name, seq, ud);
	}
	closedir(d);
	return r;
}

static int max_seq(int dfd, const char *file, uint64_t seq, void *ud)
{
	uint64_t *max = ud;

	if (seq > *max)
		*max = seq;
	return 0;
}

int lokt__ticket_take(struct lokt_store *s, const char *name,
		      struct lokt_ticket *ret)
{
	static const char tmp[] = ".ticket.tmp";
	char file[32], line[64];
	uint64_t max = 0, start = 0;
	int qfd, fd, r, len;

	qfd = queue_open(s, name, true);
	if (qfd < 0)
		return qfd;
	r = for_each_ticket(qfd, max_seq, &max);
	if (r < 0)
		goto out;
	if (unlinkat(qfd, tmp, 0) < 0 && errno != ENOENT) {
		r = errno == EISDIR ? -LOKT_E_FOREIGN : -errno;
		goto out;
	}
	fd = openat(qfd, tmp,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	lokt__pid_start(getpid(), &start);
	len = snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)getpid(),
		       start);
	snprintf(file, sizeof(file), "%020" PRIu64, max + 1);
	errno = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || write(fd, line, len) != len ||
	    renameat(qfd, tmp, qfd, file) < 0) {
		r = errno ? -errno : -EIO;
		unlinkat(qfd, tmp, 0);
		close(fd);
		goto out;
	}
	ret->fd = fd;
	ret->seq = max + 1;
	r = 0;
out:
	close(qfd);
	return r;
}

void lokt__ticket_drop(struct lokt_store *s, const char *name,
		       struct lokt_ticket *t)
{
	char file[32];
	int qfd;

	if (t->fd < 0)
		return;
	qfd = queue_open(s, name, false);
	if (qfd >= 0) {
		snprintf(file, sizeof(file), "%020" PRIu64, t->seq);
		unlinkat(qfd, file, 0);
		close(qfd);
	}
	close(t->fd);
	t->fd = -1;
}

struct scan {
	uint64_t seq; /* ours, 0: none */
	bool prune;
	uint64_t ahead_seq; /* highest live ticket below ours */
	int ahead_fd; /* its ticket file, to read the pid */
	struct lokt_queue q;
};

/* Is the ticket file's waiter alive? (It holds the flock.) */
static int ticket_live(int dfd, const char *file, int *ret_fd)
{
	int fd = lokt__open_in(dfd, file, O_RDONLY, S_IFREG, NULL);

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		close(fd);
		return 0;
	}
	if (errno != EWOULDBLOCK) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 1;
}

static int scan_one(int dfd, const char *file, uint64_t seq, void *ud)
{
	struct scan *sc = ud;
	int fd = -1, r;

	if (seq == sc->seq) {
		sc->q.live++;
		return 0;
	}
	r = ticket_live(dfd, file, &fd);
	if (r < 0)
		return r;
	if (r == 0) {
		if (sc->prune)
			unlinkat(dfd, file, 0);
		return 0;
	}
	sc->q.live++;
	if (!sc->seq || seq < sc->seq) {
		sc->q.ahead++;
		if (seq > sc->ahead_seq) {
			sc->ahead_seq = seq;
			if (sc->ahead_fd >= 0)
				close(sc->ahead_fd);
			sc->ahead_fd = fd;
			return 0;
		}
	}
	close(fd);
	return 0;
}

int lokt__queue_scan(struct lokt_store *s, const char *name, uint64_t seq,
		     bool prune, struct lokt_queue *ret)
{
	struct scan sc = { .seq = seq, .prune = prune, .ahead_fd = -1 };
	char line[64];
	ssize_t n;
	int qfd, r;

	qfd = queue_open(s, name, false);
	if (qfd == -ENOENT) {
		memset(ret, 0, sizeof(*ret));
		return 0;
	}
	if (qfd < 0)
		return qfd;
	r = for_each_ticket(qfd, scan_one, &sc);
	close(qfd);
	if (sc.ahead_fd >= 0) {
		n = pread(sc.ahead_fd, line, sizeof(line) - 1, 0);
		if (n > 0) {
			line[n] = '\0';
			sc.q.ahead_pid = (pid_t)strtol(line, NULL, 10);
		}
		close(sc.ahead_fd);
	}
	if (r < 0)
		return r;
	*ret = sc.q;
	return 0;
}
