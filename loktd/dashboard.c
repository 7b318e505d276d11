// SPDX-License-Identifier: MIT
/*
 * The dashboard at /: every lock (holder, since, expiry, fence, waiters),
 * every freeze, and a timeline of the audit log (who held which lock
 * when, as bars over the last hour or day). The page is whole HTML,
 * readable without JavaScript; a few lines of script listen to
 * /v1/events and swap in /v1/dashboard (the same tables, rendered here
 * again) when the store changes, without reloading. Everything is in
 * this file: no CDN, no build step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loktd.h"

#define TIMELINE_ROWS 40
#define TIMELINE_EVENTS 20000 /* audit lines read at most */

static const char style[] =
	"body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}"
	"h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}"
	"table{border-collapse:collapse;min-width:60%}"
	"th,td{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}"
	"th{background:#f3f3f3}.muted{color:#777}"
	"td.state-live{color:#080}td.state-expired,td.state-dead,"
	"td.state-corrupt{color:#b00}"
	".tl{position:relative;height:1.2em;background:#f6f6f6;"
	"flex:1;border-radius:3px}"
	".row{display:flex;align-items:center;margin:.2em 0}"
	".row .label{width:14em;overflow:hidden;text-overflow:ellipsis}"
	".bar{position:absolute;top:0;height:100%;background:#4a7fd0;"
	"border-radius:3px;min-width:2px}.bar.open{background:#2a9d4a}"
	"#live-status{font-size:.85em}";

static const char script[] =
	"(function(){\n"
	"  var live = document.getElementById('live');\n"
	"  var st = document.getElementById('live-status');\n"
	"  if (!window.EventSource || !live) return;\n"
	"  var busy = false, again = false;\n"
	"  function refresh() {\n"
	"    if (busy) { again = true; return; }\n"
	"    busy = true;\n"
	"    fetch('/v1/dashboard' + location.search, {cache: 'no-store'})\n"
	"      .then(function (r) { return r.text(); })\n"
	"      .then(function (html) { live.innerHTML = html; })\n"
	"      .finally(function () {\n"
	"        busy = false;\n"
	"        if (again) { again = false; refresh(); }\n"
	"      });\n"
	"  }\n"
	"  var es = new EventSource('/v1/events');\n"
	"  es.addEventListener('audit', refresh);\n"
	"  es.addEventListener('change', refresh);\n"
	"  es.onopen = function () { st.textContent = 'live'; refresh(); };\n"
	"  es.onerror = function () { st.textContent = 'reconnecting…'; };\n"
	"})();\n";

static void esc(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
}

static void hhmmss(const struct timespec *t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t->tv_sec, &tm) ||
	    !strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

/* "in 29m" / "3m ago" */
static void relative(const struct timespec *t, const struct timespec *now,
		     char *buf, size_t size)
{
	int64_t ms = (int64_t)(t->tv_sec - now->tv_sec) * 1000 +
		     (t->tv_nsec - now->tv_nsec) / 1000000;
	char d[32];

	if (ms > -1000 && ms < 1000) {
		snprintf(buf, size, "just now");
		return;
	}
	lokt_duration_format((ms < 0 ? -ms : ms) / 1000 * 1000, d, sizeof(d));
	snprintf(buf, size, ms >= 0 ? "in %s" : "%s ago", d);
}

static void locks_table(FILE *f, const struct timespec *now)
{
	struct lokt_info *all = NULL;
	char a[64], b[64];
	size_t n = 0, w;

	fputs("<h2>Locks</h2>\n", f);
	if (lokt_list(loktd.store, LOKT_LOCK, &all, &n) < 0 || !n) {
		fputs("<p class=muted id=no-locks>No lock is held.</p>\n", f);
		free(all);
		return;
	}
	fputs("<table id=locks><tr><th>name</th><th>holder</th><th>since</th>"
	      "<th>expires</th><th>fence</th><th>waiters</th><th>state</th>"
	      "</tr>\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct lokt_record *r = &all[i].rec;

		fputs("<tr><td class=name>", f);
		esc(f, r->name);
		fputs("</td><td>", f);
		esc(f, r->owner);
		fputc('@', f);
		esc(f, r->host);
		if (lokt_is_detached(r))
			fputs(" <span class=muted>(detached)</span>", f);
		else if (r->pid > 0)
			fprintf(f, " <span class=muted>(pid %lld)</span>",
				(long long)r->pid);
		hhmmss(&r->acquired, a, sizeof(a));
		relative(&r->acquired, now, b, sizeof(b));
		fprintf(f, "</td><td title=\"%s\">%s</td>", a, b);
		if (r->ttl_sec > 0) {
			hhmmss(&r->expires, a, sizeof(a));
			relative(&r->expires, now, b, sizeof(b));
			fprintf(f, "<td title=\"%s\">%s</td>", a, b);
		} else {
			fputs("<td class=muted>no TTL</td>", f);
		}
		if (r->fence)
			fprintf(f, "<td>%llu</td>", (unsigned long long)r->fence);
		else
			fputs("<td class=muted>-</td>", f);
		w = 0;
		(void)lokt_waiters(loktd.store, r->name, &w);
		fprintf(f, "<td>%zu</td><td class=\"state-%s\">%s</td></tr>\n", w,
			lokt_stale_name(all[i].stale),
			all[i].future ? "future" :
					lokt_stale_name(all[i].stale));
	}
	fputs("</table>\n", f);
	free(all);
}

