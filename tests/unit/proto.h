/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the protocol tests (test_protocol.c, test_races.c,
 * test_wait.c): a fresh store per test, identities for real processes,
 * children that report through their exit status, a start barrier, and an
 * overlap witness (O_CREAT|O_EXCL on a file while "inside" the lock; any
 * EEXIST is two processes inside at once).
 */
#ifndef LOKT_UNIT_PROTO_H
#define LOKT_UNIT_PROTO_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "unit.h"

/* Exit codes of forked children. */
#define CHILD_WON 0
#define CHILD_REFUSED 1
#define CHILD_OVERLAP 2
#define CHILD_ERROR 3

struct fixture {
	char *dir; /* temp dir, removed at the end */
	char *root; /* dir/root */
	struct lokt_store *s;
};

static struct fixture fx;

static inline void fx_setup(void)
{
	fx.dir = unit_tmpdir();
	cr_assert(asprintf(&fx.root, "%s/root", fx.dir) > 0);
	cr_assert_eq(lokt_store_open(fx.root, &fx.s), 0);
}

static inline void fx_teardown(void)
{
	lokt_store_close(fx.s);
	unit_rmrf(fx.dir);
	free(fx.root);
	free(fx.dir);
}

/* The identity of process pid (held as owner) on this host. */
static inline struct lokt_who who_of(pid_t pid, const char *owner)
{
	struct lokt_who w;

	memset(&w, 0, sizeof(w));
	snprintf(w.owner, sizeof(w.owner), "%s", owner);
	lokt__hostname(w.host, sizeof(w.host));
	w.pid = pid;
	if (lokt__pid_start(pid, &w.pid_start) < 0)
		w.pid_start = 0;
	w.uid = getuid();
	return w;
}

/* A path under the fixture's dir; static buffer per call site is enough. */
static inline void fx_path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", fx.dir, rel);
}

/* Enter the witness: false when someone else is inside (overlap). */
static inline bool witness_enter(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static inline void witness_leave(const char *path)
{
	unlink(path);
}

static inline void sleep_us(long us)
{
	struct timespec t = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&t, NULL);
}

/* A start barrier: children block in barrier_wait until barrier_open. */
struct barrier {
	int fd[2];
};

static inline void barrier_init(struct barrier *b)
{
	cr_assert_eq(pipe(b->fd), 0);
}

/* In a child: wait for the parent to open the barrier. */
static inline void barrier_wait(struct barrier *b)
{
	char c;

	close(b->fd[1]);
	while (read(b->fd[0], &c, 1) < 0 && errno == EINTR)
		;
	close(b->fd[0]);
}

/* In the parent: let every child through at once. */
static inline void barrier_open(struct barrier *b)
{
	close(b->fd[0]);
	close(b->fd[1]);
}

/* Reap a child: its exit code, or 128 + signal. */
static inline int reap(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Fork a child that holds `name` as itself and then exits: its record is
 * left behind with a dead pid. Returns the record. */
static inline struct lokt_record leave_dead_lock(const char *name)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_info in;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct lokt_who w = who_of(getpid(), "ghost");

		_exit(lokt_acquire(fx.s, name, &w, &opts, &res) == 0 ?
			      CHILD_WON : CHILD_ERROR);
	}
	cr_assert_eq(reap(pid), CHILD_WON);
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, name, &in, NULL), 0);
	cr_assert_eq(in.stale, LOKT_STALE_DEAD);
	return in.rec;
}

/* Does the audit log contain `needle`? */
static inline bool audit_has(const char *needle)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	bool hit = false;
	FILE *f = fopen(lokt_audit_path(fx.s), "r");

	if (!f)
		return false;
	while (!hit && (n = getline(&buf, &cap, f)) > 0)
		hit = strstr(buf, needle) != NULL;
	free(buf);
	fclose(f);
	return hit;
}

#endif /* LOKT_UNIT_PROTO_H */
