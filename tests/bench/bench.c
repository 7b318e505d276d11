// SPDX-License-Identifier: MIT
/*
 * lokt-bench: in-process figures for tests/bench/bench.sh, each side by
 * side with plain flock(2), which is the floor any lock on a local
 * filesystem stands on.
 *
 *   lokt-bench inproc N   N acquire+release of one name through liblokt
 *                         (each audited, as in real use) vs N
 *                         flock(LOCK_EX)+flock(LOCK_UN): "LOKT FLOCK",
 *                         microseconds per pair
 *   lokt-bench slot N     N acquire+release of one slot of a semaphore
 *                         of 3 whose other 2 slots are held, vs N
 *                         flock pairs: "LOKT FLOCK", microseconds
 *   lokt-bench loop N     only the N liblokt acquire+release, silent (for
 *                         strace -c)
 *   lokt-bench wake N     N times: a waiter process blocks, the holder
 *                         releases; time from the release call to the
 *                         waiter holding the lock: "LOKT FLOCK", medians
 *                         in microseconds
 *   lokt-bench fill FROM TO PID
 *                         build a store: acquire lock-FROM .. lock-(TO-1)
 *                         (six digits) for holder PID, through liblokt as
 *                         any acquisition (sidecar, fence, audit line)
 *   lokt-bench files DIR N
 *                         N times create DIR/x (open O_CREAT|O_WRONLY,
 *                         close) and unlink it: through a mount, a lock
 *                         taken and released; on tmpfs, the floor:
 *                         microseconds per create+unlink
 *
 * The store is $LOKT_ROOT, else a fresh temporary directory. Figures are
 * bare numbers for bench.sh to set beside its baselines. Not a test:
 * nothing is asserted, figures depend on the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lokt.h"

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "lokt-bench: %s: %s\n", what, lokt_strerror(r));
	exit(1);
}

static struct lokt_store *open_store(const char *root)
{
	struct lokt_store *s;
	int r = lokt_store_open(root, &s);

	if (r < 0)
		die("cannot open the store", r);
	return s;
}

/* Ourselves as holder. A forked child is inside its parent's process
 * subtree and would re-enter the parent's lock: distinct agent ids keep
 * the waiter a waiter. */
static struct lokt_who self(const char *agent)
{
	struct lokt_who w;
	int r = lokt_who_self(getpid(), &w);

	if (r < 0)
		die("who", r);
	snprintf(w.agent_id, sizeof(w.agent_id), "%s", agent);
	return w;
}

static void lock_once(struct lokt_store *s, const char *name,
		      const struct lokt_who *w, bool wait,
		      struct lokt_result *res)
{
	struct lokt_acquire_opts o = {.wait = wait, .timeout_ms = -1};
	int r = lokt_acquire(s, name, w, &o, res);

	if (r < 0)
		die("acquire", r);
}

static void unlock_once(struct lokt_store *s, const char *name,
			const struct lokt_who *w, const char *lock_id)
{
	struct lokt_result res;
	int r = lokt_release(s, name, w, lock_id, 0, &res);

	if (r < 0)
		die("release", r);
}

static int open_lockfile(const char *root)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.bench-flock", root);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void inproc(const char *root, int n)
{
	struct lokt_store *s = open_store(root);
	struct lokt_who w = self("bench-holder");
	struct lokt_result res;
	double t0, lokt_us, flock_us;
	int fd;

	t0 = now_us();
	for (int i = 0; i < n; i++) {
		lock_once(s, "bench-inproc", &w, false, &res);
		unlock_once(s, "bench-inproc", &w, res.lock.lock_id);
	}
	lokt_us = now_us() - t0;
	lokt_store_close(s);

	fd = open_lockfile(root);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		flock(fd, LOCK_EX);
		flock(fd, LOCK_UN);
	}
	flock_us = now_us() - t0;
	close(fd);

	printf("%.2f %.2f\n", lokt_us / n, flock_us / n);
}

/* One place of a semaphore of 3 (--slots 3), 2 others held by other
 * agents: each acquire+release rewrites the record of all three. */
static void slot(const char *root, int n)
{
	struct lokt_store *s = open_store(root);
	struct lokt_acquire_opts o = {.slots = 3};
	struct lokt_who w = self("bench-holder"), o1 = self("bench-other-1"),
			o2 = self("bench-other-2");
	struct lokt_result res;
	double t0, lokt_us, flock_us;
	int fd, r;

	r = lokt_acquire(s, "bench-slot", &o1, &o, &res);
	r = r ?: lokt_acquire(s, "bench-slot", &o2, &o, &res);
	if (r < 0)
		die("acquire", r);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		r = lokt_acquire(s, "bench-slot", &w, &o, &res);
		if (r < 0)
			die("acquire", r);
		unlock_once(s, "bench-slot", &w, res.lock.lock_id);
	}
	lokt_us = now_us() - t0;
	lokt_store_close(s);

	fd = open_lockfile(root);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		flock(fd, LOCK_EX);
		flock(fd, LOCK_UN);
	}
	flock_us = now_us() - t0;
	close(fd);
	printf("%.2f %.2f\n", lokt_us / n, flock_us / n);
}

