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
 * fixed, `.ticket.tmp` (lokt__temp_name): it is written under the sidecar
 * lock too, so one found there is a leftover of a waiter killed half-way
 * and is replaced.
 *
 * As in store.c, the queue directory and tickets are opened with
 * lokt__open_in (no symlink followed, no FIFO waited on, the type
 * checked): anything else there is LOKT_E_FOREIGN for that name.
 *
 * Beside each ticket, its waiter's doorbell: a FIFO `<ticket>.bell` that
 * the waiter keeps open (O_RDWR, so it never sees EOF) and polls. A waiter
 * leaving the queue, by any path but death, removes its ticket and then
 * writes one byte into the doorbell of the first waiter behind it that
 * listens (wait.c explains why that is enough). A hostile member of a
 * shared store may plant anything there: a bell is opened with O_NOFOLLOW
 * and O_NONBLOCK and used only if it is a FIFO (and, for our own, ours).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
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

static void bell_name(uint64_t seq, char *buf, size_t size)
{
	snprintf(buf, size, "%020" PRIu64 ".bell", seq);
}

/* Make and open our doorbell for ticket seq; the fd, or -1: without one
 * the waiter is not rung and finds changes by its periodic re-check. A
 * bell left by a waiter killed before its ticket was pruned is replaced
 * (the ticket number is ours now: chosen under the sidecar lock). */
