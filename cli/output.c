// SPDX-License-Identifier: MIT
/*
 * How lokt speaks: `error: ` / `warning: ` messages on stderr, human
 * durations and times, the phrases that describe a holder ("alice@h (pid
 * 42, alive) for 2m30s; expires in 27m30s"), JSON documents built from
 * lock records, and the one updating progress line of a wait.
 *
 * Records are turned into JSON by lokt_record_format and parsed back, so
 * the field names of the store are written in one place (core/record.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Does the user's locale take UTF-8? The first of LC_ALL, LC_CTYPE and
 * LANG that is set decides (as setlocale would); none: the C locale. */
static bool locale_utf8(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };
	const char *v;

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++) {
		v = getenv(vars[i]);
		if (v && *v)
			return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
	}
	return false;
}

/* s on f; outside a UTF-8 locale, the few non-ASCII signs lokt writes
 * (dashes, the middle dot, the ellipsis, arrows) in ASCII. */
static void put_text(FILE *f, const char *s)
{
	static const struct {
		const char *sign, *ascii;
	} signs[] = { { "—", "--" }, { "·", "-" }, { "…", "..." },
		      { "→", "->" } };
	static int utf8 = -1;
	size_t i, n;

	if (utf8 < 0)
		utf8 = locale_utf8();
	while (!utf8 && *s) {
		for (i = 0; i < sizeof(signs) / sizeof(*signs); i++) {
			n = strlen(signs[i].sign);
			if (!strncmp(s, signs[i].sign, n))
				break;
		}
		if (i < sizeof(signs) / sizeof(*signs)) {
			fputs(signs[i].ascii, f);
			s += n;
		} else {
			fputc(*s++, f);
		}
	}
	fputs(s, f);
}

static void __attribute__((format(printf, 2, 0)))
vmessage(const char *prefix, const char *fmt, va_list ap)
{
	char *msg = NULL;

	fputs(prefix, stderr);
	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("out of memory\n", stderr);
		return;
	}
	put_text(stderr, msg);
	fputc('\n', stderr);
	free(msg);
}

/* The last error said on stderr, and whether a JSON document went to
 * stdout: with --json, a command that failed having printed none gets
 * one made of its error (cli_json_fallback). */
static char last_error[1024];
static bool json_printed;

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("error: ", fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void cli_json_started(void)
{
	json_printed = true;
}

void cli_json_fallback(const struct cli *c, int status)
{
	struct json_object *doc;

	if (!c->json || status == 0 || json_printed)
		return;
	doc = json_object_new_object();
	json_object_object_add(doc, "error", json_object_new_string("error"));
	json_object_object_add(doc, "message",
			       json_object_new_string(last_error[0] ?
							      last_error :
							      "failed"));
	cli_json_print(doc);
}

void cli_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("warning: ", fmt, ap);
	va_end(ap);
}

int cli_usage_error(const struct cli *c, const char *fmt, ...)
{
	struct json_object *doc;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vmessage("error: ", fmt, ap);
	va_end(ap);
	if (c && c->json) {
		/* --json promises one document on stdout, refusals too. */
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		doc = json_object_new_object();
		json_object_object_add(doc, "error",
				       json_object_new_string("usage"));
		json_object_object_add(doc, "message",
				       json_object_new_string(msg));
		cli_json_print(doc);
	}
	if (c && c->cmd)
		fprintf(stderr, "Try 'lokt help %s'\n", c->cmd);
	else
		fputs("Try 'lokt help'\n", stderr);
	return EXIT_USAGE;
}

/* Length of the valid UTF-8 sequence at p (2 to 4), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* no overlong forms, no surrogates, nothing above U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Is the UTF-8 sequence at p (n bytes) a bidirectional control: U+061C,
 * U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069? Shown as they are,
 * a field could reorder the rest of its line on a terminal. */
static bool bidi_control(const unsigned char *p, size_t n)
{
	if (n == 2)
		return p[0] == 0xd8 && p[1] == 0x9c;
	if (n != 3 || p[0] != 0xe2)
		return false;
	if (p[1] == 0x80)
		return p[2] == 0x8e || p[2] == 0x8f ||
		       (p[2] >= 0xaa && p[2] <= 0xae);
	return p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9;
}

