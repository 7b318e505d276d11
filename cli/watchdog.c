// SPDX-License-Identifier: MIT
/*
 * The watchdog of `lokt guard`: a small process that makes sure a guarded
 * command never runs on without its lock when guard itself dies, whatever
 * killed it (SIGKILL included).
 *
 * It is forked before the command and blocks reading a pipe whose write
 * end only guard and (until its exec) the command hold. The command writes
 * "P<pid>" there before exec (cli_watchdog_announce); guard writes "D"
 * before a normal exit. End of file without "D" means guard died: the
 * kernel closed its write end. The watchdog then sends SIGTERM to the
 * command's process group, SIGKILL after CLI_GRACE_MS, and releases the
 * lock by its lock_id (never a successor's).
 *
 * Why no window is left open: until the command has written its pid it
 * holds the write end too, so end of file cannot arrive before the pid.
 * PR_SET_PDEATHSIG is not needed for the same reason: the pipe reports
 * guard's death in every case, and a death signal would only race it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Read the pipe until end of file: true if guard said "done". */
static bool read_pipe(int rfd, pid_t *ret_pgid)
{
	char buf[128];
	size_t len = 0;
	bool done = false;
	ssize_t n;

	while ((n = read(rfd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		if (strchr(buf, 'D'))
			done = true;
		if (buf[0] == 'P' && strchr(buf, '\n'))
			*ret_pgid = (pid_t)atoi(buf + 1);
		if (len >= sizeof(buf) - 1)
			len = 0;
	}
	return done;
}

static void stop_group(pid_t pgid)
{
	int64_t end = cli_mono_ms() + CLI_GRACE_MS;

	kill(-pgid, SIGTERM);
	while (cli_mono_ms() < end) {
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return;
		usleep(50 * 1000);
	}
	kill(-pgid, SIGKILL);
}

static void watch(const struct cli_watchdog *wd, int rfd)
{
	struct lokt_result res = { 0 };
	pid_t pgid = 0;

	/* A signal meant for guard's process group must not take the
	 * watchdog with it: guard forwards those to the command. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (read_pipe(rfd, &pgid))
		_exit(0);
	if (pgid > 0)
		stop_group(pgid);
	lokt_release(wd->store, wd->name, wd->who, wd->lock_id, 0, &res);
	_exit(0);
}

int cli_watchdog_start(const struct cli_watchdog *wd, pid_t *ret_pid,
		       int *ret_wfd)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fds[1]);
		if (wd->close_fd >= 0)
			close(wd->close_fd);
		watch(wd, fds[0]);
	}
	close(fds[0]);
	*ret_pid = pid;
	*ret_wfd = fds[1];
	return 0;
}

void cli_watchdog_announce(int wfd)
{
	dprintf(wfd, "P%d\n", (int)getpid());
}

void cli_watchdog_done(int wfd)
{
	if (write(wfd, "D\n", 2) < 0) {
		/* the watchdog is gone already: nobody to tell */
	}
	close(wfd);
}
