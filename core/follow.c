// SPDX-License-Identifier: MIT
/*
 * Following the audit log (lokt_audit_follow, `lokt audit --follow`): the
 * history first, then every event as it is appended, as tail -F would,
 * across rotations (audit.c), without polling.
 *
 * History and what follows are read from the same descriptors, so no
 * event is shown twice or missed between the two. A line is used only
 * once its newline has arrived (appends are one write(2) each, but a
 * reader may catch one between its first and last byte). The current log
 * is read to its end and then waited on with inotify on the root: a
 * modification of the root's audit.log, or its replacement by a rotation
 * (audit.log renamed to audit.log.1, a new audit.log made by the next
 * append). After a rotation the old file is read to its end first (a
 * writer that opened it before the rename may still append to it: audit.c
 * lets it), then the new one from its start. A periodic look (every
 * second) catches what inotify cannot report: a root on a network
 * filesystem written by another host.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define LOOK_MS 1000 /* without an event, look anyway this often */
#define LINE_MAX_BYTES (1 << 20) /* a longer "line" is not an event */

struct follower {
	const struct lokt_audit_filter *f;
	int (*fn)(const struct lokt_event *ev, void *ud);
	void *ud;
	char *buf; /* bytes read past the last newline */
	size_t len;
	struct lokt_event *hist; /* while reading history with a tail */
	size_t n_hist, cap_hist;
	bool in_history;
	volatile sig_atomic_t *cancel;
};

/* One complete line: parsed, filtered, handed on (or kept as history). */
static int take_line(struct follower *fw, char *line)
{
	struct lokt_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	if (!lokt__audit_parse(line, &ev) || !lokt__audit_matches(&ev, fw->f))
		return 0;
	if (fw->in_history && fw->f && fw->f->tail) {
		/* Keep only the last `tail` of the history. */
		if (fw->n_hist == fw->f->tail) {
			free(fw->hist[0].line);
			memmove(fw->hist, fw->hist + 1,
				(fw->n_hist - 1) * sizeof(*fw->hist));
			fw->n_hist--;
		} else if (fw->n_hist == fw->cap_hist) {
			size_t cap = fw->cap_hist ? 2 * fw->cap_hist : 64;
			struct lokt_event *nh;

			nh = realloc(fw->hist, cap * sizeof(*nh));
			if (!nh)
				return -ENOMEM;
			fw->hist = nh;
			fw->cap_hist = cap;
		}
		ev.line = strdup(line);
		if (!ev.line)
			return -ENOMEM;
		fw->hist[fw->n_hist++] = ev;
		return 0;
	}
	ev.line = line;
	r = fw->fn(&ev, fw->ud);
	return r ? 1 : 0;
}

/* Read fd to its end, handing on each complete line. 1: fn asked to stop. */
static int drain(struct follower *fw, int fd)
{
	char chunk[8192], *nl, *nb;
	size_t used;
	ssize_t n;
	int r;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (fw->len + (size_t)n > LINE_MAX_BYTES)
			fw->len = 0; /* not a line of ours: drop it */
		nb = realloc(fw->buf, fw->len + (size_t)n + 1);
		if (!nb)
			return -ENOMEM;
		fw->buf = nb;
		memcpy(fw->buf + fw->len, chunk, (size_t)n);
		fw->len += (size_t)n;
		fw->buf[fw->len] = '\0';
		while ((nl = memchr(fw->buf, '\n', fw->len))) {
			*nl = '\0';
			used = (size_t)(nl - fw->buf) + 1;
			r = take_line(fw, fw->buf);
			memmove(fw->buf, nl + 1, fw->len - used + 1);
			fw->len -= used;
			if (r)
				return r;
		}
	}
}

/* The end of the history: its tail handed on. 1: fn asked to stop. */
static int history_done(struct follower *fw)
{
	int r = 0;

	fw->in_history = false;
	for (size_t i = 0; i < fw->n_hist; i++) {
		if (r == 0 && fw->fn(&fw->hist[i], fw->ud))
			r = 1;
		free(fw->hist[i].line);
	}
	fw->n_hist = 0;
	return r;
}

