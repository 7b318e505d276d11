// SPDX-License-Identifier: MIT
/*
 * The watchdog of `lokt guard`: a small process that makes sure a guarded
 * command never runs on without its lock when guard itself dies, whatever
 * killed it (SIGKILL included).
 *
 * It is forked before the lock is taken (the acquisition names it the
 * lock's keeper: no second transition to name it, and on etcd no keeper
 * process) and blocks reading a pipe whose write end only guard and
 * (until its exec) the command hold. Lines on the pipe:
 *
 *   I<id>   from guard: it holds the lock, acquisition <id>
 *   O<id> <ttl>
 *           the same, but the lock is an outer holder's (guard re-entered
 *           it): it stays held, the watchdog never releases it, and
 *           renews it (while it stops the command) with the holder's TTL
 *           <ttl> in seconds (0: none), never with guard's --ttl
 *   P<pid>  from the command before exec: its pid, which is its group
 *   L       from guard: the lock was lost (lokt_renew audited it), so
 *           there is nothing left to release
 *   D       from guard before a normal exit, after its release: nothing
 *           to do; the watchdog exits at once, and guard does not wait
 *           for it (guard.c)
 *   R<flags>
 *           from guard before its exit, the command ended (none of its
 *           group runs), when guard's release was held up in the name's
 *           flock (a process stopped in a change of the name): the
 *           watchdog releases the lock (lokt_release with flags), waiting
 *           in that flock as long as it takes, and stops nothing
 *
 * End of file without "D" means guard died: the kernel closed its write
 * end. The watchdog then sends SIGTERM to the command's process group,
 * SIGKILL after CLI_GRACE_MS, waits until no process of the group runs
 * any more, and only then releases the lock by its lock_id (never a
 * successor's). Meanwhile it keeps the lock's lease alive (lokt_tend) on
 * a store that has leases (etcd), as guard did while it lived. Guard
 * dead before it held the lock (no "I"): nothing to stop or release; a
 * lock it made just before dying is its keeper's own, the watchdog gone,
 * so it is stale at once (the directory store) or its lease runs out.
 * While guard lives but is stopped alone (kill -STOP) and the command
 * runs on, the watchdog renews a TTL lock for it (cover_stop).
 *
 * "No process of the group runs" is read from /proc, not from kill(-pgid,
 * 0): the command was guard's child, so once guard is dead it lingers as
 * a zombie until pid 1 (or a subreaper) reaps it, which may take seconds.
 * A zombie runs no code; waiting for the reaping delayed the release
 * for nothing.
 *
 * Why no window is left open: until the command has written its pid it
 * holds the write end too, so end of file cannot arrive before the pid.
 * PR_SET_PDEATHSIG is not needed for the same reason: the pipe reports
 * guard's death in every case, and a death signal would only race it.
 *
 * The watchdog runs in a session (and process group) of its own, made
 * before cli_watchdog_detached returns, which guard calls before it
 * starts the command (not at once: the lock is taken meanwhile), so
 * before the command exists. What kills guard's group or session
 * (`timeout -s KILL`, `kill -9 -- -PGID`, a closing terminal,
 * `pkill -s`) therefore never reaches it: in guard's group it died with
 * guard, its lock (kept by it) was then stale, and the next `lokt lock`
 * broke it while the command, in its own group, ran on. Until it has
 * left, it blocks every signal: a ^Z typed meanwhile stopped it there,
 * and guard waited for it forever (cli_watchdog_start).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define POLL_MS 10 /* how often the group is looked at while it stops */

struct news {
	pid_t pgid; /* from "P": the command's group, 0 before */
	char lock_id[LOKT_ID_LEN + 1]; /* from "I" or "O"; "" before */
	int64_t outer_ttl; /* from "O": the holder's TTL, 0 none */
	unsigned release_flags; /* from "R" */
	bool outer, lost, done, release;
};

