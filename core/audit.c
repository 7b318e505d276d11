// SPDX-License-Identifier: MIT
/*
 * The audit log: <root>/audit.log, one JSON object per line, mode 0600.
 *
 * Each event is appended with a single write(2) on an O_APPEND descriptor,
 * so lines from concurrent processes never interleave (for regular files
 * on a local filesystem the kernel serializes appends under the inode
 * lock). Writing is best effort: a full disk or a read-only log must not
 * stop a lock from being released, so failures are dropped here.
 *
 * Reading loads the whole matching history into memory: logs are small
 * (a few hundred bytes per transition), and `--tail` is applied after the
 * filter. Lines that do not parse (a torn write after a crash, a line
 * from a newer version) are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void put_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

static void put_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

void lokt__audit(struct lokt_store *s, const char *event, const char *name,
		 const struct lokt_record *rec, const struct lokt_who *who,
		 struct json_object *extra)
{
	struct json_object *o = json_object_new_object();
	struct timespec now;
	char ts[64], *line;
	const char *json;
	int fd, len;

	if (!extra)
		extra = json_object_new_object();
	if (!o || !extra || !s || !s->audit_path)
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
	if (who && who->via && json_object_is_type(extra, json_type_object))
		put_str(extra, "via", who->via);
	json_object_object_add(o, "extra", extra);
	extra = NULL; /* owned by o now */

	json = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!json)
		goto out;
	len = asprintf(&line, "%s\n", json);
	if (len < 0)
		goto out;
	fd = open(s->audit_path,
		  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		/* One write: a short write cannot be completed without
		 * risking an interleaved line, so it is not retried. */
		if (write(fd, line, (size_t)len) < 0) {
			/* best effort, see above */
		}
		close(fd);
	}
	free(line);
out:
	json_object_put(extra);
	json_object_put(o);
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

/* Parse one line; false when it is not an event we can show. */
static bool parse_event(const char *line, struct lokt_event *ev)
{
	struct json_object *o = json_tokener_parse(line);
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

static bool matches(const struct lokt_event *ev,
		    const struct lokt_audit_filter *f)
{
	if (!f)
		return true;
	if ((f->since.tv_sec || f->since.tv_nsec) &&
	    lokt__ms_between(&ev->ts, &f->since) < 0)
		return false;
	return !f->name || strcmp(f->name, ev->name) == 0;
}

LOKT_API int lokt_audit_read(struct lokt_store *s,
			     const struct lokt_audit_filter *f,
			     struct lokt_event **ret, size_t *ret_n)
{
	struct lokt_event *evs = NULL, *grown, ev;
	size_t n = 0, cap = 0, linecap = 0, drop;
	char *line = NULL;
	ssize_t len;
	FILE *fp;
	int r = 0;

	fp = fopen(s->audit_path, "re");
	if (!fp && errno != ENOENT)
		return -errno;
	while (fp && (len = getline(&line, &linecap, fp)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		memset(&ev, 0, sizeof(ev));
		if (!parse_event(line, &ev) || !matches(&ev, f))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(evs, cap * sizeof(*evs));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			evs = grown;
		}
		ev.line = strdup(line);
		if (!ev.line) {
			r = -ENOMEM;
			break;
		}
		evs[n++] = ev;
	}
	free(line);
	if (fp)
		fclose(fp);
	if (r < 0) {
		lokt_events_free(evs, n);
		return r;
	}
	if (f && f->tail && n > f->tail) {
		drop = n - f->tail;
		for (size_t i = 0; i < drop; i++)
			free(evs[i].line);
		memmove(evs, evs + drop, f->tail * sizeof(*evs));
		n = f->tail;
	}
	*ret = evs;
	*ret_n = n;
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
	return s ? s->audit_path : NULL;
}