const char *cli_esc(const char *s, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0, n;
	char tmp[8];

	if (!size)
		return buf;
	for (; *p; p += n) {
		n = *p < 0x80 ? 1 : utf8_seq(p);
		if (*p == '\n' || *p == '\t' || *p == '\r')
			snprintf(tmp, sizeof(tmp), "\\%c",
				 *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
		else if (*p < 0x20 || *p == 0x7f || n == 0)
			snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
		else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) /* C1 */
			snprintf(tmp, sizeof(tmp), "\\u%04x", p[1]);
		else if (bidi_control(p, n))
			snprintf(tmp, sizeof(tmp), "\\u%04x",
				 n == 2 ? (p[0] & 0x1f) << 6 | (p[1] & 0x3f) :
					  (p[0] & 0x0f) << 12 |
						  (p[1] & 0x3f) << 6 |
						  (p[2] & 0x3f));
		else
			snprintf(tmp, sizeof(tmp), "%.*s", (int)n, (const char *)p);
		if (!n)
			n = 1;
		if (len + strlen(tmp) >= size)
			break; /* truncated at a whole character */
		memcpy(buf + len, tmp, strlen(tmp));
		len += strlen(tmp);
	}
	buf[len] = 0;
	return buf;
}

void cli_now(struct timespec *ret)
{
	clock_gettime(CLOCK_REALTIME, ret);
}

