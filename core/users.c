// SPDX-License-Identifier: MIT
/*
 * The user database, as lokt asks it: the name of a uid (a holder's
 * owner, written in its record and compared by lokt_holds) and its
 * primary group (the group a lock file shows through the mount:
 * loktfs(8)). lokt_user_of in lokt.h.
 *
 * DESIGN: why an answer read from /etc/passwd is NSS's, and why a kept
 * one is never stale. getpwuid_r costs a lokt process 75 to 150 us the
 * first time here (nscd's socket tried twice, nsswitch.conf read and
 * parsed, /etc/passwd read: 17 system calls), and the mount six more
 * system calls per answer after that, twice per file of `ls -l` (15 % of
 * listing 10,000 locks). When nsswitch.conf has one `passwd:` line and it
 * names `files` first, with no [action] after it, a uid that /etc/passwd
 * has is answered by that file alone: glibc's files module returns the
 * first line with the uid (not counting +/- lines), and its SUCCESS ends
 * the lookup. So those answers are read from our own parse of the file
 * (fgetpwent_r: the parser of glibc's files module) and kept while both
 * files are the same: every answer stats both (two system calls) and
 * compares device, inode, size, mtime and ctime with the parse. Every
 * change to a file sets its ctime to the present; a change within the
 * clock tick of the parse could keep all five, so a parse is kept only
 * when both ctimes were at least a second old before the files were
 * stat'ed and read ("racily clean", as in attr.c; measured after the
 * parse, a parse that took a second would have kept what a change in
 * its first tick made stale); a younger one answers that once, and the next
 * answer parses again. Any other nsswitch.conf, and a uid /etc/passwd
 * does not have (LDAP, systemd-homed and systemd's dynamic users), ask
 * getpwuid_r each time, as before. nscd, where it runs, is not asked:
 * the file it would serve from is read instead, as it is now.
 *
 * What stat cannot show: writes through a shared mapping of the file
 * (mmap) after the one that set its times; the kernel stamps a page's
 * first write after writeback, not every store into it. shadow-utils and
 * vipw write /etc/passwd to a new file and rename it over (a new inode).
 *
 * A fork while another thread holds the table's lock would leave the
 * child unable to take it: the lock is taken around fork(2)
 * (pthread_atfork), as the allocator's are.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define NSSWITCH "/etc/nsswitch.conf"
#define PASSWD "/etc/passwd"
#define RACY_MS 1000 /* a parse is kept when its files are older */
#define FILE_MAX (64 << 20) /* bytes: larger is not judged */

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct user {
	uid_t uid;
	gid_t gid;
	size_t line; /* the first line with the uid answers */
	char *name;
};

static struct {
	pthread_mutex_t lock;
	bool kept; /* conf and pw are what files and the table were read
		      from, and both were racily clean: kept for next time */
	bool files; /* nsswitch.conf sends passwd to files first, and the
		       table is /etc/passwd's (else NSS answers) */
	struct file_id conf, pw;
	struct user *v; /* sorted by uid; files-first nsswitch.conf only */
	size_t n;
} users = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void id_of(const struct stat *st, struct file_id *id)
{
	*id = (struct file_id){ .dev = st->st_dev,
				.ino = st->st_ino,
				.size = st->st_size,
				.mtime = st->st_mtim,
				.ctime = st->st_ctim };
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

void (*lokt__test_pause)(const char *where); /* internal.h; attr.c too */

/* Was the file id says at least RACY_MS old at `when` (before it was
 * stat'ed and read)? */
static bool old_enough(const struct file_id *id, const struct timespec *when)
{
	return lokt__ms_between(when, &id->ctime) >= RACY_MS;
}

/* The bytes of path, read in one go from the file id says (it may have
 * been replaced since the stat, or be changing): malloc'd, NUL-terminated,
 * its length in *len; NULL when it is not that file, or not whole. */
static char *read_as(const char *path, const struct file_id *id, size_t *len)
{
	struct file_id now;
	struct stat st;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size < FILE_MAX) {
		id_of(&st, &now);
		cap = (size_t)st.st_size + 1;
		buf = same_id(&now, id) ? malloc(cap) : NULL;
	}
	/* Up to the size fstat gave, and one read more that must find the
	 * end: a file that grows meanwhile is not judged. */
	while (buf && *len < cap &&
	       ((n = read(fd, buf + *len, cap - *len)) > 0 ||
		(n < 0 && errno == EINTR)))
		*len += n > 0 ? (size_t)n : 0;
	close(fd);
	if (buf && (n < 0 || *len != (size_t)st.st_size)) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[*len] = '\0';
	return buf;
}

/* Does this nsswitch.conf send passwd lookups to `files` first, and stop
 * at what it finds there? Only then is /etc/passwd the whole answer for a
 * uid it has. */
static bool files_first(const struct file_id *id)
{
	char *text, *line, *save, *p, *tok, *next;
	bool yes = false;
	int seen = 0;
	size_t len;

	text = read_as(NSSWITCH, id, &len);
	if (!text)
		return false;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		p = line + strspn(line, " \t");
		if (strncmp(p, "passwd:", 7) != 0)
			continue;
		/* Two passwd: lines: not judged. */
		if (seen++)
			break;
		tok = strtok_r(p + 7, " \t\r", &next);
		yes = tok && !strcmp(tok, "files");
		tok = yes ? strtok_r(NULL, " \t\r", &next) : NULL;
		if (tok && tok[0] == '[')
			yes = false;
	}
	/* No passwd: line: glibc's default then is not judged. */
	free(text);
	return seen == 1 && yes;
}

