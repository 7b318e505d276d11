// SPDX-License-Identifier: MIT
/*
 * lokt guard NAME -- COMMAND: run a command while holding a lock, and make
 * sure the command never runs on without it.
 *
 * DESIGN. guard holds the lock with its own pid, then starts two processes:
 *
 *   watchdog  forked first, before the lock is taken (watchdog.c), in a
 *             session of its own, and named the lock's keeper in the
 *             acquisition: stops the command and releases the lock if
 *             guard dies, even by SIGKILL to guard's process group or
 *             session; on a store with leases (etcd) it keeps the lock's
 *             lease alive (no other keeper process runs for guard).
 *   command   in its own process group, so a signal reaches all of it; if
 *             guard is in the terminal's foreground, the terminal is handed
 *             to the command (interactive prompts keep working) and taken
 *             back afterwards.
 *
 * guard itself then runs one poll loop on a signalfd (SIGCHLD, and SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, which are forwarded to the command's group)
 * and on a lokt_watch of its lock file, with a timeout for the next
 * renewal (every TTL/3 when --ttl is given) and a re-check every few
 * seconds (changes by other hosts on a shared filesystem make no inotify
 * event). So a lock removed or taken (unlock --force, a stale break) is
 * found at once, with or without --ttl, reported, and by default the
 * command is stopped. On every exit path the lock is released by
 * lock_id, so a successor's lock is never removed; but a lock guard only
 * re-entered (its holder is guard's ancestor: `lokt lock x; lokt guard x
 * -- cmd` in one shell) is the holder's, and is left held.
 *
 * After the release guard tells the watchdog "done" and exits without
 * waiting for it: the watchdog holds a copy of guard's watch (on the
 * directory store, watch_early) and its exit, not guard's, waits for the
 * kernel to reap it. Left to exit on its own, the watchdog is reaped by
 * init or by a subreaper above guard (a service manager), as a command
 * of a SIGKILLed guard is.
 *
 * A renewal that fails (full disk, read-only store) is retried every
 * RETRY_MS; when what is left of the lease (counted from before the call
 * that set it) is shorter than that, guard gives the lock up as lost
 * while it still holds (audited "lost", reason "unrenewed") and applies
 * --on-lost, rather than let the command run on past its lease.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define CHECK_MS 3000 /* re-check the lock without an event (other hosts) */
#define RETRY_MS 200  /* next renewal attempt after a failed one */
#define LINGER_POLL_MS 100 /* looking for the end of a command's leftovers, */
#define LINGER_POLL_MAX_MS 1000 /* ... less and less often */
#define LINGER_SAY_MS 1000 /* ... and when to say that guard waits for them */
#define PID1_TTL_MS 30000 /* guard as pid 1 without --ttl: the lock's TTL */

struct guard {
	struct cli *c;
	const char *name;
	char **cmd;
	char *path; /* cmd[0] as found in PATH before the lock (look_up) */
	int64_t ttl_ms, timeout_ms;
	bool wait, warn_on_lost, shared;
	unsigned slots; /* --slots N */
	struct lokt_record held;
	pid_t child, watchdog;
	int wd_fd; /* write end of the watchdog pipe */
	int wd_gone; /* -errno: the watchdog could not be told (killed) */
	int wd_ready; /* the watchdog's word that it left our session */
	int sfd; /* signalfd */
	int watch; /* lokt_watch of our lock file, or -1 */
	int tty; /* the terminal we handed to the command, or -1 */
	int status; /* the command's wait status, once reaped */
	int forwarded; /* the last signal guard passed on to the command */
	int interrupted; /* a signal that ended the wait for leftovers */
	volatile int exec_errno; /* set by the vfork child whose exec failed */
	bool done;
	bool lost; /* renewal found the lock gone or taken (audited then) */
	bool outer; /* re-entrant: the lock is an outer holder's (guard's
		       ancestor, or the same agent id); left held at the end */
	bool gave_up; /* ... or could not renew it before its lease ran out */
	bool failing; /* the last renewal failed (warned once) */
	int64_t lease_sec; /* what renewals ask for: --ttl, or the TTL of an
			      outer holder's lock (its lease is its own) */
	int64_t lease_end; /* monotonic ms, at the latest; 0: no TTL */
	int64_t confirm_ms; /* the store's liveness lease (etcd): a lock not
			       seen ours for that long may be gone; 0: none */
	int64_t confirmed_at; /* monotonic ms: last seen ours */
	int64_t renew_at, kill_at, check_at; /* monotonic ms; 0: none */
};

static int guard_opt(struct cli *c, int opt, const char *arg, void *data)
{
	struct guard *g = data;

	switch (opt) {
	case OPT_TTL:
		return cli_duration(c, "--ttl", arg, &g->ttl_ms);
	case OPT_SLOTS:
		return cli_slots(c, arg, &g->slots);
	case OPT_SHARED:
		g->shared = true;
		return 0;
	case OPT_WAIT:
		g->wait = true;
		return 0;
	case OPT_TIMEOUT:
		g->wait = true; /* as in lock: a timeout means waiting */
		return cli_duration(c, "--timeout", arg, &g->timeout_ms);
	case OPT_ON_LOST:
		if (strcmp(arg, "kill") && strcmp(arg, "warn"))
			return cli_usage_error(c, "bad --on-lost \"%s\": use "
						  "kill or warn", arg);
		g->warn_on_lost = !strcmp(arg, "warn");
		return 0;
	}
	return 0;
}

/* NAME may come among the flags; the command starts at the first word
 * after NAME that is not a flag, or after "--": from there on every word,
 * --help included, is the command's. Returns 0 to go on, or -1 with
 * *ret_exit set (0 after --help). */
