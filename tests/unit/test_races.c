// SPDX-License-Identifier: MIT
/*
 * Mutual exclusion under races, with real processes (fork; the last one
 * adds threads to the forking parent, as a server has):
 *   - 8 processes x many rounds acquiring and releasing one name, with an
 *     overlap witness and a log of fences in acquisition order;
 *   - a stale-break storm: 8 breakers released at once on a dead holder's
 *     lock, round after round: exactly one wins each round;
 *   - breakers racing a renewal of an expired lock: the renewal or one
 *     breaker wins, never both;
 *   - a holder renewing while breakers hammer acquire and --break-stale;
 *   - forks while threads of the parent take locks (and audit).
 * These fail if the sidecar flock is taken out of store.c (checked by
 * hand when they were written).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/file.h>

#include "proto.h"

TestSuite(race, .init = fx_setup, .fini = fx_teardown, .timeout = 100);

#define RACERS 8

/* Append one fence to the log; called while holding the lock, so the log
 * is in acquisition order. */
static void log_fence(int fd, uint64_t fence)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "%llu\n",
			   (unsigned long long)fence);

	if (write(fd, line, len) != len)
		_exit(CHILD_ERROR);
}

/* One racer: `rounds` critical sections through the library. */
static int racer(int rounds, bool wait, const char *witness, int log)
{
	struct lokt_acquire_opts opts = { .wait = wait, .timeout_ms = 60000 };
	struct lokt_store *s;
	struct lokt_result res;
	struct lokt_who me;
	int done = 0, overlaps = 0, r;

	if (lokt_store_open(fx.root, &s) < 0)
		return CHILD_ERROR;
	me = who_of(getpid(), "racer");
	srand(getpid());
	while (done < rounds) {
		r = lokt_acquire(s, "x", &me, &opts, &res);
		if (r == -LOKT_E_HELD && !wait) {
			sleep_us(rand() % 200);
			continue;
		}
		if (r < 0 || res.renewed)
			return CHILD_ERROR;
		log_fence(log, res.lock.fence);
		if (witness_enter(witness)) {
			sleep_us(200 + rand() % 300);
			witness_leave(witness);
		} else {
			overlaps++;
		}
		if (lokt_release(s, "x", &me, res.lock.lock_id, 0, &res) < 0)
			return CHILD_ERROR;
		done++;
	}
	lokt_store_close(s);
	return overlaps ? CHILD_OVERLAP : CHILD_WON;
}

/* Fences in the log must strictly increase. */
static void check_fence_log(const char *path, int want)
{
	unsigned long long last = 0, f;
	FILE *fp = fopen(path, "r");
	int n = 0;

	cr_assert_not_null(fp);
	while (fscanf(fp, "%llu", &f) == 1) {
		cr_expect_gt(f, last, "fence %llu after %llu", f, last);
		last = f;
		n++;
	}
	fclose(fp);
	cr_expect_eq(n, want);
}

static void contention(int rounds, bool wait)
{
	char witness[PATH_MAX], logp[PATH_MAX];
	pid_t pids[RACERS];
	struct barrier b;
	int log, i, st;

	fx_path(witness, sizeof(witness), "witness");
	fx_path(logp, sizeof(logp), "fences");
	log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	cr_assert(log >= 0);
	barrier_init(&b);
	for (i = 0; i < RACERS; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			barrier_wait(&b);
			_exit(racer(rounds, wait, witness, log));
		}
	}
	barrier_open(&b);
	for (i = 0; i < RACERS; i++) {
		st = reap(pids[i]);
		cr_expect_eq(st, CHILD_WON, "racer %d: %s", i,
			     st == CHILD_OVERLAP ? "overlap seen" : "error");
	}
	close(log);
	check_fence_log(logp, RACERS * rounds);
}

Test(race, contention_no_overlap)
{
	contention(100, false);
}

Test(race, contention_waiting_no_overlap)
{
	contention(25, true);
}

/* A gang of forked children started at once: each does one thing,
 * reports, and lingers until all have reported, so that a winner is still
 * alive (its lock live) while the others try. */
struct gang {
	struct barrier start, stay;
	int done[2];
	pid_t pids[RACERS];
	int n;
};

static void gang_init(struct gang *g)
{
	barrier_init(&g->start);
	barrier_init(&g->stay);
	cr_assert_eq(pipe(g->done), 0);
	g->n = 0;
}

