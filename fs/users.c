// SPDX-License-Identifier: MIT
/*
 * The group a lock file shows in ls -l: its holder's primary group
 * (loktfs(8)), as the user database gives it.
 *
 * DESIGN: why a kept answer is never stale. getpwuid_r costs six system
 * calls per answer here (nsswitch.conf stat'ed, /etc/passwd opened,
 * fstat'ed, read and closed), and `ls -l` asks twice per lock file (the
 * lookup and the getattr): 15 % of listing 10,000 locks through the
 * mount. When nsswitch.conf's `passwd:` line names `files` first, with
 * no [action] after it, a user that /etc/passwd has is answered by that
 * file alone: glibc's files module returns the first line with the uid
 * (not counting +/- lines), and a SUCCESS ends the lookup. So those
 * answers are read from our own parse of the file (fgetpwent_r, the
 * parser of glibc's files module) and kept while both files are the same:
 * every answer stats both (two system calls) and compares device, inode,
 * size, mtime and ctime with the parse. Every change to a file sets its
 * ctime to the present; a change within the clock tick of the parse
 * could keep all five, so a parse is kept only when both ctimes were at
 * least a second old when it was made ("racily clean", as in
 * core/attr.c); a younger one answers that once, and the next answer
 * parses again. Any other nsswitch.conf, and a uid /etc/passwd does not
 * have (LDAP, systemd's dynamic users), ask getpwuid_r each time, as
 * before. nscd, where it runs, is not asked: the files it would serve
 * from are.
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"

#define NSSWITCH "/etc/nsswitch.conf"
#define PASSWD "/etc/passwd"
#define RACY_NS 1000000000LL /* a parse is kept when its files are older */

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
};

static struct {
	pthread_mutex_t lock;
	bool parsed; /* conf and pw are what the table was read from */
	bool kept; /* ... and both were racily clean: the table answers */
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

static bool old_enough(const struct file_id *id)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (now.tv_sec - id->ctime.tv_sec) * 1000000000LL +
		       (now.tv_nsec - id->ctime.tv_nsec) >=
	       RACY_NS;
}

/* Open path and check that it is still the file id says (it may have been
 * replaced since the stat): NULL when not. */
static FILE *open_as(const char *path, const struct file_id *id)
{
	struct file_id now;
	struct stat st;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0) {
		fclose(f);
		return NULL;
	}
	id_of(&st, &now);
	if (!same_id(&now, id)) {
		fclose(f);
		return NULL;
	}
	return f;
}

/* Does this nsswitch.conf send passwd lookups to `files` first, and stop
 * at what it finds there? Only then is /etc/passwd the whole answer for a
 * uid it has. */
static bool files_first(const struct file_id *id)
{
	char line[1024], *p, *tok, *next;
	bool yes = false;
	int seen = 0;
	FILE *f = open_as(NSSWITCH, id);

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		/* A line longer than our buffer: not judged. */
		if (!strchr(line, '\n') && !feof(f)) {
			seen = 0;
			break;
		}
		p = line + strspn(line, " \t");
		if (strncmp(p, "passwd:", 7) != 0)
			continue;
		/* Two passwd: lines: not judged either. */
		if (seen++)
			break;
		tok = strtok_r(p + 7, " \t\r\n", &next);
		yes = tok && !strcmp(tok, "files");
		tok = yes ? strtok_r(NULL, " \t\r\n", &next) : NULL;
		if (tok && tok[0] == '[')
			yes = false;
	}
	/* No passwd: line: glibc's default then is not judged. */
	fclose(f);
	return seen == 1 && yes;
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
	size_t n = 0, cap = 0, k = 0;
	char buf[4096];
	FILE *f = open_as(PASSWD, id);
	int r;

	if (!f)
		return false;
	while ((r = fgetpwent_r(f, &pw, buf, sizeof(buf), &res)) != ENOENT) {
		if (r != 0) {
			/* A line longer than buf: the files module would
			 * read it with a larger one; not judged. */
			fclose(f);
			free(v);
			return false;
		}
		k++;
		if (pw.pw_name[0] == '+' || pw.pw_name[0] == '-')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				fclose(f);
				free(v);
				return false;
			}
			v = nv;
		}
		v[n++] = (struct user){ pw.pw_uid, pw.pw_gid, k };
	}
	fclose(f);
	qsort(v, n, sizeof(*v), by_uid);
	/* Keep each uid's first line. */
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[k - 1].uid != v[i].uid)
			v[k++] = v[i];
	free(users.v);
	users.v = v;
	users.n = k;
	return true;
}

/* The kept answer for uid: true and *gid, or false (ask NSS). Called with
 * users.lock held. */
static bool kept_gid(uid_t uid, gid_t *gid)
{
	struct file_id conf, pw;
	struct stat st;
	struct user *u;
	size_t lo, hi;

	if (stat(NSSWITCH, &st) < 0)
		return false;
	id_of(&st, &conf);
	if (stat(PASSWD, &st) < 0)
		return false;
	id_of(&st, &pw);
	if (!users.parsed || !users.kept || !same_id(&conf, &users.conf) ||
	    !same_id(&pw, &users.pw)) {
		users.parsed = users.kept = false;
		users.n = 0;
		if (!files_first(&conf) || !parse_passwd(&pw))
			return false;
		users.conf = conf;
		users.pw = pw;
		users.parsed = true;
		users.kept = old_enough(&conf) && old_enough(&pw);
	}
	lo = 0;
	hi = users.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (users.v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	u = lo < users.n && users.v[lo].uid == uid ? &users.v[lo] : NULL;
	if (u)
		*gid = u->gid;
	return u != NULL;
}

gid_t loktfs_primary_gid(uid_t uid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	bool hit;
	gid_t gid = 0;

	pthread_mutex_lock(&users.lock);
	hit = kept_gid(uid, &gid);
	pthread_mutex_unlock(&users.lock);
	if (hit)
		return gid;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
		return 0;
	return found->pw_gid;
}