/* The history (audit.log.1, then audit.log up to now); *fd is left on the
 * current log, at its end (-1: none yet). 1: fn asked to stop. */
static int history(struct follower *fw, struct lokt_store *s, int *fd)
{
	int ofd = -1, r;

	r = lokt__audit_open_both(s, &ofd, fd);
	if (r == -ENOENT) {
		*fd = -1;
		return 0;
	}
	if (r < 0)
		return r;
	fw->in_history = true;
	if (r == 0 && ofd >= 0)
		r = drain(fw, ofd);
	fw->len = 0; /* a line cut at the end of the old file is no line */
	if (r == 0 && *fd >= 0)
		r = drain(fw, *fd);
	if (history_done(fw) && r == 0)
		r = 1;
	if (ofd >= 0)
		close(ofd);
	return r;
}

static int store_line(const char *line, size_t len, void *ud)
{
	struct follower *fw = ud;
	char *copy;
	int r;

	if (!line)
		return history_done(fw);
	copy = strndup(line, len);
	if (!copy)
		return -ENOMEM;
	r = take_line(fw, copy);
	free(copy);
	return r;
}

/* A store that follows its own log (etcd): lines from its backend. */
static int follow_store(struct lokt_store *s, struct follower *fw)
{
	volatile sig_atomic_t never = 0;
	int r;

	fw->in_history = true;
	r = s->be->audit_follow(s, store_line, fw, fw->cancel ? fw->cancel : &never);
	if (fw->in_history)
		history_done(fw);
	free(fw->hist);
	if (r == 1)
		return 0;
	return r == 0 ? -LOKT_E_CANCELED : r;
}

/* Is fd (the log we read) still the root's audit.log? */
static bool still_current(struct lokt_store *s, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 &&
	       fstatat(s->root_fd, AUDIT_LOG, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       lokt__same_file(&a, &b);
}

static int watch_root(struct lokt_store *s)
{
	char path[64];
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (ino < 0)
		return -1; /* the periodic look still finds everything */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->root_fd);
	if (inotify_add_watch(ino, path,
			      IN_MODIFY | IN_CREATE | IN_MOVED_TO |
				      IN_MOVED_FROM | IN_DELETE) < 0) {
		close(ino);
		return -1;
	}
	return ino;
}

LOKT_API int lokt_audit_follow(struct lokt_store *s,
			       const struct lokt_audit_filter *f,
			       int (*fn)(const struct lokt_event *ev,
					 void *userdata),
			       void *userdata, volatile sig_atomic_t *cancel)
{
	struct follower fw = { .f = f, .fn = fn, .ud = userdata,
			       .cancel = cancel };
	struct pollfd p;
	int fd = -1, ino, r, nfd;

	if (!s || !fn)
		return -EINVAL;
	if (s->be->audit_follow)
		return follow_store(s, &fw);
	ino = watch_root(s); /* before the history: nothing falls between */
	r = history(&fw, s, &fd);
	while (r == 0 && !(cancel && *cancel)) {
		if (fd >= 0 && !still_current(s, fd)) {
			/* Rotated: the rest of the old file, then the new. */
			r = drain(&fw, fd);
			close(fd);
			fd = -1;
			fw.len = 0;
		}
		if (r == 0 && fd < 0) {
			nfd = lokt__audit_open_log(s, AUDIT_LOG, O_RDONLY, NULL);
			if (nfd >= 0)
				fd = nfd;
			else if (nfd != -ENOENT)
				r = nfd;
		}
		if (r == 0 && fd >= 0)
			r = drain(&fw, fd);
		if (r != 0)
			break;
		p = (struct pollfd){ .fd = ino, .events = POLLIN };
		if (poll(&p, ino >= 0 ? 1 : 0, LOOK_MS) > 0) {
			char ev[4096];

			while (read(ino, ev, sizeof(ev)) > 0)
				; /* any change in the root: look */
		}
	}
	if (fd >= 0)
		close(fd);
	if (ino >= 0)
		close(ino);
	free(fw.buf);
	free(fw.hist);
	if (r == 1)
		return 0;
	if (r == 0)
		return -LOKT_E_CANCELED;
	return r;
}