/* Fork one member: true in the child, which is then past the start. */
static bool gang_fork(struct gang *g)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		close(g->done[0]);
		barrier_wait(&g->start);
		return true;
	}
	g->pids[g->n++] = pid;
	return false;
}

/* In a member: report, wait for the others, exit with out. */
static void gang_exit(struct gang *g, int out)
{
	if (write(g->done[1], "x", 1) != 1)
		out = CHILD_ERROR;
	barrier_wait(&g->stay);
	_exit(out);
}

/* In the parent: start everyone, wait for every report, let them go,
 * collect their exit codes. */
static void gang_run(struct gang *g, int *status)
{
	char c;

	close(g->done[1]);
	barrier_open(&g->start);
	for (int i = 0; i < g->n; i++)
		cr_assert_eq(read(g->done[0], &c, 1), 1);
	close(g->done[0]);
	barrier_open(&g->stay);
	for (int i = 0; i < g->n; i++)
		status[i] = reap(g->pids[i]);
}

/* One attempt of a breaker: WON, REFUSED (held), or ERROR. */
static int try_acquire(const char *witness)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_who me = who_of(getpid(), "breaker");
	int r = lokt_acquire(fx.s, "x", &me, &opts, &res);

	if (r == 0)
		return !witness || witness_enter(witness) ? CHILD_WON :
							    CHILD_OVERLAP;
	return r == -LOKT_E_HELD ? CHILD_REFUSED : CHILD_ERROR;
}

Test(race, stale_break_storm)
{
	char witness[PATH_MAX];
	struct lokt_record prev = leave_dead_lock("x");
	int status[RACERS], i, round, won;
	struct lokt_info in;
	struct gang g;

	fx_path(witness, sizeof(witness), "witness");
	for (round = 0; round < 15; round++) {
		gang_init(&g);
		for (i = 0; i < RACERS; i++)
			if (gang_fork(&g))
				gang_exit(&g, try_acquire(witness));
		gang_run(&g, status);
		for (i = 0, won = 0; i < RACERS; i++) {
			cr_expect(status[i] == CHILD_WON ||
					  status[i] == CHILD_REFUSED,
				  "round %d breaker %d: status %d", round, i,
				  status[i]);
			won += status[i] == CHILD_WON ||
			       status[i] == CHILD_OVERLAP;
		}
		cr_expect_eq(won, 1, "round %d: %d winners", round, won);
		/* The winner has exited: its lock is the next dead one. */
		cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "x", &in, NULL), 0);
		cr_expect_eq(in.stale, LOKT_STALE_DEAD);
		cr_expect_gt(in.rec.fence, prev.fence);
		prev = in.rec;
		witness_leave(witness);
	}
}

/* Let the lock expire while its holder lives (waiting for a state). */
static void wait_expired(void)
{
	struct lokt_info in;

	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "x", &in, NULL), 0);
		if (in.stale == LOKT_STALE_EXPIRED)
			return;
		sleep_us(10000);
	}
	cr_assert_fail("the lock never expired");
}

/* A live process holding "x" with a 1 s TTL until `hold` opens; its
 * lock_id goes to *id. */
static pid_t spawn_holder(struct barrier *hold, char id[LOKT_ID_LEN + 1])
{
	struct lokt_acquire_opts ttl1 = { .ttl_sec = 1 };
	struct lokt_result res;
	int idp[2];
	pid_t pid;

	cr_assert_eq(pipe(idp), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct lokt_who me = who_of(getpid(), "holder");
		char mine[LOKT_ID_LEN + 1] = "";

		close(idp[0]);
		if (lokt_acquire(fx.s, "x", &me, &ttl1, &res) == 0)
			snprintf(mine, sizeof(mine), "%s", res.lock.lock_id);
		if (write(idp[1], mine, sizeof(mine)) != sizeof(mine))
			_exit(CHILD_ERROR);
		close(idp[1]);
		barrier_wait(hold);
		_exit(CHILD_WON);
	}
	close(idp[1]);
	cr_assert_eq(read(idp[0], id, LOKT_ID_LEN + 1), LOKT_ID_LEN + 1);
	close(idp[0]);
	cr_assert_neq(id[0], '\0', "the holder could not acquire");
	return pid;
}

