/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Criterion unit tests of liblokt: temporary
 * directories that clean up after themselves, and small file utilities.
 * Each Criterion test runs in a process of its own, so a test may chdir,
 * setenv and fork freely.
 */
#ifndef LOKT_UNIT_H
#define LOKT_UNIT_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int unit_rm_one(const char *path, const struct stat *st, int flag,
		       struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* rm -rf */
static inline void unit_rmrf(const char *path)
{
	nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path. */
static inline char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	cr_assert(asprintf(&p, "%s/lokt-unit.XXXXXX", base ? base : "/tmp") > 0);
	cr_assert_not_null(mkdtemp(p), "mkdtemp failed");
	return p;
}

/* Write len bytes to dir/file (created or truncated, mode 0644). */
static inline void unit_write(const char *dir, const char *file,
			      const char *buf, size_t len)
{
	char *path;
	int fd;

	cr_assert(asprintf(&path, "%s/%s", dir, file) > 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0, "cannot create %s", path);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(path);
}

#endif /* LOKT_UNIT_H */
