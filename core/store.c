// SPDX-License-Identifier: MIT
/*
 * How bytes reach disk: opening a store, the per-name sidecar locks and
 * fence counters, and reading, publishing, replacing and removing record
 * files. What the transitions do with these is protocol.c's business; the
 * contract of each primitive is in store.h.
 *
 * The store may be shared with users we do not trust (a group-writable
 * root), so nothing here follows a path: locks/ and freezes/ are opened
 * once relative to the root's fd, everything else relative to theirs,
 * always with O_NOFOLLOW and O_NONBLOCK (a FIFO must not make us wait),
 * and what was opened is fstat()ed before it is used (lokt__open_in).
 * A symlink, FIFO, socket or directory where a file of ours belongs is
 * LOKT_E_FOREIGN: never followed, read or changed, only reported.
 *
 * Nothing here is fsync()ed. Holders do not survive a reboot anyway (a
 * dead pid is stale), and a record left empty or garbled by a power loss
 * parses as corrupt, which is stale and breakable. The sidecar's fence
 * counter is the exception that would matter, and it is never trusted
 * alone: a new fence is also above the fence of the file it replaces.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "backend.h"
#include "store.h"

#define READ_MAX (1 << 20) /* bigger than any record the parser accepts */
#define FOLLOW_MAX 256 /* moves of the root a store follows */
#define EMPTY_RETRIES 10 /* x 10 ms: how long an empty file may be "being
			    written" by lokt 1.x */

int lokt__open_error(int err)
{
	/* ELOOP: a symlink; EISDIR, ENOTDIR: a directory where a file
	 * belongs or the reverse; ENXIO: a socket, or a FIFO opened for
	 * writing with no reader. */
	return err == ELOOP || err == EISDIR || err == ENOTDIR ||
			       err == ENXIO ?
		       -LOKT_E_FOREIGN :
		       -err;
}