static void freezes_table(FILE *f, const struct timespec *now)
{
	struct lokt_info *all = NULL;
	char a[64], b[64];
	size_t n = 0;

	fputs("<h2>Freezes</h2>\n", f);
	if (lokt_list(loktd.store, LOKT_FREEZE, &all, &n) < 0 || !n) {
		fputs("<p class=muted>Nothing is frozen.</p>\n", f);
		free(all);
		return;
	}
	fputs("<table id=freezes><tr><th>name</th><th>by</th><th>since</th>"
	      "<th>until</th><th>state</th></tr>\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct lokt_record *r = &all[i].rec;

		fputs("<tr><td>", f);
		esc(f, r->name);
		fputs("</td><td>", f);
		esc(f, r->owner);
		fputc('@', f);
		esc(f, r->host);
		relative(&r->acquired, now, a, sizeof(a));
		relative(&r->expires, now, b, sizeof(b));
		fprintf(f, "</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", a,
			b, lokt_stale_name(all[i].stale));
	}
	fputs("</table>\n", f);
	free(all);
}

struct span {
	char name[LOKT_NAME_MAX + 1];
	char lock_id[LOKT_ID_LEN + 1];
	char owner[LOKT_STR_MAX];
	double start, end; /* seconds since the epoch; end < 0: open */
	int64_t ttl;
};

static double secs(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static bool ends(const char *ev)
{
	static const char *const words[] = { "release", "force-break",
					     "stale-break", "auto-prune",
					     "corrupt-break", "lost" };

	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (!strcmp(ev, words[i]))
			return true;
	return false;
}

/* Acquisitions from the audit log, paired with their ends by lock_id:
 * *ret_sp (free it) and *ret_n, or -errno: a log that could not be read
 * (out of memory, say) is said, not shown as a window where nobody held
 * anything. */
static int spans_read(double from, struct span **ret_sp, size_t *ret_n)
{
	struct lokt_audit_filter flt = { .tail = TIMELINE_EVENTS };
	struct lokt_event *ev = NULL;
	struct span *sp = NULL, *ns;
	size_t n = 0, cap = 0;
	int r;

	flt.since.tv_sec = (time_t)from - 86400; /* held since before */
	r = lokt_audit_read(loktd.store, &flt, &ev, &n);
	if (r == -ENOENT) /* no log yet */
		r = 0;
	if (r < 0)
		return r;
	*ret_n = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ev[i].lock_id[0])
			continue;
		if (!strcmp(ev[i].event, "acquire")) {
			if (*ret_n == cap) {
				cap = cap ? 2 * cap : 64;
				ns = realloc(sp, cap * sizeof(*sp));
				if (!ns) {
					r = -ENOMEM;
					break;
				}
				sp = ns;
			}
			ns = &sp[(*ret_n)++];
			snprintf(ns->name, sizeof(ns->name), "%s", ev[i].name);
			snprintf(ns->lock_id, sizeof(ns->lock_id), "%s",
				 ev[i].lock_id);
			snprintf(ns->owner, sizeof(ns->owner), "%s", ev[i].owner);
			ns->start = secs(&ev[i].ts);
			ns->end = -1;
			ns->ttl = ev[i].ttl_sec;
		} else if (ends(ev[i].event)) {
			for (size_t k = *ret_n; k-- > 0;)
				if (!strcmp(sp[k].lock_id, ev[i].lock_id)) {
					if (sp[k].end < 0)
						sp[k].end = secs(&ev[i].ts);
					break;
				}
		}
	}
	lokt_events_free(ev, n);
	if (r < 0) {
		free(sp);
		return r;
	}
	*ret_sp = sp;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct span *)a)->name,
		      ((const struct span *)b)->name);
}