static int bell_make(int qfd, uint64_t seq, mode_t share)
{
	char file[32];
	struct stat st;
	int fd;

	bell_name(seq, file, sizeof(file));
	if (mkfifoat(qfd, file, 0600) < 0) {
		if (errno != EEXIST || unlinkat(qfd, file, 0) < 0 ||
		    mkfifoat(qfd, file, 0600) < 0)
			return -1;
	}
	fd = openat(qfd, file, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Writable by the users of a shared store, who ring it. */
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
	    st.st_uid != geteuid() || fchmod(fd, 0600 | share) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One byte into the FIFO fd: true if written, or if it is full (rung
 * already). A reader that died since the open makes write fail with
 * EPIPE and raise SIGPIPE, which must not kill a library's caller: it is
 * blocked for this thread around the write, and taken back if raised. */
static bool fifo_poke(int fd)
{
	static const struct timespec none = { 0, 0 };
	sigset_t pipe_set, old;
	ssize_t n;
	char c = 0;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, &c, 1);
	err = errno;
	if (n < 0 && err == EPIPE && !sigismember(&old, SIGPIPE))
		(void)sigtimedwait(&pipe_set, NULL, &none);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n == 1 || err == EAGAIN;
}

/* Ring the doorbell of ticket seq: true if its waiter listens. */
static bool bell_ring(int qfd, uint64_t seq)
{
	char file[32];
	struct stat st;
	bool heard;
	int fd;

	bell_name(seq, file, sizeof(file));
	/* ENXIO: a FIFO nobody holds open (its waiter died). */
	fd = openat(qfd, file, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	heard = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fifo_poke(fd);
	close(fd);
	return heard;
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

/* A ticket's sequence number, or 0 for anything else in the directory:
 * a ticket is named by 20 digits (as lokt__ticket_take writes them), of
 * a number below UINT64_MAX, so that the next one is a number too. A
 * name of more digits, or past that (planted: strtoull would saturate,
 * and the next ticket wrap to 0, unseen by every scan), is no ticket. */
static uint64_t ticket_seq(const char *d_name)
{
	unsigned long long v;
	const char *p;

	for (p = d_name; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	if (p - d_name != 20)
		return 0;
	errno = 0;
	v = strtoull(d_name, NULL, 10);
	return errno || v >= UINT64_MAX ? 0 : (uint64_t)v;
}

/* Call fn for every ticket in the queue directory qfd, read from its
 * start. qfd is a description of our own (queue_open opens one per
 * call), so no other thread moves its offset: it is read as it is, with
 * getdents64, without a second descriptor for a DIR stream. */
static int for_each_ticket(int qfd, int (*fn)(int dfd, const char *file,
					      uint64_t seq, void *ud),
			   void *ud)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct dirent64))));
	const struct dirent64 *de;
	ssize_t n;
	int r = 0;

	if (lseek(qfd, 0, SEEK_SET) < 0)
		return -errno;
	while (!r && (n = getdents64(qfd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; !r && p < buf + n; p += de->d_reclen) {
			uint64_t seq;

			de = (const struct dirent64 *)p;
			seq = ticket_seq(de->d_name);
			if (seq)
				r = fn(qfd, de->d_name, seq, ud);
		}
	}
	if (!r && n < 0)
		r = -errno;
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
	char tmp[32], file[32], line[64];
	uint64_t max = 0, start = 0;
	int qfd, fd, r, len;

	qfd = queue_open(s, name, true);
	if (qfd < 0)
		return qfd;
	r = for_each_ticket(qfd, max_seq, &max);
	if (r < 0)
		goto out;
	if (max >= UINT64_MAX - 1) { /* planted: no number is left */
		r = -EOVERFLOW;
		goto out;
	}
	if ((r = lokt__temp_name(qfd, ".ticket", tmp, sizeof(tmp))) < 0)
		goto out;
	fd = openat(qfd, tmp,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* Whoever may open a ticket may flock it, and a flock held on a dead
	 * waiter's ticket keeps it "waiting" for ever: only the users of the
	 * store may open one (0600 plus a shared store's bits, read and
	 * write, whatever the umask). */
	(void)fchmod(fd, 0600 | s->share | s->share << 1);
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
	ret->bell = bell_make(qfd, ret->seq, s->share);
	r = 0;
out:
	close(qfd);
	return r;
}

/* next[1]: the lowest ticket above next[0] (0 while none is seen). */
static int next_seq(int dfd, const char *file, uint64_t seq, void *ud)
{
	uint64_t *next = ud;

	if (seq > next[0] && (!next[1] || seq < next[1]))
		next[1] = seq;
	return 0;
}

/* Ring the first waiter behind ticket seq that listens. One that does
 * not (dead, or without a bell) is passed over: the one behind it is
 * rung instead, wakes, finds who is ahead now and watches that one.
 * After RING_TRIES silent tickets, the periodic re-checks take over. */
#define RING_TRIES 16
static void ring_next(int qfd, uint64_t seq)
{
	uint64_t next[2] = { seq, 0 };

	for (int i = 0; i < RING_TRIES; i++) {
		if (for_each_ticket(qfd, next_seq, next) < 0 || !next[1] ||
		    bell_ring(qfd, next[1]))
			return;
		next[0] = next[1];
		next[1] = 0;
	}
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
		/* The bell first: once the ticket is gone its number may
		 * be taken again, with a bell of its own. */
		bell_name(t->seq, file, sizeof(file));
		if (t->bell >= 0)
			unlinkat(qfd, file, 0);
		snprintf(file, sizeof(file), "%020" PRIu64, t->seq);
		unlinkat(qfd, file, 0);
		ring_next(qfd, t->seq);
		close(qfd);
	}
	if (t->bell >= 0)
		close(t->bell);
	t->bell = -1;
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
	if (r == -EACCES) {
		/* A user of the store may open every ticket lokt makes: one it
		 * cannot is foreign. A reader who may not write the store cannot
		 * open any, nor judge them: counted as waiting, pid unknown. */
		if (faccessat(dfd, ".", W_OK, AT_EACCESS) == 0)
			return -LOKT_E_FOREIGN;
		r = 1;
		fd = -1;
	}
	if (r < 0)
		return r;
	if (r == 0) {
		if (sc->prune) {
			char bell[32];

			bell_name(seq, bell, sizeof(bell));
			unlinkat(dfd, bell, 0);
			unlinkat(dfd, file, 0);
		}
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
	if (fd >= 0)
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
	sc.q.ahead_seq = sc.ahead_seq;
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

void lokt__bell_drain(struct lokt_ticket *t)
{
	char buf[64];

	while (t->bell >= 0 && read(t->bell, buf, sizeof(buf)) > 0)
		;
}

int lokt__ticket_live(struct lokt_store *s, const char *name, uint64_t seq)
{
	char file[32];
	int qfd, fd = -1, r;

	qfd = queue_open(s, name, false);
	if (qfd < 0)
		return qfd == -ENOENT ? 0 : qfd;
	snprintf(file, sizeof(file), "%020" PRIu64, seq);
	r = ticket_live(qfd, file, &fd);
	close(qfd);
	if (fd >= 0)
		close(fd);
	return r;
}
