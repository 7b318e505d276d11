// SPDX-License-Identifier: MIT
/*
 * lokt status and why: reading the store and saying what is in it. status
 * lists every lock (a table, or one JSON document) and every freeze, or
 * shows one lock in detail; why explains, in sentences, what `lokt lock
 * NAME` would meet right now. Both only read; the judgement of each record
 * (live, dead, expired...) comes from core with the record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct row {
	char name[LOKT_NAME_MAX + 1];
	char who[2 * CLI_ESC_MAX + 2];
	char pid[24], state[16], age[32], expires[48], fence[24];
	char cmd[CLI_CMD_COLUMN + 1];
};

#define NCOLS 8

static const char *cell(const struct row *r, int i)
{
	const char *cells[NCOLS] = { r->name, r->who,	  r->pid,   r->state,
				     r->age,  r->expires, r->fence, r->cmd };
	return cells[i];
}

static void fill_row(const struct lokt_info *in, struct row *r)
{
	const struct lokt_record *rec = &in->rec;
	char owner[CLI_ESC_MAX], host[CLI_ESC_MAX], cmd[256];
	int64_t left;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", rec->name);
	snprintf(r->state, sizeof(r->state), "%s", cli_state(in));
	if (in->stale == LOKT_STALE_CORRUPT || in->future) {
		strcpy(r->who, "-");
		strcpy(r->pid, "-");
		strcpy(r->age, "-");
		strcpy(r->expires, "-");
		strcpy(r->fence, "-");
		strcpy(r->cmd, "-");
		return;
	}
	snprintf(r->who, sizeof(r->who), "%s@%s",
		 cli_esc(rec->owner, owner, sizeof(owner)),
		 cli_esc(rec->host, host, sizeof(host)));
	snprintf(r->pid, sizeof(r->pid), "%lld", (long long)rec->pid);
	cli_fmt_ms(cli_ms_since(&rec->acquired), r->age, sizeof(r->age));
	if (rec->ttl_sec > 0) {
		left = -cli_ms_since(&rec->expires);
		if (left > 0) {
			strcpy(r->expires, "in ");
			cli_fmt_ms(left, r->expires + 3, sizeof(r->expires) - 3);
		} else {
			strcpy(r->expires, "expired");
		}
	} else {
		strcpy(r->expires, "never");
	}
	snprintf(r->fence, sizeof(r->fence), "%llu",
		 (unsigned long long)rec->fence);
	/* one line per lock, whatever the command line holds */
	if (!cli_cmdline(in, cmd, sizeof(cmd)))
		strcpy(r->cmd, lokt_is_detached(rec) && in->stale == LOKT_LIVE ?
				       "(detached)" :
				       "-");
	else
		cli_esc(cmd, r->cmd, sizeof(r->cmd));
}

/* A row's cells packed into one allocation, each NUL-terminated: about
 * 100 bytes a lock instead of a struct row's 900 (100,000 locks: 10 MB
 * instead of 90, which the kernel had to hand over zeroed). */
static char *pack_row(const struct row *r, int width[NCOLS])
{
	size_t len = 0, l[NCOLS];
	char *out, *p;

	for (int k = 0; k < NCOLS; k++) {
		l[k] = strlen(cell(r, k));
		if ((int)l[k] > width[k])
			width[k] = (int)l[k];
		len += l[k] + 1;
	}
	out = malloc(len);
	if (!out)
		return NULL;
	p = out;
	for (int k = 0; k < NCOLS; k++) {
		memcpy(p, cell(r, k), l[k] + 1);
		p += l[k] + 1;
	}
	return out;
}

/* The table of locks, its columns as wide as their widest cell: 0, or
 * -ENOMEM (nothing printed). */
static int print_table(const struct lokt_info *locks, size_t n)
{
	static const struct row head = { "NAME",  "OWNER@HOST", "PID",
					 "STATE", "AGE",	"EXPIRES",
					 "FENCE", "COMMAND" };
	char **rows = calloc(n + 1, sizeof(*rows)), *p;
	int width[NCOLS] = { 0 }, r = 0;
	struct row one;
	size_t i;

	if (!rows)
		return -ENOMEM;
	rows[0] = pack_row(&head, width);
	for (i = 0; i < n && rows[i]; i++) {
		fill_row(&locks[i], &one);
		rows[i + 1] = pack_row(&one, width);
	}
	if (!rows[i])
		r = -ENOMEM;
	for (i = 0; r == 0 && i <= n; i++) {
		p = rows[i];
		for (int k = 0; k < NCOLS - 1; k++) {
			printf("%-*s  ", width[k], p);
			p += strlen(p) + 1;
		}
		printf("%s\n", p);
	}
	for (i = 0; i <= n; i++)
		free(rows[i]);
	free(rows);
	return r;
}

