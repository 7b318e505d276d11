// SPDX-License-Identifier: MIT
/*
 * The audit log: <root>/audit.log, one JSON object per line, mode 0600,
 * and its previous generation <root>/audit.log.1 (docs/protocol.md).
 *
 * Each event is appended with a single write(2) on an O_APPEND descriptor,
 * so lines from concurrent processes never interleave (for regular files
 * on a local filesystem the kernel serializes appends under the inode
 * lock). Writing is best effort: a full disk or a read-only log must not
 * stop a lock from being released, so failures are dropped here.
 *
 * The store is shared and may be hostile: audit.log is opened relative to
 * the root's directory fd, without following a symlink, without blocking
 * on a FIFO, and used only when it is a regular file. Anything else
 * planted there is neither written nor served.
 *
 * ROTATION. When an append leaves audit.log at or above the cap
 * (lokt_store_set_audit_max, 16 MiB by default), the appender renames it
 * to audit.log.1, replacing the generation before; the next append
 * creates a new audit.log. So the log takes at most about twice the cap,
 * and `lokt audit` reads audit.log.1 then audit.log. No line may be lost
 * to a rename, and nobody may wait for one:
 *   - an appender holds a shared flock on its descriptor while it writes,
 *     taken without waiting; if it cannot (a rotation is under way) or its
 *     inode has no name any more (rotated out twice since it opened), it
 *     reopens the path and tries again;
 *   - a rotator holds exclusive flocks, again without waiting, on both the
 *     current log and audit.log.1, and renames only when it got both and
 *     audit.log is still the file it measured. A line written into the
 *     file just renamed to audit.log.1 is kept there; the file it replaces
 *     has no writer left (they would hold the shared lock).
 * When a flock cannot be had, the rotation is left to the next append.
 *
 * Reading loads the whole matching history into memory: the cap keeps it
 * bounded, and `--tail` is applied after the filter. Lines that do not
 * parse (a torn write after a crash, a line from a newer version) are
 * skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "store.h"

#define AUDIT_MAX_DEFAULT (16ULL << 20) /* bytes */
#define APPEND_TRIES 4 /* reopens when a rotation gets in the way */
#define AUDIT_LINE_MAX (64 * 1024) /* bytes of a line read back; longer:
					skipped */

static void put_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

static void put_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

/* Open `file` of the root: never through a symlink, never waiting on a
 * FIFO, and only a regular file of one name (a hard link planted there
 * would be some other file, say /etc/shadow where protected_hardlinks is
 * off). The fd, or -EPERM when something else is there (a symlink, FIFO,
 * directory, device, hard link), or -errno. */
int lokt__audit_open_log(const struct lokt_store *s, const char *file,
			 int flags, struct stat *ret_st)
{
	struct stat st;
	int fd;

	fd = openat(s->root_fd, file,
		    flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
		    0600);
	if (fd < 0)
		/* ELOOP: a symlink; ENXIO: a FIFO nobody reads */
		return errno == ELOOP || errno == ENXIO ? -EPERM : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
		close(fd);
		return -EPERM;
	}
	if (ret_st)
		*ret_st = st;
	return fd;
}

static uint64_t audit_max(const struct lokt_store *s)
{
	return s->audit_max ? s->audit_max : AUDIT_MAX_DEFAULT;
}

bool lokt__same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Rename the log `fd` to audit.log.1 if it still is audit.log and still
 * at or above the cap, and nobody is writing to either file. */
