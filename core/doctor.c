// SPDX-License-Identifier: MIT
/*
 * Health checks of a store, for `lokt doctor`. The root need not be
 * openable (that may be the very problem), so nothing here goes through
 * struct lokt_store: each check looks at the directory itself, changes
 * nothing but a temporary dot-file, and says what to do when it is not OK.
 *
 * Checks, in order: root_writable, network_fs, clock, corrupt_files,
 * future_version, foreign_files, temp_files, sidecars, audit_mode,
 * proc_visible. Adding
 * one: give it an id here, in the header comment of struct lokt_check and
 * in docs/troubleshooting.md.
 *
 * The store may be shared with users we do not trust: everything under
 * the root is opened relative to directory fds with lokt__open_in (no
 * symlink followed, no FIFO waited on), and what is not what liblokt
 * would have put there is reported as foreign, never read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define CHECKS_MAX 12
#define FILE_MAX (64 * 1024 + 1)      /* one more than a record may be */
#define CLOCK_SKEW_MS (5 * 60 * 1000) /* "acquired in the future" beyond */
#define LIST_MAX 160 /* bytes of file names quoted in one message */
#define TEMP_AGE_SEC 60 /* a temporary file older than this is a leftover */

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
 * listing) in the directory dfd. Creating is not enough: on a full
 * filesystem an empty file is still created, and only writing its bytes
 * (made to reach the disk with fsync) fails. */
static int try_write(int dfd)
{
	static const char probe[512] = "lokt doctor: write probe\n";
	char file[32];
	ssize_t n;
	int fd, r = 0;

	snprintf(file, sizeof(file), ".doctor.%d", (int)getpid());
	fd = openat(dfd, file,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, probe, sizeof(probe));
	if (n < 0 || fsync(fd) < 0)
		r = -errno;
	else if (n != (ssize_t)sizeof(probe))
		r = -ENOSPC; /* a short write: the space ran out */
	close(fd);
	if (unlinkat(dfd, file, 0) < 0 && r == 0)
		r = -errno;
	return r;
}