static int parse_args(struct guard *g, int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_QUIET_OPT,
		{ "ttl", required_argument, NULL, OPT_TTL },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "on-lost", required_argument, NULL, OPT_ON_LOST },
		CLI_SLOTS_OPTS,
		CLI_CONFLICT_OPT,
		CLI_END_OPT,
	};
	struct cli *c = g->c;
	int first;

	/* Both rounds are looked at for help before either acts. */
	if (cli_asks_help(argc, argv, true, "qE:", opts, &first) ||
	    (first < argc && strcmp(argv[first - 1], "--") &&
	     cli_asks_help(argc - first, argv + first, true, "qE:", opts,
			   NULL))) {
		*ret_exit = cli_help_command(c->cmd);
		return -1;
	}
	*ret_exit = EXIT_USAGE;
	first = cli_parse(c, argc, argv, true, "qE:", opts, guard_opt, g,
			  ret_exit);
	if (first < 0)
		return -1;
	if (first >= argc) {
		cli_usage_error(c, "guard needs a lock NAME and a command: "
				   "lokt guard NAME -- CMD...");
		return -1;
	}
	/* `lokt guard -- make deploy`, the NAME forgotten, would lock
	 * "make" and run "deploy": the NAME comes before "--". */
	if (!strcmp(argv[first - 1], "--")) {
		cli_usage_error(c, "guard needs the lock NAME before \"--\": "
				   "lokt guard NAME -- %s...",
				argv[first]);
		return -1;
	}
	g->name = argv[first];
	if (cli_check_name(c, g->name))
		return -1;
	if (strcmp(argv[first - 1], "--")) {
		/* argv[first] (NAME) plays argv[0] for the second round */
		argc -= first;
		argv += first;
		optind = 0;
		first = cli_parse(c, argc, argv, true, "qE:", opts, guard_opt, g,
				  ret_exit);
		if (first < 0)
			return -1;
		first--; /* the command starts at argv[first + 1] */
	}
	if (first + 1 >= argc) {
		cli_usage_error(c, "guard needs a command after the name: "
				   "lokt guard %s -- CMD...",
				g->name);
		return -1;
	}
	g->cmd = argv + first + 1;
	if (cli_slots_check(c, g->slots, g->shared))
		return -1;
	return 0;
}

static void set_env(const struct guard *g)
{
	char fence[32];

	snprintf(fence, sizeof(fence), "%llu",
		 (unsigned long long)g->held.fence);
	setenv("LOKT_FENCE", fence, 1);
	setenv("LOKT_LOCK_ID", g->held.lock_id, 1);
	setenv("LOKT_LOCK_NAME", g->name, 1);
	setenv("LOKT_ROOT", lokt_store_root(g->c->store), 1);
}

/* Before the lock is taken: the acquisition names the watchdog the
 * lock's keeper, so that the lock stays live if guard dies, until the
 * watchdog has stopped the command and released it: no one may take the
 * lock while the command still runs. */
static int start_watchdog(struct guard *g)
{
	struct cli_watchdog wd = {
		.store = g->c->store,
		.name = g->name,
		.who = &g->c->who,
		.ttl_sec = cli_ttl_sec(g->ttl_ms),
		.close_fd = -1,
	};

	return cli_watchdog_start(&wd, &g->watchdog, &g->wd_fd, &g->wd_ready);
}

/* The watchdog will not be needed: tell it, and leave it. It exits at
 * once, and pays for closing the lost-lock watch (watch_early) with its
 * exit; waiting for it would make guard pay it again. Guard exits right
 * after, so the watchdog is reaped by init or a subreaper (DESIGN). */
static void end_watchdog(struct guard *g)
{
	if (g->wd_fd >= 0)
		cli_watchdog_done(g->wd_fd);
	if (g->wd_ready >= 0)
		close(g->wd_ready);
	g->wd_fd = g->wd_ready = -1;
	g->watchdog = 0;
}

/* The lost-lock watch, before the watchdog is forked, where the store
 * allows it: the watchdog then holds the last reference to it and drops
 * it when it exits, so guard's own exit does not wait for the kernel to
 * reap the watch (7 to 24 ms on Linux 6.18, docs/performance.md). The
 * directory store's watch is an inotify instance and nothing else, so a
 * copy in the watchdog is harmless (it never reads it, and the command's
 * exec drops it: close-on-exec). Not on a networked store (etcd), whose
 * watch is served by a thread of this process that the watchdog would
 * not have; nor with --wait, whose waiter leaves an inotify instance
 * that the watch then reuses (one instance, not two, while guard runs):
 * there it is made once the lock is taken (cmd_guard). */
static void watch_early(struct guard *g)
{
	if (g->wait || lokt_root_is_url(lokt_store_root(g->c->store)))
		return;
	if (lokt_watch(g->c->store, LOKT_LOCK, g->name, &g->watch) < 0)
		g->watch = -1;
}

/* The command as execvp would find it in PATH now (the first directory
 * with an executable regular file of that name), looked up before the
 * lock is taken: the exec after the acquisition then does not walk PATH,
 * a failed execve per directory before the command's, on the way from a
 * release to the next holder (docs/performance.md). Should it be gone
 * by then, the child searches PATH again, as execvp does. NULL: a name
 * with a '/', or not found now. */
static char *look_up(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *end;
	struct stat st;
	char *full;

	if (!*cmd || strchr(cmd, '/'))
		return NULL;
	if (!path)
		path = "/bin:/usr/bin"; /* execvp's when PATH is unset */
	for (p = path;; p = end + 1) {
		end = strchrnul(p, ':');
		/* An empty entry is the current directory. */
		if (asprintf(&full, "%.*s%s%s", (int)(end - p), p,
			     end > p ? "/" : "", cmd) < 0)
			return NULL;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(full, X_OK) == 0)
			return full;
		free(full);
		if (!*end)
			return NULL;
	}
}

