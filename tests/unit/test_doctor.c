// SPDX-License-Identifier: MIT
/*
 * lokt_doctor on real directories: a healthy store, a missing root, a
 * root that is a file, corrupted and future-version files, a lock
 * "acquired in the future", and the audit log's mode.
 */
#include <sys/stat.h>

#include "unit.h"

static char *tmp, *root;

static void setup(void)
{
	tmp = unit_tmpdir();
	cr_assert(asprintf(&root, "%s/root", tmp) > 0);
	unsetenv("LOKT_REQUIRE_LOCAL_FS");
}

static void teardown(void)
{
	unit_rmrf(tmp);
	free(tmp);
	free(root);
}

TestSuite(doctor, .init = setup, .fini = teardown);

static const struct lokt_check *check(const struct lokt_check *ck, size_t n,
				      const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ck[i].id, id))
			return &ck[i];
	cr_assert_fail("no check %s", id);
	return NULL;
}

static void put(const char *kind, const char *file, const char *json)
{
	char *dir;

	cr_assert(asprintf(&dir, "%s/%s", root, kind) > 0);
	unit_write(dir, file, json, strlen(json));
	free(dir);
}

static char *record_json(const char *name, time_t acquired)
{
	struct lokt_record r = { .version = 1, .pid = 1, .uid = -1 };
	char *json;

	strcpy(r.name, name);
	strcpy(r.owner, "alice");
	lokt__hostname(r.host, sizeof(r.host));
	r.acquired.tv_sec = acquired;
	cr_assert_eq(lokt_record_format(&r, &json), 0);
	return json;
}

Test(doctor, healthy)
{
	static const char *const ids[] = {
		"root_writable",  "network_fs",	   "clock",
		"corrupt_files",  "future_version", "foreign_files",
		"temp_files",	  "sidecars",	   "audit_mode",
		"proc_visible"
	};
	struct lokt_check *ck;
	size_t n;
	char *json = record_json("ok", time(NULL));

	cr_assert_eq(lokt__ensure_dirs(root), 0);
	put("locks", "ok.json", json);
	put("locks", ".ok.lk", "3");
	free(json);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_assert_eq(n, sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < n; i++) {
		cr_expect_str_eq(ck[i].id, ids[i]);
		cr_expect_eq(ck[i].level, LOKT_CHECK_OK, "%s: %s", ck[i].id,
			     ck[i].message);
		cr_expect_neq(ck[i].message[0], '\0');
	}
	free(ck);
}

Test(doctor, missing_root_is_a_warning)
{
	struct lokt_check *ck;
	size_t n;

	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_expect_eq(check(ck, n, "root_writable")->level, LOKT_CHECK_WARN);
	for (size_t i = 0; i < n; i++)
		cr_expect_neq(ck[i].level, LOKT_CHECK_FAIL, "%s: %s",
			      ck[i].id, ck[i].message);
	free(ck);
	struct stat st;
	cr_expect_neq(stat(root, &st), 0, "doctor must not create the root");
}

Test(doctor, root_not_writable)
{
	struct lokt_check *ck;
	const struct lokt_check *c;
	size_t n;

	unit_write(tmp, "root", "x", 1); /* a file where the root should be */
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	c = check(ck, n, "root_writable");
	cr_expect_eq(c->level, LOKT_CHECK_FAIL);
	cr_expect(strstr(c->message, "LOKT_ROOT"), "%s", c->message);
	free(ck);
}

Test(doctor, corrupt_and_future_files)
{
	struct lokt_check *ck;
	const struct lokt_check *c;
	size_t n;

	cr_assert_eq(lokt__ensure_dirs(root), 0);
	put("locks", "broken.json", "{\"name\":");
	put("locks", "empty.json", "");
	put("freezes", "next.json", "{\"version\":2,\"name\":\"next\"}");
	put("locks", ".hidden.json", "garbage"); /* not a lock: ignored */
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	c = check(ck, n, "corrupt_files");
	cr_expect_eq(c->level, LOKT_CHECK_WARN);
	cr_expect(strstr(c->message, "2 corrupted"), "%s", c->message);
	cr_expect(strstr(c->message, "locks/broken"), "%s", c->message);
	cr_expect(strstr(c->message, "locks/empty"), "%s", c->message);
	cr_expect_null(strstr(c->message, "hidden"), "%s", c->message);
	c = check(ck, n, "future_version");
	cr_expect_eq(c->level, LOKT_CHECK_FAIL);
	cr_expect(strstr(c->message, "freezes/next"), "%s", c->message);
	free(ck);
}

Test(doctor, clock_step)
{
	struct lokt_check *ck;
	const struct lokt_check *c;
	size_t n;
	char *json = record_json("later", time(NULL) + 3600);

	cr_assert_eq(lokt__ensure_dirs(root), 0);
	put("locks", "later.json", json);
	free(json);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	c = check(ck, n, "clock");
	cr_expect_eq(c->level, LOKT_CHECK_WARN);
	cr_expect(strstr(c->message, "later"), "%s", c->message);
	free(ck);
}

Test(doctor, audit_mode)
{
	struct lokt_check *ck;
	char *log;
	size_t n;

	cr_assert_eq(lokt__ensure_dirs(root), 0);
	put("", "audit.log", "");
	cr_assert(asprintf(&log, "%s/audit.log", root) > 0);
	cr_assert_eq(chmod(log, 0644), 0);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_expect_eq(check(ck, n, "audit_mode")->level, LOKT_CHECK_WARN);
	cr_expect(strstr(check(ck, n, "audit_mode")->message, "chmod 600"));
	free(ck);

	cr_assert_eq(chmod(log, 0600), 0);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_expect_eq(check(ck, n, "audit_mode")->level, LOKT_CHECK_OK);
	free(ck);

	/* A directory at audit.log.1 (anyone who may write the root may
	 * make one) stops every rotation: the log grew past its cap while
	 * doctor said all was well. */
	char *old;
	cr_assert(asprintf(&old, "%s.1", log) > 0);
	cr_assert_eq(mkdir(old, 0700), 0);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_expect_eq(check(ck, n, "audit_mode")->level, LOKT_CHECK_FAIL);
	cr_expect(strstr(check(ck, n, "audit_mode")->message, "never rotated"));
	free(ck);
	cr_assert_eq(rmdir(old), 0);
	free(old);

	cr_assert_eq(unlink(log), 0);
	cr_assert_eq(mkdir(log, 0700), 0);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_expect_eq(check(ck, n, "audit_mode")->level, LOKT_CHECK_FAIL);
	free(ck);
	free(log);
}

Test(doctor, require_local_fs_on_local_is_fine)
{
	struct lokt_check *ck;
	size_t n;

	setenv("LOKT_REQUIRE_LOCAL_FS", "1", 1);
	cr_assert_eq(lokt__ensure_dirs(root), 0);
	cr_assert_eq(lokt_doctor(root, &ck, &n), 0);
	cr_expect_eq(check(ck, n, "network_fs")->level, LOKT_CHECK_OK);
	free(ck);
}