bool lokt__counter_file_ok(int fd, const struct stat *st)
{
	char buf[32];
	ssize_t n;

	if (st->st_nlink <= 1)
		return true;
	if (st->st_size <= 0 || st->st_size >= (off_t)sizeof(buf))
		return false;
	n = pread(fd, buf, sizeof(buf), 0);
	if (n != st->st_size || n < 2 || buf[n - 1] != '\n')
		return false;
	for (ssize_t i = 0; i < n - 1; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return false;
	return true;
}

int lokt__counter_file_check(int dfd, const char *file)
{
	struct stat st;
	bool ok;
	int fd;

	if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return -LOKT_E_FOREIGN;
	if (st.st_nlink <= 1)
		return 0;
	fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0; /* not ours to read: its writers will judge */
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	     lokt__counter_file_ok(fd, &st);
	close(fd);
	return ok ? 0 : -LOKT_E_FOREIGN;
}

int lokt__open_in(int dfd, const char *file, int flags, mode_t type,
		  struct stat *ret_st)
{
	struct stat st;
	int fd, r;

	/* Made (the floor file) 0600: what others may flock, they may use
	 * to stall every writer (lokt__share_fd opens it to a shared
	 * store's users). */
	fd = openat(dfd, file, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return lokt__open_error(errno);
	/* O_DIRECTORY | O_NOFOLLOW opened a directory or nothing. */
	if (type == S_IFDIR && (flags & O_DIRECTORY) && !ret_st)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* A file we write (the fence floor) with another name too, holding
	 * anything but a counter: a link planted to one elsewhere (where
	 * fs.protected_hardlinks is off), never written. */
	if ((st.st_mode & S_IFMT) != type ||
	    (type == S_IFREG && (flags & O_ACCMODE) != O_RDONLY &&
	     !lokt__counter_file_ok(fd, &st))) {
		close(fd);
		return -LOKT_E_FOREIGN;
	}
	if (ret_st)
		*ret_st = st;
	return fd;
}

/* Open root/sub (locks or freezes) relative to root_fd into *ret,
 * creating it if absent. Only a directory we have just made gets the
 * share bits: an existing one is left as it is (a read-only command
 * changes no mode), and a symlink in its place is refused, so that
 * nothing outside the store is ever read, changed or removed through
 * it. */
static int open_kind_dir(const struct lokt_store *s, int root_fd,
			 const char *sub, int *ret)
{
	bool made = false;
	int fd;

	/* Opened first: it nearly always exists (one call, not two). */
	fd = lokt__open_in(root_fd, sub, O_RDONLY | O_DIRECTORY, S_IFDIR,
			   NULL);
	if (fd == -ENOENT) {
		made = mkdirat(root_fd, sub, 0755) == 0;
		if (!made && errno != EEXIST)
			return -errno;
		fd = lokt__open_in(root_fd, sub, O_RDONLY | O_DIRECTORY,
				   S_IFDIR, NULL);
	}
	if (fd < 0)
		return fd;
	if (made)
		lokt__share_fd(s, fd);
	*ret = fd;
	return 0;
}

/* Open the root (made by lokt__ensure_root) as fds[0], its stat in
 * *ret_st, and relative to it locks/ and freezes/ (made if absent) as
 * fds[1] and fds[2]. The first time (lokt_store_open), the root's
 * group/other write bits become the store's share bits. */
static int open_dirs(struct lokt_store *s, bool first, int fds[3],
		     struct stat *ret_st)
{
	int r;

	fds[0] = fds[1] = fds[2] = -1;
	fds[0] = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fds[0] < 0)
		return -errno;
	r = fstat(fds[0], ret_st) < 0 ? -errno : 0;
	/* A root several users may write (say 2775, group deploy, made by an
	 * admin) is a shared store: locks/, freezes/, sidecars and queues we
	 * create get its group/other write bits, so the next user can take
	 * the lock we created the sidecar of. Sticky is not passed on: it
	 * would stop anyone from breaking another user's stale lock. */
	if (r == 0 && first)
		s->share = ret_st->st_mode & 0022;
	if (r == 0)
		r = open_kind_dir(s, fds[0], "locks", &fds[1]);
	if (r == 0)
		r = open_kind_dir(s, fds[0], "freezes", &fds[2]);
	if (r < 0) {
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return r;
	}
	return 0;
}

/* An etcd:// root: the etcd store's module does the rest. Loaded only
 * now, so that a program on a directory store never maps libcurl. */
static int etcd_open(const char *root, struct lokt_store **ret, char *why,
		     size_t why_size)
{
	const char *dir = getenv("LOKT_MODULE_DIR");
	lokt_etcd_module_open_fn *open_fn;
	char path[PATH_MAX], none[1];
	void *mod;

	snprintf(path, sizeof(path), "%s/liblokt-etcd.so",
		 dir && *dir ? dir : LOKT_MODULEDIR);
	mod = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!mod)
		return -LOKT_E_NO_ETCD;
	open_fn = (lokt_etcd_module_open_fn *)dlsym(mod, LOKT_ETCD_MODULE_ENTRY);
	if (!open_fn)
		return -LOKT_E_NO_ETCD;
	/* The module stays loaded: stores opened with it use its code. */
	if (!why_size)
		return open_fn(root, ret, none, sizeof(none));
	return open_fn(root, ret, why, why_size);
}

/*
 * FORK. A child of fork() has only the thread that forked: a mutex
 * another thread held at that instant would stay locked in the child for
 * good (its first audit line, or a move followed, would hang it, and the
 * name it had locked with it). So fork waits until no thread holds a
 * store's mutexes: every open directory store is listed, and
 * pthread_atfork's prepare takes each one's follow_lock and dir->lock,
 * which the parent and the child give back after. No code holds one of
 * them while it waits for the other, or for open_stores_lock.
 */
static pthread_mutex_t open_stores_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lokt_dir *open_stores;

