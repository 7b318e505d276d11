// SPDX-License-Identifier: MIT
/*
 * Health checks of a store, for `lokt doctor`. The root need not be
 * openable (that may be the very problem), so nothing here goes through
 * struct lokt_store: each check looks at the directory itself, changes
 * nothing but a temporary dot-file, and says what to do when it is not OK.
 *
 * Checks, in order: root_writable, network_fs, clock, corrupt_files,
 * future_version, audit_mode. Adding one: give it an id here, in the
 * header comment of struct lokt_check and in docs/troubleshooting.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define CHECKS_MAX 8
#define FILE_MAX (64 * 1024 + 1)      /* one more than a record may be */
#define CLOCK_SKEW_MS (5 * 60 * 1000) /* "acquired in the future" beyond */
#define LIST_MAX 160 /* bytes of file names quoted in one message */

struct checks {
	struct lokt_check *ck;
	size_t n;
};

__attribute__((format(printf, 4, 5))) static void
add(struct checks *c, const char *id, enum lokt_check_level level,
    const char *fmt, ...)
{
	struct lokt_check *k = &c->ck[c->n++];
	va_list ap;

	snprintf(k->id, sizeof(k->id), "%s", id);
	k->level = level;
	va_start(ap, fmt);
	vsnprintf(k->message, sizeof(k->message), fmt, ap);
	va_end(ap);
}

/* Create, write and remove a temporary dot-file (hidden from every
 * listing). Creating is not enough: on a full filesystem an empty file is
 * still created, and only writing its bytes (made to reach the disk with
 * fsync) fails. */
static int try_write(const char *dir)
{
	static const char probe[512] = "lokt doctor: write probe\n";
	char path[PATH_MAX];
	ssize_t n;
	int fd, r = 0;

	if (snprintf(path, sizeof(path), "%s/.doctor.%d", dir, (int)getpid()) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	n = write(fd, probe, sizeof(probe));
	if (n < 0 || fsync(fd) < 0)
		r = -errno;
	else if (n != (ssize_t)sizeof(probe))
		r = -ENOSPC; /* a short write: the space ran out */
	close(fd);
	if (unlink(path) < 0 && r == 0)
		r = -errno;
	return r;
}

static void check_writable(struct checks *c, const char *root)
{
	static const char *const subs[] = {"", "/locks", "/freezes"};
	struct stat st;
	char dir[PATH_MAX];
	int r;

	if (stat(root, &st) < 0) {
		add(c, "root_writable", LOKT_CHECK_WARN,
		    "%s does not exist yet (%s); it is created by the first "
		    "lock — or set LOKT_ROOT / --root if it should exist",
		    root, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(*subs); i++) {
		if (snprintf(dir, sizeof(dir), "%s%s", root, subs[i]) >=
		    (int)sizeof(dir))
			continue; /* lokt_doctor refuses such roots */
		if (i > 0 && stat(dir, &st) < 0 && errno == ENOENT)
			continue; /* created on first use */
		r = try_write(dir);
		if (r == -ENOSPC || r == -EDQUOT) {
			add(c, "root_writable", LOKT_CHECK_FAIL,
			    "cannot write files in %s: %s — the filesystem "
			    "(or your quota) is full, so locks cannot be "
			    "taken or renewed: free some space (df %s), or "
			    "point LOKT_ROOT at another filesystem",
			    dir, strerror(-r), root);
			return;
		}
		if (r < 0) {
			add(c, "root_writable", LOKT_CHECK_FAIL,
			    "cannot create files in %s: %s — fix its "
			    "ownership or permissions, or point LOKT_ROOT at a "
			    "writable directory",
			    dir, strerror(-r));
			return;
		}
	}
	add(c, "root_writable", LOKT_CHECK_OK, "%s is writable", root);
}

static void check_netfs(struct checks *c, const char *root)
{
	const char *req = getenv("LOKT_REQUIRE_LOCAL_FS");
	int r = lokt_is_network_fs(root);

	if (r < 0)
		add(c, "network_fs", LOKT_CHECK_WARN,
		    "cannot tell the filesystem type of %s: %s", root,
		    strerror(-r));
	else if (r == 0)
		add(c, "network_fs", LOKT_CHECK_OK, "on a local filesystem");
	else
		add(c, "network_fs",
		    req && !strcmp(req, "1") ? LOKT_CHECK_FAIL
					     : LOKT_CHECK_WARN,
		    "%s is on a network or FUSE filesystem: locks taken on "
		    "other hosts are judged by TTL only and flock may not be "
		    "shared — use a local directory (LOKT_ROOT), and always a "
		    "TTL across hosts",
		    root);
}

/* What a scan of locks/ and freezes/ found. */
struct scan {
	size_t corrupt, future, total;
	char corrupt_names[LIST_MAX], future_names[LIST_MAX];
	struct lokt_record newest; /* latest acquired_ts */
	bool have_newest;
};

static void note(char *list, const char *kind, const char *file)
{
	size_t len = strlen(list);

	if (len + strlen(kind) + strlen(file) + 8 >= LIST_MAX) {
		if (len + 5 < LIST_MAX && !strstr(list, "..."))
			strcat(list, ", ...");
		return;
	}
	snprintf(list + len, LIST_MAX - len, "%s%s/%s", len ? ", " : "", kind,
		 file);
}

/* The bytes of a record file. lokt 1.x creates files with O_EXCL and then
 * writes them, so an empty file may be one being written: re-read it a
 * few times before calling it corrupt. Length, or -errno. */
static ssize_t read_record(int dfd, const char *file, char *buf)
{
	const struct timespec pause = {0, 5 * 1000 * 1000};
	ssize_t n = 0;

	for (int tries = 0; tries < 10; tries++) {
		int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0)
			return -errno;
		n = read(fd, buf, FILE_MAX);
		close(fd);
		if (n != 0)
			return n < 0 ? -errno : n;
		nanosleep(&pause, NULL);
	}
	return 0;
}

static void scan_dir(struct scan *sc, const char *root, const char *kind,
		     char *buf)
{
	char path[PATH_MAX], name[LOKT_NAME_MAX + 1];
	struct lokt_record rec;
	struct dirent *de;
	size_t len;
	ssize_t n;
	DIR *d;

	if (snprintf(path, sizeof(path), "%s/%s", root, kind) >=
	    (int)sizeof(path))
		return;
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 ||
		    len - 5 > LOKT_NAME_MAX ||
		    strcmp(de->d_name + len - 5, ".json"))
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		if (lokt_name_check(name) < 0)
			continue;
		n = read_record(dirfd(d), de->d_name, buf);
		if (n < 0)
			continue; /* removed meanwhile */
		sc->total++;
		switch (lokt_record_parse(buf, (size_t)n, &rec)) {
		case 0:
			if (!sc->have_newest ||
			    lokt__ms_between(&rec.acquired,
					     &sc->newest.acquired) > 0)
				sc->newest = rec;
			sc->have_newest = true;
			break;
		case -LOKT_E_FUTURE_VERSION:
			sc->future++;
			note(sc->future_names, kind, name);
			break;
		default:
			sc->corrupt++;
			note(sc->corrupt_names, kind, name);
		}
	}
	closedir(d);
}

