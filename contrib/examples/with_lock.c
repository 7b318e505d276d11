// SPDX-License-Identifier: MIT
/*
 * Example: run a piece of work under a named lock with liblokt.
 *
 *   with_lock NAME [SECONDS]   hold NAME (in the store lokt would use:
 *                              $LOKT_ROOT, the git repo's, .lokt/) while
 *                              "working" for SECONDS, waiting up to a
 *                              minute for it if someone else holds it
 *   with_lock --tap            self-test in a temporary store, TAP output
 *
 * lokt_with_lock acquires, calls the function, and releases on every
 * path; the lock's fence is what a downstream system would be handed to
 * reject a holder whose lock was broken. Build against liblokt with
 * `pkg-config --cflags --libs liblokt`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lokt.h>

struct work {
	unsigned seconds;
	unsigned long long fence; /* what the work saw */
};

static int do_work(void *userdata, const struct lokt_record *held)
{
	struct work *w = userdata;

	w->fence = (unsigned long long)held->fence;
	if (w->seconds)
		printf("holding \"%s\" (fence %llu) for %us\n", held->name,
		       w->fence, w->seconds);
	sleep(w->seconds);
	return 0;
}

static int run(struct lokt_store *s, const char *name, struct work *w,
	       struct lokt_result *res)
{
	struct lokt_acquire_opts opts = { .wait = true, .timeout_ms = 60000 };
	struct lokt_who who;
	int r, fr = 0;

	r = lokt_who_self(getpid(), &who);
	if (r < 0)
		return r;
	r = lokt_with_lock(s, name, &who, &opts, do_work, w, &fr, res);
	return r < 0 ? r : fr;
}

static int self_test(void)
{
	char dir[] = "/tmp/lokt-example.XXXXXX", cmd[64];
	struct lokt_result res;
	struct lokt_store *s;
	struct lokt_info in;
	struct work w = { 0 };
	int n = 0, bad = 0, r1, r2;
	unsigned long long first;

	printf("1..4\n");
	if (!mkdtemp(dir) || lokt_store_open(dir, &s) < 0) {
		printf("Bail out! cannot create a store in /tmp\n");
		return 1;
	}
	r1 = run(s, "example", &w, &res);
	first = w.fence;
	bad += r1 != 0 || first == 0;
	printf("%sok %d - with_lock ran the work under fence %llu\n",
	       r1 || !first ? "not " : "", ++n, first);
	r1 = lokt_get(s, LOKT_LOCK, "example", &in, NULL);
	bad += r1 != -LOKT_E_NOT_FOUND;
	printf("%sok %d - the lock was released after the work\n",
	       r1 != -LOKT_E_NOT_FOUND ? "not " : "", ++n);
	r2 = run(s, "example", &w, &res);
	bad += r2 != 0 || w.fence <= first;
	printf("%sok %d - a second run gets a greater fence (%llu)\n",
	       r2 || w.fence <= first ? "not " : "", ++n, w.fence);
	bad += res.broke != LOKT_LIVE;
	printf("%sok %d - nothing stale was broken\n",
	       res.broke != LOKT_LIVE ? "not " : "", ++n);
	lokt_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct work w = { 0 };
	struct lokt_result res;
	struct lokt_store *s;
	char *root = NULL;
	int r;

	if (argc == 2 && !strcmp(argv[1], "--tap"))
		return self_test();
	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s NAME [SECONDS] | --tap\n", argv[0]);
		return 64;
	}
	if (argc == 3)
		w.seconds = (unsigned)strtoul(argv[2], NULL, 10);
	r = lokt_root_find(NULL, &root);
	if (r == 0)
		r = lokt_store_open(root, &s);
	free(root);
	if (r < 0) {
		fprintf(stderr, "error: cannot open the lock store: %s\n",
			lokt_strerror(r));
		return 1;
	}
	r = run(s, argv[1], &w, &res);
	if (res.broke != LOKT_LIVE)
		printf("broke a stale lock of %s (%s) to get in\n",
		       res.broken.owner, lokt_stale_name(res.broke));
	if (r < 0)
		fprintf(stderr, "error: \"%s\": %s\n", argv[1],
			lokt_strerror(r));
	else
		printf("done; \"%s\" released\n", argv[1]);
	lokt_store_close(s);
	return r < 0 ? lokt_exit_code(r) : 0;
}