static void fork_prepare(void)
{
	pthread_mutex_lock(&open_stores_lock);
	for (struct lokt_dir *d = open_stores; d; d = d->fork_next) {
		pthread_mutex_lock(&d->store->follow_lock);
		pthread_mutex_lock(&d->lock);
	}
}

static void fork_done(void)
{
	for (struct lokt_dir *d = open_stores; d; d = d->fork_next) {
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_unlock(&d->store->follow_lock);
	}
	pthread_mutex_unlock(&open_stores_lock);
}

static void fork_watch(void)
{
	(void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

static void open_stores_add(struct lokt_dir *dir)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, fork_watch);
	pthread_mutex_lock(&open_stores_lock);
	dir->fork_prev = NULL;
	dir->fork_next = open_stores;
	if (open_stores)
		open_stores->fork_prev = dir;
	open_stores = dir;
	dir->listed = true;
	pthread_mutex_unlock(&open_stores_lock);
}

static void open_stores_remove(struct lokt_dir *dir)
{
	pthread_mutex_lock(&open_stores_lock);
	if (dir->listed) {
		if (dir->fork_prev)
			dir->fork_prev->fork_next = dir->fork_next;
		else
			open_stores = dir->fork_next;
		if (dir->fork_next)
			dir->fork_next->fork_prev = dir->fork_prev;
		dir->listed = false;
	}
	pthread_mutex_unlock(&open_stores_lock);
}

LOKT_API int lokt_store_open(const char *root, struct lokt_store **ret)
{
	return lokt_store_open_why(root, ret, NULL, 0);
}

LOKT_API int lokt_store_open_why(const char *root, struct lokt_store **ret,
				 char *why, size_t why_size)
{
	struct lokt_dir *dir;
	struct lokt_store *s;
	const char *req;
	struct stat st;
	int fds[3], r;

	if (why_size)
		why[0] = '\0';
	if (!root || !*root)
		return -EINVAL;
	if (lokt_root_is_url(root))
		return etcd_open(root, ret, why, why_size);
	/* Refused before anything is created: a root not made yet is judged
	 * by its nearest existing parent. */
	req = getenv("LOKT_REQUIRE_LOCAL_FS");
	if (req && !strcmp(req, "1") && lokt_is_network_fs(root) == 1)
		return -LOKT_E_NETFS;
	r = lokt__ensure_root(root);
	if (r < 0)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->be = &lokt__dir_backend;
	s->root_fd = s->locks_fd = s->freezes_fd = -1;
	pthread_mutex_init(&s->follow_lock, NULL);
	s->be_data = dir = calloc(1, sizeof(*dir));
	if (!dir) {
		r = -ENOMEM;
		goto err;
	}
	pthread_mutex_init(&dir->lock, NULL);
	dir->audit_fd = -1;
	dir->store = s;
	open_stores_add(dir);
	s->root = realpath(root, NULL);
	if (!s->root) {
		r = -errno;
		goto err;
	}
	if (asprintf(&s->audit_path, "%s/audit.log", s->root) < 0) {
		s->audit_path = NULL;
		r = -ENOMEM;
		goto err;
	}
	r = open_dirs(s, true, fds, &st);
	if (r < 0)
		goto err;
	s->root_fd = fds[0];
	s->locks_fd = fds[1];
	s->freezes_fd = fds[2];
	s->root_dev = st.st_dev;
	s->root_ino = st.st_ino;
	s->root_uid = st.st_uid;
	lokt__hostname(s->host, sizeof(s->host));
	*ret = s;
	return 0;

err:
	lokt_store_close(s);
	return r;
}