static void parse_line(const char *line, struct news *n)
{
	if (line[0] == 'I' || line[0] == 'O') {
		size_t len = strnlen(line + 1, LOKT_ID_LEN);

		memcpy(n->lock_id, line + 1, len);
		n->lock_id[len] = 0;
		n->outer = line[0] == 'O';
		if (n->outer && line[1 + len] == ' ')
			n->outer_ttl = strtoll(line + 2 + len, NULL, 10);
	} else if (line[0] == 'P')
		n->pgid = (pid_t)atoi(line + 1);
	else if (line[0] == 'L')
		n->lost = true;
	else if (line[0] == 'D')
		n->done = true;
	else if (line[0] == 'R') {
		n->release = true;
		n->release_flags = (unsigned)strtoul(line + 1, NULL, 10);
	}
}

/* Keep the lease of our lock alive (etcd; the directory store has none):
 * when to do it again, 0 never. Not answered: again soon, the lease
 * outlasts it. Gone: guard finds its lock lost, and stops the command. */
static int64_t tend_lease(const struct cli_watchdog *wd, const struct news *n)
{
	int64_t next, every = lokt_store_confirm_ms(wd->store) / 3;
	int r;

	/* Never blocked for long: guard may die meanwhile. */
	lokt_store_set_deadline(wd->store, cli_mono_ms() + every);
	r = lokt_tend(wd->store, wd->name, n->lock_id, &next);
	lokt_store_set_deadline(wd->store, 0);
	if (r == -LOKT_E_LOST || (r == 0 && next < 0))
		return 0;
	return cli_mono_ms() + (r < 0 ? 200 : next);
}

/* /proc/PID/<what> in one read into buf (NUL-terminated): false when
 * the process is gone. */
static bool proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = 0;
	return true;
}

/* The state letter of process pid (R, S, T, Z...) and its process
 * group, from /proc/PID/stat; false when it is gone. */
static bool proc_stat(pid_t pid, char *ret_state, pid_t *ret_pgrp)
{
	char buf[512], *p;
	int ppid, grp;

	if (!proc_read(pid, "stat", buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')'); /* after comm, which may hold anything */
	if (!p || sscanf(p + 1, " %c %d %d", ret_state, &ppid, &grp) != 3)
		return false;
	*ret_pgrp = grp;
	return true;
}

/* Stopped (by a signal, or traced)? */
static bool stopped(char state)
{
	return state == 'T' || state == 't';
}

/* The TTL of the lock, to renew it with: an outer holder's, or --ttl. */
static int64_t lease_of(const struct cli_watchdog *wd, const struct news *n)
{
	return n->outer ? n->outer_ttl : wd->ttl_sec;
}

static bool command_runs(pid_t pgid);

/* guard stopped alone (kill -STOP: a SIGTSTP stops its command with it)
 * renews nothing while its command runs on: its TTL lock would run out
 * under the command. The watchdog, its keeper, renews it then. When
 * next to look (0: never). */
static int64_t cover_stop(const struct cli_watchdog *wd, const struct news *n,
			  pid_t guard)
{
	int64_t ttl = lease_of(wd, n);
	struct lokt_result res;
	pid_t grp;
	char gs;

	if (ttl <= 0 || !*n->lock_id || n->lost)
		return 0;
	if (proc_stat(guard, &gs, &grp) && stopped(gs) && n->pgid > 0 &&
	    command_runs(n->pgid)) {
		lokt_store_set_deadline(wd->store,
					cli_mono_ms() + ttl * 1000 / 3);
		(void)lokt_renew(wd->store, wd->name, n->lock_id, wd->who, ttl,
				 &res);
		lokt_store_set_deadline(wd->store, 0);
	}
	return cli_mono_ms() + ttl * 1000 / 3;
}

/* Read the pipe until end of file, keeping the lock's lease alive
 * meanwhile from "I" on (*tend_at: when next; 0 none), and its TTL while
 * guard is stopped alone (cover_stop). */
static void read_pipe(const struct cli_watchdog *wd, int rfd, struct news *n,
		      int64_t *tend_at)
{
	int64_t lease_ms = lokt_store_confirm_ms(wd->store), cover_at = 0;
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	pid_t guard = getppid();
	char buf[128];
	size_t len = 0;
	ssize_t r;
	char *nl;

	for (;;) {
		int64_t wait = *tend_at ? *tend_at - cli_mono_ms() : -1,
			cwait = cover_at ? cover_at - cli_mono_ms() : -1;

		if (*tend_at && wait <= 0) {
			*tend_at = tend_lease(wd, n);
			continue;
		}
		if (cover_at && cwait <= 0) {
			cover_at = cover_stop(wd, n, guard);
			continue;
		}
		if (cover_at && (wait < 0 || cwait < wait))
			wait = cwait;
		if (poll(&p, 1, wait > INT32_MAX ? INT32_MAX : (int)wait) == 0)
			continue;
		r = read(rfd, buf + len, sizeof(buf) - 1 - len);
		if (r == 0)
			break;
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			break;
		len += (size_t)r;
		buf[len] = 0;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			parse_line(buf, n);
			/* Held: the lease was made with the lock, just now. */
			if ((buf[0] == 'I') && lease_ms > 0)
				*tend_at = cli_mono_ms() + lease_ms / 3;
			if ((buf[0] == 'I' || buf[0] == 'O') &&
			    lease_of(wd, n) > 0)
				cover_at = cli_mono_ms() +
					   lease_of(wd, n) * 1000 / 3;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len >= sizeof(buf) - 1)
			len = 0; /* no such line is ever written */
	}
}

