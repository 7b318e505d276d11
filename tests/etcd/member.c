// SPDX-License-Identifier: MIT
/*
 * Starting and stopping real etcd members for the tests (member.h). Ports
 * are picked at random in 25000..32699, where the shell tests' members
 * are (tests/lib.sh), away from the loktd tests' 20000..24999 and below
 * the kernel's local ports (32768 up); a member that cannot bind is
 * started again on others, so tests running side by side do not collide.
 * Readiness is asked of the member itself with the curl program (a test
 * dependency), not with the gateway client under test.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "member.h"

const char *etcd_binary(void)
{
	return access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : NULL;
}

static int random_port(void)
{
	unsigned v = 0;

	(void)getrandom(&v, sizeof(v), 0);
	return 25000 + (int)(v % 7700);
}

static pid_t spawn(struct etcd_cluster *c, size_t i)
{
	char name[16], data[300], log[300], curls[64], purls[64], cluster[256];
	char *p = cluster;
	pid_t pid;

	snprintf(name, sizeof(name), "m%zu", i);
	snprintf(data, sizeof(data), "%s/%s", c->dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", c->dir, name);
	snprintf(curls, sizeof(curls), "http://127.0.0.1:%d",
		 c->client_port[i]);
	snprintf(purls, sizeof(purls), "http://127.0.0.1:%d", c->peer_port[i]);
	*p = '\0';
	for (size_t k = 0; k < c->n; k++)
		p += sprintf(p, "%sm%zu=http://127.0.0.1:%d", k ? "," : "", k,
			     c->peer_port[k]);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execl("/usr/bin/etcd", "etcd", "--name", name, "--data-dir",
		      data, "--listen-client-urls", curls,
		      "--advertise-client-urls", curls, "--listen-peer-urls",
		      purls, "--initial-advertise-peer-urls", purls,
		      "--initial-cluster", cluster, "--initial-cluster-token",
		      c->dir, "--heartbeat-interval", "50",
		      "--election-timeout", "500", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static bool alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

int etcd_wait_ready(struct etcd_cluster *c, size_t i, int timeout_ms)
{
	char cmd[256];
	struct timespec pause = { 0, 50 * 1000 * 1000 };

	/* The member's own status must name a leader. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sf -m 1 -X POST -d '{}' "
		 "http://%s/v3/maintenance/status 2>/dev/null | "
		 "grep -q '\"leader\"'",
		 c->endpoint[i]);
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (!alive(c->pid[i]))
			return -ECHILD;
		if (system(cmd) == 0)
			return 0;
		nanosleep(&pause, NULL);
	}
	return -ETIMEDOUT;
}

int etcd_start(struct etcd_cluster *c, size_t n)
{
	char tmpl[] = "/tmp/lokt-etcd.XXXXXX";

	if (!etcd_binary())
		return -ENOENT;
	/* Test runners may ignore SIGCHLD; then nothing could be waited. */
	signal(SIGCHLD, SIG_DFL);
	if (n < 1 || n > ETCD_MAX_MEMBERS)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	if (!mkdtemp(tmpl))
		return -errno;
	snprintf(c->dir, sizeof(c->dir), "%s", tmpl);
	c->n = n;
	for (int attempt = 0; attempt < 5; attempt++) {
		size_t i;
		int r = 0;

		for (i = 0; i < n; i++) {
			c->client_port[i] = random_port();
			c->peer_port[i] = random_port();
			snprintf(c->endpoint[i], sizeof(c->endpoint[i]),
				 "127.0.0.1:%d", c->client_port[i]);
		}
		for (i = 0; i < n; i++)
			c->pid[i] = spawn(c, i);
		for (i = 0; i < n && r == 0; i++)
			r = etcd_wait_ready(c, i, 20000);
		if (r == 0)
			return 0;
		/* A port taken, say: start over elsewhere, from scratch. */
		for (i = 0; i < n; i++)
			etcd_kill(c, i);
		{
			char cmd[300];

			snprintf(cmd, sizeof(cmd), "rm -rf %s/m*", c->dir);
			(void)system(cmd);
		}
	}
	return -EADDRINUSE;
}

void etcd_kill(struct etcd_cluster *c, size_t i)
{
	if (c->pid[i] > 0) {
		kill(c->pid[i], SIGKILL);
		waitpid(c->pid[i], NULL, 0);
		c->pid[i] = 0;
	}
}

int etcd_restart(struct etcd_cluster *c, size_t i)
{
	c->pid[i] = spawn(c, i);
	return c->pid[i] > 0 ? 0 : -errno;
}

void etcd_stop(struct etcd_cluster *c)
{
	char cmd[300];

	for (size_t i = 0; i < c->n; i++)
		etcd_kill(c, i);
	if (c->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
		(void)system(cmd);
	}
}