Test(race, breakers_race_renewal_of_expired_lock)
{
	struct lokt_who admin = who_of(getpid(), "admin");
	char id[LOKT_ID_LEN + 1];
	int status[RACERS], i, round, won;
	struct lokt_result res;
	struct barrier hold;
	struct gang g;
	pid_t holder;

	for (round = 0; round < 4; round++) {
		barrier_init(&hold);
		holder = spawn_holder(&hold, id);
		wait_expired();
		/* Member 0 renews the expired lock by lock_id (as guard
		 * does from its own process); the others try to break it. */
		gang_init(&g);
		for (i = 0; i < RACERS; i++) {
			if (!gang_fork(&g))
				continue;
			if (i == 0) {
				struct lokt_who me = who_of(getpid(), "holder");
				int r = lokt_renew(fx.s, "x", id, &me, 1, &res);

				gang_exit(&g, r == 0 ? CHILD_WON :
					      r == -LOKT_E_LOST ? CHILD_REFUSED :
								  CHILD_ERROR);
			}
			gang_exit(&g, try_acquire(NULL));
		}
		gang_run(&g, status);
		for (i = 0, won = 0; i < RACERS; i++) {
			cr_expect(status[i] == CHILD_WON ||
				  status[i] == CHILD_REFUSED);
			won += status[i] == CHILD_WON;
		}
		cr_expect_eq(won, 1, "round %d: renewed %d, %d breakers won",
			     round, status[0] == CHILD_WON,
			     won - (status[0] == CHILD_WON));
		barrier_open(&hold);
		reap(holder);
		cr_assert_eq(lokt_release(fx.s, "x", &admin, NULL,
					  LOKT_RELEASE_FORCE, &res),
			     0);
	}
}

/* Alternate acquire and release(BREAK_STALE) on a live lock. */
static int live_breaker(int rounds)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_who me = who_of(getpid(), "breaker");
	int r;

	for (int i = 0; i < rounds; i++) {
		r = i % 2 ? lokt_acquire(fx.s, "x", &me, &opts, &res) :
			    lokt_release(fx.s, "x", &me, NULL,
					 LOKT_RELEASE_BREAK_STALE, &res);
		if (r == 0)
			return CHILD_OVERLAP;
		if (r != -LOKT_E_HELD && r != -LOKT_E_NOT_OWNER)
			return CHILD_ERROR;
		sleep_us(300);
	}
	return CHILD_REFUSED;
}

Test(race, renewing_holder_is_never_broken)
{
	struct lokt_acquire_opts ttl1 = { .ttl_sec = 1 };
	struct lokt_who me = who_of(getpid(), "holder");
	int status[RACERS], i, st, left, lost = 0;
	struct lokt_result res;
	char id[LOKT_ID_LEN + 1];
	pid_t pids[RACERS];

	cr_assert_eq(lokt_acquire(fx.s, "x", &me, &ttl1, &res), 0);
	strcpy(id, res.lock.lock_id);
	for (i = 0; i < RACERS - 1; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(live_breaker(3000));
		status[i] = -1;
	}
	/* Renew well inside the TTL until every breaker has given up. */
	for (left = RACERS - 1; left > 0;) {
		if (lokt_renew(fx.s, "x", id, &me, 1, &res) < 0)
			lost++;
		sleep_us(50000);
		for (i = 0; i < RACERS - 1; i++) {
			if (status[i] >= 0 ||
			    waitpid(pids[i], &st, WNOHANG) != pids[i])
				continue;
			status[i] = WIFEXITED(st) ? WEXITSTATUS(st) :
						    128 + WTERMSIG(st);
			left--;
		}
	}
	cr_expect_eq(lost, 0);
	for (i = 0; i < RACERS - 1; i++)
		cr_expect_eq(status[i], CHILD_REFUSED, "breaker %d: %d", i,
			     status[i]);
	cr_assert_eq(lokt_get(fx.s, LOKT_LOCK, "x", &res.other, NULL), 0);
	cr_expect_str_eq(res.other.rec.lock_id, id);
}

/* A transition stuck half-way (here: another process holding the name's
 * sidecar flock, as a stopped lokt would): with lokt_store_set_lock_wait
 * the next transition gives up with -EAGAIN and changes nothing; without,
 * it waits until the sidecar is free, then succeeds. */
static int acquire_in_child(int64_t lock_wait_ms)
{
	struct lokt_acquire_opts none = { 0 };
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_who me;
	int r;

	if (lokt_store_open(fx.root, &s) < 0)
		return CHILD_ERROR;
	lokt_store_set_lock_wait(s, lock_wait_ms);
	me = who_of(getppid(), "carol");
	r = lokt_acquire(s, "x", &me, &none, &res);
	lokt_store_close(s);
	return r == 0 ? CHILD_WON : r == -EAGAIN ? CHILD_REFUSED : CHILD_ERROR;
}