/* In the child: become the command. Never returns. After vfork the
 * child runs on guard's memory and stack until its exec, so it makes
 * system calls only: no stdio, no allocation, no handler of guard's left
 * to run (cli_catch_signals' write guard's flag: set back to the default
 * before the mask is opened, as the exec would). A failed exec leaves its
 * errno in exec_errno, for guard to report; after fork, the child says
 * it itself. */
static void run_command(struct guard *g, bool vforked)
{
	static const int dfl[] = { SIGINT,  SIGTERM, SIGHUP,
				   SIGQUIT, SIGTTOU, SIGPIPE };
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;
	int err;

	setpgid(0, 0);
	if (g->tty >= 0)
		tcsetpgrp(g->tty, getpid());
	/* While SIGPIPE is still ignored: a watchdog killed just before
	 * made it kill the command before its exec (guard replaces the
	 * watchdog, and tells the new one our pid). */
	cli_watchdog_announce(g->wd_fd);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		sigaction(dfl[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (g->path)
		execv(g->path, g->cmd);
	execvp(g->cmd[0], g->cmd);
	err = errno;
	if (vforked)
		g->exec_errno = err;
	else
		fprintf(stderr, "error: cannot run \"%s\": %s\n", g->cmd[0],
			strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

/* vfork, not fork: guard on the etcd store is a process of several
 * threads and many mappings (libcurl), whose copy took longer than the
 * command's own start (docs/performance.md); with vfork guard waits,
 * suspended, only until the command's exec. But not when the command
 * gets the terminal: a ^Z between its tcsetpgrp and its exec (a PATH
 * search on a slow filesystem) would stop the child while guard, still
 * suspended, could not follow the stop (follow_stop), and the shell
 * would wait on a guard that never stops. */
static int start_command(struct guard *g)
{
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp())
		g->tty = STDIN_FILENO;
	g->exec_errno = 0;
	/* No local variable lives across the vfork (the child may clobber
	 * it): what decides is in *g. */
	g->child = g->tty < 0 ? vfork() : fork();
	if (g->child < 0)
		return -errno;
	if (g->child == 0)
		run_command(g, g->tty < 0);
	if (g->exec_errno)
		fprintf(stderr, "error: cannot run \"%s\": %s\n", g->cmd[0],
			strerror(g->exec_errno));
	setpgid(g->child, g->child);
	if (g->tty >= 0)
		tcsetpgrp(g->tty, g->child);
	return 0;
}

static void check_held(struct guard *g);
static void renew(struct guard *g);

/* Guard continued after a stop with its command: the command continued
 * too, but only once the lock was looked at (its lease ran on while
 * both were stopped, and another may hold it now): lost, --on-lost has
 * sent its SIGTERM first. Renewed if due, which also keeps a lease that
 * ran out but that nobody broke. */
static void resume(struct guard *g)
{
	if (!g->lost) {
		check_held(g);
		g->check_at = g->lost ? 0 : g->check_at;
	}
	if (!g->lost && g->renew_at && cli_mono_ms() >= g->renew_at)
		renew(g);
	kill(-g->child, SIGCONT);
}

/* Continued: the terminal goes to the command only if guard's group is
 * the terminal's foreground now (fg), never taken from the shell (bg,
 * kill %1); a guard started in the background and brought to the
 * foreground hands it over then. */
static void hand_tty(struct guard *g)
{
	if (g->done)
		return;
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp()) {
		g->tty = STDIN_FILENO;
		tcsetpgrp(g->tty, g->child);
	}
}

/* The terminal back to guard's group, only if the command has it. */
static void take_tty(struct guard *g)
{
	if (g->tty >= 0 && tcgetpgrp(g->tty) == g->child)
		tcsetpgrp(g->tty, getpgrp());
}

/* Nobody would continue an orphaned process group (guard's parent
 * outside its session: the shell is gone, or guard was started with
 * setsid): the kernel drops a stop signal sent to one (unless caught),
 * and guard does not stop itself in one. */
static bool orphaned(void)
{
	return getsid(getppid()) != getsid(0);
}

/* The command stopped (^Z on its terminal, or SIGTTIN/SIGTTOU in the
 * background): stop with it, as a shell job would, with the rest of
 * guard's group (a pipeline, the script that runs guard). */
static void follow_stop(struct guard *g, int sig)
{
	if (g->tty < 0 && sig != SIGTTIN && sig != SIGTTOU)
		return;
	if (orphaned())
		return;
	take_tty(g);
	if (sig == SIGTSTP)
		kill(0, SIGTSTP); /* ours is blocked, flushed by SIGCONT */
	raise(SIGSTOP);
	hand_tty(g);
	resume(g);
}

/* SIGTSTP to guard (^Z where guard, not the command, has the terminal:
 * guard's input was not one): the command is stopped with guard, which
 * then cannot renew its lock: stopped alone, guard left the command
 * running on a lease that ran out. */
static void stop_with(struct guard *g)
{
	bool tty = g->tty >= 0 && !g->done;

	if (orphaned())
		return;
	kill(-g->child, SIGSTOP);
	if (tty)
		take_tty(g);
	raise(SIGSTOP);
	hand_tty(g);
	resume(g);
}

/* The watchdog died (killed: nothing else ends it while guard lives).
 * Were guard to die now, nothing would stop the command, and its lock,
 * holder and keeper gone, would be stale at once: another watchdog is
 * started, told what the first one knew, and named the lock's keeper.
 * Not on a store with leases (etcd), where guard runs threads that a
 * fork would not take along: said, then. */
static void watchdog_died(struct guard *g, pid_t dead)
{
	struct lokt_result res = { 0 };
	int r = -EOPNOTSUPP;

	end_watchdog(g); /* its pipe: the "D" goes nowhere */
	if (!g->confirm_ms && (r = start_watchdog(g)) == 0) {
		r = cli_watchdog_detached(g->wd_ready);
		g->wd_ready = -1;
	}
	if (r == 0)
		r = cli_watchdog_held(g->wd_fd, g->held.lock_id, g->outer,
				      g->lease_sec);
	if (r == 0 && dprintf(g->wd_fd, "P%d\n", (int)g->child) < 0)
		r = -errno;
	if (r == 0 && g->lost)
		cli_watchdog_lost(g->wd_fd);
	if (r == 0 && !g->outer && !g->lost) {
		/* Held up in the name's flock: not past our lease, or
		 * STUCK_MS without one; the new watchdog still stops the
		 * command if guard dies, but is not the lock's keeper. */
		cli_stuck_bound_until(g->c, g->lease_end ?
						    g->lease_end - RETRY_MS :
						    cli_mono_ms() + STUCK_MS);
		r = lokt_keep(g->c->store, g->name, g->held.lock_id,
			      g->watchdog, &res);
		cli_stuck_bound_off(g->c);
	}
	if (r == -EAGAIN && !lokt_root_is_url(g->c->root)) {
		char why[STUCK_WHY_MAX];

		cli_stuck_why(g->c, LOKT_LOCK, g->name, why, sizeof(why));
		cli_warning("the watchdog of \"%s\" (pid %d) died; another one "
			    "(pid %d) took its place, but could not be named "
			    "the keeper of lock \"%s\", held up by %s: if "
			    "guard dies too, the lock may be taken before the "
			    "new watchdog has stopped \"%s\"",
			    g->cmd[0], (int)dead, (int)g->watchdog, g->name,
			    why, g->cmd[0]);
		return;
	}
	if (r == 0) {
		cli_warning("the watchdog of \"%s\" (pid %d) died; another "
			    "one (pid %d) took its place",
			    g->cmd[0], (int)dead, (int)g->watchdog);
		return;
	}
	cli_warning("the watchdog of \"%s\" (pid %d) died (%s): if guard "
		    "dies too, nothing stops \"%s\", and lock \"%s\" may be "
		    "taken while it runs",
		    g->cmd[0], (int)dead,
		    r == -EOPNOTSUPP ? "not replaced on this store" :
				       lokt_strerror(r),
		    g->cmd[0], g->name);
}

static void reap(struct guard *g)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG | WUNTRACED)) > 0) {
		if (pid == g->watchdog && !WIFSTOPPED(st)) {
			watchdog_died(g, pid);
		} else if (pid == g->watchdog) {
			continue; /* stopped: it goes on when continued */
		} else if (pid == g->child && WIFSTOPPED(st)) {
			follow_stop(g, WSTOPSIG(st));
		} else if (pid == g->child) {
			g->status = st;
			g->done = true;
			/* Back to guard: what the command left behind (below)
			 * must not keep the terminal, nor its ^C. */
			take_tty(g);
		}
	}
}

