// SPDX-License-Identifier: MIT
/*
 * Listings of the etcd store through liblokt's public API, on a real
 * member: more locks than one page of a range read (1000), every name
 * reported once by lokt_list and by lokt_list_names (the mount's ls,
 * which reads keys only), none missed at the page boundaries.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lokt.h"
#include "member.h"

#define N 2345

static struct etcd_cluster cluster;
static struct lokt_store *s;

static void start(void)
{
	char root[128];

	if (!etcd_binary())
		cr_skip_test("etcd is not installed (Debian package etcd-server)");
	cr_assert_eq(etcd_start(&cluster, 1), 0, "etcd did not start");
	snprintf(root, sizeof(root), "etcd://%s/listing", cluster.endpoint[0]);
	cr_assert_eq(lokt_store_open(root, &s), 0);
}

static void stop(void)
{
	lokt_store_close(s);
	etcd_stop(&cluster);
}

static unsigned char seen[N];

static int saw(const char *name)
{
	int i;

	if (sscanf(name, "n%d", &i) != 1 || i < 0 || i >= N)
		return -1;
	seen[i]++;
	return 0;
}


static void fill(void)
{
	struct lokt_acquire_opts o = { .ttl_sec = 600 };
	struct lokt_who who;
	char name[32];

	cr_assert_eq(lokt_who_self(LOKT_DETACHED_PID, &who), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		cr_assert_eq(lokt_acquire(s, name, &who, &o, NULL), 0,
			     "lock %s", name);
	}
}

static void all_once(const char *what)
{
	for (int i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1, "%s: n%d reported %d times", what, i,
			     seen[i]);
	memset(seen, 0, sizeof(seen));
}

Test(listing, more_than_a_page, .init = start, .fini = stop, .timeout = 150)
{
	struct lokt_info *in;
	char **names;
	size_t n;

	fill();
	cr_assert_eq(lokt_list_names(s, LOKT_LOCK, &names, &n), 0);
	cr_assert_eq(n, N, "lokt_list_names: %zu names", n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(saw(names[i]), 0, "a stray name %s", names[i]);
	free(names); /* one block */
	all_once("lokt_list_names");
	cr_assert_eq(lokt_list(s, LOKT_LOCK, &in, &n), 0);
	cr_assert_eq(n, N, "lokt_list: %zu locks", n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(saw(in[i].rec.name), 0);
	free(in);
	all_once("lokt_list");
}

/* A writer makes a<i> (listed in the first page) and then z<i> (in the
 * last), again and again, while the locks are listed: a listing of one
 * revision never shows a z<i> without its a<i>. */
static volatile int writing = 1;

static void *writer(void *unused)
{
	struct lokt_acquire_opts o = { .ttl_sec = 600 };
	struct lokt_who who;
	char name[32];

	(void)unused;
	if (lokt_who_self(LOKT_DETACHED_PID, &who) < 0)
		return NULL;
	for (int i = 0; __atomic_load_n(&writing, __ATOMIC_RELAXED); i++) {
		snprintf(name, sizeof(name), "a%05d", i);
		if (lokt_acquire(s, name, &who, &o, NULL) < 0)
			break;
		snprintf(name, sizeof(name), "z%05d", i);
		if (lokt_acquire(s, name, &who, &o, NULL) < 0)
			break;
	}
	return NULL;
}

Test(listing, pages_of_one_revision, .init = start, .fini = stop,
     .timeout = 150)
{
	pthread_t th;
	char **names;
	size_t n, a, z;

	fill();
	cr_assert_eq(pthread_create(&th, NULL, writer, NULL), 0);
	for (int round = 0; round < 20; round++) {
		cr_assert_eq(lokt_list_names(s, LOKT_LOCK, &names, &n), 0);
		a = z = 0;
		for (size_t i = 0; i < n; i++) {
			a += names[i][0] == 'a';
			z += names[i][0] == 'z';
		}
		free(names);
		cr_assert_leq(z, a,
			      "round %d: %zu z locks listed but only %zu a "
			      "locks, made before them: the pages were read "
			      "at different revisions",
			      round, z, a);
	}
	__atomic_store_n(&writing, 0, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
}

/* While the locks are listed, another process writes and compacts the
 * store to its newest revision again and again, so the revision that
 * the first page pinned is compacted away before a later page is read:
 * the listing goes on as the store is now, every name once, not EIO. */
Test(listing, compacted_between_pages, .init = start, .fini = stop,
     .timeout = 150)
{
	char script[1024], **names;
	size_t n;
	pid_t pid;
	int st;

	fill();
	snprintf(script, sizeof(script),
		 "while kill -0 $PPID 2>/dev/null; do "
		 "r=$(curl -s -X POST http://%s/v3/kv/put "
		 "-d '{\"key\":\"Y29tcGFjdA==\",\"value\":\"eA==\"}' | "
		 "sed -n 's/.*\"revision\":\"\\([0-9]*\\)\".*/\\1/p'); "
		 "[ -n \"$r\" ] && curl -s -X POST "
		 "http://%s/v3/kv/compaction -d \"{\\\"revision\\\":$r}\" "
		 ">/dev/null; done",
		 cluster.endpoint[0], cluster.endpoint[0]);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	for (int round = 0; round < 30; round++) {
		int r = lokt_list_names(s, LOKT_LOCK, &names, &n);

		if (r == 0) {
			for (size_t i = 0; i < n; i++)
				saw(names[i]);
			free(names);
		}
		if (r < 0 || n != N) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		cr_assert_eq(r, 0, "round %d: lokt_list_names: %s", round,
			     lokt_strerror(r));
		cr_assert_eq(n, N, "round %d: %zu names", round, n);
		all_once("lokt_list_names while compacting");
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &st, 0);
}