/* Threads of a zombie thread-group leader that may still run. */
static bool threads_run(int pid)
{
	char buf[2048], *t;

	if (!proc_read(pid, "status", buf, sizeof(buf)))
		return false;
	t = strstr(buf, "\nThreads:");
	return t && atoi(t + 9) > 1;
}

/* Is pid a process of group pgid that still runs code? Its state in
 * *state. */
static bool member_runs(int pid, pid_t pgid, char *state)
{
	pid_t grp;

	if (!proc_stat(pid, state, &grp) || grp != pgid)
		return false; /* gone, or another group's */
	return (*state != 'Z' && *state != 'X') || threads_run(pid);
}

/* Is a stop signal pending for pid (/proc/PID/status: SigPnd, the
 * thread's; ShdPnd, the process's)? */
static bool stop_pending(int pid)
{
	static const unsigned long long stops =
		1ULL << (SIGSTOP - 1) | 1ULL << (SIGTSTP - 1) |
		1ULL << (SIGTTIN - 1) | 1ULL << (SIGTTOU - 1);
	const char *keys[] = { "\nSigPnd:", "\nShdPnd:" };
	char buf[2048], *p;

	if (!proc_read(pid, "status", buf, sizeof(buf)))
		return false;
	for (size_t i = 0; i < 2; i++)
		if ((p = strstr(buf, keys[i])) &&
		    strtoull(p + strlen(keys[i]), NULL, 16) & stops)
			return true;
	return false;
}

/* What the processes of group pgid do, from /proc. */
struct group_look {
	int alive; /* run code (stopped or not): not zombies */
	int busy; /* alive, and neither stopped by a signal nor about to be */
};

/* Look at group pgid; with first, only until one process is alive (and
 * busy is not counted). False when /proc cannot be read. */
static bool look_at_group(pid_t pgid, bool first, struct group_look *g)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	char state;
	int pid;

	*g = (struct group_look){ 0 };
	if (!d)
		return false;
	while ((de = readdir(d)) && !(first && g->alive)) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		if (!member_runs(pid, pgid, &state))
			continue; /* a zombie, another group's, or gone */
		g->alive++;
		/* Stopped by a signal (T), or about to be: in D (a vfork
		 * waiting for its child's exec, or any uninterruptible
		 * wait) with a stop signal pending, which it acts on as
		 * soon as it leaves D. Traced (t) counts as running: a
		 * debugger's stop, or strace's, ends at its own time. */
		if (!first && state != 'T' &&
		    !(state == 'D' && stop_pending(pid)))
			g->busy++;
	}
	closedir(d);
	return true;
}

bool cli_group_runs(pid_t pgid)
{
	struct group_look g;

	if (kill(-pgid, 0) < 0 && errno == ESRCH)
		return false; /* no process at all: no need to look */
	if (!look_at_group(pgid, true, &g))
		return true; /* kill(2) counts zombies: late, never early */
	return g.alive > 0;
}

