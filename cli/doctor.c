// SPDX-License-Identifier: MIT
/*
 * lokt doctor: the health checks of the lock root (core/doctor.c decides
 * them), printed one per line as OK / WARN / FAIL, or as one JSON
 * document with the protocol version. Exit 1 when any check fails. The
 * store is not opened: a root that cannot be opened is what doctor is for.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *level_name(enum lokt_check_level l)
{
	switch (l) {
	case LOKT_CHECK_OK:
		return "ok";
	case LOKT_CHECK_WARN:
		return "warn";
	default:
		return "fail";
	}
}

static void print_json(const char *root, const struct lokt_check *ck,
		       size_t n, bool ok)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	struct json_object *o;

	json_object_object_add(doc, "protocol_version",
			       json_object_new_int(LOKT_PROTOCOL_VERSION));
	json_object_object_add(doc, "root", json_object_new_string(root));
	for (size_t i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(ck[i].id));
		json_object_object_add(
			o, "level", json_object_new_string(level_name(ck[i].level)));
		json_object_object_add(o, "message",
				       json_object_new_string(ck[i].message));
		json_object_array_add(arr, o);
	}
	json_object_object_add(doc, "checks", arr);
	json_object_object_add(doc, "ok", json_object_new_boolean(ok));
	cli_json_print(doc);
}

int cmd_doctor(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, CLI_JSON_OPT,
					      CLI_END_OPT };
	struct lokt_check *ck = NULL;
	char *root = NULL;
	char esc[4 * sizeof(ck->message)];
	size_t n = 0;
	bool ok = true;
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "", opts, NULL, NULL, &ex);
	if (first < 0)
		return ex;
	if (first < argc)
		return cli_usage_error(c, "unexpected argument '%s'",
				       argv[first]);
	r = lokt_root_find(NULL, &root);
	if (r < 0)
		return cli_root_error(r);
	r = lokt_doctor(root, &ck, &n);
	if (r < 0) {
		cli_error("cannot check %s: %s", root, lokt_strerror(r));
		free(root);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		ok &= ck[i].level != LOKT_CHECK_FAIL;
	if (c->json) {
		print_json(root, ck, n, ok);
	} else {
		printf("lock root: %s (protocol %d)\n", root,
		       LOKT_PROTOCOL_VERSION);
		/* Messages name files that anyone who may write the store
		 * may have named: no control character reaches the
		 * terminal as it is. */
		for (size_t i = 0; i < n; i++)
			printf("%-4s  %-15s  %s\n",
			       ck[i].level == LOKT_CHECK_OK	? "OK"
			       : ck[i].level == LOKT_CHECK_WARN ? "WARN"
								: "FAIL",
			       ck[i].id,
			       cli_esc(ck[i].message, esc, sizeof(esc)));
	}
	free(ck);
	free(root);
	return ok ? 0 : 1;
}