static void check_writable(struct checks *c, const char *root, int rfd)
{
	static const char *const subs[] = {".", "locks", "freezes"};
	struct stat st;
	int r, dfd;

	if (stat(root, &st) < 0) {
		add(c, "root_writable", LOKT_CHECK_WARN,
		    "%s does not exist yet (%s); it is created by the first "
		    "lock — or set LOKT_ROOT / --root if it should exist",
		    root, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(*subs); i++) {
		dfd = rfd < 0 ? -ENOTDIR :
				lokt__open_in(rfd, subs[i],
					      O_RDONLY | O_DIRECTORY, S_IFDIR,
					      NULL);
		if (dfd == -ENOENT || dfd == -LOKT_E_FOREIGN)
			continue; /* created on first use; foreign_files */
		r = dfd < 0 ? dfd : try_write(dfd);
		if (dfd >= 0)
			close(dfd);
		if (r == -ENOSPC || r == -EDQUOT) {
			add(c, "root_writable", LOKT_CHECK_FAIL,
			    "cannot write files in %s/%s: %s — the filesystem "
			    "(or your quota) is full, so locks cannot be "
			    "taken or renewed: free some space (df %s), or "
			    "point LOKT_ROOT at another filesystem",
			    root, subs[i], strerror(-r), root);
			return;
		}
		if (r < 0) {
			add(c, "root_writable", LOKT_CHECK_FAIL,
			    "cannot create files in %s/%s: %s — fix its "
			    "ownership or permissions, or point LOKT_ROOT at a "
			    "writable directory",
			    root, subs[i], strerror(-r));
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
	size_t corrupt, future, total, foreign, temps, sidecars;
	char corrupt_names[LIST_MAX], future_names[LIST_MAX];
	char foreign_names[LIST_MAX], temp_names[LIST_MAX];
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
		int fd = lokt__open_in(dfd, file, O_RDONLY, S_IFREG, NULL);

		if (fd < 0)
			return fd;
		n = read(fd, buf, FILE_MAX);
		close(fd);
		if (n != 0)
			return n < 0 ? -errno : n;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Is d_name ".<name><suffix>" with a valid name? The name goes to buf. */
static bool dot_name(const char *d_name, const char *suffix, char *buf)
{
	size_t len = strlen(d_name), sl = strlen(suffix);

	if (d_name[0] != '.' || len <= sl + 1 || len - sl - 1 > LOKT_NAME_MAX ||
	    strcmp(d_name + len - sl, suffix))
		return false;
	memcpy(buf, d_name + 1, len - sl - 1);
	buf[len - sl - 1] = '\0';
	return lokt_name_check(buf) == 0;
}

/* Is the entry file of dfd of `type`? Absent counts as yes (gone). */
static bool is_type(int dfd, const char *file, mode_t type)
{
	struct stat st;

	return fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	       (st.st_mode & S_IFMT) == type;
}

/* May we unlink the entry of stat *st from directory dfd? Not in a
 * sticky directory (chmod +t) that is not ours, an entry that is not
 * ours, unless we are root. */
static bool may_unlink(int dfd, const struct stat *st)
{
	uid_t me = geteuid();
	struct stat ds;

	if (me == 0 || fstat(dfd, &ds) < 0 || !(ds.st_mode & S_ISVTX))
		return true;
	return st->st_uid == me || ds.st_uid == me;
}

/* A sidecar or the fence floor: a regular file, and one of a second
 * hard link holds a counter (lokt__counter_file_check) that the next
 * transition may take out of the store (lokt__sidecar_retire): else
 * the name is refused as foreign, for us. */
static bool is_own_file(int dfd, const char *file)
{
	struct stat st;

	if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return true; /* gone meanwhile */
	if (st.st_nlink <= 1)
		return S_ISREG(st.st_mode);
	return lokt__counter_file_check(dfd, file) != -LOKT_E_FOREIGN &&
	       may_unlink(dfd, &st);
}

/* A temporary file older than TEMP_AGE_SEC: a writer killed half-way.
 * Anything but a regular file at such a name was planted (a directory
 * there made every rewrite of its name fail: store.c, write_temp), and
 * so was another user's file that we may not remove (a sticky
 * directory): neither the next change nor a prune can remove it. */
static void scan_temp(struct scan *sc, int dfd, const char *where,
		      const char *file)
{
	struct stat st;

	if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISREG(st.st_mode) || !may_unlink(dfd, &st)) {
		sc->foreign++;
		note(sc->foreign_names, where, file);
	} else if (time(NULL) - st.st_mtime > TEMP_AGE_SEC) {
		sc->temps++;
		note(sc->temp_names, where, file);
	}
}

/* The tickets of the queue directory `file` (".<name>.q") in dfd. */
/* A waiter's doorbell, "<20-digit ticket>.bell" (a FIFO; queue.c). */
static bool is_bell(const char *file)
{
	return strlen(file) == 25 && strspn(file, "0123456789") == 20 &&
	       !strcmp(file + 20, ".bell");
}

static void scan_queue(struct scan *sc, int dfd, const char *file)
{
	char where[LOKT_NAME_MAX + 16];
	struct dirent *de;
	DIR *d;
	int qfd;

	snprintf(where, sizeof(where), "locks/%s", file);
	qfd = lokt__open_in(dfd, file, O_RDONLY | O_DIRECTORY, S_IFDIR, NULL);
	if (qfd == -LOKT_E_FOREIGN) {
		sc->foreign++;
		note(sc->foreign_names, "locks", file);
	}
	if (qfd < 0 || !(d = fdopendir(qfd))) {
		if (qfd >= 0)
			close(qfd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') {
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				scan_temp(sc, qfd, where, de->d_name);
		} else if (!is_type(qfd, de->d_name,
				    is_bell(de->d_name) ? S_IFIFO : S_IFREG)) {
			sc->foreign++;
			note(sc->foreign_names, where, de->d_name);
		}
	}
	closedir(d);
}

/* A record file: parsed, or counted as corrupt, future or foreign. */
static void scan_record(struct scan *sc, int dfd, const char *kind,
			const char *file, const char *name, char *buf)
{
	struct lokt_record rec;
	ssize_t n = read_record(dfd, file, buf);

	if (n == -LOKT_E_FOREIGN) {
		sc->foreign++;
		note(sc->foreign_names, kind, file);
		return;
	}
	if (n < 0)
		return; /* removed meanwhile */
	sc->total++;
	switch (lokt_record_parse(buf, (size_t)n, &rec)) {
	case 0:
		if (!sc->have_newest ||
		    lokt__ms_between(&rec.acquired, &sc->newest.acquired) > 0)
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

static void scan_dir(struct scan *sc, int rfd, const char *kind, char *buf)
{
	char name[LOKT_NAME_MAX + 1];
	struct dirent *de;
	size_t len;
	DIR *d;
	int dfd;

	dfd = lokt__open_in(rfd, kind, O_RDONLY | O_DIRECTORY, S_IFDIR, NULL);
	if (dfd == -LOKT_E_FOREIGN) {
		sc->foreign++;
		note(sc->foreign_names, ".", kind);
	}
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (dot_name(de->d_name, ".lk", name)) {
			sc->sidecars++;
			if (!is_own_file(dirfd(d), de->d_name)) {
				sc->foreign++;
				note(sc->foreign_names, kind, de->d_name);
			}
		} else if (!strcmp(de->d_name, ".fence-floor")) {
			if (!is_own_file(dirfd(d), de->d_name)) {
				sc->foreign++;
				note(sc->foreign_names, kind, de->d_name);
			}
		} else if (!strcmp(kind, "locks") &&
			   dot_name(de->d_name, ".q", name)) {
			scan_queue(sc, dirfd(d), de->d_name);
		} else if (de->d_name[0] == '.' && len > 4 &&
			   !strcmp(de->d_name + len - 4, ".tmp")) {
			scan_temp(sc, dirfd(d), kind, de->d_name);
		} else if (de->d_name[0] != '.' && len > 5 &&
			   len - 5 <= LOKT_NAME_MAX &&
			   !strcmp(de->d_name + len - 5, ".json")) {
			memcpy(name, de->d_name, len - 5);
			name[len - 5] = '\0';
			if (lokt_name_check(name) == 0)
				scan_record(sc, dirfd(d), kind, de->d_name,
					    name, buf);
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
		    "--break-stale (in freezes/: lokt unfreeze NAME)",
		    sc->corrupt, sc->corrupt_names);
	else
		add(c, "corrupt_files", LOKT_CHECK_OK,
		    "%zu lock and freeze file(s), none corrupted", sc->total);
	if (sc->future)
		add(c, "future_version", LOKT_CHECK_FAIL,
		    "%zu file(s) written by a newer protocol than %d (%s): "
		    "they are left alone — upgrade lokt, or remove one with "
		    "lokt unlock NAME --force (in freezes/: lokt unfreeze "
		    "NAME --force)",
		    sc->future, LOKT_PROTOCOL_VERSION, sc->future_names);
	else
		add(c, "future_version", LOKT_CHECK_OK,
		    "no file from a newer protocol");
	if (sc->foreign)
		add(c, "foreign_files", LOKT_CHECK_FAIL,
		    "%zu foreign file(s) (%s): a symlink, FIFO, directory or "
		    "other file where liblokt keeps its own — never followed "
		    "or read; the names they belong to fail with \"foreign "
		    "file\" and listings skip them — find who made them and "
		    "remove them (rm, as the owner or root)",
		    sc->foreign, sc->foreign_names);
	else
		add(c, "foreign_files", LOKT_CHECK_OK,
		    "no foreign file in locks/ or freezes/");
	if (sc->temps)
		add(c, "temp_files", LOKT_CHECK_WARN,
		    "%zu temporary file(s) left by a writer killed half-way "
		    "(%s): harmless — lokt status --prune-expired removes "
		    "them (a .NAME.json.tmp or .ticket.tmp at once, others "
		    "once an hour old), and the next change of NAME its "
		    ".NAME.json.tmp",
		    sc->temps, sc->temp_names);
	else
		add(c, "temp_files", LOKT_CHECK_OK, "no leftover temporary file");
	add(c, "sidecars", LOKT_CHECK_OK,
	    "%zu sidecar file(s) (.NAME.lk): one per name locked or "
	    "frozen in the last day or held now; older ones are removed by "
	    "lokt status --prune-expired",
	    sc->sidecars);
}

/* Can the log be rotated (audit.c): something at audit.log.1 of the
 * root rfd that a rename may not replace (a directory; another user's
 * file in a sticky root) stops every rotation, and audit.log grows past
 * its cap. */
static bool old_log_blocks(int rfd)
{
	struct stat st;

	if (rfd < 0 ||
	    fstatat(rfd, AUDIT_OLD, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return S_ISDIR(st.st_mode) || !may_unlink(rfd, &st);
}

static void check_audit(struct checks *c, const char *root, int rfd)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/audit.log", root) >=
	    (int)sizeof(path))
		return;
	if (old_log_blocks(rfd)) {
		add(c, "audit_mode", LOKT_CHECK_FAIL,
		    "%s.1 cannot be replaced (a directory, or another user's "
		    "file in a sticky root): the log is never rotated and "
		    "grows past its cap (LOKT_AUDIT_MAX) — remove it",
		    path);
		return;
	}
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

/* Can this process see other users' processes in /proc? A holder it
 * cannot see (hidepid=invisible or noaccess, systemd's ProtectProc) is
 * judged by kill(2) alone, its start time unknown (identity.c,
 * stat_alive): live while its pid runs, so a dead holder's pid reused by
 * another process keeps the lock until that process ends. Probed on pid
 * 1, which every pid namespace has: kill(2) finds it, /proc may not. */
static void check_proc(struct checks *c)
{
	char buf[64];
	int fd = open("/proc/1/stat", O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n = -1;

	if (fd < 0) {
		err = errno;
	} else {
		n = read(fd, buf, sizeof(buf));
		err = n < 0 ? errno : 0;
		close(fd);
	}
	if (n > 0)
		add(c, "proc_visible", LOKT_CHECK_OK,
		    "/proc shows other users' processes: holders are judged "
		    "by their start time");
	else if (kill(1, 0) == 0 || errno == EPERM)
		add(c, "proc_visible", LOKT_CHECK_WARN,
		    "/proc hides other users' processes from this user "
		    "(/proc/1/stat: %s; hidepid, or systemd's ProtectProc): "
		    "their holders "
		    "are judged by kill(2) alone, so a dead holder's pid reused "
		    "by another process keeps its lock until that process "
		    "ends — give locks a TTL, or run lokt where /proc shows "
		    "every process (a member of hidepid's gid= group)",
		    strerror(err));
	else
		add(c, "proc_visible", LOKT_CHECK_WARN,
		    "cannot tell whether /proc shows other users' processes "
		    "(pid 1: %s)",
		    strerror(err));
}

/* A networked store (etcd://): what its backend checks, then its records
 * as any reader sees them. */
static int doctor_url(const char *root, struct lokt_check **ret,
		      size_t *ret_n)
{
	struct checks c = { 0 };
	struct lokt_store *s = NULL;
	struct lokt_info *v = NULL;
	size_t n = 0, corrupt = 0, future = 0, i, got = 0;
	char why[320];
	int r;

	c.ck = calloc(CHECKS_MAX, sizeof(*c.ck));
	if (!c.ck)
		return -ENOMEM;
	r = lokt_store_open_why(root, &s, why, sizeof(why));
	if (r < 0) {
		add(&c, "store_open", LOKT_CHECK_FAIL, "cannot open %s: %s",
		    root, why[0] ? why : lokt_strerror(r));
		goto out;
	}
	s->be->doctor(s, c.ck, CHECKS_MAX - 2, &got);
	c.n = got;
	for (int k = 0; k < 2; k++) {
		if (lokt_list(s, k ? LOKT_FREEZE : LOKT_LOCK, &v, &n) < 0)
			continue;
		for (i = 0; i < n; i++) {
			corrupt += v[i].stale == LOKT_STALE_CORRUPT;
			future += v[i].future;
		}
		free(v);
	}
	if (corrupt)
		add(&c, "corrupt_files", LOKT_CHECK_WARN,
		    "%zu corrupt records (stale: the next acquisition breaks them; lokt status --prune-expired removes them)",
		    corrupt);
	if (future)
		add(&c, "future_version", LOKT_CHECK_WARN,
		    "%zu records of a newer protocol version: upgrade lokt on this host",
		    future);
out:
	lokt_store_close(s);
	*ret = c.ck;
	*ret_n = c.n;
	return 0;
}

LOKT_API int lokt_doctor(const char *root, struct lokt_check **ret,
			 size_t *ret_n)
{
	struct checks c = {0};
	struct scan *sc;
	char *buf;
	int rfd;

	if (!root || !root[0] || !ret || !ret_n)
		return -EINVAL;
	if (lokt_root_is_url(root))
		return doctor_url(root, ret, ret_n);
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
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd >= 0) {
		scan_dir(sc, rfd, "locks", buf);
		scan_dir(sc, rfd, "freezes", buf);
	}
	free(buf);

	check_writable(&c, root, rfd);
	check_netfs(&c, root);
	check_clock(&c, sc);
	check_files(&c, sc);
	check_audit(&c, root, rfd);
	if (rfd >= 0)
		close(rfd);
	check_proc(&c);
	free(sc);
	*ret = c.ck;
	*ret_n = c.n;
	return 0;
}
