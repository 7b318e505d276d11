// SPDX-License-Identifier: MIT
/* Roles run in processes of their own, exec'd afresh (elsewhere.h). */
#include "elsewhere.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARK "LOKT_TEST_ELSEWHERE"
#define MAX_ARGS 16

extern char **environ;

/* Before main: in a process started by elsewhere_start, run its role
 * and exit; anywhere else, nothing. glibc passes main's arguments to
 * constructors. */
__attribute__((constructor)) static void elsewhere_main(int argc, char **argv)
{
	if (!getenv(MARK) || argc < 2)
		return;
	unsetenv(MARK); /* not passed on to what the role starts */
	for (const struct elsewhere_role *r = elsewhere_roles; r->name; r++)
		if (!strcmp(r->name, argv[1]))
			_exit(r->run(argc - 2, argv + 2));
	_exit(127);
}

pid_t elsewhere_start(const char *role, const char *const args[])
{
	char *argv[MAX_ARGS + 3], **envp;
	size_t n = 0, e = 0;
	pid_t pid;

	argv[n++] = "elsewhere";
	argv[n++] = (char *)role;
	for (size_t i = 0; args && args[i]; i++) {
		if (i == MAX_ARGS) {
			errno = E2BIG;
			return -1;
		}
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	while (environ[e])
		e++;
	/* Built before the fork: between fork and exec the child calls
	 * nothing that could take a lock. */
	envp = calloc(e + 2, sizeof(*envp));
	if (!envp)
		return -1;
	memcpy(envp, environ, e * sizeof(*envp));
	envp[e] = MARK "=1";
	pid = fork();
	if (pid == 0) {
		execve("/proc/self/exe", argv, envp);
		_exit(126);
	}
	free(envp);
	return pid;
}

int elsewhere_run(const char *role, const char *const args[])
{
	pid_t pid = elsewhere_start(role, args);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
