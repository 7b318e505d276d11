// SPDX-License-Identifier: MIT
/*
 * A command for tests/cli/guard.sh that runs commands as dash does, with
 * vfork, but lingers 200 ms in each child between its vfork and its exec:
 * a stop of its process group then almost always stops the child before
 * its exec, and leaves this process (the group's first) waiting in D for
 * the exec, never stopped itself, as long as the child stays stopped.
 *
 *   vfork-linger PIDFILE    writes its pid to PIDFILE, then runs
 *                           /bin/true that way, again and again
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const struct timespec linger = { 0, 200 * 1000000L };
	FILE *f;
	pid_t pid;

	if (argc != 2 || !(f = fopen(argv[1], "w"))) {
		fprintf(stderr, "usage: vfork-linger PIDFILE\n");
		return 2;
	}
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0)
		return 1;
	for (;;) {
		pid = vfork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			/* system calls only: this runs on the parent's stack */
			nanosleep(&linger, NULL);
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}
