// SPDX-License-Identifier: MIT
/*
 * Removing the sidecars of idle names (core/sidecar.c), with real
 * processes: 6 racers acquire and release one name over and over, with an
 * overlap witness and a log of fences in acquisition order, while a
 * pruner removes the name's sidecar (idle age 0) whenever the name is
 * free. Exclusion must hold and fences must rise strictly, across many
 * removals. Without the re-check after flock in lokt__name_lock, racers
 * lock orphaned sidecars and overlap; without the fence floor, fences
 * restart at 1 (both checked by hand when this was written).
 */
#include <sys/mman.h>

#include "proto.h"
#include "store.h"

TestSuite(sidecar, .init = fx_setup, .fini = fx_teardown, .timeout = 100);

#define RACERS 6
#define ROUNDS 150

static void log_fence(int fd, uint64_t fence)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "%llu\n",
			   (unsigned long long)fence);

	if (write(fd, line, len) != len)
		_exit(CHILD_ERROR);
}

static int racer(const char *witness, int log)
{
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_store *s;
	struct lokt_result res;
	struct lokt_who me;
	int done = 0, overlaps = 0, r;

	if (lokt_store_open(fx.root, &s) < 0)
		return CHILD_ERROR;
	me = who_of(getpid(), "racer");
	srand(getpid());
	while (done < ROUNDS) {
		r = lokt_acquire(s, "x", &me, &opts, &res);
		if (r == -LOKT_E_HELD) {
			sleep_us(rand() % 300);
			continue;
		}
		if (r < 0 || res.renewed)
			return CHILD_ERROR;
		log_fence(log, res.lock.fence);
		if (witness_enter(witness)) {
			sleep_us(100 + rand() % 200);
			witness_leave(witness);
		} else {
			overlaps++;
		}
		if (lokt_release(s, "x", &me, res.lock.lock_id, 0, &res) < 0)
			return CHILD_ERROR;
		done++;
		sleep_us(rand() % 500); /* let the pruner in */
	}
	lokt_store_close(s);
	return overlaps ? CHILD_OVERLAP : CHILD_WON;
}

/* Remove idle sidecars until *stop; the count of removals in *removed. */
static int pruner(volatile int *stop, volatile size_t *removed)
{
	struct lokt_store *s;
	size_t n;

	if (lokt_store_open(fx.root, &s) < 0)
		return CHILD_ERROR;
	while (!*stop) {
		if (lokt__sidecars_prune(s, LOKT_LOCK, 0, &n) < 0)
			return CHILD_ERROR;
		*removed += n;
	}
	lokt_store_close(s);
	return CHILD_WON;
}

Test(sidecar, removal_keeps_exclusion_and_rising_fences)
{
	char witness[PATH_MAX], logp[PATH_MAX];
	unsigned long long last = 0, f;
	pid_t pids[RACERS], pp;
	struct barrier b;
	int log, i, st, n = 0;
	struct shared {
		int stop;
		size_t removed;
	} *sh;
	FILE *fp;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(sh != MAP_FAILED);
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
			_exit(racer(witness, log));
		}
	}
	pp = fork();
	cr_assert(pp >= 0);
	if (pp == 0) {
		close(b.fd[0]); /* the racers' barrier is not ours to hold */
		close(b.fd[1]);
		_exit(pruner(&sh->stop, &sh->removed));
	}
	barrier_open(&b);
	for (i = 0; i < RACERS; i++) {
		st = reap(pids[i]);
		cr_expect_eq(st, CHILD_WON, "racer %d: %s", i,
			     st == CHILD_OVERLAP ? "overlap seen" : "error");
	}
	sh->stop = 1;
	cr_expect_eq(reap(pp), CHILD_WON, "pruner failed");
	close(log);
	cr_expect_gt(sh->removed, 2, "only %zu removals: the race was not run",
		     sh->removed);
	fp = fopen(logp, "r");
	cr_assert_not_null(fp);
	while (fscanf(fp, "%llu", &f) == 1) {
		cr_expect_gt(f, last, "fence %llu after %llu", f, last);
		last = f;
		n++;
	}
	fclose(fp);
	cr_expect_eq(n, RACERS * ROUNDS);
	munmap(sh, sizeof(*sh));
}

/* The conditions: a held name, a queued name and a recently used name
 * keep their sidecars; an idle one goes, and its next fence is higher. */