Test(race, stuck_sidecar_bounded_by_lock_wait)
{
	char path[PATH_MAX];
	pid_t blocker, pid;
	int st, fds[2];

	/* The blocker takes the sidecar and holds it until told. */
	snprintf(path, sizeof(path), "%s/locks/.x.lk", fx.root);
	cr_assert_eq(pipe(fds), 0);
	blocker = fork();
	cr_assert_neq(blocker, -1);
	if (blocker == 0) {
		int fd = open(path, O_RDWR | O_CREAT, 0644);
		char c;

		close(fds[1]);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(CHILD_ERROR);
		if (read(fds[0], &c, 1) < 0) /* until the parent closes */
			_exit(CHILD_ERROR);
		_exit(CHILD_WON);
	}
	close(fds[0]);
	/* Wait until the blocker holds it: our own non-blocking try fails. */
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT, 0644);

		cr_assert_geq(fd, 0);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			break;
		}
		close(fd);
		sleep_us(5000);
	}

	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fds[1]); /* only we may let the blocker go */
		_exit(acquire_in_child(200));
	}
	cr_expect_eq(reap(pid), CHILD_REFUSED, "bounded: -EAGAIN");
	cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, "x", &(struct lokt_info){ 0 },
			      NULL),
		     -LOKT_E_NOT_FOUND, "and nothing written");

	/* Unbounded: still waiting while the sidecar is held... */
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fds[1]);
		_exit(acquire_in_child(0));
	}
	sleep_us(300000);
	cr_expect_eq(waitpid(pid, &st, WNOHANG), 0, "unbounded: still waiting");
	/* ...and in once it is let go. */
	close(fds[1]);
	cr_expect_eq(reap(blocker), CHILD_WON);
	cr_expect_eq(reap(pid), CHILD_WON, "unbounded: in after the release");
}

/* Threads that take locks (and audit them, and parse records) while the
 * process forks: a child forked while one of them held the store's
 * mutex, or glibc's locale lock inside json-c's parser, inherited it
 * locked and hung at its first transition, the name's sidecar flocked
 * (2-16 children of 1000 here, for the mutex; 8 of 3000 for the
 * locale). Each child gets 20 s; one still running then is a hang. */
#define FORK_THREADS 3
#define FORKS 2000

static atomic_bool fork_stop;

static void *fork_churn(void *arg)
{
	struct lokt_who me = who_of(getpid(), "t");
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	char name[16];

	snprintf(name, sizeof(name), "th%d", (int)(intptr_t)arg);
	while (!atomic_load(&fork_stop)) {
		(void)lokt_acquire(fx.s, name, &me, &opts, &res);
		(void)lokt_release(fx.s, name, &me, NULL, 0, &res);
	}
	return NULL;
}

Test(race, fork_while_threads_audit)
{
	pthread_t th[FORK_THREADS];
	int hung = 0, failed = 0;

#ifdef __SANITIZE_ADDRESS__
	/* Seen in gdb: a child hangs in ASan's own allocator lock, which
	 * another thread held at the fork (gcc 12's runtime has no
	 * pthread_atfork for it), 4 of 200. Not ours to fix there. */
	cr_skip_test("ASan's allocator is not fork-safe beside threads "
		     "(gcc 12): the plain build runs this test");
#endif

	atomic_store(&fork_stop, false);
	for (int i = 0; i < FORK_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, fork_churn,
					    (void *)(intptr_t)i),
			     0);
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		int st;

		cr_assert(pid >= 0);
		if (pid == 0) {
			struct lokt_who me = who_of(getpid(), "child");
			struct lokt_acquire_opts opts = { 0 };
			struct lokt_result res;

			alarm(20);
			if (lokt_acquire(fx.s, "child", &me, &opts, &res) < 0 ||
			    lokt_release(fx.s, "child", &me, NULL, 0, &res) < 0)
				_exit(CHILD_ERROR);
			_exit(0);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		hung += WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM;
		failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	atomic_store(&fork_stop, true);
	for (int i = 0; i < FORK_THREADS; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(hung, 0, "%d of %d children hung", hung, FORKS);
	cr_expect_eq(failed, 0, "%d of %d children failed", failed, FORKS);
}