/* Does the command run on while guard is stopped (cover_stop)? Judged by
 * its whole group, not its first process: it runs while any process of
 * it does. Stopped with guard, a process of it may not stop at once:
 * dash runs a command with vfork, and a SIGSTOP that stops the child
 * before its exec leaves the shell in D, its own stop pending, until the
 * child is continued (taken for running, the lock was renewed under a
 * stopped command for as long as it stopped). A process that ignores the
 * stop, or was continued behind guard's back, runs on under the lock,
 * and is covered; so is one in D with no stop pending (a write to a slow
 * disk), whatever the others do. */
static bool command_runs(pid_t pgid)
{
	struct group_look g;

	if (!look_at_group(pgid, false, &g))
		return kill(-pgid, 0) == 0;
	return g.busy > 0;
}

/* Stop the command's group and return once none of it runs. The lock
 * stays live meanwhile (the watchdog is its keeper; its lease, if the
 * store has them, is tended from now on) and a TTL lock is renewed as
 * guard did; a renewal that finds it lost sets n->lost. */
static void stop_group(const struct cli_watchdog *wd, struct news *n,
		       int64_t tend_at)
{
	const struct timespec pause = { 0, POLL_MS * 1000000L };
	int64_t kill_at = cli_mono_ms() + CLI_GRACE_MS, renew_at = 0;
	/* An outer holder's lock (O) is renewed with the holder's TTL,
	 * which guard renewed it with too: never with --ttl. */
	int64_t ttl = lease_of(wd, n);
	int64_t every = ttl * 1000 / 3;
	struct lokt_result res;
	pid_t pgid = n->pgid;

	if (ttl > 0 && *n->lock_id)
		renew_at = cli_mono_ms();
	kill(-pgid, SIGTERM);
	kill(-pgid, SIGCONT); /* a stopped job must see the SIGTERM */
	while (cli_group_runs(pgid)) {
		if (kill_at && cli_mono_ms() >= kill_at) {
			kill(-pgid, SIGKILL);
			kill_at = 0; /* then wait, however long dying takes */
		}
		if (tend_at && !n->lost && cli_mono_ms() >= tend_at)
			tend_at = tend_lease(wd, n);
		if (renew_at && !n->lost && cli_mono_ms() >= renew_at) {
			/* Not past the SIGKILL (a store that does not
			 * answer, etcd cut off, must not hold it back). */
			int64_t until = kill_at ?: cli_mono_ms() + every;

			lokt_store_set_deadline(wd->store, until);
			if (lokt_renew(wd->store, wd->name, n->lock_id,
				       wd->who, ttl, &res) == -LOKT_E_LOST)
				n->lost = true; /* audited by lokt_renew */
			lokt_store_set_deadline(wd->store, 0);
			renew_at = cli_mono_ms() + every;
		}
		nanosleep(&pause, NULL);
	}
}

static void watch(const struct cli_watchdog *wd, int rfd)
{
	static const int ignored[] = { SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
				       SIGTSTP, SIGTTIN, SIGTTOU };
	struct lokt_result res = { 0 };
	struct news n = { 0 };
	int64_t tend_at = 0;
	sigset_t none;

	/* Told apart from guard in ps and pgrep (the same command line). */
	prctl(PR_SET_NAME, "lokt-watchdog");
	/* A signal meant for guard's process group must not take the
	 * watchdog with it: guard forwards those to the command, and stops
	 * with it. One sent while the watchdog was still in that group is
	 * pending (cli_watchdog_start): ignoring it drops it. */
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	read_pipe(wd, rfd, &n, &tend_at);
	if (n.done)
		_exit(0);
	/* "R": guard saw its command's group end; its pgid may be
	 * another's by now. */
	if (n.pgid > 0 && !n.release)
		stop_group(wd, &n, tend_at);
	/* "R" after "L": guard gave up a lease it could not renew (its
	 * loss audited, the lock still ours until it is broken), and asks
	 * for the release it could not make (with LOKT_RELEASE_SEEN). */
	if (*n.lock_id && (!n.lost || n.release) && !n.outer)
		lokt_release(wd->store, wd->name, wd->who, n.lock_id,
			     n.release_flags, &res);
	_exit(0);
}

