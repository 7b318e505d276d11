// SPDX-License-Identifier: MIT
/*
 * The daemon as the keeper of the locks taken through its mount, on a
 * store whose locks live by a lease (etcd; the directory store judges a
 * holder by its pid and needs none of this).
 *
 * A lock made by touch or ">" through the mount is held by the caller
 * (or its parent, see ops.c), which knows nothing of leases. So the
 * daemon keeps it: one thread keeps the lease of every such lock alive
 * (lokt_tend, a third of the lease apart) and watches each holder with a
 * pidfd; when a holder exits, its lock is released at once by its
 * lock_id (never a successor's). A lock released or taken by anyone else
 * is dropped at its next lokt_tend (-LOKT_E_LOST). When the daemon stops
 * cleanly it releases what it still keeps; when it is killed, or its
 * host is cut off, the leases run out and the locks pass on, as for any
 * keeper. No process is started per lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define RETRY_MS 200 /* after a lokt_tend the store did not answer */
#define MAX_KEPT 4096 /* poll(2) slots; more locks get a keeper process */
/* Locks kept for one uid at most (root's are not counted): a user taking
 * locks by the thousand through an allow_other mount must not take every
 * place, and the descriptors, of the others. Past it: EDQUOT. */
#define KEPT_PER_UID (MAX_KEPT / 4)

struct kept {
	char name[LOKT_NAME_MAX + 1];
	char lock_id[LOKT_ID_LEN + 1];
	uid_t uid; /* the caller that took it */
	int pidfd; /* the holder; readable when it exits */
	int64_t tend_at; /* monotonic ms */
};

