// SPDX-License-Identifier: MIT
/*
 * lokt — named locks from the shell. This file owns the program's entry:
 * global options (--root, --help, --version), dispatch to one command, and
 * what every command shares: option parsing with GNU permutation (flags may
 * come before or after the name), name and duration checks that turn bad
 * input into exit 64 with a pointer to `lokt help CMD`, opening the store,
 * and building the identity (struct lokt_who) of the holder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
};

static const struct command commands[] = {
	{ "lock", cmd_lock },	    { "unlock", cmd_unlock },
	{ "status", cmd_status },   { "exists", cmd_exists },
	{ "guard", cmd_guard },	    { "freeze", cmd_freeze },
	{ "unfreeze", cmd_unfreeze }, { "audit", cmd_audit },
	{ "why", cmd_why },	    { "doctor", cmd_doctor },
	{ "version", cmd_version }, { "help", cmd_help },
};

/* --root DIR is LOKT_ROOT, made absolute so a guarded child sees the
 * same root whatever its working directory. */
static int set_root(struct cli *c, const char *dir)
{
	char *abs = NULL;
	char *cwd;
	int r;

	if (!*dir)
		return cli_usage_error(c, "--root needs a directory");
	if (dir[0] == '/')
		return setenv("LOKT_ROOT", dir, 1) ? 1 : 0;
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&abs, "%s/%s", cwd, dir) < 0) {
		free(cwd);
		cli_error("out of memory");
		return 1;
	}
	r = setenv("LOKT_ROOT", abs, 1) ? 1 : 0;
	free(abs);
	free(cwd);
	return r;
}

static int bad_option(struct cli *c, int opt, char **argv, bool missing)
{
	char shortname[3] = { '-', (char)optopt, 0 };
	const char *last = optind > 0 ? argv[optind - 1] : "";
	const char *what;

	/* getopt gives long options by position (optopt is then 0, or the
	 * option's value), short ones by optopt */
	what = !strncmp(last, "--", 2) || !optopt || optopt > 127 ? last
								    : shortname;

	if (missing)
		return cli_usage_error(c, "option '%s' needs a value", what);
	return cli_usage_error(c, "unknown option '%s'", what);
}

int cli_parse(struct cli *c, int argc, char **argv, bool posix,
	      const char *shortopts, const struct option *longopts,
	      cli_opt_fn fn, void *data, int *ret_exit)
{
	char optstring[64];
	int opt, r;

	snprintf(optstring, sizeof(optstring), "%s:h%s", posix ? "+" : "",
		 shortopts);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'h':
			*ret_exit = cli_help_command(c->cmd);
			return -1;
		case OPT_ROOT:
			r = set_root(c, optarg);
			break;
		case OPT_JSON:
			c->json = true;
			r = 0;
			break;
		case 'q':
			c->quiet = true;
			r = 0;
			break;
		case '?':
		case ':':
			r = bad_option(c, opt, argv, opt == ':');
			break;
		default:
			r = fn ? fn(c, opt, optarg, data) : 0;
			break;
		}
		if (r) {
			*ret_exit = r;
			return -1;
		}
	}
	return optind;
}

int cli_check_name(struct cli *c, const char *name)
{
	if (lokt_name_check(name) == 0)
		return 0;
	return cli_usage_error(c, "bad lock name \"%s\": %s", name,
			       lokt_name_rule());
}

int cli_one_name(struct cli *c, int argc, char **argv, int first,
		 const char **ret_name)
{
	if (first >= argc)
		return cli_usage_error(c, "missing the lock NAME: lokt %s NAME",
				       c->cmd);
	if (first + 1 < argc)
		return cli_usage_error(c, "unexpected argument '%s'",
				       argv[first + 1]);
	if (cli_check_name(c, argv[first]))
		return EXIT_USAGE;
	*ret_name = argv[first];
	return 0;
}

int cli_duration(struct cli *c, const char *opt, const char *arg,
		 int64_t *ret_ms)
{
	int64_t ms;

	if (lokt_duration_parse(arg, &ms) < 0)
		return cli_usage_error(c,
				       "bad duration \"%s\" for %s: use e.g. "
				       "90, 1.5s, 500ms, 30m, 2h, 1d, 1h30m",
				       arg, opt);
	if (ms <= 0)
		return cli_usage_error(c, "%s must be longer than 0", opt);
	*ret_ms = ms;
	return 0;
}