static void print_freezes(const struct lokt_info *fr, size_t n)
{
	char until[64], left[32], owner[CLI_ESC_MAX], host[CLI_ESC_MAX];

	for (size_t i = 0; i < n; i++) {
		if (fr[i].stale == LOKT_STALE_CORRUPT || fr[i].future) {
			printf("frozen: %s (%s freeze file)\n", fr[i].rec.name,
			       cli_state(&fr[i]));
			continue;
		}
		cli_fmt_time(&fr[i].rec.expires, until, sizeof(until));
		cli_fmt_ms(-cli_ms_since(&fr[i].rec.expires), left,
			   sizeof(left));
		printf("frozen: %s by %s@%s until %s (%s%s)\n", fr[i].rec.name,
		       cli_esc(fr[i].rec.owner, owner, sizeof(owner)),
		       cli_esc(fr[i].rec.host, host, sizeof(host)), until,
		       fr[i].stale == LOKT_LIVE ? "in " : "",
		       fr[i].stale == LOKT_LIVE ? left : "expired");
	}
}

/* The elements of a JSON array, one object at a time: 100,000 locks
 * never become one tree and one string in memory. */
static void print_infos_json(const struct lokt_info *v, size_t n)
{
	struct json_object *obj;

	putchar('[');
	for (size_t i = 0; i < n; i++) {
		obj = cli_info_json(&v[i]);
		if (i)
			putchar(',');
		fputs(json_object_to_json_string_ext(
			      obj, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE),
		      stdout);
		json_object_put(obj);
	}
	putchar(']');
}

/* The document of status --json, {"root", "root_exists", "locks",
 * "freezes"[, "pruned"]}, written as it is built. */
static void print_status_json(struct cli *c, const struct lokt_info *locks,
			      size_t nl, const struct lokt_info *freezes,
			      size_t nf, bool pruned, size_t npruned)
{
	struct json_object *root = json_object_new_string(c->root);

	cli_json_started();
	printf("{\"root\":%s,\"root_exists\":%s,\"locks\":",
	       json_object_to_json_string_ext(
		       root, JSON_C_TO_STRING_PLAIN |
				     JSON_C_TO_STRING_NOSLASHESCAPE),
	       c->store ? "true" : "false");
	json_object_put(root);
	print_infos_json(locks, nl);
	fputs(",\"freezes\":", stdout);
	print_infos_json(freezes, nf);
	if (pruned)
		printf(",\"pruned\":%zu", npruned);
	puts("}");
}

/* lokt_prune counts the stale locks and the expired freezes it removed
 * together: say both, not "locks" alone. */
static void print_pruned(size_t n)
{
	printf(n == 1 ? "pruned %zu stale lock or expired freeze\n" :
			"pruned %zu stale locks and expired freezes\n",
	       n);
}

static int status_all(struct cli *c, bool pruned, size_t npruned)
{
	struct lokt_info *locks = NULL, *freezes = NULL;
	size_t nl = 0, nf = 0;
	int r;

	r = c->store ? lokt_list(c->store, LOKT_LOCK, &locks, &nl) : 0;
	if (r >= 0 && c->store)
		r = lokt_list(c->store, LOKT_FREEZE, &freezes, &nf);
	if (r < 0) {
		cli_error("cannot list %s: %s", c->root, lokt_strerror(r));
		free(locks);
		return 1;
	}
	r = 0;
	cli_cmdline_batch(true);
	if (c->json) {
		print_status_json(c, locks, nl, freezes, nf, pruned, npruned);
	} else {
		if (pruned)
			print_pruned(npruned);
		if (nl)
			r = print_table(locks, nl);
		else if (c->store)
			printf("no locks held in %s\n", c->root);
		else
			printf("no locks held: the lock root %s does not "
			       "exist yet (the first lock creates it)\n",
			       c->root);
		if (r == 0)
			print_freezes(freezes, nf);
	}
	cli_cmdline_batch(false);
	free(locks);
	free(freezes);
	if (r < 0) {
		cli_error("cannot list %s: %s", c->root, strerror(-r));
		return 1;
	}
	return 0;
}

