// SPDX-License-Identifier: MIT
/*
 * lokt freeze and unfreeze. A freeze blocks every new acquisition of a
 * name for a while (deploy windows, incidents); it always has a TTL, so a
 * forgotten freeze ends by itself. The freezing lokt process exits at once:
 * freezes are judged by their TTL only.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

static int freeze_opt(struct cli *c, int opt, const char *arg, void *data)
{
	if (opt == OPT_TTL)
		return cli_duration(c, "--ttl", arg, data);
	return 0;
}

int cmd_freeze(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_JSON_OPT,
		CLI_QUIET_OPT,
		{ "ttl", required_argument, NULL, OPT_TTL },
		CLI_END_OPT,
	};
	struct lokt_result res = { 0 };
	struct json_object *doc;
	char until[64], left[32];
	int64_t ttl_ms = 0;
	const char *name;
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "q", opts, freeze_opt, &ttl_ms,
			  &ex);
	if (first < 0)
		return ex;
	if ((r = cli_one_name(c, argc, argv, first, &name)))
		return r;
	if (!ttl_ms)
		return cli_usage_error(c, "freeze needs --ttl (e.g. --ttl 15m)");
	if ((r = cli_who(c, cli_caller(), "parent")) || (r = cli_open(c)))
		return r;
	cli_stuck_bound(c);
	r = lokt_freeze(c->store, name, &c->who, cli_ttl_sec(ttl_ms), &res);
	cli_stuck_bound_off(c);
	if (r == -EAGAIN && !lokt_root_is_url(c->root))
		return cli_report_stuck(c, LOKT_FREEZE, name, false);
	if (r < 0)
		return cli_report(c, CLI_FREEZE, r, name, &res);
	if (c->json) {
		doc = cli_record_json(&res.lock);
		json_object_object_add(doc, "state",
				       json_object_new_string("live"));
		json_object_object_add(doc, "root",
				       json_object_new_string(c->root));
		cli_json_print(doc);
	} else if (!c->quiet) {
		cli_fmt_time(&res.lock.expires, until, sizeof(until));
		cli_fmt_ms(res.lock.ttl_sec * 1000, left, sizeof(left));
		printf("froze \"%s\" for %s (until %s) in %s; lift it with: "
		       "lokt unfreeze %s\n",
		       name, left, until, c->root, name);
	}
	return 0;
}

static int unfreeze_opt(struct cli *c, int opt, const char *arg, void *data)
{
	*(bool *)data = opt == OPT_FORCE;
	return 0;
}

int cmd_unfreeze(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_QUIET_OPT,
		CLI_JSON_OPT,
		{ "force", no_argument, NULL, OPT_FORCE },
		CLI_END_OPT,
	};
	struct lokt_result res = { 0 };
	struct json_object *doc;
	bool force = false;
	const char *name;
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "q", opts, unfreeze_opt,
			  &force, &ex);
	if (first < 0)
		return ex;
	if ((r = cli_one_name(c, argc, argv, first, &name)))
		return r;
	if ((r = cli_who(c, cli_caller(), "parent")) || (r = cli_open(c)))
		return r;
	cli_stuck_bound(c);
	r = lokt_unfreeze(c->store, name, &c->who, force, &res);
	cli_stuck_bound_off(c);
	if (r == -EAGAIN && !lokt_root_is_url(c->root))
		return cli_report_stuck(c, LOKT_FREEZE, name, false);
	if (r < 0)
		return cli_report(c, CLI_UNFREEZE, r, name, &res);
	if (c->json) {
		doc = cli_record_json(&res.lock);
		json_object_object_add(doc, "state",
				       json_object_new_string("removed"));
		cli_json_print(doc);
	} else if (!c->quiet) {
		printf("unfroze \"%s\"\n", name);
	}
	return 0;
}
