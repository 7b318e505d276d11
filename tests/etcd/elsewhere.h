/* SPDX-License-Identifier: MIT */
/*
 * Another process for a test whose own process has threads (a watch's
 * relay, a proxy), started from the test's binary afresh: fork, then
 * exec at once, never a copy of the test's process that runs on. The
 * child of a plain fork() inherits every lock another thread held at
 * that moment, and waits on it forever the first time it needs it: the
 * child of a steal in tests/etcd/test_tended.c, forked while a watch's
 * relay was allocating, hung in calloc (ASan's allocator) in CI.
 *
 * A test binary names its roles in elsewhere_roles[], ended by
 * { NULL, NULL }. The new process runs the role before main, with the
 * arguments it was given, and exits with what the role returns.
 */
#ifndef LOKT_TEST_ETCD_ELSEWHERE_H
#define LOKT_TEST_ETCD_ELSEWHERE_H

#include <sys/types.h>

struct elsewhere_role {
	const char *name;
	int (*run)(int argc, char **argv);
};

/* Defined by the test that uses elsewhere_start. */
extern const struct elsewhere_role elsewhere_roles[];

/* Start role with args (NULL-ended): its pid, or -1 with errno set. */
pid_t elsewhere_start(const char *role, const char *const args[]);

/* Start role and wait for it: its exit code, or -1 when it was killed
 * or could not be started. */
int elsewhere_run(const char *role, const char *const args[]);

#endif