/* The lock is lost (reported, audited): apply --on-lost. */
static void on_lost(struct guard *g)
{
	g->renew_at = 0;
	g->lost = true;
	if (g->warn_on_lost) {
		cli_warning("--on-lost warn: \"%s\" runs on without its lock",
			    g->cmd[0]);
		return;
	}
	cli_warning("stopping \"%s\" (SIGTERM, then SIGKILL after %ds)",
		    g->cmd[0], CLI_GRACE_MS / 1000);
	kill(-g->child, SIGTERM);
	g->kill_at = cli_mono_ms() + CLI_GRACE_MS;
}

/* A renewal failed with r (a full disk, a read-only store...). Try again
 * soon (without a TTL: at the next check); but a lease that runs out
 * before the next attempt is lost now, while it still holds: the command
 * must not run on past it. */
static void renew_failed(struct guard *g, int r)
{
	int64_t now = cli_mono_ms(), left = g->lease_end - now;
	bool stuck = r == -EAGAIN && g->lease_end && !g->confirm_ms;
	char buf[32], why[STUCK_WHY_MAX];

	if (stuck)
		cli_stuck_why(g->c, LOKT_LOCK, g->name, why, sizeof(why));
	/* Held up: each attempt may take RETRY_MS, the last must end
	 * RETRY_MS before the lease does (stuck_until). */
	if (!g->lease_end || left > (stuck ? 2 * RETRY_MS : RETRY_MS)) {
		if (!g->failing && stuck)
			cli_warning("cannot renew lock \"%s\" now, held up by "
				    "%s; retrying",
				    g->name, why);
		else if (!g->failing)
			cli_warning("cannot renew lock \"%s\": %s; retrying",
				    g->name, lokt_strerror(r));
		g->failing = true;
		g->renew_at = g->lease_end ? now + RETRY_MS : 0;
		return;
	} else if (stuck) {
		/* Held up in the name's flock (a directory store) until the
		 * lease's last RETRY_MS: no time left for another try. */
		cli_fmt_ms(left > 0 ? left : 0, buf, sizeof(buf));
		cli_error("lost lock \"%s\": cannot renew it, held up by %s; "
			  "its lease runs out in %s",
			  g->name, why, buf);
	} else {
		cli_fmt_ms(left, buf, sizeof(buf));
		cli_error("lost lock \"%s\": cannot renew it (%s) and its "
			  "lease runs out in %s — check the lock root's disk "
			  "(lokt doctor)",
			  g->name, lokt_strerror(r), buf);
	}
	(void)lokt_audit_lost(g->c->store, g->name, g->held.lock_id, &g->c->who,
			      "unrenewed");
	/* Still ours until it expires: finish() (or the watchdog) removes
	 * it by lock_id once the command is gone. */
	g->gave_up = true;
	on_lost(g);
}