static void print_detail(const struct lokt_info *in, size_t waiters)
{
	const struct lokt_record *rec = &in->rec;
	char holder[600], cmd[256], esc[4 * 256], t[64], d[32];

	cli_holder(in, holder, sizeof(holder));
	printf("lock \"%s\": %s\n", rec->name,
	       in->stale == LOKT_LIVE || in->future ? "held" : "stale");
	printf("  holder:   %s\n", holder);
	printf("  state:    %s\n", cli_state(in));
	if (in->stale == LOKT_STALE_CORRUPT || in->future)
		return;
	if (cli_cmdline(in, cmd, sizeof(cmd)))
		printf("  command:  %s\n", cli_esc(cmd, esc, sizeof(esc)));
	cli_fmt_time(&rec->acquired, t, sizeof(t));
	cli_fmt_ms(cli_ms_since(&rec->acquired), d, sizeof(d));
	printf("  acquired: %s (%s ago)\n", t, d);
	if (rec->ttl_sec > 0) {
		cli_fmt_time(&rec->expires, t, sizeof(t));
		cli_fmt_ms(-cli_ms_since(&rec->expires), d, sizeof(d));
		printf("  expires:  %s (%s%s)\n", t,
		       in->stale == LOKT_STALE_EXPIRED ? "expired" : "in ",
		       in->stale == LOKT_STALE_EXPIRED ? "" : d);
	} else {
		printf("  expires:  never (no TTL; held while pid %lld lives)\n",
		       (long long)rec->pid);
	}
	printf("  fence:    %llu\n", (unsigned long long)rec->fence);
	printf("  lock_id:  %s\n", cli_esc(rec->lock_id, esc, sizeof(esc)));
	if (rec->agent_id[0])
		printf("  agent:    %s\n",
		       cli_esc(rec->agent_id, esc, sizeof(esc)));
	if (waiters)
		printf("  waiters:  %zu\n", waiters);
}

/* A name of several holders: "lock "x": a semaphore of 3 slots, 2
 * held", then each holder as a lock of its own; in --json, "holders". */
static void print_holders(struct cli *c, const char *name,
			  const struct lokt_info *in, struct json_object *doc,
			  size_t waiters)
{
	struct json_object *a = json_object_new_array();
	struct lokt_holders h;
	size_t i, live = 0;

	if (lokt_holders(c->store, name, &h) < 0)
		h = (struct lokt_holders){ 0 };
	for (i = 0; i < h.n; i++) {
		live += h.v[i].stale == LOKT_LIVE;
		json_object_array_add(a, cli_info_json(&h.v[i]));
	}
	if (doc) {
		json_object_object_add(doc, "holders", a);
	} else {
		json_object_put(a);
		if (in->slots)
			printf("lock \"%s\": a semaphore of %u slot%s, %zu "
			       "held\n", name, in->slots,
			       in->slots == 1 ? "" : "s", live);
		else
			printf("lock \"%s\": %zu shared holder%s\n", name, live,
			       live == 1 ? "" : "s");
		for (i = 0; i < h.n; i++)
			print_detail(&h.v[i], 0);
		if (waiters)
			printf("waiters: %zu\n", waiters);
	}
	free(h.v);
}

