// SPDX-License-Identifier: MIT
/*
 * The words `lokt` says about itself: the overview, the usage of each
 * command (`lokt help CMD`, `lokt CMD --help`), and `lokt version`. Keep
 * these in step with docs/lokt.1 when a flag changes.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct usage {
	const char *cmd;
	const char *text;
};

static const struct usage usages[] = {
	{ "lock",
	  "Usage: lokt lock NAME [--ttl D] [--wait] [--timeout D] [--holder PID]\n"
	  "                      [--detach] [--slots N | --shared] [-E N] [--json] [-q]\n"
	  "Take the lock NAME for the process that ran lokt (your shell or\n"
	  "script), or renew it if that process (or its parent chain) already\n"
	  "holds it. Without --ttl the lock lives as long as that process.\n\n"
	  "  --ttl D        expire after D unless renewed (90, 30s, 30m, 2h, 1h30m)\n"
	  "  --wait         wait in line until the lock is free (first come,\n"
	  "                 first served) instead of failing with exit 2\n"
	  "  --timeout D    give up waiting after D (default 10m)\n"
	  "  --holder PID   make PID the holder instead of lokt's parent\n"
	  "  --detach       held by nobody's process: until the owner releases\n"
	  "                 it (from any shell) or --ttl (required) runs out;\n"
	  "                 for CI steps run in separate shells\n"
	  "  --slots N      take one of N places of a semaphore: at most N\n"
	  "                 holders at once (N from 1 to 32)\n"
	  "  --shared       take a shared place: any number of shared holders,\n"
	  "                 or one exclusive holder (a plain lock is the writer)\n"
	  "                 A name held in another mode is refused (exit 2).\n"
	  "  -E N, --conflict-exit-code N\n"
	  "                 exit N instead of 2 when held, frozen or timed out\n"
	  "  --json         print the lock record (or the refusal) as JSON\n"
	  "  -q, --quiet    print nothing on success, no progress line, and\n"
	  "                 nothing when the lock is busy (exit 2 all the same)\n" },
	{ "unlock",
	  "Usage: lokt unlock NAME [--force [-y|--yes]] [--break-stale] [--owner O]\n"
	  "                        [--lock-id ID] [--json] [-q]\n"
	  "       lokt unlock --all [--owner O] [--json] [-q]\n"
	  "Release the lock NAME. Your own locks (same owner) can be released\n"
	  "from anywhere; another owner's lock only when stale or with --force.\n\n"
	  "  --lock-id ID   release only that acquisition (the lock_id of\n"
	  "                 lokt lock --json, or $LOKT_LOCK_ID): if the lock ran\n"
	  "                 out and was taken again, nothing is released (exit 1)\n"
	  "  --break-stale  break another owner's lock if it is stale (holder\n"
	  "                 dead, TTL expired, pid reused, corrupt file)\n"
	  "  --force        break the lock whoever holds it (asks on a terminal)\n"
	  "  -y, --yes      do not ask before --force\n"
	  "  --owner O      act as owner O instead of $LOKT_OWNER / your user\n"
	  "  --all          release every lock of the owner\n"
	  "  --json         print the record released (state \"released\", broke:\n"
	  "                 why, or null), with --all {\"owner\",\"released\": N}\n"
	  "  -q, --quiet    print nothing on success\n" },
	{ "status",
	  "Usage: lokt status [NAME] [--json] [--prune-expired]\n"
	  "       lokt status --names\n"
	  "Without NAME, list every lock and freeze; with NAME, show that lock\n"
	  "(exit 0 when held by a live holder, 3 when free or stale).\n\n"
	  "  --json           one JSON document on stdout\n"
	  "  --prune-expired  first remove every stale lock and expired freeze\n"
	  "                   (audited)\n"
	  "  --names          only the names of the locks and freezes, one a line\n" },
	{ "exists",
	  "Usage: lokt exists NAME\n"
	  "Exit 0 when NAME is held by a live holder, 3 when free or stale.\n"
	  "Prints nothing. Like status, why, audit and doctor, it creates no\n"
	  "lock root where there is none yet.\n" },
	{ "guard",
	  "Usage: lokt guard NAME [--ttl D] [--wait] [--timeout D] [--slots N | --shared]\n"
	  "                       [--on-lost kill|warn] [-E N] [-q] -- COMMAND [ARG...]\n"
	  "Run COMMAND while holding the lock NAME; release it when COMMAND\n"
	  "ends, on every path. The command sees LOKT_FENCE, LOKT_LOCK_ID,\n"
	  "LOKT_LOCK_NAME and LOKT_ROOT. SIGINT, SIGTERM, SIGHUP and SIGQUIT are\n"
	  "passed to it; if guard dies, even by SIGKILL, the command is stopped.\n"
	  "Exit status: the command's, 128+N if it died of signal N, 2 (or -E N)\n"
	  "if the lock could not be taken, 126/127 if COMMAND could not be run.\n\n"
	  "  --ttl D           lock TTL; guard renews it every D/3\n"
	  "  --wait            wait for the lock (first come, first served)\n"
	  "  --timeout D       give up waiting after D (default 10m)\n"
	  "  --slots N         one of N places of a semaphore (see lokt help lock)\n"
	  "  --shared          a shared place; LOKT_FENCE and LOKT_LOCK_ID are\n"
	  "                    the command's own place's\n"
	  "  --on-lost kill    if the lock is lost, SIGTERM the command, then\n"
	  "                    SIGKILL after 5s (default)\n"
	  "  --on-lost warn    only warn and let the command run on\n"
	  "  -E N, --conflict-exit-code N\n"
	  "                    exit N instead of 2 when the lock is held, frozen\n"
	  "                    or the wait timed out (as flock -E); the command\n"
	  "                    never runs then, even with -E 0\n"
	  "  -q, --quiet       no progress line, no warnings about stale locks,\n"
	  "                    nothing when the lock is busy\n" },
	{ "freeze",
	  "Usage: lokt freeze NAME --ttl D [--json] [-q]\n"
	  "Block every new acquisition of NAME (lock, guard, the mount) for D,\n"
	  "or until `lokt unfreeze NAME`. A holder already inside runs on.\n\n"
	  "  --ttl D        how long the freeze lasts (required, e.g. 15m)\n"
	  "  --json         print the freeze record as JSON\n"
	  "  -q, --quiet    print nothing on success\n" },
	{ "unfreeze",
	  "Usage: lokt unfreeze NAME [--force] [--json] [-q]\n"
	  "Lift your freeze of NAME; --force lifts another owner's freeze.\n\n"
	  "  --force        lift the freeze whoever made it\n"
	  "  --json         print the freeze removed (state \"removed\")\n"
	  "  -q, --quiet    print nothing on success\n" },
	{ "audit",
	  "Usage: lokt audit [--since D|TIME] [--name NAME] [--tail N]\n"
	  "                  [-f|--follow | --json]\n"
	  "Show the audit log: every acquire, release, break, freeze...\n\n"
	  "  --since D|TIME  only events newer than D ago (30m, 2h) or than an\n"
	  "                  RFC 3339 time (2026-11-23T10:00:00Z)\n"
	  "  --name NAME     only events about NAME\n"
	  "  --tail N        only the last N matching events\n"
	  "  -f, --follow    then print each new event as it is logged, until\n"
	  "                  interrupted (lokt 1.x's --tail)\n"
	  "  --json          one JSON array of the raw event objects\n" },
	{ "why",
	  "Usage: lokt why NAME [--json]\n"
	  "Explain what `lokt lock NAME` would do now and why, including when\n"
	  "you hold it already (it would renew). Exit 0 when it would succeed,\n"
	  "2 when it is blocked (held, frozen, waiters queued).\n" },
	{ "doctor",
	  "Usage: lokt doctor [--json]\n"
	  "Check the lock root: writable, local filesystem, clock, corrupt or\n"
	  "newer-version files, audit log mode. Exit 1 if any check fails.\n" },
	{ "version",
	  "Usage: lokt version [--json]\n"
	  "Print the version of lokt and of the store protocol.\n" },
	{ "help",
	  "Usage: lokt help [COMMAND]\n"
	  "Print the list of commands, or the usage of COMMAND.\n" },
};

void cli_help_overview(FILE *f)
{
	fputs("Usage: lokt [--root DIR] COMMAND [ARGS...]\n"
	      "Named locks for operations that must never run twice at once.\n"
	      "\n"
	      "Commands:\n"
	      "  lock NAME       take a lock for your shell or script\n"
	      "  unlock NAME     release a lock (--all: all of yours)\n"
	      "  status [NAME]   list locks and freezes, or show one lock\n"
	      "  exists NAME     exit 0 if held, 3 if not (silent)\n"
	      "  guard NAME -- COMMAND...  run a command under a lock\n"
	      "  freeze NAME --ttl D       block new acquisitions for a while\n"
	      "  unfreeze NAME   lift a freeze\n"
	      "  audit           show the audit log\n"
	      "  why NAME        explain whether and why a lock is blocked\n"
	      "  doctor          check the lock root\n"
	      "  version         print the version\n"
	      "  help [COMMAND]  this text, or the usage of COMMAND\n"
	      "\n"
	      "Options:\n"
	      "  --root DIR      lock root (default: $LOKT_ROOT, <git common\n"
	      "                  dir>/lokt, the nearest .lokt/ above, the root\n"
	      "                  of /etc/lokt.conf or $LOKT_CONFIG, ./.lokt);\n"
	      "                  or etcd://HOST:PORT[,HOST:PORT...]/PREFIX\n"
	      "  -h, --help      show help\n"
	      "  -V, --version   print the version\n"
	      "\n"
	      "Durations: 90 (seconds), 1.5s, 500ms, 30m, 2h, 1d, 1h30m.\n"
	      "Exit codes: 0 ok, 1 error, 2 held/frozen/timed out (lock and\n"
	      "guard: -E N changes it), 3 not found, 4 not owner, 64 usage.\n"
	      "Environment: LOKT_ROOT, LOKT_CONFIG, LOKT_OWNER, LOKT_AGENT_ID,\n"
	      "LOKT_REQUIRE_LOCAL_FS=1, LOKT_AUDIT_MAX; LOKT_ETCD_*: see\n"
	      "ENVIRONMENT in lokt(1).\n"
	      "See 'lokt help COMMAND' and lokt(1).\n",
	      f);
}

int cli_help_command(const char *cmd)
{
	if (!cmd) {
		cli_help_overview(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		if (!strcmp(usages[i].cmd, cmd)) {
			fputs(usages[i].text, stdout);
			fputs("\nCommon options: --root DIR, -h/--help\n", stdout);
			return 0;
		}
	}
	cli_error("unknown command '%s'", cmd);
	fputs("Try 'lokt help'\n", stderr);
	return EXIT_USAGE;
}

int cmd_help(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, CLI_END_OPT };
	int first, ex = 0;

	first = cli_parse(c, argc, argv, false, "", opts, NULL, NULL, &ex);
	if (first < 0)
		return ex;
	if (first >= argc) {
		cli_help_overview(stdout);
		return 0;
	}
	if (first + 1 < argc)
		return cli_usage_error(c, "unexpected argument '%s'",
				       argv[first + 1]);
	return cli_help_command(argv[first]);
}

int cmd_version(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, CLI_JSON_OPT,
					      CLI_END_OPT };
	struct json_object *doc;
	int first, ex = 0;

	if (argc > 1) {
		first = cli_parse(c, argc, argv, false, "", opts, NULL, NULL,
				  &ex);
		if (first < 0)
			return ex;
		if (first < argc)
			return cli_usage_error(c, "unexpected argument '%s'",
					       argv[first]);
	}
	if (!c->json) {
		printf("lokt %s (protocol %d)\n", LOKT_VERSION,
		       LOKT_PROTOCOL_VERSION);
		return 0;
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "version",
			       json_object_new_string(LOKT_VERSION));
	json_object_object_add(doc, "liblokt",
			       json_object_new_string(lokt_version()));
	json_object_object_add(doc, "protocol_version",
			       json_object_new_int(LOKT_PROTOCOL_VERSION));
	cli_json_print(doc);
	return 0;
}