int64_t cli_ttl_sec(int64_t ms)
{
	return ms / 1000 + (ms % 1000 ? 1 : 0);
}

static void netfs_error(const char *root)
{
	cli_error("lock root %s is on a network filesystem and "
		  "LOKT_REQUIRE_LOCAL_FS=1 — use a root on a local "
		  "filesystem (--root DIR or LOKT_ROOT), or unset "
		  "LOKT_REQUIRE_LOCAL_FS",
		  root);
}

/* Find the root into c->root. With LOKT_REQUIRE_LOCAL_FS=1, refuse a root
 * on a network filesystem (or, when it does not exist yet, one that would
 * be created on one) here already: the read-only commands do not open a
 * store that does not exist, so lokt_store_open's own check would not
 * run for them. */
static int find_root(struct cli *c)
{
	const char *req = getenv("LOKT_REQUIRE_LOCAL_FS");
	int r = lokt_root_find(NULL, &c->root);

	if (r < 0) {
		cli_error("cannot find the lock root: %s — set LOKT_ROOT or "
			  "pass --root DIR",
			  lokt_strerror(r));
		return 1;
	}
	if (req && !strcmp(req, "1") && lokt_is_network_fs(c->root) == 1) {
		netfs_error(c->root);
		return 1;
	}
	return 0;
}

static int open_store(struct cli *c)
{
	int r = lokt_store_open(c->root, &c->store);

	if (r == -LOKT_E_NETFS)
		netfs_error(c->root);
	else if (r == -LOKT_E_FOREIGN)
		cli_error("cannot open lock root %s: its locks/ or freezes/ "
			  "is not a directory (a symlink or other file "
			  "someone put there; never followed) — see lokt "
			  "doctor, and remove it",
			  c->root);
	else if (r < 0)
		cli_error("cannot open lock root %s: %s — check its "
			  "permissions (lokt doctor), or use another root "
			  "(--root DIR or LOKT_ROOT)",
			  c->root, lokt_strerror(r));
	return r < 0 ? 1 : 0;
}

int cli_open(struct cli *c)
{
	return find_root(c) ? 1 : open_store(c);
}

int cli_open_ro(struct cli *c)
{
	struct stat st;

	if (find_root(c))
		return 1;
	if (stat(c->root, &st) < 0 && errno == ENOENT)
		return 0; /* nothing held yet, and nothing to create */
	return open_store(c);
}

int cli_who(struct cli *c, pid_t holder, const char *what)
{
	int r = lokt_who_self(holder, &c->who);

	if (r == -ESRCH)
		return cli_usage_error(c, "no process with pid %d (%s)",
				       (int)holder, what);
	if (r < 0) {
		cli_error("cannot identify holder pid %d: %s", (int)holder,
			  lokt_strerror(r));
		return 1;
	}
	return 0;
}

static volatile sig_atomic_t *caught;

static void on_signal(int sig)
{
	if (caught)
		*caught = sig;
}

void cli_catch_signals(volatile sig_atomic_t *flag)
{
	struct sigaction sa = { .sa_handler = on_signal };

	caught = flag;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

bool cli_is_command(const char *cmd)
{
	return find_command(cmd) != NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		{ "version", no_argument, NULL, 'V' },
		CLI_END_OPT,
	};
	struct cli c = { .cmd = NULL };
	const struct command *cmd;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			cli_help_overview(stdout);
			return 0;
		case 'V':
			return cmd_version(&c, 1, argv);
		case OPT_ROOT:
			if ((r = set_root(&c, optarg)))
				return r;
			break;
		default:
			return bad_option(&c, opt, argv, opt == ':');
		}
	}
	if (optind >= argc) {
		cli_help_overview(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		cli_error("unknown command '%s'", argv[optind]);
		fprintf(stderr, "Try 'lokt help'\n");
		return EXIT_USAGE;
	}
	c.cmd = cmd->name;
	argc -= optind;
	argv += optind;
	optind = 0; /* full re-initialisation of getopt for the command */
	r = cmd->fn(&c, argc, argv);
	lokt_store_close(c.store);
	free(c.root);
	return r;
}