static struct {
	pthread_mutex_t lock;
	struct lokt_store *s;
	struct kept *v;
	size_t n;
	size_t reserved; /* places promised to acquisitions under way */
	int efd; /* rung when v changes or the keeper must stop */
	bool stop;
	bool running;
	pthread_t th;
	struct lokt_who self;
} K = { .lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Field 22 of /proc/<pid>/stat: the start time the holder was judged by. */
static int start_of(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* after comm, which may hold anything */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%" SCNu64, ret) != 1)
		return -EIO;
	return 0;
}

static void ring(void)
{
	uint64_t one = 1;

	(void)!write(K.efd, &one, sizeof(one));
}

static void drop(size_t i)
{
	close(K.v[i].pidfd);
	K.v[i] = K.v[--K.n];
}

/* The holder of v[i] exited: release its lock, by its lock_id. */
static void holder_gone(struct kept *k)
{
	struct lokt_result res;

	(void)lokt_release(K.s, k->name, &K.self, k->lock_id,
			   LOKT_RELEASE_SEEN, &res);
}

static void *run(void *unused)
{
	int64_t every = lokt_store_confirm_ms(K.s) / 3;

	(void)unused;
	for (;;) {
		struct pollfd pfd[MAX_KEPT + 1];
		struct kept due[16], gone[16];
		size_t n_due = 0, n_gone = 0, n;
		int64_t now = mono_ms(), wait = -1;
		uint64_t v;

		pthread_mutex_lock(&K.lock);
		if (K.stop) {
			pthread_mutex_unlock(&K.lock);
			break;
		}
		pfd[0] = (struct pollfd){ .fd = K.efd, .events = POLLIN };
		for (size_t i = 0; i < K.n; i++) {
			pfd[i + 1] = (struct pollfd){ .fd = K.v[i].pidfd,
						      .events = POLLIN };
			/* One overdue (the requests before took long): at
			 * once, not "no timeout". */
			if (wait < 0 || K.v[i].tend_at - now < wait)
				wait = K.v[i].tend_at > now ?
					       K.v[i].tend_at - now :
					       0;
		}
		n = K.n;
		pthread_mutex_unlock(&K.lock);
		if (poll(pfd, n + 1, wait < 0 ? -1 : (int)wait) < 0)
			continue;
		if (pfd[0].revents)
			(void)!read(K.efd, &v, sizeof(v));
		now = mono_ms();
		/* What to do, taken out under the lock and done without it
		 * (each is a request to the store). */
		pthread_mutex_lock(&K.lock);
		for (size_t i = K.n; i-- > 0;) {
			bool exited = i < n && pfd[i + 1].fd == K.v[i].pidfd &&
				      pfd[i + 1].revents;

			if (exited && n_gone < 16) {
				gone[n_gone++] = K.v[i];
				K.v[i].pidfd = -1;
				K.v[i] = K.v[--K.n];
			} else if (!exited && K.v[i].tend_at <= now &&
				   n_due < 16) {
				due[n_due++] = K.v[i];
			}
		}
		pthread_mutex_unlock(&K.lock);
		/* Bounded too: the other locks' keepalives wait meanwhile.
		 * A release given up leaves the lock to its lease, which
		 * nobody keeps alive any more. */
		for (size_t i = 0; i < n_gone; i++) {
			lokt_store_set_deadline(K.s, mono_ms() + every);
			holder_gone(&gone[i]);
			lokt_store_set_deadline(K.s, 0);
			close(gone[i].pidfd);
		}
		for (size_t i = 0; i < n_due; i++) {
			int64_t next;
			int r;

			/* A member that does not answer is given up in time
			 * to ask the next one before the lease runs out (a
			 * request timeout may be longer than the lease). */
			lokt_store_set_deadline(K.s, mono_ms() + every);
			r = lokt_tend(K.s, due[i].name, due[i].lock_id, &next);
			lokt_store_set_deadline(K.s, 0);

			pthread_mutex_lock(&K.lock);
			for (size_t j = 0; j < K.n; j++) {
				if (strcmp(K.v[j].name, due[i].name) ||
				    strcmp(K.v[j].lock_id, due[i].lock_id))
					continue;
				if (r == -LOKT_E_LOST || (r == 0 && next < 0))
					drop(j);
				else
					K.v[j].tend_at =
						mono_ms() +
						(r < 0 ? RETRY_MS : next);
				break;
			}
			pthread_mutex_unlock(&K.lock);
		}
	}
	return NULL;
}

int loktfs_keeper_prepare(struct lokt_store *s)
{
	int r;

	if (lokt_store_confirm_ms(s) <= 0)
		return 0; /* no leases: nothing to keep */
	/* Asked now, while a failure can still be told on stderr; asked
	 * again in start, for the daemon's pid. */
	r = lokt_who_self(getpid(), &K.self);
	if (r < 0)
		return r;
	K.s = s;
	K.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return K.efd < 0 ? -errno : 0;
}

int loktfs_keeper_start(void)
{
	sigset_t all, old;
	int r;

	if (!K.s)
		return 0;
	r = lokt_who_self(getpid(), &K.self);
	if (r < 0)
		return r;
	/* Signals are the FUSE loop's: none for this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&K.th, NULL, run, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	K.running = true;
	return 0;
}

int loktfs_keeper_reserve(uid_t uid)
{
	size_t mine = 0;
	int r;

	if (!K.running)
		return 0;
	pthread_mutex_lock(&K.lock);
	for (size_t i = 0; uid != 0 && i < K.n; i++)
		mine += K.v[i].uid == uid;
	/* (Acquisitions under way are not counted per uid: at most one per
	 * request thread past the share.) */
	if (mine >= KEPT_PER_UID)
		r = -EDQUOT;
	else
		r = K.n + K.reserved < MAX_KEPT;
	K.reserved += r > 0;
	pthread_mutex_unlock(&K.lock);
	return r;
}

void loktfs_keeper_unreserve(void)
{
	pthread_mutex_lock(&K.lock);
	K.reserved--;
	pthread_mutex_unlock(&K.lock);
}

int loktfs_keeper_add(const char *name, const char *lock_id, uid_t uid,
		      pid_t holder, uint64_t holder_start)
{
	struct kept *nv, k = { .uid = uid, .pidfd = -1 };
	uint64_t start;
	long fd;
	int err;

	loktfs_keeper_unreserve();
	snprintf(k.name, sizeof(k.name), "%s", name);
	snprintf(k.lock_id, sizeof(k.lock_id), "%s", lock_id);
	fd = syscall(SYS_pidfd_open, holder, 0);
	if (fd < 0) {
		/* Gone already (ESRCH), or no descriptor for it: the lock
		 * could not be kept, so it is not left behind either. */
		err = errno;
		holder_gone(&k);
		return err == ESRCH ? 0 : -err;
	}
	k.pidfd = (int)fd;
	/* The pid may have been reused since the holder was judged: then
	 * the holder is gone already (the pidfd is of another process). */
	if (holder_start && (start_of(holder, &start) < 0 ||
			     start != holder_start)) {
		close(k.pidfd);
		holder_gone(&k);
		return 0;
	}
	k.tend_at = mono_ms() + lokt_store_confirm_ms(K.s) / 3;
	pthread_mutex_lock(&K.lock);
	nv = realloc(K.v, (K.n + 1) * sizeof(*nv));
	if (nv) {
		K.v = nv;
		K.v[K.n++] = k;
	}
	pthread_mutex_unlock(&K.lock);
	if (!nv) {
		close(k.pidfd);
		holder_gone(&k);
		return -ENOMEM;
	}
	ring();
	return 0;
}

void loktfs_keeper_stop(void)
{
	if (!K.running)
		return;
	pthread_mutex_lock(&K.lock);
	K.stop = true;
	pthread_mutex_unlock(&K.lock);
	ring();
	pthread_join(K.th, NULL);
	K.running = false;
	/* Stopping cleanly: nobody keeps these any more, release them now
	 * rather than let their leases run out. */
	for (size_t i = 0; i < K.n; i++) {
		holder_gone(&K.v[i]);
		close(K.v[i].pidfd);
	}
	free(K.v);
	K.v = NULL;
	K.n = 0;
	close(K.efd);
	K.efd = -1;
}