static void rotate(struct lokt_store *s, int fd)
{
	struct stat cur, named, old;
	int ofd = -1;

	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return;
	if (fstat(fd, &cur) < 0 || (uint64_t)cur.st_size < audit_max(s) ||
	    fstatat(s->root_fd, AUDIT_LOG, &named, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !lokt__same_file(&cur, &named))
		goto out; /* someone else rotated it */
	ofd = openat(s->root_fd, AUDIT_OLD,
		     O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (ofd >= 0) {
		/* A writer may still append to the old generation: it holds a
		 * shared lock while it does. Anything but a regular file is
		 * simply replaced (rename follows nothing). */
		if (fstat(ofd, &old) < 0 ||
		    (S_ISREG(old.st_mode) && flock(ofd, LOCK_EX | LOCK_NB) < 0))
			goto out;
	} else if (errno != ENOENT && errno != ELOOP && errno != ENXIO) {
		goto out;
	}
	(void)renameat(s->root_fd, AUDIT_LOG, s->root_fd, AUDIT_OLD);
out:
	if (ofd >= 0)
		close(ofd);
	(void)flock(fd, LOCK_UN);
}

/* Forks seen by this process, counted in each child: a log kept open
 * by a store belongs to the process that opened it (a child sharing the
 * parent's description would share its flock). */
static _Atomic unsigned forks;

static void count_fork(void)
{
	forks++;
}

static void watch_forks(void)
{
	(void)pthread_atfork(NULL, NULL, count_fork);
}

/* Is the log kept open by the directory store still the file at the
 * path? 1: yes, write to it (its size in dir->audit_size); 0: no (or
 * none), it is closed and forgotten, open the path again; -1: it is, but
 * with a second name now (a hard link planted), write nothing. Called
 * with dir->lock held. */
static int kept_log_current(struct lokt_store *s, struct lokt_dir *dir)
{
	struct stat at;

	if (dir->audit_fd < 0)
		return 0;
	if (fstatat(s->root_fd, AUDIT_LOG, &at, AT_SYMLINK_NOFOLLOW) == 0 &&
	    at.st_dev == dir->audit_dev && at.st_ino == dir->audit_ino) {
		if (!S_ISREG(at.st_mode) || at.st_nlink > 1)
			return -1; /* a hard link planted to our file since */
		dir->audit_size = at.st_size;
		return 1;
	}
	close(dir->audit_fd); /* rotated, replaced or removed */
	dir->audit_fd = -1;
	return 0;
}

/* Open the log into the store's keeping (checked by the caller, under
 * the flock, with kept_log_fresh); -1 when it cannot be (best effort). */
static int kept_log_open(struct lokt_store *s, struct lokt_dir *dir)
{
	int fd;

	fd = openat(s->root_fd, AUDIT_LOG,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
			    O_NONBLOCK | O_NOCTTY,
		    0600);
	if (fd < 0)
		return -1;
	dir->audit_fd = fd;
	dir->audit_forks = forks;
	return 0;
}

/* The log just opened by kept_log_open, as kept_log_current answers:
 * one fstat both refuses what is not the log (anything but a regular
 * file of one name: nothing is written before it is seen) and finds an
 * inode rotated out since the open (no name left). */
static int kept_log_fresh(struct lokt_dir *dir)
{
	struct stat st;

	if (fstat(dir->audit_fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink > 1)
		return -1;
	if (st.st_nlink == 0) {
		close(dir->audit_fd);
		dir->audit_fd = -1;
		return 0;
	}
	dir->audit_dev = st.st_dev;
	dir->audit_ino = st.st_ino;
	dir->audit_size = st.st_size;
	return 1;
}

/* One line, one write(2), into the current log; see ROTATION above.
 *
 * DESIGN: the log stays open in the store (struct lokt_dir) from one
 * event to the next: an append is flock, fstatat, write, unlock, four
 * system calls (the first: open, flock, fstat, write, unlock; it was
 * open, flock, fstat, write, close for every event). Kept open, the
 * descriptor may go stale in three ways, each checked at every append:
 *   - rotated (by anyone) or replaced or removed (by any user of a
 *     shared store): the fstatat of the path, under the shared flock,
 *     must show the very file we have open (device and inode), else it
 *     is closed and the path opened again, never followed (O_NOFOLLOW)
 *     and only used when it is a regular file of one name. A hard link
 *     made to our file since (st_nlink > 1) stops the write, as at open.
 *     Under the shared flock no rotation of ours can happen between the
 *     fstatat and the write; one by a process that ignores the lock
 *     leaves the line in audit.log.1, which is kept.
 *   - inherited by a fork's child: the child opens its own (a shared
 *     description would share the flock);
 *   - used by two threads: appends of one store are serialized by
 *     dir->lock, held from the flock to the unlock.
 * The size the fstatat gives plus our line decides a rotation: a line
 * appended meanwhile by another process can only make the log larger,
 * so at worst the rotation falls to the next append. */
void lokt__audit_file_append(struct lokt_store *s, const char *line,
			     size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct lokt_dir *dir = s->be_data;
	bool fresh, locked;
	ssize_t n;
	int cur;

	(void)pthread_once(&once, watch_forks);
	pthread_mutex_lock(&dir->lock);
	if (dir->audit_fd >= 0 && dir->audit_forks != forks)
		dir->audit_fd = -1; /* the parent's: left to it (no close:
				       the number may be reused already) */
	for (int i = 0; i < APPEND_TRIES; i++) {
		fresh = dir->audit_fd < 0;
		if (fresh && kept_log_open(s, dir) < 0)
			break; /* best effort, see above */
		/* The last try writes even without the lock: a process that
		 * keeps an flock on the log must not silence it. */
		locked = i < APPEND_TRIES - 1;
		if (locked && flock(dir->audit_fd, LOCK_SH | LOCK_NB) < 0) {
			close(dir->audit_fd);
			dir->audit_fd = -1;
			continue;
		}
		cur = fresh ? kept_log_fresh(dir) : kept_log_current(s, dir);
		if (cur < 0) {
			close(dir->audit_fd); /* drops the flock */
			dir->audit_fd = -1;
			break; /* not the log: never written */
		}
		if (cur == 0) {
			if (!locked)
				break;
			continue; /* closed (which dropped the flock) */
		}
		/* One write: a short write cannot be completed without
		 * risking an interleaved line, so it is not retried. */
		n = write(dir->audit_fd, line, len);
		if (n > 0 &&
		    (uint64_t)dir->audit_size + (uint64_t)n >= audit_max(s))
			rotate(s, dir->audit_fd); /* ends with LOCK_UN */
		else if (locked)
			(void)flock(dir->audit_fd, LOCK_UN);
		break;
	}
	pthread_mutex_unlock(&dir->lock);
}

void lokt__audit_file_close(struct lokt_store *s)
{
	struct lokt_dir *dir = s->be_data;

	if (dir->audit_fd >= 0 && dir->audit_forks == forks)
		close(dir->audit_fd);
	dir->audit_fd = -1;
}

/* The line (with its newline, malloc'd) of one event; NULL when out of
 * memory. extra is consumed. */
static char *event_line(const char *event, const char *name,
			const struct lokt_record *rec,
			const struct lokt_who *who, struct json_object *extra,
			size_t *ret_len)
{
	struct json_object *o = json_object_new_object();
	struct timespec now;
	char ts[64], *line = NULL;
	const char *json;
	int len;

	if (!extra)
		extra = json_object_new_object();
	if (!o || !extra)
		goto out;
	lokt__now(&now);
	if (lokt_time_format(&now, ts, sizeof(ts)) < 0)
		goto out;
	put_str(o, "ts", ts);
	put_str(o, "event", event);
	put_str(o, "name", name);
	put_str(o, "lock_id", rec ? rec->lock_id : "");
	put_str(o, "owner", who ? who->owner : rec ? rec->owner : "");
	put_str(o, "host", who ? who->host : rec ? rec->host : "");
	put_int(o, "pid", who ? who->pid : rec ? rec->pid : 0);
	put_str(o, "agent_id", who ? who->agent_id : rec ? rec->agent_id : "");
	put_int(o, "ttl_sec", rec ? rec->ttl_sec : 0);
	/* The real uid of whoever made the transition: `owner` is what the
	 * caller claims ($LOKT_OWNER), `uid` is what the kernel says. */
	put_int(o, "uid", who ? (int64_t)who->uid : (int64_t)getuid());
	if (rec && rec->fence)
		json_object_object_add(o, "fence", lokt__json_u64(rec->fence));
	if (who && who->via && json_object_is_type(extra, json_type_object))
		put_str(extra, "via", who->via);
	json_object_object_add(o, "extra", extra);
	extra = NULL; /* owned by o now */

	json = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (json && (len = asprintf(&line, "%s\n", json)) >= 0)
		*ret_len = (size_t)len;
	else
		line = NULL;
out:
	json_object_put(extra);
	json_object_put(o);
	return line;
}

void lokt__audit(struct lokt_store *s, const char *event, const char *name,
		 const struct lokt_record *rec, const struct lokt_who *who,
		 struct json_object *extra)
{
	size_t len;
	char *line;

	if (!s) {
		json_object_put(extra);
		return;
	}
	line = event_line(event, name, rec, who, extra, &len);
	if (line)
		s->be->audit_append(s, line, len);
	free(line);
}

void lokt__taudit(struct lokt_txn *t, const char *event,
		  const struct lokt_record *rec, const struct lokt_who *who,
		  struct json_object *extra)
{
	size_t len;
	char *line = event_line(event, t->name, rec, who, extra, &len);

	if (line)
		t->s->be->audit(t, line, len);
	free(line);
}

LOKT_API int lokt_audit_max_parse(const char *text, uint64_t *ret)
{
	unsigned long long n;
	unsigned shift = 0;
	char *end;

	if (!text || !ret || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end && strchr("kK", *end))
		shift = 10;
	else if (*end && strchr("mM", *end))
		shift = 20;
	else if (*end && strchr("gG", *end))
		shift = 30;
	if (shift)
		end++;
	if (*end || n > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = (uint64_t)n << shift;
	return 0;
}

LOKT_API void lokt_store_set_audit_max(struct lokt_store *s, uint64_t bytes)
{
	if (s)
		s->audit_max = bytes ? bytes : UINT64_MAX;
}

static int write_line(const char *line, size_t len, void *ud)
{
	int fd = *(int *)ud;

	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return -errno ?: -EIO;
	return 0;
}

/* A store without an audit file (etcd): its log as it is now, in an
 * anonymous file of its own, read from the start. */
static int audit_snapshot(struct lokt_store *s, int *ret_fd,
			  struct stat *ret_st)
{
	int fd = memfd_create("lokt-audit", MFD_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = s->be->audit_lines(s, write_line, &fd);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r == 0 && ret_st && fstat(fd, ret_st) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	if (ret_st)
		ret_st->st_mode = S_IFREG | 0400;
	*ret_fd = fd;
	return 0;
}

LOKT_API int lokt_audit_open(struct lokt_store *s, int *ret_fd,
			     struct stat *ret_st)
{
	struct stat st;
	int fd;

	if (!s || !ret_fd)
		return -EINVAL;
	if (s->be != &lokt__dir_backend)
		return audit_snapshot(s, ret_fd, ret_st);
	fd = lokt__audit_open_log(s, AUDIT_LOG, O_RDONLY, &st);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	if (ret_st)
		*ret_st = st;
	return 0;
}

/* Copy string member key into dst[size]; false on wrong type or too long,
 * true (dst "") when absent. */
static bool ev_str(struct json_object *o, const char *key, char *dst,
		   size_t size)
{
	struct json_object *v;
	const char *str;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	str = json_object_get_string(v);
	if (strlen(str) >= size)
		return false;
	memcpy(dst, str, strlen(str) + 1);
	return true;
}

static int64_t ev_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

bool lokt__audit_parse(const char *line, struct lokt_event *ev)
{
	struct json_object *o = lokt__json_parse(line);
	char ts[64];
	bool ok;

	if (!o)
		return false;
	ok = json_object_is_type(o, json_type_object) &&
	     ev_str(o, "ts", ts, sizeof(ts)) &&
	     lokt_time_parse(ts, &ev->ts) == 0 &&
	     ev_str(o, "event", ev->event, sizeof(ev->event)) && ev->event[0] &&
	     ev_str(o, "name", ev->name, sizeof(ev->name)) &&
	     ev_str(o, "lock_id", ev->lock_id, sizeof(ev->lock_id)) &&
	     ev_str(o, "owner", ev->owner, sizeof(ev->owner)) &&
	     ev_str(o, "host", ev->host, sizeof(ev->host)) &&
	     ev_str(o, "agent_id", ev->agent_id, sizeof(ev->agent_id));
	if (ok) {
		ev->pid = ev_int(o, "pid");
		ev->ttl_sec = ev_int(o, "ttl_sec");
	}
	json_object_put(o);
	return ok;
}

bool lokt__audit_matches(const struct lokt_event *ev,
			  const struct lokt_audit_filter *f)
{
	if (!f)
		return true;
	if ((f->since.tv_sec || f->since.tv_nsec) &&
	    lokt__ms_between(&ev->ts, &f->since) < 0)
		return false;
	return !f->name || strcmp(f->name, ev->name) == 0;
}

struct events {
	struct lokt_event *ev;
	size_t n, cap;
	size_t head; /* with a tail: where the oldest kept one is, once n
			reached it (a ring) */
};

/* Call fn for every line of fd (newline removed), then close it. A line
 * longer than AUDIT_LINE_MAX is no event lokt wrote (its lines are a few
 * hundred bytes): skipped, so that a log made of one huge line (whoever
 * may write the store may make one, or a sparse file of gigabytes) costs
 * its reading time, not as much memory. */
static int read_lines(int fd, int (*fn)(const char *line, size_t len,
					void *ud),
		      void *ud)
{
	char *line = malloc(AUDIT_LINE_MAX + 1);
	FILE *fp = fdopen(fd, "re");
	bool too_long = false;
	size_t len = 0;
	int ch, r = 0;

	if (!fp || !line) {
		r = fp ? -ENOMEM : -errno;
		if (fp)
			fclose(fp);
		else
			close(fd);
		free(line);
		return r;
	}
	for (;;) {
		ch = getc_unlocked(fp);
		if (ch != EOF && ch != '\n') {
			if (len < AUDIT_LINE_MAX)
				line[len++] = (char)ch;
			else
				too_long = true;
			continue;
		}
		if (ch == EOF && len == 0 && !too_long)
			break;
		if (!too_long) {
			line[len] = '\0';
			r = fn(line, len, ud);
		}
		len = 0;
		too_long = false;
		if (ch == EOF || r < 0)
			break;
	}
	free(line);
	fclose(fp);
	return r < 0 ? r : 0;
}

int lokt__audit_open_both(struct lokt_store *s, int *ret_old, int *ret_cur)
{
	struct stat cur, named;
	int ofd, fd;

	for (int i = 0; i < APPEND_TRIES; i++) {
		fd = lokt__audit_open_log(s, AUDIT_LOG, O_RDONLY, &cur);
		if (fd < 0 && fd != -ENOENT)
			return fd;
		ofd = lokt__audit_open_log(s, AUDIT_OLD, O_RDONLY, NULL);
		if (ofd < 0 && ofd != -ENOENT) {
			if (fd >= 0)
				close(fd);
			return ofd;
		}
		if (fd < 0 ||
		    (fstatat(s->root_fd, AUDIT_LOG, &named,
			     AT_SYMLINK_NOFOLLOW) == 0 &&
		     lokt__same_file(&cur, &named)) ||
		    i == APPEND_TRIES - 1) {
			if (fd < 0 && ofd < 0)
				return -ENOENT;
			*ret_old = ofd;
			*ret_cur = fd;
			return 0;
		}
		close(fd);
		if (ofd >= 0)
			close(ofd);
	}
	return -EAGAIN; /* not reached */
}

int lokt__dir_audit_lines(struct lokt_store *s,
			  int (*fn)(const char *line, size_t len, void *ud),
			  void *ud)
{
	int ofd = -1, fd = -1, r;

	r = lokt__audit_open_both(s, &ofd, &fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (ofd >= 0)
		r = read_lines(ofd, fn, ud);
	if (fd >= 0) {
		if (r >= 0)
			r = read_lines(fd, fn, ud);
		else
			close(fd);
	}
	return r;
}

struct reading {
	const struct lokt_audit_filter *f;
	struct events evs;
};

/* Keep one line when it is an event that passes the filter. With a
 * tail, only the last tail are ever kept (a ring): a reader of the last
 * hundred events of a log of a hundred thousand took memory for all of
 * them (about 1.5 KB an event), and loktd answered every such request. */
static int take_event(const char *line, size_t len, void *ud)
{
	struct reading *rd = ud;
	struct events *evs = &rd->evs;
	size_t tail = rd->f ? rd->f->tail : 0;
	struct lokt_event ev, *grown;

	(void)len;
	memset(&ev, 0, sizeof(ev));
	if (!lokt__audit_parse(line, &ev) || !lokt__audit_matches(&ev, rd->f))
		return 0;
	ev.line = strdup(line);
	if (!ev.line)
		return -ENOMEM;
	if (tail && evs->n == tail) {
		free(evs->ev[evs->head].line);
		evs->ev[evs->head] = ev;
		evs->head = (evs->head + 1) % tail;
		return 0;
	}
	if (evs->n == evs->cap) {
		evs->cap = evs->cap ? 2 * evs->cap : 64;
		if (tail && evs->cap > tail)
			evs->cap = tail;
		grown = realloc(evs->ev, evs->cap * sizeof(*grown));
		if (!grown) {
			free(ev.line);
			return -ENOMEM;
		}
		evs->ev = grown;
	}
	evs->ev[evs->n++] = ev;
	return 0;
}

/* The ring of take_event in order, oldest first. */
static int unring(struct events *evs)
{
	struct lokt_event *v;

	if (!evs->head)
		return 0;
	v = malloc(evs->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, evs->ev + evs->head, (evs->n - evs->head) * sizeof(*v));
	memcpy(v + evs->n - evs->head, evs->ev, evs->head * sizeof(*v));
	free(evs->ev);
	evs->ev = v;
	evs->head = 0;
	return 0;
}

LOKT_API int lokt_audit_read(struct lokt_store *s,
			     const struct lokt_audit_filter *f,
			     struct lokt_event **ret, size_t *ret_n)
{
	struct reading rd = { .f = f };
	struct events *evs = &rd.evs;
	int r;

	if (!s || !ret || !ret_n)
		return -EINVAL;
	r = s->be->audit_lines(s, take_event, &rd);
	if (r >= 0)
		r = unring(evs);
	if (r < 0) {
		lokt_events_free(evs->ev, evs->n);
		return r;
	}
	*ret = evs->ev;
	*ret_n = evs->n;
	return 0;
}

LOKT_API void lokt_events_free(struct lokt_event *ev, size_t n)
{
	if (!ev)
		return;
	for (size_t i = 0; i < n; i++)
		free(ev[i].line);
	free(ev);
}

LOKT_API const char *lokt_audit_path(const struct lokt_store *s)
{
	/* A networked store keeps its audit log under its root. */
	return !s ? NULL : s->audit_path ? s->audit_path : s->root;
}