int64_t cli_mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t cli_ms_since(const struct timespec *t)
{
	struct timespec now;

	cli_now(&now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

void cli_fmt_ms(int64_t ms, char *buf, size_t size)
{
	/* Whole seconds above one, the nearest: "2m30s", not "2m30.412s";
	 * and a TTL of 2s read a millisecond after it was set is "in 2s". */
	if (ms >= 1000)
		ms = (ms + 500) / 1000 * 1000;
	lokt_duration_format(ms < 0 ? 0 : ms, buf, size);
	/* "30m0s" reads better as "30m", "1h0m" as "1h" */
	for (size_t n = strlen(buf); n >= 3 && buf[n - 2] == '0' &&
				     strchr("smh", buf[n - 1]) &&
				     strchr("dhm", buf[n - 3]);
	     n -= 2)
		buf[n - 2] = 0;
}

void cli_fmt_time(const struct timespec *t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t->tv_sec, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

/* Where a holder that cannot be looked at runs: on another host, or on
 * this one in another pid namespace (a container's; docs/protocol.md,
 * "Staleness"). */
const char *cli_elsewhere(const struct lokt_info *in)
{
	static char host[256];

	if (!host[0] && (gethostname(host, sizeof(host) - 1) < 0 || !host[0]))
		snprintf(host, sizeof(host), "localhost");
	return strcmp(in->rec.host, host) == 0 ? "in another pid namespace" :
						 "on another host";
}

const char *cli_state(const struct lokt_info *in)
{
	if (in->future)
		return "future";
	if (in->stale == LOKT_LIVE && !in->local)
		return "remote";
	return lokt_stale_name(in->stale);
}

void cli_holder(const struct lokt_info *in, char *buf, size_t size)
{
	const struct lokt_record *rec = &in->rec;
	char owner[CLI_ESC_MAX], host[CLI_ESC_MAX];
	const char *alive;

	if (in->stale == LOKT_STALE_CORRUPT) {
		snprintf(buf, size, "a corrupt lock file");
		return;
	}
	if (in->future) {
		snprintf(buf, size, "a lock file of protocol version %d",
			 rec->version);
		return;
	}
	switch (in->stale) {
	case LOKT_STALE_DEAD:
		alive = "dead";
		break;
	case LOKT_STALE_REUSED:
		alive = "dead, pid reused";
		break;
	case LOKT_STALE_EXPIRED:
		alive = "TTL expired";
		break;
	default:
		alive = in->local ? "alive" : cli_elsewhere(in);
		break;
	}
	/* Detached (lock --detach): held by pid 1, the owner's until
	 * released or expired. */
	if (lokt_is_detached(rec) && in->stale == LOKT_LIVE) {
		snprintf(buf, size, "%s@%s (detached)",
			 cli_esc(rec->owner, owner, sizeof(owner)),
			 cli_esc(rec->host, host, sizeof(host)));
		return;
	}
	/* Live through its keeper: the holder died (guard killed), and the
	 * keeper (guard's watchdog) holds on until the command has stopped. */
	if (in->kept) {
		snprintf(buf, size,
			 "%s@%s (pid %lld gone, kept alive by pid %lld until "
			 "its command stops)",
			 cli_esc(rec->owner, owner, sizeof(owner)),
			 cli_esc(rec->host, host, sizeof(host)),
			 (long long)rec->pid, (long long)rec->keeper_pid);
		return;
	}
	snprintf(buf, size, "%s@%s (pid %lld, %s)",
		 cli_esc(rec->owner, owner, sizeof(owner)),
		 cli_esc(rec->host, host, sizeof(host)), (long long)rec->pid,
		 alive);
}

void cli_timing(const struct lokt_info *in, char *buf, size_t size)
{
	const struct lokt_record *rec = &in->rec;
	char age[32], left[32];
	int64_t left_ms;

	if (in->stale == LOKT_STALE_CORRUPT) {
		snprintf(buf, size, "since %s", "an unknown time");
		return;
	}
	cli_fmt_ms(cli_ms_since(&rec->acquired), age, sizeof(age));
	if (rec->ttl_sec <= 0) {
		snprintf(buf, size, "for %s; no TTL", age);
		return;
	}
	left_ms = -cli_ms_since(&rec->expires);
	cli_fmt_ms(left_ms < 0 ? -left_ms : left_ms, left, sizeof(left));
	if (left_ms >= 0)
		snprintf(buf, size, "for %s; expires in %s", age, left);
	else
		snprintf(buf, size, "for %s; expired %s ago", age, left);
}

/* The command lines read in this listing (cli_cmdline_batch), of
 * holders named by pid and start time; at most CMD_MEMO of them. */
#define CMD_MEMO 16

static struct {
	bool on;
	size_t n;
	struct {
		int64_t pid;
		uint64_t start;
		bool known;
		char cmd[256];
	} v[CMD_MEMO];
} cmds;

void cli_cmdline_batch(bool on)
{
	cmds.on = on;
	cmds.n = 0;
}

static bool read_cmdline(const struct lokt_record *rec, char *cmd,
			 size_t size)
{
	return lokt_proc_cmdline((pid_t)rec->pid, cmd, size) >= 0 && cmd[0];
}

bool cli_cmdline(const struct lokt_info *in, char *cmd, size_t size)
{
	const struct lokt_record *rec = &in->rec;
	size_t i;

	/* pid 1 holds detached locks: its command says nothing of them. */
	if (!in->local || in->stale != LOKT_LIVE || rec->pid <= 0 ||
	    lokt_is_detached(rec))
		return false;
	if (!cmds.on || !rec->pid_start)
		return read_cmdline(rec, cmd, size);
	for (i = 0; i < cmds.n; i++)
		if (cmds.v[i].pid == rec->pid &&
		    cmds.v[i].start == rec->pid_start)
			break;
	if (i == cmds.n) {
		if (i == CMD_MEMO)
			return read_cmdline(rec, cmd, size);
		cmds.v[i].pid = rec->pid;
		cmds.v[i].start = rec->pid_start;
		cmds.v[i].known = read_cmdline(rec, cmds.v[i].cmd,
					       sizeof(cmds.v[i].cmd));
		cmds.n++;
	}
	snprintf(cmd, size, "%s", cmds.v[i].cmd);
	return cmds.v[i].known;
}

void cli_command_of(const struct lokt_info *in, char *buf, size_t size)
{
	char cmd[256], esc[4 * 256];

	buf[0] = 0;
	if (cli_cmdline(in, cmd, sizeof(cmd)))
		snprintf(buf, size, "running \"%s\"",
			 cli_esc(cmd, esc, sizeof(esc)));
}

void cli_info_of(const struct lokt_record *rec, struct lokt_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->rec = *rec;
	ret->stale = LOKT_LIVE;
	ret->local = true;
}

struct json_object *cli_record_json(const struct lokt_record *rec)
{
	struct json_object *obj = lokt_record_json(rec);

	if (!obj) {
		obj = json_object_new_object();
		json_object_object_add(obj, "name",
				       json_object_new_string(rec->name));
	}
	return obj;
}

struct json_object *cli_info_json(const struct lokt_info *in)
{
	struct json_object *obj;
	char cmd[256];

	if (in->stale == LOKT_STALE_CORRUPT) {
		obj = json_object_new_object();
		json_object_object_add(obj, "name",
				       json_object_new_string(in->rec.name));
	} else if (in->future) {
		obj = json_object_new_object();
		json_object_object_add(obj, "name",
				       json_object_new_string(in->rec.name));
		json_object_object_add(obj, "version",
				       json_object_new_int(in->rec.version));
	} else {
		obj = cli_record_json(&in->rec);
	}
	json_object_object_add(obj, "state",
			       json_object_new_string(cli_state(in)));
	/* One holder of several: the name's mode. */
	if (in->slots)
		json_object_object_add(obj, "slots",
				       json_object_new_int64(in->slots));
	if (in->shared)
		json_object_object_add(obj, "shared",
				       json_object_new_boolean(true));
	if (cli_cmdline(in, cmd, sizeof(cmd)))
		json_object_object_add(obj, "command",
				       json_object_new_string(cmd));
	return obj;
}

void cli_json_print(struct json_object *doc)
{
	json_printed = true;
	puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
}

/* TERM unset, empty or "dumb": a terminal that knows no escape sequence. */
static bool plain_terminal(void)
{
	const char *term = getenv("TERM");

	return !term || !*term || !strcmp(term, "dumb");
}

void cli_progress_cb(const struct lokt_progress *p, void *userdata)
{
	struct cli_progress *pr = userdata;
	char who[700], waited[32], age[32], line[1024];
	char owner[CLI_ESC_MAX], host[CLI_ESC_MAX];

	cli_fmt_ms(p->waited_ms, waited, sizeof(waited));
	if (p->holder && p->frozen) {
		cli_fmt_time(&p->holder->rec.expires, age, sizeof(age));
		snprintf(who, sizeof(who), "frozen by %s@%s until %s",
			 cli_esc(p->holder->rec.owner, owner, sizeof(owner)),
			 cli_esc(p->holder->rec.host, host, sizeof(host)), age);
	} else if (p->holder) {
		char h[560];

		cli_holder(p->holder, h, sizeof(h));
		cli_fmt_ms(cli_ms_since(&p->holder->rec.acquired), age,
			   sizeof(age));
		snprintf(who, sizeof(who), "held by %s for %s", h, age);
	} else {
		snprintf(who, sizeof(who), "free, waiters ahead");
	}
	snprintf(line, sizeof(line),
		 "waiting for \"%s\": %s · waited %s · position %zu of %zu",
		 pr->name, who, waited, p->position, p->waiters);
	fputc('\r', stderr);
	if (plain_terminal()) {
		/* No escape sequence: blank what is left of a longer line. */
		put_text(stderr, line);
		for (size_t n = strlen(line); n < pr->width; n++)
			fputc(' ', stderr);
	} else {
		fputs("\033[K", stderr);
		put_text(stderr, line);
	}
	fflush(stderr);
	if (strlen(line) > pr->width)
		pr->width = strlen(line);
	pr->drawn = true;
}

void cli_progress_clear(struct cli_progress *pr)
{
	if (!pr->drawn)
		return;
	if (plain_terminal()) {
		fputc('\r', stderr);
		for (size_t n = 0; n < pr->width; n++)
			fputc(' ', stderr);
		fputc('\r', stderr);
	} else {
		fputs("\r\033[K", stderr);
	}
	fflush(stderr);
	pr->drawn = false;
}