/* On a store with a liveness lease (etcd): no request waits past the
 * time our lock would be counted lost (confirm_ms after it was last seen
 * ours). But a guard that could not run until then (stopped alone,
 * SIGSTOP, or starved) still asks, for RETRY_MS: the watchdog kept the
 * lease meanwhile, and an answer that the lock is ours proves it was
 * never lost (on its lease's end its key goes with it); not asking gave
 * it up, and stopped the command, as if the cluster had not answered. */
static void confirm_deadline(struct guard *g)
{
	int64_t until = g->confirmed_at + g->confirm_ms - RETRY_MS,
		soon = cli_mono_ms() + RETRY_MS;

	lokt_store_set_deadline(g->c->store, until > soon ? until : soon);
}

/* When a change of our lock held up in its flock gives up: RETRY_MS
 * from now, and no later than RETRY_MS before the lease ends (without a
 * TTL: STUCK_MS). */
static int64_t stuck_until(const struct guard *g)
{
	int64_t now = cli_mono_ms(), last = g->lease_end - RETRY_MS;

	if (!g->lease_end)
		return now + STUCK_MS;
	return now + RETRY_MS < last ? now + RETRY_MS : last;
}

static void renew(struct guard *g)
{
	struct lokt_result res = { 0 };
	int64_t ttl_sec = g->lease_sec, start = cli_mono_ms();
	int r;

	/* A store with a liveness lease (etcd): not answered before the
	 * lock would be counted lost, given up then (check_held). */
	if (g->confirm_ms)
		confirm_deadline(g);
	/* A directory store: held up in the name's flock (a process
	 * stopped in a change of it, a flock(1) by hand), each attempt gives
	 * up after RETRY_MS, so that signals and the command's end are
	 * still seen between attempts (loop), and the last one when only
	 * RETRY_MS of the lease is left: lost then (renew_failed). Nobody
	 * else can change the name meanwhile either, but once the flock is
	 * let go, an expired lock is anyone's to break: the command must
	 * not run on past it. */
	else if (g->lease_end)
		cli_stuck_bound_until(g->c, stuck_until(g));
	r = lokt_renew(g->c->store, g->name, g->held.lock_id, &g->c->who,
		       ttl_sec, &res);
	cli_stuck_bound_off(g->c);
	lokt_store_set_deadline(g->c->store, 0);
	if (r >= 0) {
		/* The new lease began after start: end it no later. */
		g->lease_end = ttl_sec ? start + ttl_sec * 1000 : 0;
		g->renew_at = ttl_sec ? cli_mono_ms() + ttl_sec * 1000 / 3 : 0;
		g->failing = false;
		return;
	}
	if (r != -LOKT_E_LOST) {
		renew_failed(g, r);
		return;
	}
	/* lokt_renew has audited the loss: nothing may release (and audit
	 * it again) by our lock_id now, neither finish() nor the watchdog. */
	cli_report(g->c, CLI_GUARD, r, g->name, &res);
	cli_watchdog_lost(g->wd_fd);
	on_lost(g);
}

/* Is our place among the holders of a name of several still there? */
static bool holds_place(const struct guard *g)
{
	struct lokt_holders h;
	bool mine = false;
	size_t i;

	if (lokt_holders(g->c->store, g->name, &h) < 0)
		return false;
	for (i = 0; i < h.n; i++)
		if (!strcmp(h.v[i].rec.lock_id, g->held.lock_id))
			mine = true;
	free(h.v);
	return mine;
}

/* Our lock's record, read: its lease may end later than we counted,
 * renewed by the watchdog while guard was stopped alone (cover_stop in
 * watchdog.c), and a renewal held up in the flock must be bounded by the
 * lease it has (stuck_until). A place among several holders is not in
 * that record's lease: left as counted. */
static void lease_seen(struct guard *g, const struct lokt_info *in)
{
	int64_t end;

	if (!g->lease_end || in->slots || in->shared || !in->rec.ttl_sec)
		return;
	end = cli_mono_ms() - cli_ms_since(&in->rec.expires);
	if (end > g->lease_end)
		g->lease_end = end;
}

/* Is our lock still ours? Called when its file changed and every
 * CHECK_MS. Gone or replaced (another lock_id, a corrupt or future file):
 * lost, and renew() says so, audits it once and applies --on-lost. A read
 * that fails otherwise decides nothing; the next check looks again. */