/*
 * DESIGN: a store that is moved. Whoever opens the store by its path
 * (lokt, every other program) finds the directory that path names now;
 * a long-lived opener (loktfs) holding fds of a directory that was moved
 * away would serve a store nobody else sees, and both would grant the
 * same lock. So each transition and each read starts here: one stat of
 * the root path, compared with what root_fd is. When they differ, the
 * store is opened again at the path (created if missing, as lokt_store_open
 * and so lokt would), and the new fds replace the old ones.
 *
 * Other threads may be using the old fds at that moment, so they are not
 * closed: they are retired, and closed with the store (a store moved n
 * times keeps 3n fds more). Whoever may rename the root could make that
 * grow without end, so after FOLLOW_MAX moves the store stops following:
 * every call fails with ESTALE, and the program says to open it again
 * (remount). A root at the path of another owner than the one opened
 * (neither its owner, nor root, nor us: the path made again in a
 * directory others may write) is not followed: every call fails with
 * LOKT_E_FOREIGN while it is there. A transition that was in flight
 * during the move finishes in the directory it started in, and may read
 * that of the next step from the new one; the window is the move itself.
 */
int lokt__store_follow(struct lokt_store *s)
{
	struct stat st;
	int fds[3], *nr, r = 0;

	if (stat(s->root, &st) == 0 && st.st_dev == s->root_dev &&
	    st.st_ino == s->root_ino)
		return 0;
	pthread_mutex_lock(&s->follow_lock);
	/* Another thread may have followed it while we waited. */
	if (stat(s->root, &st) == 0 && st.st_dev == s->root_dev &&
	    st.st_ino == s->root_ino)
		goto out;
	if (s->n_retired >= 3 * FOLLOW_MAX) {
		r = -ESTALE;
		goto out;
	}
	nr = realloc(s->retired, (s->n_retired + 3) * sizeof(*nr));
	if (!nr) {
		r = -ENOMEM;
		goto out;
	}
	s->retired = nr;
	r = lokt__ensure_root(s->root);
	if (r == 0)
		r = open_dirs(s, false, fds, &st);
	if (r < 0)
		goto out;
	/* Made again by someone else (the path in a directory others may
	 * write): theirs, not the store we were given. Ours (we may have
	 * made it just now, lokt__ensure_root) is ours to use. */
	if (st.st_uid != s->root_uid && st.st_uid != 0 &&
	    st.st_uid != geteuid()) {
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		r = -LOKT_E_FOREIGN;
		goto out;
	}
	s->retired[s->n_retired++] = s->root_fd;
	s->retired[s->n_retired++] = s->locks_fd;
	s->retired[s->n_retired++] = s->freezes_fd;
	s->locks_fd = fds[1];
	s->freezes_fd = fds[2];
	s->root_fd = fds[0];
	s->root_dev = st.st_dev;
	s->root_ino = st.st_ino;
out:
	pthread_mutex_unlock(&s->follow_lock);
	return r;
}

void lokt__dir_close(struct lokt_store *s)
{
	struct lokt_dir *dir = s->be_data;

	if (dir) {
		open_stores_remove(dir);
		lokt__dir_wait_close(s);
		lokt__audit_file_close(s);
		pthread_mutex_destroy(&dir->lock);
		free(dir);
	}
	if (s->root_fd >= 0)
		close(s->root_fd);
	if (s->locks_fd >= 0)
		close(s->locks_fd);
	if (s->freezes_fd >= 0)
		close(s->freezes_fd);
	for (size_t i = 0; i < s->n_retired; i++)
		close(s->retired[i]);
	free(s->retired);
	pthread_mutex_destroy(&s->follow_lock);
	free(s->root);
	free(s->audit_path);
	free(s);
}

LOKT_API void lokt_store_close(struct lokt_store *s)
{
	if (s)
		s->be->close(s);
}

/* The change that last gave up in a flock in this thread (-EAGAIN):
 * lokt_store_stuck_name. */
static __thread struct {
	const struct lokt_store *s;
	enum lokt_kind kind;
	char name[LOKT_NAME_MAX + 1];
} stuck_at;

LOKT_API void lokt_store_set_deadline(struct lokt_store *s, int64_t mono_ms)
{
	if (mono_ms)
		stuck_at.name[0] = '\0'; /* a new bounded call: none yet */
	if (s && s->be->deadline)
		s->be->deadline(s, mono_ms);
}