static void timeline(FILE *f, const struct timespec *now, bool day)
{
	double to = secs(now), span_s = day ? 86400 : 3600, from = to - span_s;
	struct lokt_info in;
	struct span *sp = NULL;
	size_t n = 0, rows = 0;
	char a[64], b[64];
	int r;

	fprintf(f,
		"<h2>Timeline, last %s</h2>\n<p class=muted>"
		"<a href=\"/?window=hour\">hour</a> · "
		"<a href=\"/?window=day\">day</a></p>\n<div id=timeline>\n",
		day ? "day" : "hour");
	r = spans_read(from, &sp, &n);
	if (r < 0) {
		fputs("<p class=muted>The audit log could not be read (", f);
		esc(f, lokt_strerror(r));
		fputs("): the timeline is not shown.</p>\n", f);
	}
	if (n)
		qsort(sp, n, sizeof(*sp), by_name);
	for (size_t i = 0; i < n && rows < TIMELINE_ROWS;) {
		size_t j = i;
		bool any = false;

		for (; j < n && !strcmp(sp[j].name, sp[i].name); j++)
			;
		for (size_t k = i; k < j; k++) {
			struct span *s = &sp[k];
			bool open = false;
			double end = s->end, l, w;

			if (end < 0) {
				/* still held, or ended unaudited (its TTL) */
				open = lokt_get(loktd.store, LOKT_LOCK, s->name,
						&in, NULL) == 0 &&
				       !strcmp(in.rec.lock_id, s->lock_id) &&
				       in.stale == LOKT_LIVE;
				end = open ? to :
				      s->ttl > 0 ? s->start + (double)s->ttl :
						   s->start;
				if (end > to)
					end = to;
			}
			if (end < from)
				continue;
			if (!any) {
				fputs("<div class=row><span class=label>", f);
				esc(f, s->name);
				fputs("</span><div class=tl>", f);
				any = true;
			}
			l = (s->start < from ? from : s->start) - from;
			w = end - (s->start < from ? from : s->start);
			fprintf(f,
				"<div class=\"bar%s\" style=\"left:%.2f%%;"
				"width:%.2f%%\" title=\"",
				open ? " open" : "", 100 * l / span_s,
				100 * w / span_s);
			esc(f, s->owner);
			fputs("\"></div>", f);
		}
		if (any) {
			fputs("</div></div>\n", f);
			rows++;
		}
		i = j;
	}
	free(sp);
	if (!rows && r >= 0)
		fputs("<p class=muted>No lock was held in this window.</p>\n", f);
	hhmmss(&(struct timespec){ (time_t)from, 0 }, a, sizeof(a));
	hhmmss(now, b, sizeof(b));
	fprintf(f, "<p class=muted>%s — %s</p>\n</div>\n", a, b);
}

enum MHD_Result dashboard_route(struct req *q, bool fragment)
{
	const char *w = query(q, "window");
	bool day = w && !strcmp(w, "day");
	struct timespec now;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD"))
		return reply_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method",
				   "the dashboard is read with GET");
	f = open_memstream(&text, &len);
	if (!f)
		return MHD_NO;
	clock_gettime(CLOCK_REALTIME, &now);
	if (!fragment) {
		fprintf(f,
			"<!DOCTYPE html>\n<html lang=en><head><meta "
			"charset=utf-8><title>loktd</title>\n"
			"<meta name=viewport content=\"width=device-width\">"
			"<style>%s</style></head><body>\n<h1>loktd "
			"<span id=live-status class=muted>static</span></h1>\n"
			"<p class=muted>store ",
			style);
		esc(f, loktd.root);
		fputs("</p>\n<div id=live>\n", f);
	}
	locks_table(f, &now);
	freezes_table(f, &now);
	timeline(f, &now, day);
	if (!fragment)
		fprintf(f, "</div>\n<script>\n%s</script>\n</body></html>\n",
			script);
	if (fclose(f))
		return MHD_NO;
	return reply_text(q, MHD_HTTP_OK, "text/html; charset=utf-8", text);
}
