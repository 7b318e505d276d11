// SPDX-License-Identifier: MIT
/*
 * Foreign files: what a member of a shared store may plant where liblokt
 * keeps its own files (docs/protocol.md, "Foreign files"). Each store
 * primitive must refuse a symlink, FIFO, socket or directory with
 * LOKT_E_FOREIGN at once (a FIFO opened without O_NONBLOCK would block
 * this test until its timeout), must not touch what a symlink points to,
 * and the walks (lokt_list, lokt_prune, lokt_release_all) must skip the
 * planted name and carry on with the others, and a watch is on the
 * directory the store has open. tests/hostile runs the same
 * tricks as a real second user against the CLI and the mount.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "proto.h"
#include "store.h"

TestSuite(foreign, .init = fx_setup, .fini = fx_teardown, .timeout = 30);

/* Create at rel (under the fixture's root) a thing of kind: "fifo",
 * "dir", "socket" or "link" (to dir/outside). */
static void plant(const char *rel, const char *kind)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx.root, rel);
	if (!strcmp(kind, "fifo")) {
		cr_assert_eq(mkfifo(path, 0666), 0, "mkfifo %s", path);
	} else if (!strcmp(kind, "dir")) {
		cr_assert_eq(mkdir(path, 0777), 0, "mkdir %s", path);
	} else if (!strcmp(kind, "socket")) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		cr_assert(fd >= 0);
		cr_assert(strlen(path) < sizeof(sa.sun_path));
		strcpy(sa.sun_path, path);
		cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
			     "bind %s: %s", path, strerror(errno));
		close(fd);
	} else {
		fx_path(target, sizeof(target), "outside");
		cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
	}
}

/* A root-only file outside the store, looking like a stale record. */
static void outside_write(void)
{
	static const char rec[] =
		"{\"version\":1,\"name\":\"x\",\"owner\":\"root\","
		"\"host\":\"elsewhere\",\"pid\":1,"
		"\"acquired_ts\":\"2020-01-01T00:00:00Z\",\"ttl_sec\":1,"
		"\"expires_at\":\"2020-01-01T00:00:01Z\"}";

	unit_write(fx.dir, "outside", rec, strlen(rec));
}

static bool outside_intact(void)
{
	char path[PATH_MAX];
	struct stat st;

	fx_path(path, sizeof(path), "outside");
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       (st.st_mode & 07777) == 0644 && st.st_size > 0;
}

static const char *const kinds[] = { "fifo", "dir", "socket", "link" };

Test(foreign, record_is_refused_and_skipped)
{
	struct lokt_who w = who_of(getpid(), "me");
	struct lokt_acquire_opts opts = { 0 };
	struct lokt_result res;
	struct lokt_info info, *v;
	size_t n, count;
	char rel[64], **names;

	outside_write();
	cr_assert_eq(lokt_acquire(fx.s, "good", &w, &opts, &res), 0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		snprintf(rel, sizeof(rel), "locks/n%zu.json", k);
		plant(rel, kinds[k]);
	}
	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		char name[8];

		snprintf(name, sizeof(name), "n%zu", k);
		cr_expect_eq(lokt_get(fx.s, LOKT_LOCK, name, &info, NULL),
			     -LOKT_E_FOREIGN, "get %s", kinds[k]);
		cr_expect_eq(lokt_acquire(fx.s, name, &w, &opts, &res),
			     -LOKT_E_FOREIGN, "acquire %s", kinds[k]);
		cr_expect_eq(lokt_release(fx.s, name, &w, NULL,
					  LOKT_RELEASE_FORCE, &res),
			     -LOKT_E_FOREIGN, "force release %s", kinds[k]);
	}
	cr_assert_eq(lokt_list(fx.s, LOKT_LOCK, &v, &n), 0);
	cr_expect_eq(n, 1, "only good is listed");
	if (n)
		cr_expect_str_eq(v[0].rec.name, "good");
	free(v);
	cr_assert_eq(lokt_list_names(fx.s, LOKT_LOCK, &names, &n), 0);
	cr_expect_eq(n, 1, "only good is named");
	if (n)
		cr_expect_str_eq(names[0], "good");
	free(names);
	cr_expect_eq(lokt_prune(fx.s, &w, &count), 0);
	cr_expect_eq(lokt_release_all(fx.s, &w, NULL, &count), 0);
	cr_expect_eq(count, 1, "good released, the planted names skipped");
	cr_expect(outside_intact());
}

Test(foreign, sidecar_is_refused)
{
	int lk = -1;
	char rel[64], name[8];

	outside_write();
	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		snprintf(name, sizeof(name), "n%zu", k);
		snprintf(rel, sizeof(rel), "locks/.%s.lk", name);
		plant(rel, kinds[k]);
		cr_expect_eq(lokt__name_lock(fx.s, LOKT_LOCK, name, &lk),
			     -LOKT_E_FOREIGN, "sidecar %s", kinds[k]);
	}
	cr_expect(outside_intact());
}

