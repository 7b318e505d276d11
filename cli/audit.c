// SPDX-License-Identifier: MIT
/*
 * lokt audit: the store's audit log, filtered. Core reads and filters the
 * JSON lines; here we only parse the flags and print one line per event,
 * or, with --json, one JSON array of the raw event objects as they are in
 * the log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct audit_args {
	struct lokt_audit_filter f;
	bool follow;
};

/* lokt 1.x's `audit --tail` follows the log; ours takes a number. */
#define TAIL_1X                                                            \
	"; to follow the log as lokt 1.x's --tail does, use --follow (with "  \
	"--tail N: the last N events, then what follows)"


/* --since: an RFC 3339 time, or a duration meaning that long ago. */
static int parse_since(struct cli *c, const char *arg, struct timespec *ret)
{
	int64_t ms;
	int r;

	if (lokt_time_parse(arg, ret) >= 0)
		return 0;
	r = lokt_duration_parse(arg, &ms);
	if (r == -ERANGE)
		return cli_usage_error(c, CLI_TOO_LONG, "--since", arg,
				       LOKT_TTL_MAX_SEC / 86400);
	if (r < 0)
		return cli_usage_error(c,
				       "bad --since \"%s\": give a duration "
				       "(30m, 2h, 1d) or an RFC 3339 time "
				       "(2026-11-23T10:00:00Z)",
				       arg);
	cli_now(ret);
	ret->tv_sec -= ms / 1000;
	ret->tv_nsec -= (ms % 1000) * 1000000;
	if (ret->tv_nsec < 0) {
		ret->tv_nsec += 1000000000;
		ret->tv_sec--;
	}
	return 0;
}

static int audit_opt(struct cli *c, int opt, const char *arg, void *data)
{
	struct audit_args *a = data;
	char *end;
	long long n;

	switch (opt) {
	case OPT_SINCE:
		return parse_since(c, arg, &a->f.since);
	case OPT_NAME:
		if (cli_check_name(c, arg))
			return EXIT_USAGE;
		a->f.name = arg;
		return 0;
	case OPT_TAIL:
		errno = 0;
		n = strtoll(arg, &end, 10);
		if (errno || end == arg || *end || n <= 0)
			return cli_usage_error(c, "bad --tail \"%s\": give a "
						  "positive number of events"
						  TAIL_1X,
					       arg);
		a->f.tail = (size_t)n;
		return 0;
	case 'f':
		a->follow = true;
		return 0;
	}
	return 0;
}

static void print_event(const struct lokt_event *ev)
{
	struct json_object *obj, *extra = NULL, *uid = NULL;
	char ts[64], e[CLI_ESC_MAX], n[CLI_ESC_MAX], o[CLI_ESC_MAX];
	char h[CLI_ESC_MAX], x[4096];

	/* The log is a file anyone with write access may have appended to:
	 * every string is escaped, extra too (JSON escapes C0 controls, not
	 * C1 ones). */
	cli_fmt_time(&ev->ts, ts, sizeof(ts));
	printf("%s %s %s %s@%s pid %lld", ts, cli_esc(ev->event, e, sizeof(e)),
	       cli_esc(ev->name, n, sizeof(n)), cli_esc(ev->owner, o, sizeof(o)),
	       cli_esc(ev->host, h, sizeof(h)), (long long)ev->pid);
	obj = ev->line ? json_tokener_parse(ev->line) : NULL;
	/* The real uid next to the owner claimed (older lines have none). */
	if (obj && json_object_object_get_ex(obj, "uid", &uid) &&
	    json_object_is_type(uid, json_type_int))
		printf(" uid %lld", (long long)json_object_get_int64(uid));
	if (ev->ttl_sec > 0)
		printf(" ttl %llds", (long long)ev->ttl_sec);
	if (ev->agent_id[0])
		printf(" agent %s", cli_esc(ev->agent_id, o, sizeof(o)));
	if (ev->lock_id[0])
		printf(" lock %.8s", cli_esc(ev->lock_id, o, sizeof(o)));
	if (obj && json_object_object_get_ex(obj, "extra", &extra) &&
	    json_object_is_type(extra, json_type_object) &&
	    json_object_object_length(extra) > 0)
		printf(" %s",
		       cli_esc(json_object_to_json_string_ext(
				       extra, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE),
			       x, sizeof(x)));
	json_object_put(obj);
	putchar('\n');
}