static int status_one(struct cli *c, const char *name)
{
	struct lokt_info in, fr;
	struct json_object *doc;
	size_t waiters = 0;
	bool held, frozen;
	int r;

	r = c->store ? lokt_get(c->store, LOKT_LOCK, name, &in, NULL)
		     : -LOKT_E_NOT_FOUND;
	if (r < 0 && r != -LOKT_E_NOT_FOUND) {
		cli_error("cannot read lock \"%s\": %s", name,
			  lokt_strerror(r));
		return 1;
	}
	held = r == 0 && (in.future || in.stale == LOKT_LIVE);
	frozen = c->store &&
		 lokt_get(c->store, LOKT_FREEZE, name, &fr, NULL) == 0;
	if (c->store)
		lokt_waiters(c->store, name, &waiters);
	if (c->json) {
		if (r == 0) {
			doc = cli_info_json(&in);
		} else {
			doc = json_object_new_object();
			json_object_object_add(doc, "name",
					       json_object_new_string(name));
		}
		json_object_object_add(doc, "held",
				       json_object_new_boolean(held));
		json_object_object_add(doc, "waiters",
				       json_object_new_int64((int64_t)waiters));
		if (frozen)
			json_object_object_add(doc, "freeze",
					       cli_info_json(&fr));
		if (r == 0 && (in.slots || in.shared))
			print_holders(c, name, &in, doc, waiters);
		cli_json_print(doc);
	} else {
		if (r == 0 && (in.slots || in.shared))
			print_holders(c, name, &in, NULL, waiters);
		else if (r == 0)
			print_detail(&in, waiters);
		else
			printf("lock \"%s\" is free\n", name);
		if (frozen)
			print_freezes(&fr, 1);
	}
	return held ? 0 : 3;
}

struct status_args {
	bool prune, names;
};

static int status_opt(struct cli *c, int opt, const char *arg, void *data)
{
	struct status_args *a = data;

	if (opt == OPT_PRUNE)
		a->prune = true;
	else if (opt == OPT_NAMES)
		a->names = true;
	return 0;
}

/* --names: the name of every lock and freeze, one a line, sorted, once
 * (for shell completion: plain text, whatever store is in use). */
static int status_names(struct cli *c)
{
	char **v[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 }, i[2] = { 0, 0 };
	const char *a, *b, *last = "";
	char esc[CLI_ESC_MAX];
	int r = 0;

	for (int k = 0; k < 2 && r >= 0 && c->store; k++)
		r = lokt_list_names(c->store, k ? LOKT_FREEZE : LOKT_LOCK,
				    &v[k], &n[k]);
	if (r < 0) {
		cli_error("cannot list %s: %s", c->root, lokt_strerror(r));
		free(v[0]);
		return 1;
	}
	/* Both lists are sorted: merge them. */
	while (i[0] < n[0] || i[1] < n[1]) {
		a = i[0] < n[0] ? v[0][i[0]] : NULL;
		b = i[1] < n[1] ? v[1][i[1]] : NULL;
		if (!b || (a && strcmp(a, b) <= 0))
			i[0]++;
		else
			a = b, i[1]++;
		if (strcmp(a, last))
			puts(cli_esc(a, esc, sizeof(esc)));
		last = a;
	}
	free(v[0]);
	free(v[1]);
	return 0;
}

int cmd_status(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT,
		{ "prune-expired", no_argument, NULL, OPT_PRUNE },
		{ "names", no_argument, NULL, OPT_NAMES }, CLI_END_OPT,
	};
	struct status_args a = { false, false };
	bool prune;
	size_t n = 0;
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "", opts, status_opt, &a,
			  &ex);
	if (first < 0)
		return ex;
	if (first + 1 < argc)
		return cli_usage_error(c, "unexpected argument '%s'",
				       argv[first + 1]);
	if (first < argc && cli_check_name(c, argv[first]))
		return EXIT_USAGE;
	if (a.names && (first < argc || c->json || a.prune))
		return cli_usage_error(c, "--names lists every name: no NAME, "
					  "--json or --prune-expired with it");
	prune = a.prune;
	/* Only --prune-expired changes anything, and with no root there is
	 * nothing to prune: never create the root here. */
	if ((r = cli_open_ro(c)))
		return r;
	if (prune && c->store) {
		/* A change: its report must not end it (cli_run, SIGPIPE). */
		signal(SIGPIPE, SIG_IGN);
		if ((r = cli_who(c, cli_caller(), "parent")))
			return r;
		cli_stuck_bound(c);
		r = lokt_prune(c->store, &c->who, &n);
		cli_stuck_bound_off(c);
		if (r == -EAGAIN && !lokt_root_is_url(c->root))
			return cli_report_stuck_many(c, "--prune-expired",
						     "pruned", n, NULL);
		if (r < 0) {
			cli_error("cannot prune stale locks and freezes: %s",
				  lokt_strerror(r));
			return 1;
		}
		if (first < argc && !c->json)
			print_pruned(n);
	}
	if (a.names)
		return status_names(c);
	if (first < argc)
		return status_one(c, argv[first]);
	return status_all(c, prune, n);
}