/* In the new watchdog: leave guard's session, then say so on ready.
 * It prints nothing, and lets go of guard's standard input, output and
 * error: guard does not wait for it once told "D", and a caller reading
 * guard's output to its end (out=$(lokt guard ...), ssh, a pipe) must
 * not wait for the watchdog either, which may take a while to exit (the
 * last close of guard's watch is its, guard.c watch_early) or run on
 * after guard died, until the command is stopped. */
static void detach(int ready)
{
	char ok = setsid() < 0 ? 'E' : 'S';
	int fd, null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* Without /dev/null (a bare chroot) they are kept, as before. */
	for (fd = STDIN_FILENO; null >= 0 && fd <= STDERR_FILENO; fd++)
		if (fd != null)
			dup2(null, fd);
	if (null > STDERR_FILENO)
		close(null);
	if (write(ready, &ok, 1) != 1 || ok != 'S')
		_exit(1);
	close(ready);
}

int cli_watchdog_detached(int ready)
{
	ssize_t n;
	char ok;

	while ((n = read(ready, &ok, 1)) < 0 && errno == EINTR)
		;
	close(ready);
	if (n < 0)
		return -errno;
	return n == 1 && ok == 'S' ? 0 : -ECHILD;
}

int cli_watchdog_start(const struct cli_watchdog *wd, pid_t *ret_pid,
		       int *ret_wfd, int *ret_ready)
{
	int fds[2], ready[2], r;
	sigset_t all, old;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = -errno;
		goto err_fds;
	}
	/* Every signal is blocked in the new watchdog until it has left
	 * guard's session and set its own (watch): a ^Z to guard's group
	 * that stopped it before its setsid left guard waiting for it
	 * forever (cli_watchdog_detached), the terminal's job never shown
	 * stopped; one to guard itself meanwhile runs guard's handler. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid != 0)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		r = -errno;
		goto err_ready;
	}
	if (pid == 0) {
		close(fds[1]);
		close(ready[0]);
		if (wd->close_fd >= 0)
			close(wd->close_fd);
		detach(ready[1]);
		watch(wd, fds[0]);
	}
	close(ready[1]);
	close(fds[0]);
	*ret_pid = pid;
	*ret_wfd = fds[1];
	*ret_ready = ready[0];
	return 0;

err_ready:
	close(ready[0]);
	close(ready[1]);
err_fds:
	close(fds[0]);
	close(fds[1]);
	return r;
}

int cli_watchdog_held(int wfd, const char *lock_id, bool outer,
		      int64_t outer_ttl)
{
	int r = outer ? dprintf(wfd, "O%s %" PRId64 "\n", lock_id, outer_ttl) :
			dprintf(wfd, "I%s\n", lock_id);

	return r < 0 ? -errno : 0;
}

/* Called in guard's vfork child: a system call, no stdio. */
void cli_watchdog_announce(int wfd)
{
	char buf[24];
	size_t i = sizeof(buf);
	unsigned long pid = (unsigned long)getpid();

	buf[--i] = '\n';
	do
		buf[--i] = (char)('0' + pid % 10);
	while ((pid /= 10));
	buf[--i] = 'P';
	if (write(wfd, buf + i, sizeof(buf) - i) < 0) {
		/* the watchdog is gone already: nobody to tell */
	}
}

void cli_watchdog_lost(int wfd)
{
	if (wfd >= 0 && write(wfd, "L\n", 2) < 0) {
		/* the watchdog is gone already: nobody to tell */
	}
}

int cli_watchdog_release(int wfd, unsigned flags)
{
	int r = dprintf(wfd, "R%u\n", flags) < 0 ? -errno : 0;

	close(wfd);
	return r;
}

void cli_watchdog_done(int wfd)
{
	if (write(wfd, "D\n", 2) < 0) {
		/* the watchdog is gone already: nobody to tell */
	}
	close(wfd);
}