static void print_json(const struct lokt_event *ev, size_t n)
{
	struct json_object *arr = json_object_new_array();
	struct json_object *obj;

	for (size_t i = 0; i < n; i++) {
		obj = ev[i].line ? json_tokener_parse(ev[i].line) : NULL;
		if (obj)
			json_object_array_add(arr, obj);
	}
	cli_json_print(arr);
}

static int print_one(const struct lokt_event *ev, void *userdata)
{
	print_event(ev);
	fflush(stdout); /* a pipe (| grep) sees each event as it comes */
	return ferror(stdout) ? 1 : 0; /* the reader went away */
}

/* --follow: the history, then each event as it is appended, until a
 * signal. The store is opened (created if need be): there is something to
 * wait for only in one. */
static int follow(struct cli *c, const struct audit_args *a)
{
	static volatile sig_atomic_t stop;
	int r;

	if ((r = cli_open(c)))
		return r;
	if (c->no_exec)
		return 0; /* an in-process caller that must not wait */
	cli_catch_signals(&stop);
	r = lokt_audit_follow(c->store, &a->f, print_one, NULL, &stop);
	if (r == -LOKT_E_CANCELED)
		return 0; /* ^C: the way to stop following */
	if (r < 0) {
		cli_error("cannot follow the audit log %s: %s",
			  lokt_audit_path(c->store), lokt_strerror(r));
		return 1;
	}
	return 0;
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_JSON_OPT,
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "tail", required_argument, NULL, OPT_TAIL },
		{ "follow", no_argument, NULL, 'f' },
		CLI_END_OPT,
	};
	struct audit_args a = { .f = { .name = NULL } };
	struct lokt_event *ev = NULL;
	size_t n = 0;
	int first, ex = 0, r;

	/* `--tail` last on the line, as lokt 1.x users type it to follow. */
	if (argc > 1 && !strcmp(argv[argc - 1], "--tail"))
		return cli_usage_error(c, "--tail needs a number of events"
					  TAIL_1X);
	first = cli_parse(c, argc, argv, false, "f", opts, audit_opt, &a, &ex);
	if (first < 0)
		return ex;
	if (first < argc)
		return cli_usage_error(c, "unexpected argument '%s' (use "
					  "--name NAME for one lock)",
				       argv[first]);
	if (a.follow && c->json)
		return cli_usage_error(c, "--follow prints events as they come "
					  "and --json one document: choose one");
	if (a.follow)
		return follow(c, &a);
	if ((r = cli_open_ro(c)))
		return r;
	r = c->store ? lokt_audit_read(c->store, &a.f, &ev, &n) : -ENOENT;
	if (r == -ENOENT) {
		n = 0; /* no root or no audit log yet: nothing happened */
	} else if (r < 0) {
		bool url = lokt_root_is_url(c->root);

		cli_error("cannot read the audit log %s%s%s%s: %s%s",
			  lokt_audit_path(c->store), url ? "" : " (or ",
			  url ? "" : lokt_audit_path(c->store),
			  url ? "" : ".1)",
			  r == -EPERM ? "not a regular file" : lokt_strerror(r),
			  r == -EACCES ? " — it is mode 0600: run lokt audit "
					 "as the user who owns it"
			  : r == -EPERM ? " — something else (a symlink, a "
					  "FIFO) was put in its place; remove "
					  "it, lokt starts a new log"
					: "");
		return 1;
	}
	if (c->json)
		print_json(ev, n);
	else
		for (size_t i = 0; i < n; i++)
			print_event(&ev[i]);
	if (ev)
		lokt_events_free(ev, n);
	return 0;
}