static void free_users(struct user *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static int by_uid(const void *a, const void *b)
{
	const struct user *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* The table of /etc/passwd as glibc's files module reads it: one entry
 * per uid, its first line's. false when it cannot be read as stat'ed. */
static bool parse_passwd(const struct file_id *id)
{
	struct passwd pw, *res;
	struct user *v = NULL, *nv;
	size_t n = 0, cap = 0, k = 0, len;
	char buf[4096], *text;
	FILE *f;
	int r;

	/* Read whole, then parsed from memory: fgetpwent_r asks a file
	 * stream for its position at every line (an lseek each). */
	text = read_as(PASSWD, id, &len);
	f = text && len ? fmemopen(text, len, "r") : NULL;
	if (!f) {
		free(text);
		/* An empty file: an empty table. */
		return text && !len;
	}
	/* A line longer than buf (the files module would read it with a
	 * larger one), or no memory: not judged. */
	while ((r = fgetpwent_r(f, &pw, buf, sizeof(buf), &res)) != ENOENT) {
		if (r != 0)
			goto fail;
		k++;
		if (pw.pw_name[0] == '+' || pw.pw_name[0] == '-')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto fail;
			v = nv;
		}
		v[n] = (struct user){ pw.pw_uid, pw.pw_gid, k,
				      strdup(pw.pw_name) };
		if (!v[n++].name)
			goto fail;
	}
	fclose(f);
	free(text);
	if (n)
		qsort(v, n, sizeof(*v), by_uid);
	/* Keep each uid's first line. */
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k == 0 || v[k - 1].uid != v[i].uid)
			v[k++] = v[i];
		else
			free(v[i].name);
	}
	users.v = v;
	users.n = k;
	return true;
fail:
	fclose(f);
	free(text);
	free_users(v, n);
	return false;
}

/* The entry of uid in the table, parsed again if its files changed; NULL
 * when the table cannot answer (ask NSS). Called with users.lock held. */
static const struct user *kept_user(uid_t uid)
{
	struct file_id conf, pw;
	struct timespec when;
	struct stat st;
	size_t lo, hi;

	/* The files' age is judged as of before they are read: a parse that
	 * stalls (a large file, a preempted thread) must not make a file
	 * changed just before it look settled. */
	lokt__now(&when);
	if (stat(NSSWITCH, &st) < 0)
		return NULL;
	id_of(&st, &conf);
	if (stat(PASSWD, &st) < 0)
		return NULL;
	id_of(&st, &pw);
	if (!users.kept || !same_id(&conf, &users.conf) ||
	    !same_id(&pw, &users.pw)) {
		free_users(users.v, users.n);
		users.v = NULL;
		users.n = 0;
		/* A "no" is kept as a "yes" is: another nsswitch.conf
		 * costs the two stats, not a read of it each time. */
		users.files = files_first(&conf) && parse_passwd(&pw);
		users.conf = conf;
		users.pw = pw;
		if (lokt__test_pause)
			lokt__test_pause("users-read");
		users.kept = old_enough(&conf, &when) && old_enough(&pw, &when);
	}
	if (!users.files)
		return NULL;
	lo = 0;
	hi = users.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (users.v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < users.n && users.v[lo].uid == uid ? &users.v[lo] : NULL;
}

bool lokt__users_kept(void)
{
	bool kept;

	pthread_mutex_lock(&users.lock);
	kept = users.kept;
	pthread_mutex_unlock(&users.lock);
	return kept;
}

static void users_lock(void)
{
	pthread_mutex_lock(&users.lock);
}

static void users_unlock(void)
{
	pthread_mutex_unlock(&users.lock);
}

static void users_atfork(void)
{
	(void)pthread_atfork(users_lock, users_unlock, users_unlock);
}

static int copy_name(const char *from, char *name, size_t size)
{
	size_t len = strlen(from);

	if (!name) /* the group only */
		return 0;
	if (len >= size)
		return -ERANGE;
	memcpy(name, from, len + 1);
	return 0;
}

LOKT_API int lokt_user_of(uid_t uid, char *name, size_t size, gid_t *ret_gid)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct passwd pw, *found = NULL;
	const struct user *u;
	char buf[4096];
	int r;

	(void)pthread_once(&once, users_atfork);
	users_lock();
	u = kept_user(uid);
	if (u) {
		r = copy_name(u->name, name, size);
		if (r == 0 && ret_gid)
			*ret_gid = u->gid;
	}
	users_unlock();
	if (u)
		return r;
	r = getpwuid_r(uid, &pw, buf, sizeof(buf), &found);
	if (r != 0)
		return -r;
	if (!found)
		return -ENOENT;
	r = copy_name(pw.pw_name, name, size);
	if (r == 0 && ret_gid)
		*ret_gid = pw.pw_gid;
	return r;
}
