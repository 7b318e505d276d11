// SPDX-License-Identifier: MIT
/*
 * Watching one name's record for changes, for a holder that must learn at
 * once that its lock was removed or taken (lokt guard), and for waiters
 * (wait.c). inotify on the kind's directory, filtered by file name: every
 * way a record changes (link, rename over, unlink, lokt 1.x's create and
 * rename over) ends in one of the events of WATCH_MASK on "<name>.json".
 *
 * Only events of the directory itself, none that happen to a file in it
 * (IN_CLOSE_WRITE, IN_MODIFY...): nobody writes a record in place, and a
 * mask with an event on children makes inotify_add_watch mark every
 * cached entry of the directory, which took 55 ms with 100,000 locks (and
 * their sidecars) held, in every waiter and every guard. It also woke
 * every watcher at each transition on any name, when the sidecar opened
 * for writing was closed.
 *
 * A store over the network (etcd) watches one key and hands out a socket
 * instead, which its relay writes a byte to for every change of it: read
 * as inotify events, those bytes were a header read past the end of what
 * was read (stack garbage decided the answer).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "store.h"

#define WATCH_MASK                                                  \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |      \
	 IN_DELETE_SELF | IN_MOVE_SELF)

int lokt__watch_add(int ino, const struct lokt_store *s, enum lokt_kind kind)
{
	char path[64];
	int wd;

	/* The directory the store has open, through its fd, not a path that
	 * a member of a shared store could have swapped for a symlink since
	 * (/proc/self/fd/N names the open file itself). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", lokt__kind_fd(s, kind));
	wd = inotify_add_watch(ino, path, WATCH_MASK);
	return wd < 0 ? -errno : wd;
}

int lokt__watch_drain(int ino, const char *json, int any_wd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	bool hit = false;
	ssize_t n;
	char *p;

	for (;;) {
		n = read(ino, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = buf; p + sizeof(*ev) <= buf + n;
		     p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			/* Overflow: events were lost. The directory itself
			 * gone or moved: the record went with it. */
			if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF |
					IN_MOVE_SELF | IN_IGNORED) ||
			    (any_wd >= 0 && ev->wd == any_wd) ||
			    (ev->len && !strcmp(ev->name, json)))
				hit = true;
		}
		/* Room was left for the largest event: the queue was empty
		 * (a read stops only at the end of it, or at an event that
		 * does not fit); no read more to hear EAGAIN. */
		if ((size_t)n + sizeof(*ev) + NAME_MAX + 1 <= sizeof(buf))
			return hit;
	}
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return hit;
}

LOKT_API int lokt_watch(struct lokt_store *s, enum lokt_kind kind,
			const char *name, int *ret_fd)
{
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret_fd || !lokt__kind_ok(kind))
		return -EINVAL;
	return s->be->watch(s, kind, name, ret_fd);
}

LOKT_API int lokt_watch_changed(int fd, const char *name)
{
	char json[LOKT_NAME_MAX + 8], buf[64];
	struct stat st;
	bool hit = false;
	ssize_t n;

	if (fd < 0 || lokt_name_check(name) < 0)
		return -EINVAL;
	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		/* A watch of the one key of name (etcd): any byte is a
		 * change of it. */
		while ((n = read(fd, buf, sizeof(buf))) > 0 ||
		       (n < 0 && errno == EINTR))
			hit |= n > 0;
		return n < 0 && errno != EAGAIN ? -errno : hit;
	}
	snprintf(json, sizeof(json), "%s.json", name);
	return lokt__watch_drain(fd, json, -1);
}