LOKT_API int64_t lokt_store_confirm_ms(const struct lokt_store *s)
{
	return s ? s->confirm_ms : 0;
}

LOKT_API const char *lokt_store_root(const struct lokt_store *s)
{
	return s ? s->root : NULL;
}

int lokt__opendir(int dfd, DIR **ret)
{
	int fd, r;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret = fdopendir(fd);
	if (!*ret) {
		r = -errno;
		close(fd);
		return r;
	}
	return 0;
}

int lokt__kind_fd(const struct lokt_store *s, enum lokt_kind kind)
{
	return kind == LOKT_FREEZE ? s->freezes_fd : s->locks_fd;
}

void lokt__share_fd(const struct lokt_store *s, int fd)
{
	mode_t want = s->share | s->share << 1; /* write, and read */
	struct stat st;

	if (!s->share || fstat(fd, &st) < 0)
		return;
	if ((st.st_mode & want) != want && st.st_uid == geteuid())
		(void)fchmod(fd, (st.st_mode & 07777) | want);
}

LOKT_API void lokt_store_set_lock_wait(struct lokt_store *s, int64_t ms)
{
	if (s)
		s->lock_wait_ms = ms > 0 ? ms : 0;
}

__thread volatile sig_atomic_t *lokt__wait_cancel; /* internal.h */

/* The calling thread's deadline for store s (lokt_store_set_deadline),
 * in monotonic ms; 0: none. */
static __thread struct {
	const struct lokt_store *s;
	int64_t ms;
} deadline_of;

void lokt__dir_deadline(struct lokt_store *s, int64_t mono_ms)
{
	deadline_of.s = s;
	deadline_of.ms = mono_ms > 0 ? mono_ms : 0;
}

static int64_t mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static bool deadline_gone(const struct lokt_store *s)
{
	return deadline_of.s == s && deadline_of.ms &&
	       mono_us() >= deadline_of.ms * 1000;
}

/* flock(op), waiting in the kernel's queue as long as it takes, but for
 * a signal that interrupts it (a handler installed without SA_RESTART):
 * then, for an acquisition canceled meanwhile (lokt_acquire_opts.cancel),
 * -LOKT_E_CANCELED; on the second interrupt past the thread's deadline
 * (a waiting acquisition's timeout and a second, or the bound lokt sets
 * around a command that does not wait), -EAGAIN: the flock is held by a
 * process stopped in a change of the name, or a flock(1) by hand. (lokt
 * arms an alarm for that: a library cannot.) */
static int flock_blocking(const struct lokt_store *s, int fd, int op)
{
	bool late = false;

	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return -errno;
		if (lokt__wait_cancel && *lokt__wait_cancel)
			return -LOKT_E_CANCELED;
		if (!deadline_gone(s))
			continue;
		/* Given up only on a second interrupt past the deadline that
		 * still finds the flock held: a caller stopped (^Z) in this
		 * wait, continued with an alarm due long ago, may be
		 * continued with the holder it waited for (the same job),
		 * which lets go a moment later. */
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (late)
			return -EAGAIN;
		late = true;
	}
	return 0;
}

/* flock(op) giving up with -EAGAIN after about ms. Tries without
 * blocking, with pauses from 50 us doubling to 5 ms: a transition holds
 * the flock for microseconds, so the first retries nearly always win. */