static void check_held(struct guard *g)
{
	struct lokt_info in;
	int64_t now, asked, next;
	int r;

	if (g->lost)
		return;
	/* A store with a liveness lease (etcd): no answer may come later
	 * than the lease could last, and a lock of ours is seen ours by
	 * keeping its lease alive from here too (as the watchdog does), so
	 * the lease outlasts confirm_ms from when an answered call was sent.
	 * Counted from then, the loss below is never later than the lease. */
	if (g->confirm_ms)
		confirm_deadline(g);
	asked = cli_mono_ms();
	if (g->confirm_ms && !g->outer) {
		r = lokt_tend(g->c->store, g->name, g->held.lock_id, &next);
	} else {
		r = lokt_get(g->c->store, LOKT_LOCK, g->name, &in, NULL);
		if (r == 0 && strcmp(in.rec.lock_id, g->held.lock_id) &&
		    !((in.slots || in.shared) && holds_place(g)))
			r = -LOKT_E_LOST;
		else if (r == 0)
			lease_seen(g, &in);
	}
	lokt_store_set_deadline(g->c->store, 0);
	now = cli_mono_ms();
	if (r == 0) {
		g->confirmed_at = g->confirm_ms ? asked : now;
		return;
	}
	if (r != -LOKT_E_NOT_FOUND && r != -LOKT_E_LOST) {
		/* A store with a liveness lease (etcd) that we cannot reach
		 * for as long as it lasts may have given our lock to another
		 * host: lost, before the command runs on past it. */
		if (g->confirm_ms &&
		    now - g->confirmed_at >= g->confirm_ms - RETRY_MS) {
			cli_error("lost lock \"%s\": cannot confirm it (%s) "
				  "within its lease — run lokt doctor",
				  g->name, lokt_strerror(r));
			g->gave_up = true;
			on_lost(g);
			/* The command is being stopped; the store did not
			 * answer, so the record of the loss is tried briefly,
			 * not for a whole request timeout. */
			lokt_store_set_deadline(g->c->store,
						cli_mono_ms() + RETRY_MS);
			(void)lokt_audit_lost(g->c->store, g->name,
					      g->held.lock_id, &g->c->who,
					      "unconfirmed");
			lokt_store_set_deadline(g->c->store, 0);
		}
		return;
	}
	renew(g); /* gone or another's: says so, once */
}

/* How often to look at the lock without an event: a third of the
 * store's liveness lease, when it has one shorter than CHECK_MS. */
static int64_t check_ms(const struct guard *g)
{
	return g->confirm_ms && g->confirm_ms / 3 < CHECK_MS ?
		       g->confirm_ms / 3 :
		       CHECK_MS;
}

static int next_timeout(const struct guard *g)
{
	int64_t now = cli_mono_ms(), t = -1, at[3] = { g->renew_at, g->kill_at,
						      g->check_at };

	for (int i = 0; i < 3; i++)
		if (at[i] && (t < 0 || at[i] - now < t))
			t = at[i] - now;
	return t < 0 && (g->renew_at || g->kill_at || g->check_at) ? 0 : (int)t;
}

/* The command has ended: does a process it left in its group (a job it
 * put in the background) still run? It still works under the lock, which
 * is released only once none does, as the watchdog's stop does, and as
 * flock(1)'s lock lives while a child holds its descriptor. Said once,
 * after a second, unless -q. The terminal is guard's again (reap): ^C,
 * SIGTERM or SIGHUP to guard ends them (leftovers_stop); SIGQUIT is
 * passed on to them. */
static bool left_behind(struct guard *g, int64_t *since)
{
	int64_t now;

	if (!cli_group_runs(g->child))
		return false;
	now = cli_mono_ms();
	if (!*since)
		*since = now;
	else if (*since > 0 && now - *since >= LINGER_SAY_MS) {
		*since = -1;
		if (!g->c->quiet)
			cli_warning("\"%s\" ended, but processes it left in its "
				    "process group run on: lock \"%s\" is "
				    "released when they end (^C stops them)",
				    g->cmd[0], g->name);
	}
	return true;
}

/* A signal to guard while it waits for the command's leftovers (which,
 * as background jobs of a shell, ignore ^C): they are stopped as on a
 * loss, SIGTERM then SIGKILL, and guard ends by that signal. */
static void leftovers_stop(struct guard *g, int sig)
{
	g->interrupted = sig;
	kill(-g->child, SIGTERM);
	kill(-g->child, SIGCONT);
	if (!g->kill_at)
		g->kill_at = cli_mono_ms() + CLI_GRACE_MS;
}