Test(sidecar, only_idle_free_names_lose_their_sidecar)
{
	struct lokt_who w = who_of(getpid(), "me");
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_ticket t;
	char path[PATH_MAX];
	uint64_t fence;
	size_t n;

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(lokt_acquire(fx.s, "idle", &w, &opts, &res), 0);
		cr_assert_eq(lokt_release(fx.s, "idle", &w, NULL, 0, &res), 0);
	}
	fence = res.lock.fence;
	cr_assert_eq(lokt_acquire(fx.s, "held", &w, &opts, &res), 0);
	cr_assert_eq(lokt_acquire(fx.s, "queued", &w, &opts, &res), 0);
	cr_assert_eq(lokt_release(fx.s, "queued", &w, NULL, 0, &res), 0);
	cr_assert_eq(lokt__ticket_take(fx.s, "queued", &t), 0);

	cr_expect_eq(lokt__sidecars_prune(fx.s, LOKT_LOCK, 3600, &n), 0);
	cr_expect_eq(n, 0, "nothing is an hour old");
	cr_expect_eq(lokt__sidecars_prune(fx.s, LOKT_LOCK, 0, &n), 0);
	cr_expect_eq(n, 1, "only idle's sidecar goes");
	snprintf(path, sizeof(path), "%s/locks/.idle.lk", fx.root);
	cr_expect_neq(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/locks/.held.lk", fx.root);
	cr_expect_eq(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/locks/.queued.lk", fx.root);
	cr_expect_eq(access(path, F_OK), 0);

	cr_assert_eq(lokt_acquire(fx.s, "idle", &w, &opts, &res), 0);
	cr_expect_gt(res.lock.fence, fence, "fence %llu after %llu",
		     (unsigned long long)res.lock.fence,
		     (unsigned long long)fence);
	lokt__ticket_drop(fx.s, "queued", &t);
}

/* Is pid waiting for a flock (a "->" line of /proc/locks)? */
static bool flock_waiting(pid_t pid)
{
	char line[256], needle[32];
	bool found = false;
	FILE *fp = fopen("/proc/locks", "r");

	if (!fp)
		return false;
	snprintf(needle, sizeof(needle), " %d ", (int)pid);
	while (!found && fgets(line, sizeof(line), fp))
		found = strstr(line, "->") && strstr(line, needle);
	fclose(fp);
	return found;
}

/* The exact interleaving the re-check after flock exists for: a process
 * opens the sidecar and waits for its flock while the holder removes the
 * sidecar (as lokt__sidecars_prune does) and lets go; a newcomer then
 * creates a new sidecar. The waiter must not end up holding the orphan
 * while the newcomer holds the new file. States are observed, not timed:
 * /proc/locks shows a waiter, a pipe says when the child holds.
 *
 * With hand_link, the sidecar has a second link made by hand (a backup
 * with `cp -al`, say), written a while before, so the orphan still has
 * one link when the child gets its flock: its link count alone would
 * say "at its name" (store.c, still_linked). */
static void waiter_on_a_removed_sidecar(bool hand_link)
{
	int held[2], go[2], lk1, lk3, r;
	struct lokt_store *s3;
	char path[PATH_MAX], c;
	bool child_holds = false;
	pid_t pid;

	cr_assert_eq(lokt__name_lock(fx.s, LOKT_LOCK, "x", &lk1), 0);
	if (hand_link) {
		char other[PATH_MAX];

		cr_assert_eq(pwrite(lk1, "7\n", 2, 0), 2); /* a fence */
		sleep_us(30000); /* past the clock tick of its times */
		snprintf(path, sizeof(path), "%s/locks/.x.lk", fx.root);
		snprintf(other, sizeof(other), "%s/x.lk.backup", fx.root);
		cr_assert_eq(link(path, other), 0, "%s", strerror(errno));
	}
	cr_assert_eq(pipe(held), 0);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct lokt_store *s;
		int lk;

		close(lk1); /* the parent's flock, inherited: not ours */
		close(held[0]);
		close(go[1]);
		if (lokt_store_open(fx.root, &s) < 0 ||
		    lokt__name_lock(s, LOKT_LOCK, "x", &lk) < 0)
			_exit(CHILD_ERROR);
		if (write(held[1], "h", 1) != 1)
			_exit(CHILD_ERROR);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		lokt__name_unlock(lk);
		_exit(CHILD_WON);
	}
	close(held[1]);
	close(go[0]);
	while (!flock_waiting(pid))
		sleep_us(1000);
	/* The child waits on the sidecar: remove it, as a pruner would. */
	snprintf(path, sizeof(path), "%s/locks/.x.lk", fx.root);
	cr_assert_eq(unlink(path), 0);
	lokt__name_unlock(lk1);

	/* The newcomer, bounded: the child may have taken the new file. */
	cr_assert_eq(lokt_store_open(fx.root, &s3), 0);
	lokt_store_set_lock_wait(s3, 2000);
	r = lokt__name_lock(s3, LOKT_LOCK, "x", &lk3);
	if (r == 0) {
		/* We hold the sidecar at the path: the child must be waiting
		 * for it, not holding the orphan. */
		fcntl(held[0], F_SETFL, O_NONBLOCK);
		for (;;) {
			if (read(held[0], &c, 1) == 1) {
				child_holds = true;
				break;
			}
			if (flock_waiting(pid))
				break;
			sleep_us(1000);
		}
		cr_expect_not(child_holds,
			      "the child holds the removed sidecar while we "
			      "hold the new one");
		lokt__name_unlock(lk3);
	} else {
		cr_expect_eq(r, -EAGAIN, "%s", lokt_strerror(r));
	}
	if (write(go[1], "g", 1) != 1)
		cr_assert_fail("cannot release the child");
	cr_expect_eq(reap(pid), CHILD_WON);
	lokt_store_close(s3);
}

Test(sidecar, waiter_on_a_removed_sidecar_does_not_hold_it)
{
	waiter_on_a_removed_sidecar(false);
}

Test(sidecar, waiter_on_a_removed_sidecar_linked_elsewhere_does_not_hold_it)
{
	waiter_on_a_removed_sidecar(true);
}