static int flock_bounded(int fd, int op, int64_t ms)
{
	int64_t deadline = mono_us() + ms * 1000, pause = 50, left;
	struct timespec ts;

	while (flock(fd, op | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return -errno;
		left = deadline - mono_us();
		if (left <= 0)
			return -EAGAIN;
		if (pause > left)
			pause = left;
		ts.tv_sec = pause / 1000000;
		ts.tv_nsec = (pause % 1000000) * 1000;
		nanosleep(&ts, NULL);
		if (lokt__wait_cancel && *lokt__wait_cancel)
			return -LOKT_E_CANCELED;
		if (pause < 5000)
			pause *= 2;
	}
	return 0;
}

int lokt__flock_wait(const struct lokt_store *s, int fd, int op)
{
	return s->lock_wait_ms > 0 ? flock_bounded(fd, op, s->lock_wait_ms) :
				     flock_blocking(s, fd, op);
}

/* Is the file of fd (locked, of stat *st) still the one at dfd/path? A
 * sidecar may be removed between our open and our flock (sidecar.c,
 * after a day idle), or taken out of the store for having a second link
 * (lokt__sidecar_retire), which leaves it linked elsewhere, where its
 * owner may write it: so neither its link count nor its times can say
 * that it is still here, only the path (one fstatat). No link left: it
 * was removed. */
static bool still_linked(int dfd, const char *path, const struct stat *st)
{
	struct stat at;

	if (st->st_nlink == 0)
		return false;
	return fstatat(dfd, path, &at, AT_SYMLINK_NOFOLLOW) == 0 &&
	       at.st_ino == st->st_ino && at.st_dev == st->st_dev;
}

/* A sidecar with no counter yet (new, or its name never acquired) starts
 * at the fence floor: the name may have had a sidecar, since removed. */
static int seed_counter(const struct lokt_store *s, int dfd, int fd)
{
	uint64_t floor;
	char buf[32];
	int r, len;

	r = lokt__floor_read(s, dfd, fd, &floor);
	if (r < 0 || floor == 0)
		return r;
	len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", floor);
	return pwrite(fd, buf, len, 0) == len ? 0 : errno ? -errno : -EIO;
}

static int name_lock(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, int *ret_lk)
{
	char path[LOKT_NAME_MAX + 8];
	struct stat st;
	bool linked;
	int dfd, fd, r;

	r = lokt__store_follow(s);
	if (r < 0)
		return r;
	dfd = lokt__kind_fd(s, kind); /* after following: the current one */
	snprintf(path, sizeof(path), ".%s.lk", name);
	for (;;) {
		/* One fstat, after the flock, both checks what was opened
		 * (nothing but flock touches it before) and gives the
		 * identity compared with the path's: the wait in flock may
		 * have been long, and only this stat is current. Made 0600
		 * (and a shared store's bits): a user who could only read a
		 * sidecar could still flock it, and stall every transition
		 * of the name for as long as they liked. */
		fd = openat(dfd, path,
			    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
				    O_CLOEXEC,
			    0600);
		if (fd < 0)
			return lokt__open_error(errno);
		r = lokt__flock_wait(s, fd, LOCK_EX);
		if (r == 0 && fstat(fd, &st) < 0)
			r = -errno;
		/* A second link to anything but a counter: planted to a file
		 * elsewhere, which the fence would be written into. */
		if (r == 0 && (!S_ISREG(st.st_mode) ||
			       !lokt__counter_file_ok(fd, &st)))
			r = -LOKT_E_FOREIGN;
		/* A counter with a second link: one made by a backup (cp
		 * -al) or to stall the name, or planted to a file elsewhere
		 * that holds a number (a pid file, where
		 * fs.protected_hardlinks is off), into which the fence
		 * would go. Never written: its counter goes to the floor,
		 * and the name gets a sidecar of its own. */
		linked = r == 0 && still_linked(dfd, path, &st);
		if (linked && st.st_nlink > 1) {
			r = lokt__sidecar_retire(s, dfd, fd, path);
			close(fd);
			if (r < 0)
				return r;
			continue;
		}
		if (linked)
			break;
		if (r == -EAGAIN)
			lokt__share_fd(s, fd); /* we may have made it */
		close(fd);
		if (r < 0)
			return r;
	}
	if ((st.st_mode & 0777) != (0600 | s->share | s->share << 1) &&
	    st.st_uid == geteuid()) /* new, or made readable by an old lokt */
		(void)fchmod(fd, 0600 | s->share | s->share << 1);
	if (st.st_size == 0) {
		r = seed_counter(s, dfd, fd);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	*ret_lk = fd;
	return 0;
}

int lokt__name_lock(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, int *ret_lk)
{
	int r = name_lock(s, kind, name, ret_lk);

	if (r == -EAGAIN) {
		stuck_at.s = s;
		stuck_at.kind = kind;
		snprintf(stuck_at.name, sizeof(stuck_at.name), "%s", name);
	}
	return r;
}

LOKT_API const char *lokt_store_stuck_name(const struct lokt_store *s,
					   enum lokt_kind *ret_kind)
{
	if (!s || stuck_at.s != s || !stuck_at.name[0])
		return NULL;
	if (ret_kind)
		*ret_kind = stuck_at.kind;
	return stuck_at.name;
}

void lokt__name_unlock(int lk)
{
	if (lk >= 0)
		close(lk); /* drops the flock */
}

int lokt__fence_next(int lk, uint64_t floor, uint64_t *ret)
{
	char buf[32];
	uint64_t last = 0;
	ssize_t n;
	int len;

	n = pread(lk, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* A garbled counter reads as 0; the floor still keeps us above the
	 * fence of any file in the store. */
	last = strtoull(buf, NULL, 10);
	if (last < floor)
		last = floor;
	if (last == UINT64_MAX)
		return -EOVERFLOW;
	last++;
	/* Not truncated after: a fence only grows, so its text never gets
	 * shorter, and whatever a garbled file has after our newline is
	 * never read (strtoull stops there). */
	len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", last);
	if (pwrite(lk, buf, len, 0) != len)
		return errno ? -errno : -EIO;
	*ret = last;
	return 0;
}

/* The bytes of fd, of size `size` by its fstat: one read of size + 1
 * (a short one is the end of the file), more only when the file grew
 * since. */
static int read_all(int fd, off_t size, char **ret_buf, size_t *ret_len)
{
	size_t len = 0, cap = size >= 0 && size < READ_MAX ? size + 1 : 4096;
	char *buf = malloc(cap + 1), *nb;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= READ_MAX)
				break; /* the parser refuses it anyway */
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += n;
		if (len < cap && len >= (size_t)size)
			break; /* a short read past the stat's size: the end */
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int lokt__file_read(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, char **ret_buf, size_t *ret_len,
		    struct stat *ret_st)
{
	const struct timespec pause = { 0, 10 * 1000 * 1000 };
	char path[LOKT_NAME_MAX + 8];
	struct stat st;
	size_t len = 0;
	char *buf = NULL;
	int fd, r, tries = 0;

	snprintf(path, sizeof(path), "%s.json", name);
	for (;;) {
		fd = lokt__open_in(lokt__kind_fd(s, kind), path, O_RDONLY,
				   S_IFREG, &st);
		if (fd < 0)
			return fd == -ENOENT ? -LOKT_E_NOT_FOUND : fd;
		r = read_all(fd, st.st_size, &buf, &len);
		close(fd);
		if (r < 0)
			return r;
		if (len > 0 || ++tries > EMPTY_RETRIES)
			break;
		free(buf);
		nanosleep(&pause, NULL);
	}
	*ret_buf = buf;
	*ret_len = len;
	if (ret_st)
		*ret_st = st;
	return 0;
}

static int write_data(int fd, const char *data)
{
	size_t len = strlen(data), off = 0;
	ssize_t n;

	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += n;
	}
	return 0;
}

int lokt__temp_name(int dfd, const char *stem, char *tmp, size_t size)
{
	char id[LOKT_ID_LEN + 1];
	int r;

	snprintf(tmp, size, "%s.tmp", stem);
	if (unlinkat(dfd, tmp, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM && errno != ENOTEMPTY)
		return -errno;
	if ((r = lokt__new_id(id)) < 0)
		return r;
	snprintf(tmp, size, "%s.%.16s.tmp", stem, id);
	return 0;
}

/* Write data to the temporary file of <name>.json (lokt__temp_name:
 * `.<name>.json.tmp`, else `.<name>.json.<16 hex>.tmp`); its name goes
 * to tmp. Mode 0644 whatever the umask: lokt 1.x and other users read
 * these files. Then O_EXCL: we write only into a file we created. */
static int write_temp(int dfd, const char *name, const char *data,
		      char *tmp, size_t size)
{
	char stem[LOKT_NAME_MAX + 8];
	int fd, r;

	snprintf(stem, sizeof(stem), ".%s.json", name);
	if ((r = lokt__temp_name(dfd, stem, tmp, size)) < 0)
		return r;
	fd = openat(dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (!r)
		r = write_data(fd, data);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	return r;
}

/* Give the unnamed file fd the name dfd/path, never over an existing
 * one (-EEXIST). By the descriptor itself (AT_EMPTY_PATH, which the
 * kernel allows with CAP_DAC_READ_SEARCH), else through /proc; which
 * works is learned once per store. -EOPNOTSUPP: neither does. */
static int link_unnamed(struct lokt_dir *dir, int fd, int dfd,
			const char *path)
{
	char proc[64];

	if (dir->publish == LOKT_PUBLISH_UNNAMED) {
		if (linkat(fd, "", dfd, path, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT && errno != EPERM)
			return -errno;
		dir->publish = LOKT_PUBLISH_PROC;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dfd, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM && errno != EACCES)
		return -errno;
	dir->publish = LOKT_PUBLISH_NAMED;
	return -EOPNOTSUPP;
}

/* Publish data as dfd/path from an unnamed file (O_TMPFILE): nothing
 * with a name exists before the link, so there is no leftover to remove
 * and no temporary name to take away after. -EOPNOTSUPP when the
 * filesystem (or the kernel, or a /proc-less sandbox without the
 * capability) does not allow it. */
static int publish_unnamed(struct lokt_dir *dir, int dfd, const char *path,
			   const char *data)
{
	int fd, r;

	fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		/* EISDIR, EINVAL: a kernel without O_TMPFILE; EOPNOTSUPP: a
		 * filesystem without it. */
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -errno;
		dir->publish = LOKT_PUBLISH_NAMED;
		return -EOPNOTSUPP;
	}
	r = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (!r)
		r = write_data(fd, data);
	if (!r)
		r = link_unnamed(dir, fd, dfd, path);
	close(fd);
	return r;
}

int lokt__file_publish(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *data)
{
	char tmp[LOKT_NAME_MAX + 40], path[LOKT_NAME_MAX + 8];
	int dfd = lokt__kind_fd(s, kind), r;
	struct lokt_dir *dir = s->be_data;

	snprintf(path, sizeof(path), "%s.json", name);
	if (dir->publish != LOKT_PUBLISH_NAMED) {
		r = publish_unnamed(dir, dfd, path, data);
		if (r != -EOPNOTSUPP)
			return r;
	}
	r = write_temp(dfd, name, data, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	r = linkat(dfd, tmp, dfd, path, 0) < 0 ? -errno : 0;
	unlinkat(dfd, tmp, 0);
	return r;
}

int lokt__file_replace(struct lokt_store *s, enum lokt_kind kind,
		       const char *name, const char *data)
{
	char tmp[LOKT_NAME_MAX + 40], path[LOKT_NAME_MAX + 8];
	int dfd = lokt__kind_fd(s, kind), r;

	r = write_temp(dfd, name, data, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s.json", name);
	if (renameat(dfd, tmp, dfd, path) < 0) {
		r = -errno;
		unlinkat(dfd, tmp, 0);
	}
	return r;
}

int lokt__file_remove(struct lokt_store *s, enum lokt_kind kind,
		      const char *name)
{
	char path[LOKT_NAME_MAX + 8];

	snprintf(path, sizeof(path), "%s.json", name);
	if (unlinkat(lokt__kind_fd(s, kind), path, 0) < 0)
		return errno == ENOENT ? -LOKT_E_NOT_FOUND : -errno;
	return 0;
}