static void loop(struct guard *g)
{
	struct signalfd_siginfo si;
	struct pollfd p[2] = { { .fd = g->sfd, .events = POLLIN },
			       { .fd = g->watch, .events = POLLIN } };
	int64_t lingering = 0;
	int t, linger_ms = LINGER_POLL_MS;
	bool changed;

	/* First look now: a change before the watch began made no event.
	 * On etcd the watch of our own lock began at our last write
	 * (lokt_watch in lokt.h): nothing was missed, the first look is the
	 * first periodic one (and the command starts alone, without two
	 * requests beside it). */
	g->check_at = g->lost ? 0 : cli_mono_ms();
	if (g->check_at && g->confirm_ms && !g->outer && g->watch >= 0)
		g->check_at += check_ms(g);
	while (!g->done || left_behind(g, &lingering)) {
		changed = false;
		t = next_timeout(g);
		if (g->done && (t < 0 || t > linger_ms)) {
			/* Nothing tells us they end: looked for again, less
			 * and less often (each look reads /proc). */
			t = linger_ms;
			linger_ms = linger_ms * 2 < LINGER_POLL_MAX_MS ?
					    linger_ms * 2 :
					    LINGER_POLL_MAX_MS;
		}
		if (g->done && lingering > 0 &&
		    lingering + LINGER_SAY_MS - cli_mono_ms() < t)
			t = (int)(lingering + LINGER_SAY_MS - cli_mono_ms());
		if (g->done && t < 0)
			t = 0;
		if (poll(p, g->watch >= 0 ? 2 : 1, t) > 0) {
			if (p[0].revents &&
			    read(g->sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(g);
				else if (si.ssi_signo == SIGTSTP)
					stop_with(g);
				else if (g->done && si.ssi_signo == SIGQUIT)
					kill(-g->child, SIGQUIT); /* a dump */
				else if (g->done)
					leftovers_stop(g, (int)si.ssi_signo);
				else {
					g->forwarded = (int)si.ssi_signo;
					kill(-g->child, g->forwarded);
				}
			}
			if (g->watch >= 0 && p[1].revents)
				changed = lokt_watch_changed(g->watch, g->name) > 0;
		}
		/* Just ended, nothing left behind (kill(2) says so at once):
		 * no renewal or check first. */
		if (g->done && !lingering && !cli_group_runs(g->child))
			break;
		if (changed || (g->check_at && cli_mono_ms() >= g->check_at)) {
			check_held(g);
			g->check_at = g->lost ? 0 : cli_mono_ms() + check_ms(g);
		}
		if (g->renew_at && cli_mono_ms() >= g->renew_at)
			renew(g);
		if (g->kill_at && cli_mono_ms() >= g->kill_at) {
			kill(-g->child, SIGKILL);
			g->kill_at = 0;
		}
	}
}

/* The command has ended, but our release was held up in the name's flock
 * for STUCK_MS (a process stopped in a change of the name, a flock(1) by
 * hand): the watchdog, the lock's keeper, is told to release it (by its
 * lock_id, with flags) once that flock is let go, and guard exits now
 * with the command's status. Until then the lock is live; nobody could
 * change the name meanwhile anyway. A watchdog gone too leaves the lock
 * stale once guard has exited. */
static void release_later(struct guard *g, unsigned flags)
{
	char why[STUCK_WHY_MAX];

	cli_stuck_why(g->c, LOKT_LOCK, g->name, why, sizeof(why));
	if (g->wd_fd >= 0 && !g->wd_gone &&
	    cli_watchdog_release(g->wd_fd, flags) == 0) {
		cli_warning("lock \"%s\" not released yet, held up for %d s "
			    "by %s: its watchdog (pid %d) releases it once "
			    "that flock is let go",
			    g->name, STUCK_MS / 1000, why, (int)g->watchdog);
		g->wd_fd = -1;
		return;
	}
	cli_warning("cannot release lock \"%s\", held up for %d s by %s: "
		    "it is stale once guard has exited, and the next lokt "
		    "lock breaks it",
		    g->name, STUCK_MS / 1000, why);
}

static void finish(struct guard *g)
{
	struct lokt_result res = { 0 };
	unsigned flags = g->gave_up ? LOKT_RELEASE_SEEN : 0;
	int r;

	take_tty(g);
	/* Closed while the watchdog, not yet told "done", still holds its
	 * copy of a watch made early: ours is then not the last close, and
	 * does not wait for the kernel (watch_early). */
	if (g->watch >= 0)
		close(g->watch);
	g->watch = -1;
	/* Given up (not renewed): removed if still ours; if not, the loss
	 * was reported and audited already. Held up in the name's flock for
	 * STUCK_MS: left to the watchdog (release_later). */
	r = 0;
	if (!g->outer && (!g->lost || g->gave_up)) {
		cli_stuck_bound(g->c);
		r = lokt_release(g->c->store, g->name, &g->c->who,
				 g->held.lock_id, flags, &res);
		cli_stuck_bound_off(g->c);
	}
	if (r == -EAGAIN && !lokt_root_is_url(g->c->root))
		release_later(g, flags);
	else if (r == -LOKT_E_LOST && !g->gave_up) /* no --ttl: noticed now */
		cli_report(g->c, CLI_GUARD, r, g->name, &res);
	else if (r < 0)
		cli_warning("cannot release lock \"%s\": %s", g->name,
			    lokt_strerror(r));
	end_watchdog(g);
	if (g->sfd >= 0)
		close(g->sfd);
	free(g->path);
	g->path = NULL;
}

/* Take the lock: 0, or -1 with guard's exit status in *ret_exit (which
 * may be 0: --conflict-exit-code 0 makes a busy lock a success for the
 * caller, never a reason to run the command). */
static int acquire(struct guard *g, volatile sig_atomic_t *cancel,
		   int *ret_exit)
{
	struct cli *c = g->c;
	struct cli_progress pr = { .name = g->name };
	struct lokt_acquire_opts ao = {
		.ttl_sec = cli_ttl_sec(g->ttl_ms),
		.wait = g->wait,
		.timeout_ms = g->timeout_ms,
		.cancel = cancel,
		.keeper = g->watchdog,
		.slots = g->slots,
		.shared = g->shared,
		.keep_ttl = true, /* an outer holder's lease is its own */
	};
	struct lokt_result res = { 0 };
	int64_t start;
	int r;

	if (g->wait && !c->quiet && isatty(STDERR_FILENO)) {
		ao.progress = cli_progress_cb;
		ao.userdata = &pr;
	}
	start = cli_mono_ms();
	if (g->wait)
		cli_wait_alarm(c, g->timeout_ms);
	else
		cli_stuck_bound(c);
	r = lokt_acquire(c->store, g->name, &c->who, &ao, &res);
	cli_wait_alarm_off();
	cli_stuck_bound_off(c);
	cli_progress_clear(&pr);
	if (r == -EAGAIN && !lokt_root_is_url(c->root)) {
		*ret_exit = cli_report_stuck(c, LOKT_LOCK, g->name, g->wait);
		return -1;
	}
	if (r == -LOKT_E_CANCELED) {
		*ret_exit = *cancel ? cli_signaled(*cancel) : 128 + SIGINT;
		return -1;
	}
	if (r < 0) {
		*ret_exit = cli_report(c, CLI_GUARD, r, g->name, &res);
		return -1;
	}
	cli_report_broke(c, g->name, &res);
	g->held = res.lock;
	/* Taken again from inside its holder (lokt lock in this shell, then
	 * guard): the lock stays the holder's when the command ends, as
	 * lokt_with_lock leaves it, and keeps the holder's TTL (keep_ttl):
	 * renewed with it while the command runs, so that it does not run
	 * out under the command, but never shortened to --ttl nor made
	 * endless. */
	g->outer = res.renewed;
	g->lease_sec = g->outer ? res.lock.ttl_sec : ao.ttl_sec;
	g->wd_gone = cli_watchdog_held(g->wd_fd, g->held.lock_id, g->outer,
				       g->lease_sec);
	if (g->lease_sec) {
		/* The lease began at acquired_ts, after start (a wait may
		 * have been long); a clock that jumped falls back to start. */
		int64_t age = cli_ms_since(&res.lock.acquired),
			took = cli_mono_ms() - start;

		if (age < 0 || age > took)
			age = took;
		g->lease_end = cli_mono_ms() - age + g->lease_sec * 1000;
	}
	return 0;
}

int cmd_guard(struct cli *c, int argc, char **argv)
{
	static volatile sig_atomic_t cancel;
	struct guard g = { .c = c, .timeout_ms = DEFAULT_WAIT_MS, .wd_fd = -1,
			   .wd_ready = -1, .sfd = -1, .watch = -1, .tty = -1 };
	sigset_t mask;
	int r;

	if (parse_args(&g, argc, argv, &r) < 0)
		return r;
	/* The first process of a pid namespace (a container's entrypoint)
	 * holds as pid 1, which never dies where the others look: killed
	 * with its container, a lock without a TTL would never end. It gets
	 * one, renewed while guard runs (lokt(1), guard). */
	if (!g.ttl_ms && getpid() == LOKT_DETACHED_PID)
		g.ttl_ms = PID1_TTL_MS;
	if ((r = cli_who(c, getpid(), "guard")) || (r = cli_open(c)))
		return r;
	if (c->no_exec)
		return 0; /* an in-process caller that must not fork or exec */
	cli_catch_signals(&cancel);
	watch_early(&g);
	if ((r = start_watchdog(&g)) < 0) {
		cli_error("cannot start the watchdog of \"%s\": %s", g.cmd[0],
			  strerror(-r));
		return 1;
	}
	/* A watchdog that died (killed) while we waited must not kill us
	 * when we tell it the lock is held: its death is seen, and the lock
	 * released, below (cli_watchdog_detached). */
	signal(SIGPIPE, SIG_IGN);
	g.path = look_up(g.cmd[0]);
	if (acquire(&g, &cancel, &r) < 0) {
		if (g.watch >= 0)
			close(g.watch); /* before "done": as in finish() */
		end_watchdog(&g);
		free(g.path);
		return r;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT); /* a JVM's thread dump: kill -QUIT */
	sigaddset(&mask, SIGTSTP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGTTOU, SIG_IGN); /* tcsetpgrp from the background */
	if (cancel) { /* a signal came while we were taking the lock */
		finish(&g);
		return cli_signaled(cancel);
	}
	/* Asked only now: the watchdog left our session while we took the
	 * lock, and must have before the command exists (watchdog.c). */
	r = cli_watchdog_detached(g.wd_ready);
	g.wd_ready = -1;
	if (r == 0 && g.wd_gone < 0) {
		/* Killed while we waited: nothing would release the lock if
		 * guard died, so nothing runs under it. */
		cli_error("the watchdog of \"%s\" is gone (killed?): not "
			  "running it; lock \"%s\" released",
			  g.cmd[0], g.name);
		finish(&g);
		return 1;
	}
	if (r < 0) {
		cli_error("cannot start the watchdog of \"%s\": %s", g.cmd[0],
			  strerror(-r));
		finish(&g);
		return 1;
	}
	g.sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	set_env(&g);
	if (g.sfd < 0 || (r = start_command(&g)) < 0) {
		cli_error("cannot start \"%s\": %s", g.cmd[0],
			  strerror(g.sfd < 0 ? errno : -r));
		finish(&g);
		return 1;
	}
	if (g.lease_sec)
		g.renew_at = cli_mono_ms() + g.lease_sec * 1000 / 3;
	g.confirm_ms = lokt_store_confirm_ms(c->store);
	g.confirmed_at = cli_mono_ms();
	/* Without the watch (inotify exhausted), the periodic check still
	 * finds a loss, a few seconds late. A watch made early has seen our
	 * own acquisition: dropped, as loop() looks at the lock first. */
	if (g.watch >= 0)
		(void)lokt_watch_changed(g.watch, g.name);
	else if ((r = lokt_watch(c->store, LOKT_LOCK, g.name, &g.watch)) < 0)
		cli_warning("cannot watch lock \"%s\" (%s): a lost lock is "
			    "found within %ds instead of at once",
			    g.name, lokt_strerror(r), CHECK_MS / 1000);
	loop(&g);
	finish(&g);
	if (g.interrupted) /* while its leftovers ran */
		return cli_signaled(g.interrupted);
	if (!WIFSIGNALED(g.status))
		return WEXITSTATUS(g.status);
	/* Ended by the signal sent to guard (^C, a service stopped): guard
	 * ends by it too, as the command run alone would have. Any other
	 * signal (a loss's SIGTERM, the OOM killer) says only what became
	 * of the command: 128+N. */
	if (WTERMSIG(g.status) == g.forwarded)
		return cli_signaled(g.forwarded);
	/* The command had the terminal and died of its ^C, which reached
	 * only the command's group. Run without guard, it would have
	 * reached the group guard is in too: the shell of a script that
	 * runs guard, which stops the script on it. So guard passes it on
	 * to its group, itself among it. */
	if (g.tty >= 0 && WTERMSIG(g.status) == SIGINT)
		return cli_signaled_group(SIGINT);
	return 128 + WTERMSIG(g.status);
}