static void check_clock(struct checks *c, const struct scan *sc)
{
	struct timespec now;
	struct tm tm = {0};
	char when[64];
	int64_t ahead;

	lokt__now(&now);
	if (!gmtime_r(&now.tv_sec, &tm) || tm.tm_year + 1900 < 2020) {
		add(c, "clock", LOKT_CHECK_FAIL,
		    "the system clock says year %d: TTLs cannot be judged — "
		    "set the time (timedatectl, NTP)",
		    tm.tm_year + 1900);
		return;
	}
	ahead =
	    sc->have_newest ? lokt__ms_between(&sc->newest.acquired, &now) : 0;
	if (ahead > CLOCK_SKEW_MS) {
		lokt_duration_format(ahead, when, sizeof(when));
		add(c, "clock", LOKT_CHECK_WARN,
		    "lock \"%s\" was acquired %s in the future: the clock "
		    "was stepped back, or another host's clock is ahead — "
		    "TTLs may be misjudged; check NTP on every host",
		    sc->newest.name, when);
		return;
	}
	add(c, "clock", LOKT_CHECK_OK, "the clock looks sane");
}

static void check_files(struct checks *c, const struct scan *sc)
{
	if (sc->corrupt)
		add(c, "corrupt_files", LOKT_CHECK_WARN,
		    "%zu corrupted file(s) (%s): they count as stale and are "
		    "broken by the next lock — or now with: lokt unlock NAME "
		    "--break-stale",
		    sc->corrupt, sc->corrupt_names);
	else
		add(c, "corrupt_files", LOKT_CHECK_OK,
		    "%zu lock and freeze file(s), none corrupted", sc->total);
	if (sc->future)
		add(c, "future_version", LOKT_CHECK_FAIL,
		    "%zu file(s) written by a newer protocol than %d (%s): "
		    "they are left alone — upgrade lokt, or remove one with "
		    "lokt unlock NAME --force",
		    sc->future, LOKT_PROTOCOL_VERSION, sc->future_names);
	else
		add(c, "future_version", LOKT_CHECK_OK,
		    "no file from a newer protocol");
}

static void check_audit(struct checks *c, const char *root)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/audit.log", root) >=
	    (int)sizeof(path))
		return;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			add(c, "audit_mode", LOKT_CHECK_OK,
			    "no audit log yet (created with mode 0600 by the "
			    "first event)");
		else
			add(c, "audit_mode", LOKT_CHECK_FAIL,
			    "cannot stat %s: %s — fix the permissions of %s",
			    path, strerror(errno), root);
	} else if (!S_ISREG(st.st_mode)) {
		add(c, "audit_mode", LOKT_CHECK_FAIL,
		    "%s is not a regular file — remove it; it is recreated "
		    "by the next event",
		    path);
	} else if ((st.st_mode & 07777) != 0600) {
		add(c, "audit_mode", LOKT_CHECK_WARN,
		    "%s has mode %04o, not 0600: others may read who locked "
		    "what — run: chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
	} else {
		add(c, "audit_mode", LOKT_CHECK_OK, "%s has mode 0600", path);
	}
}

LOKT_API int lokt_doctor(const char *root, struct lokt_check **ret,
			 size_t *ret_n)
{
	struct checks c = {0};
	struct scan *sc;
	char *buf;

	if (!root || !root[0])
		return -EINVAL;
	if (strlen(root) > PATH_MAX - 64)
		return -ENAMETOOLONG;
	c.ck = calloc(CHECKS_MAX, sizeof(*c.ck));
	sc = calloc(1, sizeof(*sc));
	buf = malloc(FILE_MAX);
	if (!c.ck || !sc || !buf) {
		free(c.ck);
		free(sc);
		free(buf);
		return -ENOMEM;
	}
	scan_dir(sc, root, "locks", buf);
	scan_dir(sc, root, "freezes", buf);
	free(buf);

	check_writable(&c, root);
	check_netfs(&c, root);
	check_clock(&c, sc);
	check_files(&c, sc);
	check_audit(&c, root);
	free(sc);
	*ret = c.ck;
	*ret_n = c.n;
	return 0;
}
