// SPDX-License-Identifier: MIT
/*
 * The audit log: the fields of a line, its mode, reading with filters,
 * skipping lines that do not parse, whole lines under concurrent
 * appends from many processes, and a log kept open by a store that is
 * rotated, replaced or made a symlink between two of its appends.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backend.h"
#include "store.h"
#include "unit.h"

static char *tmp;
static struct lokt_store store;
static struct lokt_dir dir;

static void setup(void)
{
	tmp = unit_tmpdir();
	store.be = &lokt__dir_backend;
	pthread_mutex_init(&dir.lock, NULL);
	dir.audit_fd = -1;
	store.be_data = &dir;
	cr_assert(asprintf(&store.audit_path, "%s/audit.log", tmp) > 0);
	store.root_fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(store.root_fd >= 0);
	store.audit_max = 0;
	lokt__hostname(store.host, sizeof(store.host));
}

static void teardown(void)
{
	lokt__audit_file_close(&store);
	close(store.root_fd);
	unit_rmrf(tmp);
	free(tmp);
	free(store.audit_path);
}

TestSuite(audit, .init = setup, .fini = teardown);

static struct lokt_who who(void)
{
	struct lokt_who w = { .pid = 4242, .uid = 0 };

	strcpy(w.owner, "alice");
	strcpy(w.host, "build-1");
	strcpy(w.agent_id, "agent-7");
	return w;
}

static struct lokt_record rec(void)
{
	struct lokt_record r = { .version = 1, .ttl_sec = 90, .uid = -1 };

	strcpy(r.lock_id, "0123456789abcdef0123456789abcdef");
	strcpy(r.name, "deploy");
	return r;
}

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 1 << 20);

	cr_assert_not_null(f);
	cr_assert_not_null(buf);
	buf[fread(buf, 1, (1 << 20) - 1, f)] = '\0';
	fclose(f);
	return buf;
}

Test(audit, line_fields_and_mode)
{
	struct lokt_who w = who();
	struct lokt_record r = rec();
	struct json_object *o, *extra, *v;
	struct stat st;
	char *text;

	umask(0);
	w.via = "loktfs";
	extra = json_object_new_object();
	json_object_object_add(extra, "reason", json_object_new_string("dead"));
	lokt__audit(&store, "stale-break", "deploy", &r, &w, extra);

	cr_assert_eq(stat(store.audit_path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	text = slurp(store.audit_path);
	cr_expect_eq(strchr(text, '\n'), text + strlen(text) - 1,
		     "exactly one line: %s", text);
	o = json_tokener_parse(text);
	cr_assert_not_null(o, "%s", text);
#define STR(k, want)                                                  \
	do {                                                          \
		cr_assert(json_object_object_get_ex(o, k, &v), k);   \
		cr_expect_str_eq(json_object_get_string(v), want, k); \
	} while (0)
	STR("event", "stale-break");
	STR("name", "deploy");
	STR("lock_id", "0123456789abcdef0123456789abcdef");
	STR("owner", "alice");
	STR("host", "build-1");
	STR("agent_id", "agent-7");
	cr_assert(json_object_object_get_ex(o, "pid", &v));
	cr_expect(json_object_is_type(v, json_type_int));
	cr_expect_eq(json_object_get_int64(v), 4242);
	cr_assert(json_object_object_get_ex(o, "ttl_sec", &v));
	cr_expect_eq(json_object_get_int64(v), 90);
	cr_assert(json_object_object_get_ex(o, "ts", &v));
	struct timespec ts;
	cr_expect_eq(lokt_time_parse(json_object_get_string(v), &ts), 0);
	cr_assert(json_object_object_get_ex(o, "extra", &extra));
	cr_assert(json_object_is_type(extra, json_type_object));
	cr_assert(json_object_object_get_ex(extra, "via", &v));
	cr_expect_str_eq(json_object_get_string(v), "loktfs");
	cr_assert(json_object_object_get_ex(extra, "reason", &v));
	cr_expect_str_eq(json_object_get_string(v), "dead");
	json_object_put(o);
	free(text);
}

Test(audit, extra_is_always_an_object)
{
	struct json_object *o, *extra;
	char *text;

	lokt__audit(&store, "release", "x", NULL, NULL, NULL);
	text = slurp(store.audit_path);
	o = json_tokener_parse(text);
	cr_assert_not_null(o);
	cr_assert(json_object_object_get_ex(o, "extra", &extra));
	cr_expect(json_object_is_type(extra, json_type_object));
	cr_expect_eq(json_object_object_length(extra), 0);
	json_object_put(o);
	free(text);
}

static void event(const char *ev, const char *name)
{
	struct lokt_who w = who();
	struct lokt_record r = rec();

	lokt__audit(&store, ev, name, &r, &w, NULL);
}

Test(audit, read_filters)
{
	struct lokt_audit_filter f = { .name = "a" };
	struct lokt_event *evs;
	size_t n;

	event("acquire", "a");
	event("acquire", "b");
	event("release", "a");
	event("deny", "c");
	event("renew", "a");

	cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
	cr_expect_eq(n, 5);
	cr_expect_str_eq(evs[0].event, "acquire");
	cr_expect_str_eq(evs[0].name, "a");
	cr_expect_str_eq(evs[0].owner, "alice");
	cr_expect_eq(evs[0].pid, 4242);
	cr_expect_eq(evs[0].ttl_sec, 90);
	cr_expect_str_eq(evs[3].event, "deny");
	cr_expect_eq(evs[3].line[strlen(evs[3].line) - 1], '}',
		     "line kept whole, without its newline");
	lokt_events_free(evs, n);

	cr_assert_eq(lokt_audit_read(&store, &f, &evs, &n), 0);
	cr_expect_eq(n, 3);
	cr_expect_str_eq(evs[2].event, "renew");
	lokt_events_free(evs, n);

	f.tail = 2;
	cr_assert_eq(lokt_audit_read(&store, &f, &evs, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(evs[0].event, "release", "oldest first");
	cr_expect_str_eq(evs[1].event, "renew");
	lokt_events_free(evs, n);
}

Test(audit, since_and_garbage)
{
	static const char log[] =
		"{\"ts\":\"2020-01-01T00:00:00Z\",\"event\":\"acquire\","
		"\"name\":\"x\"}\n"
		"this is not json\n"
		"\n"
		"{\"ts\":\"yesterday\",\"event\":\"acquire\",\"name\":\"x\"}\n"
		"{\"event\":\"acquire\",\"name\":\"x\"}\n"
		"[1,2,3]\n"
		"{\"ts\":\"2025-06-01T12:00:00.5Z\",\"event\":\"release\","
		"\"name\":\"x\",\"pid\":7}\n"
		"{\"ts\":\"2030-01-01T00:00:00+01:00\",\"event\":\"freeze\","
		"\"name\":\"x\",\"extra\":{}}\n"
		"{\"ts\":\"2031-01-01T00:00:00Z\",\"event\":\"acq";
	struct lokt_audit_filter f = { 0 };
	struct lokt_event *evs;
	size_t n;

	unit_write(tmp, "audit.log", log, sizeof(log) - 1);
	cr_assert_eq(lokt_audit_read(&store, &f, &evs, &n), 0);
	cr_expect_eq(n, 3, "unparsable lines skipped");
	lokt_events_free(evs, n);

	cr_assert_eq(lokt_time_parse("2024-01-01T00:00:00Z", &f.since), 0);
	cr_assert_eq(lokt_audit_read(&store, &f, &evs, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(evs[0].event, "release");
	cr_expect_eq(evs[0].pid, 7);
	cr_expect_eq(evs[0].ts.tv_nsec, 500000000);
	cr_expect_str_eq(evs[1].event, "freeze");
	lokt_events_free(evs, n);
}

Test(audit, missing_log_is_empty)
{
	struct lokt_event *evs = (void *)1;
	size_t n = 99;

	cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
	cr_expect_eq(n, 0);
	lokt_events_free(evs, n);
	cr_expect_str_eq(lokt_audit_path(&store), store.audit_path);
}

#define WRITERS 8
#define EVENTS 300

/* Many processes appending at once: every line whole and parsable. */
Test(audit, concurrent_appends_stay_whole, .timeout = 60)
{
	struct lokt_event *evs;
	size_t n, per[WRITERS] = { 0 };
	char pad[1500];
	pid_t pids[WRITERS];
	int status;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			struct lokt_who w = who();

			w.pid = 1000 + i;
			for (int k = 0; k < EVENTS; k++) {
				struct json_object *x = json_object_new_object();

				json_object_object_add(
					x, "pad", json_object_new_string(pad));
				lokt__audit(&store, "acquire", "race", NULL,
					    &w, x);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < WRITERS; i++) {
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
	cr_expect_eq(n, WRITERS * EVENTS, "%zu whole lines", n);
	for (size_t i = 0; i < n; i++) {
		cr_assert(evs[i].pid >= 1000 && evs[i].pid < 1000 + WRITERS);
		per[evs[i].pid - 1000]++;
	}
	for (int i = 0; i < WRITERS; i++)
		cr_expect_eq(per[i], EVENTS, "writer %d", i);
	lokt_events_free(evs, n);
}

static off_t size_of(const char *file)
{
	struct stat st;

	return fstatat(store.root_fd, file, &st, 0) == 0 ? st.st_size : -1;
}

/* Past the cap the log is renamed audit.log.1 (one generation kept), and
 * lokt_audit_read reads both, oldest first, with no gap and no repeat. */
Test(audit, rotation_keeps_one_generation)
{
	struct lokt_who w = who();
	struct lokt_event *evs;
	size_t n;

	store.audit_max = 4096;
	for (int k = 0; k < 200; k++) {
		w.pid = 1000 + k;
		lokt__audit(&store, "acquire", "rot", NULL, &w, NULL);
	}
	cr_expect_gt(size_of("audit.log.1"), 4096 - 400, "rotated");
	cr_expect_lt(size_of("audit.log"), 4096, "the current log under the cap");
	cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
	cr_assert_gt(n, 10);
	cr_expect_lt(n, 200, "older generations are dropped");
	cr_expect_eq(evs[n - 1].pid, 1000 + 199, "the newest event last");
	for (size_t i = 1; i < n; i++)
		cr_expect_eq(evs[i].pid, evs[i - 1].pid + 1,
			     "in order, nothing missing, at %zu", i);
	lokt_events_free(evs, n);

	/* 0 (never rotate) as lokt_store_set_audit_max takes it. */
	lokt_store_set_audit_max(&store, 0);
	for (int k = 0; k < 100; k++)
		lokt__audit(&store, "acquire", "rot", NULL, &w, NULL);
	cr_expect_gt(size_of("audit.log"), 4096, "no rotation when disabled");
}

/* Writers racing across a rotation: whole lines, none lost or repeated.
 * The cap is set so that at most one rotation happens in each round (a
 * second would drop the first generation by design). A rotation never
 * waits: an appender that finds another writer in the log leaves it to
 * the next append, so a round may end without one, the log over the cap
 * (core/audit.c, ROTATION); most rounds rotate. */
Test(audit, concurrent_appends_across_a_rotation)
{
	enum { W = 8, E = 60, ROUNDS = 6 };
	struct lokt_event *evs;
	size_t n, per[W];
	char pad[900];
	pid_t pids[W];
	int status, rotated = 0;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int round = 0; round < ROUNDS; round++) {
		unlinkat(store.root_fd, "audit.log", 0);
		unlinkat(store.root_fd, "audit.log.1", 0);
		/* about 1.1 KB a line: W * E lines are ~530 KB */
		store.audit_max = 320 * 1024;
		for (int i = 0; i < W; i++) {
			pids[i] = fork();
			cr_assert(pids[i] >= 0);
			if (pids[i] == 0) {
				struct lokt_who w = who();

				w.pid = 1000 + i;
				for (int k = 0; k < E; k++) {
					struct json_object *x =
						json_object_new_object();

					json_object_object_add(
						x, "pad",
						json_object_new_string(pad));
					lokt__audit(&store, "acquire", "race",
						    NULL, &w, x);
				}
				_exit(0);
			}
		}
		for (int i = 0; i < W; i++) {
			cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
			cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		if (size_of("audit.log.1") > 0)
			rotated++;
		else
			cr_assert_geq(size_of("audit.log"), (off_t)store.audit_max,
				      "round %d neither rotated nor reached "
				      "the cap",
				      round);
		cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
		cr_expect_eq(n, W * E, "round %d: %zu whole lines", round, n);
		memset(per, 0, sizeof(per));
		for (size_t i = 0; i < n; i++) {
			cr_assert(evs[i].pid >= 1000 && evs[i].pid < 1000 + W);
			per[evs[i].pid - 1000]++;
		}
		for (int i = 0; i < W; i++)
			cr_expect_eq(per[i], E, "round %d, writer %d", round, i);
		lokt_events_free(evs, n);
	}
	cr_assert_gt(rotated, 0, "no round of %d rotated", ROUNDS);
}

/* A writer that opened the log before it was rotated may still be
 * appending to it (between its flock and its write): that generation is
 * not replaced by the next rotation until the writer is done, and nobody
 * waits for it. Here the test is that writer, holding the shared lock an
 * appender holds. */
Test(audit, rotation_waits_for_no_one_and_loses_no_line)
{
	static const char line[] = "{\"ts\":\"2026-01-05T10:00:00Z\","
				   "\"event\":\"acquire\",\"name\":\"late\"}\n";
	struct lokt_who w = who();
	struct stat first, st;
	struct lokt_event *evs;
	size_t n, late = 0;
	int fd, k;

	store.audit_max = 4096;
	lokt__audit(&store, "acquire", "rot", NULL, &w, NULL);
	fd = openat(store.root_fd, "audit.log", O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	cr_assert_eq(fstat(fd, &first), 0);
	/* Rotate once: the file we opened becomes audit.log.1. */
	for (k = 0; k < 100 && size_of("audit.log.1") < 0; k++)
		lokt__audit(&store, "acquire", "rot", NULL, &w, NULL);
	cr_assert_gt(size_of("audit.log.1"), 0, "rotated");
	/* Now we are about to write: the shared lock, and our file still has
	 * a name (an appender checks both). */
	cr_assert_eq(flock(fd, LOCK_SH | LOCK_NB), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_nlink, 1);
	/* Far past the cap again: a second rotation would unlink our file. */
	for (k = 0; k < 100; k++)
		lokt__audit(&store, "acquire", "rot", NULL, &w, NULL);
	cr_assert_eq(fstatat(store.root_fd, "audit.log.1", &st, 0), 0);
	cr_expect(st.st_ino == first.st_ino, "our generation is still there");
	cr_expect_gt(size_of("audit.log"), 4096, "the rotation was put off");
	/* Our late line lands in a file that is kept. */
	cr_assert_eq(write(fd, line, sizeof(line) - 1), (ssize_t)sizeof(line) - 1);
	close(fd);
	cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
	for (size_t i = 0; i < n; i++)
		late += strcmp(evs[i].name, "late") == 0;
	cr_expect_eq(late, 1, "the late line is read back");
	lokt_events_free(evs, n);
	/* Once no one writes there, the next append rotates. */
	lokt__audit(&store, "acquire", "rot", NULL, &w, NULL);
	cr_expect_lt(size_of("audit.log"), 4096, "rotated again");
}

/* The store keeps the log open between appends (core/audit.c). Another
 * process rotates it, then another user replaces it, then plants a
 * symlink: each next line goes to the file at the path, never to the
 * one kept open, and never through the symlink. */
Test(audit, a_kept_log_rotated_or_replaced_is_let_go)
{
	struct lokt_who w = who();
	struct lokt_event *evs;
	char *old, *cur, *out;
	size_t n;
	int fd;

	lokt__audit(&store, "acquire", "one", NULL, &w, NULL);
	/* Rotated by someone else (as lokt_rotate would, by rename). */
	cr_assert_eq(renameat(store.root_fd, "audit.log", store.root_fd,
			      "audit.log.1"),
		     0);
	lokt__audit(&store, "release", "two", NULL, &w, NULL);
	cr_assert(asprintf(&old, "%s/audit.log.1", tmp) > 0);
	cr_assert(asprintf(&cur, "%s/audit.log", tmp) > 0);
	out = slurp(old);
	cr_expect_null(strstr(out, "\"two\""), "written to the rotated file");
	free(out);
	out = slurp(cur);
	cr_expect_not_null(strstr(out, "\"two\""), "not in the new log");
	free(out);

	/* Replaced: removed and made anew by another user of the store. */
	cr_assert_eq(unlink(cur), 0);
	fd = open(cur, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0);
	close(fd);
	lokt__audit(&store, "acquire", "three", NULL, &w, NULL);
	cr_assert_eq(lokt_audit_read(&store, NULL, &evs, &n), 0);
	cr_assert_eq(n, 2, "audit.log.1's line and the new one: %zu", n);
	cr_expect_str_eq(evs[1].name, "three");
	lokt_events_free(evs, n);

	/* A symlink in its place: nothing written, through it or to the
	 * file kept open. */
	unit_write(tmp, "outside", "", 0);
	cr_assert_eq(unlink(cur), 0);
	cr_assert_eq(symlink("outside", cur), 0);
	lokt__audit(&store, "acquire", "four", NULL, &w, NULL);
	out = slurp(old);
	cr_expect_null(strstr(out, "\"four\""));
	free(out);
	cr_assert(asprintf(&out, "%s/outside", tmp) > 0);
	free(cur);
	cur = slurp(out);
	cr_expect_str_eq(cur, "", "written through the symlink");
	free(out);
	free(cur);
	free(old);
}

Test(audit, max_parse)
{
	static const struct {
		const char *text;
		uint64_t want;
	} ok[] = {
		{ "0", 0 },	       { "4096", 4096 },
		{ "4k", 4096 },	       { "16M", 16ULL << 20 },
		{ "1G", 1ULL << 30 },  { "16m", 16ULL << 20 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "x", "12x", "-1", "k", " 1", "1 ", "1kk", "1.5M",
		"18446744073709551616", "18014398509481984k",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		v = 42;
		cr_expect_eq(lokt_audit_max_parse(ok[i].text, &v), 0, "%s",
			     ok[i].text);
		cr_expect_eq(v, ok[i].want, "%s", ok[i].text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 42;
		cr_expect_eq(lokt_audit_max_parse(bad[i], &v), -EINVAL, "%s",
			     bad[i]);
		cr_expect_eq(v, 42, "%s: left alone", bad[i]);
	}
}