Test(foreign, queue_and_ticket_are_refused)
{
	struct lokt_queue q;

	plant("locks/.a.q", "fifo");
	cr_expect_eq(lokt__queue_scan(fx.s, "a", 0, true, &q),
		     -LOKT_E_FOREIGN);
	plant("locks/.b.q", "link");
	cr_expect_eq(lokt__queue_scan(fx.s, "b", 0, true, &q),
		     -LOKT_E_FOREIGN);
	plant("locks/.c.q", "dir");
	plant("locks/.c.q/00000000000000000001", "fifo");
	cr_expect_eq(lokt__queue_scan(fx.s, "c", 0, true, &q),
		     -LOKT_E_FOREIGN);
}

/* A planted ticket of a number past the last one (20 nines): not a
 * ticket. It made strtoull saturate, and the next real ticket wrap to
 * number 0, which no scan counts: a waiter unseen, passed by later ones. */
Test(foreign, ticket_past_the_last_number_is_no_ticket)
{
	struct lokt_ticket t1, t2, t3;
	struct lokt_queue q;
	char path[PATH_MAX];
	int fd;

	cr_assert_eq(lokt__ticket_take(fx.s, "n", &t1), 0);
	snprintf(path, sizeof(path), "%s/locks/.n.q/99999999999999999999",
		 fx.root);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(lokt__ticket_take(fx.s, "n", &t2), 0);
	cr_expect_eq(t2.seq, t1.seq + 1, "ticket %llu after %llu",
		     (unsigned long long)t2.seq, (unsigned long long)t1.seq);
	cr_assert_eq(lokt__queue_scan(fx.s, "n", 0, false, &q), 0);
	cr_expect_eq(q.live, 2, "%zu waiters seen of 2", q.live);
	/* The last number a ticket may have: no next one. */
	snprintf(path, sizeof(path), "%s/locks/.n.q/18446744073709551614",
		 fx.root);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert(fd >= 0);
	close(fd);
	cr_expect_eq(lokt__ticket_take(fx.s, "n", &t3), -EOVERFLOW);
	lokt__ticket_drop(fx.s, "n", &t2);
	lokt__ticket_drop(fx.s, "n", &t1);
}

/* locks/ or freezes/ as a symlink to a directory we own: refused, and
 * that directory's mode is not changed even on a shared (0777) root. */
Test(foreign, kind_dir_symlink_is_refused)
{
	static const char *const subs[] = { "locks", "freezes" };
	char path[PATH_MAX], target[PATH_MAX], away[PATH_MAX];
	struct lokt_store *s;
	struct stat st;

	cr_assert_eq(chmod(fx.root, 0777), 0);
	fx_path(target, sizeof(target), "victim");
	cr_assert_eq(mkdir(target, 0755), 0);
	cr_assert_eq(chmod(target, 0755), 0);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", fx.root, subs[i]);
		snprintf(away, sizeof(away), "%s/%s.away", fx.root, subs[i]);
		cr_assert_eq(rename(path, away), 0);
		cr_assert_eq(symlink(target, path), 0);
		cr_expect_eq(lokt_store_open(fx.root, &s), -LOKT_E_FOREIGN,
			     "%s a symlink", subs[i]);
		cr_assert_eq(unlink(path), 0);
		cr_assert_eq(rename(away, path), 0);
	}
	cr_assert_eq(stat(target, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0755, "victim mode %o",
		     st.st_mode & 07777);
}

/* Did the watch fd report something (without waiting)? */
static bool watch_fired(int fd, const char *name)
{
	return lokt_watch_changed(fd, name) == 1;
}

Test(foreign, watch_is_on_the_open_directory)
{
	char path[PATH_MAX], away[PATH_MAX], target[PATH_MAX];
	struct lokt_who me = who_of(getpid(), "me");
	struct lokt_result res;
	int fd;

	/* locks/ swapped for a symlink after the store was opened: a watch
	 * made then is on the directory the store has open, never on what
	 * the symlink names. */
	fx_path(target, sizeof(target), "elsewhere");
	cr_assert_eq(mkdir(target, 0755), 0);
	snprintf(path, sizeof(path), "%s/locks", fx.root);
	snprintf(away, sizeof(away), "%s/locks.away", fx.root);
	cr_assert_eq(rename(path, away), 0);
	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(lokt_watch(fx.s, LOKT_LOCK, "w", &fd), 0);
	unit_write(target, "w.json", "{}", 2);
	cr_expect_not(watch_fired(fd, "w"), "watched the symlink's target");
	/* The store does not follow a moved locks/ (only a moved root):
	 * its lock goes to the directory it has open, and the watch sees it. */
	cr_assert_eq(lokt_acquire(fx.s, "w", &me, NULL, &res), 0);
	cr_expect(watch_fired(fd, "w"), "missed a lock in the open directory");
	close(fd);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rename(away, path), 0);
}