/* Only the acquire+release loop, for counting its system calls (strace
 * -c of two runs of different N: the difference is the loop's). */
static void loop(const char *root, int n)
{
	struct lokt_store *s = open_store(root);
	struct lokt_who w = self("bench-holder");
	struct lokt_result res;

	for (int i = 0; i < n; i++) {
		lock_once(s, "bench-loop", &w, false, &res);
		unlock_once(s, "bench-loop", &w, res.lock.lock_id);
	}
	lokt_store_close(s);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static const struct timespec settle = {0, 20 * 1000 * 1000};

/* One round: a child waits on the lock we hold; we release; it reports
 * the instant it got in. */
static double wake_lokt(const char *root)
{
	struct lokt_store *s = open_store(root);
	struct lokt_who w = self("bench-holder");
	struct lokt_result res;
	double t0, t1 = 0;
	size_t waiters = 0;
	int fds[2];
	pid_t pid;

	lock_once(s, "bench-wake", &w, false, &res);
	if (pipe(fds) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		struct lokt_store *cs = open_store(root);
		struct lokt_who cw = self("bench-waiter");
		struct lokt_result cres;
		double t;

		lock_once(cs, "bench-wake", &cw, true, &cres);
		t = now_us();
		if (write(fds[1], &t, sizeof(t)) < 0)
			_exit(1);
		unlock_once(cs, "bench-wake", &cw, cres.lock.lock_id);
		_exit(0);
	}
	while (lokt_waiters(s, "bench-wake", &waiters) == 0 && waiters == 0)
		nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
	nanosleep(&settle, NULL); /* let it reach its wait */
	t0 = now_us();
	unlock_once(s, "bench-wake", &w, res.lock.lock_id);
	if (read(fds[0], &t1, sizeof(t1)) != sizeof(t1))
		exit(1);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	lokt_store_close(s);
	return t1 - t0;
}

static double wake_flock(const char *root)
{
	double t0, t1 = 0;
	int fds[2], fd = open_lockfile(root);
	pid_t pid;

	flock(fd, LOCK_EX);
	if (pipe(fds) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		int cfd = open_lockfile(root); /* its own open file */
		double t;

		flock(cfd, LOCK_EX);
		t = now_us();
		if (write(fds[1], &t, sizeof(t)) < 0)
			_exit(1);
		_exit(0);
	}
	nanosleep(&settle, NULL);
	t0 = now_us();
	flock(fd, LOCK_UN);
	if (read(fds[0], &t1, sizeof(t1)) != sizeof(t1))
		exit(1);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	close(fd);
	return t1 - t0;
}

static void wake(const char *root, int n)
{
	double *v = calloc(n, sizeof(*v)), lokt_med;

	if (!v)
		exit(1);

	for (int i = 0; i < n; i++)
		v[i] = wake_lokt(root);
	lokt_med = median(v, n);
	for (int i = 0; i < n; i++)
		v[i] = wake_flock(root);
	printf("%.1f %.1f\n", lokt_med, median(v, n));
	free(v);
}

static void fill(const char *root, int from, int to, pid_t holder)
{
	struct lokt_store *s = open_store(root);
	struct lokt_result res;
	struct lokt_who w;
	char name[32];
	int r = lokt_who_self(holder, &w);

	if (r < 0)
		die("holder", r);
	for (int i = from; i < to; i++) {
		snprintf(name, sizeof(name), "lock-%06d", i);
		lock_once(s, name, &w, false, &res);
	}
	lokt_store_close(s);
}

static void files(const char *dir, int n)
{
	char path[4096];
	double t0, us;
	int fd;

	snprintf(path, sizeof(path), "%s/x", dir);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) < 0 || unlink(path) < 0) {
			perror(path);
			exit(1);
		}
	}
	us = now_us() - t0;
	printf("%.1f\n", us / n);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *root = getenv("LOKT_ROOT");
	char tmpl[] = "/tmp/lokt-bench.XXXXXX";
	bool own_root = false;
	int n;

	if (argc == 5 && !strcmp(argv[1], "fill") && root && root[0]) {
		fill(root, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "files") && atoi(argv[3]) > 0) {
		files(argv[2], atoi(argv[3]));
		return 0;
	}
	if (argc != 3 || (n = atoi(argv[2])) <= 0 ||
	    (strcmp(argv[1], "inproc") && strcmp(argv[1], "wake") &&
	     strcmp(argv[1], "loop") && strcmp(argv[1], "slot"))) {
		fprintf(stderr, "usage: lokt-bench inproc|wake|loop|slot N\n"
				"       LOKT_ROOT=DIR lokt-bench fill FROM TO PID\n"
				"       lokt-bench files DIR N\n");
		return 64;
	}
	if (!root || !root[0]) {
		root = mkdtemp(tmpl);
		if (!root) {
			perror("mkdtemp");
			return 1;
		}
		own_root = true;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "inproc"))
		inproc(root, n);
	else if (!strcmp(argv[1], "loop"))
		loop(root, n);
	else if (!strcmp(argv[1], "slot"))
		slot(root, n);
	else
		wake(root, n);
	if (own_root)
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
