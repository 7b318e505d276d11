// SPDX-License-Identifier: MIT
/*
 * lokt — named locks from the shell. This file owns one run of the
 * program (cli_run; main.c only calls it, the fuzz target calls it too):
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
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
	if (dir[0] == '/' || lokt_root_is_url(dir))
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

/* Edit distance between a and b (insertions, deletions, substitutions,
 * and a swap of two neighbours), for "did you mean"; words are short. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[33][33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *cli_suggest(const char *word, const char *const *candidates,
			size_t n)
{
	size_t best = SIZE_MAX, dist, len = strlen(word);
	const char *pick = NULL;

	for (size_t i = 0; i < n; i++) {
		dist = distance(word, candidates[i]);
		if (dist < best) {
			best = dist;
			pick = candidates[i];
		}
	}
	/* Close enough to be a typo, not another word. */
	return best <= (len < 5 ? 1 : 2) ? pick : NULL;
}

/* The long option closest to "--word" among longopts, or NULL. */
static const char *suggest_option(const char *what,
				  const struct option *longopts)
{
	const char *names[64];
	char word[64];
	size_t n = 0;

	if (strncmp(what, "--", 2) || !longopts)
		return NULL;
	snprintf(word, sizeof(word), "%s", what + 2);
	word[strcspn(word, "=")] = '\0';
	for (; longopts[n].name && n < 64; n++)
		names[n] = longopts[n].name;
	return cli_suggest(word, names, n);
}

static int bad_option(struct cli *c, int opt, char **argv, bool missing,
		      const struct option *longopts)
{
	char shortname[3] = { '-', (char)optopt, 0 };
	const char *last = optind > 0 ? argv[optind - 1] : "";
	const char *what, *near;

	/* getopt gives long options by position (optopt is then 0, or the
	 * option's value), short ones by optopt */
	what = !strncmp(last, "--", 2) || !optopt || optopt > 127 ? last
								    : shortname;

	if (missing)
		return cli_usage_error(c, "option '%s' needs a value", what);
	near = suggest_option(what, longopts);
	if (near)
		return cli_usage_error(c, "unknown option '%s' — did you mean "
					  "'--%s'?",
				       what, near);
	return cli_usage_error(c, "unknown option '%s'", what);
}

static void make_optstring(char *buf, size_t size, bool posix,
			   const char *shortopts)
{
	snprintf(buf, size, "%s:h%s", posix ? "+" : "", shortopts);
}

bool cli_asks_help(int argc, char **argv, bool posix, const char *shortopts,
		   const struct option *longopts, int *ret_first)
{
	char optstring[64];
	bool help = false;
	int opt;

	make_optstring(optstring, sizeof(optstring), posix, shortopts);
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1)
		help = help || opt == 'h';
	if (ret_first)
		*ret_first = optind;
	optind = 0; /* the real parse starts over */
	return help;
}

/* -E N: an exit status, 0 to 255. */
static int conflict_exit(struct cli *c, const char *arg)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno || *end || end == arg || n < 0 || n > 255)
		return cli_usage_error(c, "bad --conflict-exit-code \"%s\": "
					  "give an exit status from 0 to 255",
				       arg);
	c->conflict_exit = (int)n;
	return 0;
}

static bool takes_json(const struct option *longopts)
{
	for (; longopts && longopts->name; longopts++)
		if (longopts->val == OPT_JSON)
			return true;
	return false;
}

int cli_parse(struct cli *c, int argc, char **argv, bool posix,
	      const char *shortopts, const struct option *longopts,
	      cli_opt_fn fn, void *data, int *ret_exit)
{
	char optstring[64];
	int opt, r;

	/* Help first, before any option acts or is refused: --help after a
	 * bad value is still only help, and touches nothing. */
	if (cli_asks_help(argc, argv, posix, shortopts, longopts, NULL)) {
		*ret_exit = cli_help_command(c->cmd);
		return -1;
	}
	/* --json anywhere before "--" holds for a usage error found before
	 * it too: the error is then a JSON document as well. */
	if (takes_json(longopts))
		for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
			if (!strcmp(argv[i], "--json"))
				c->json = true;
	make_optstring(optstring, sizeof(optstring), posix, shortopts);
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
		case 'E':
			r = conflict_exit(c, optarg);
			break;
		case '?':
		case ':':
			r = bad_option(c, opt, argv, opt == ':', longopts);
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
	int r = lokt_duration_parse(arg, &ms);

	if (r == -ERANGE)
		return cli_usage_error(c, CLI_TOO_LONG, opt, arg,
				       LOKT_TTL_MAX_SEC / 86400);
	if (r < 0)
		return cli_usage_error(c,
				       "bad duration \"%s\" for %s: use e.g. "
				       "90, 1.5s, 500ms, 30m, 2h, 1d, 1h30m",
				       arg, opt);
	if (ms <= 0)
		return cli_usage_error(c, "%s must be longer than 0", opt);
	*ret_ms = ms;
	return 0;
}

int cli_slots(struct cli *c, const char *arg, unsigned *ret)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	/* Digits only: strtol would take " 3" and "+3" too. */
	if (errno || *end || end == arg || arg[0] < '0' || arg[0] > '9' ||
	    n < 1 || n > LOKT_SLOTS_MAX)
		return cli_usage_error(c,
				       "bad --slots \"%s\": give the number of "
				       "holders allowed at once, 1 to %d",
				       arg, LOKT_SLOTS_MAX);
	*ret = (unsigned)n;
	return 0;
}

int cli_slots_check(struct cli *c, unsigned slots, bool shared)
{
	if (slots && shared)
		return cli_usage_error(c, "--slots and --shared cannot be used "
					  "together: a name is a semaphore of N "
					  "places, or shared");
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

int cli_root_error(int r)
{
	const char *conf = getenv("LOKT_CONFIG");

	if (r == -ENOENT && conf && *conf && access(conf, F_OK) < 0)
		cli_error("cannot find the lock root: LOKT_CONFIG names %s, "
			  "which does not exist — fix the name, set "
			  "LOKT_CONFIG=/dev/null for no host-wide store, or "
			  "set LOKT_ROOT or pass --root DIR",
			  conf);
	else if (r == -EINVAL)
		cli_error("cannot find the lock root: %s is not valid — it "
			  "needs one line \"root = /absolute/dir\" (comments "
			  "on lines of their own, starting with #); fix it, "
			  "or set LOKT_ROOT or pass --root DIR",
			  lokt_config_path());
	else
		cli_error("cannot find the lock root: %s — set LOKT_ROOT or "
			  "pass --root DIR",
			  lokt_strerror(r));
	return 1;
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

	if (r < 0)
		return cli_root_error(r);
	if (req && !strcmp(req, "1") && lokt_is_network_fs(c->root) == 1) {
		netfs_error(c->root);
		return 1;
	}
	return 0;
}

static int open_store(struct cli *c)
{
	const char *max = getenv("LOKT_AUDIT_MAX");
	uint64_t bytes = 0;
	char why[320];
	int r;

	if (max && *max && lokt_audit_max_parse(max, &bytes) < 0) {
		cli_error("bad LOKT_AUDIT_MAX \"%s\": give the audit log's "
			  "size cap in bytes, e.g. 16M or 512k (0: never "
			  "rotate), or unset it for the default",
			  max);
		return 1;
	}
	r = lokt_store_open_why(c->root, &c->store, why, sizeof(why));
	if (r == 0 && max && *max)
		lokt_store_set_audit_max(c->store, bytes);
	if (r < 0 && why[0]) /* an etcd:// root or its settings */
		cli_error("cannot open lock root %s: %s", c->root, why);
	else if (r == -LOKT_E_NETFS)
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
	if (!lokt_root_is_url(c->root) && stat(c->root, &st) < 0 &&
	    errno == ENOENT)
		return 0; /* nothing held yet, and nothing to create */
	return open_store(c);
}

pid_t cli_caller(void)
{
	pid_t parent = getppid();

	/* 0: lokt is pid 1 (docker run IMAGE lokt ...), or its parent lies
	 * outside its pid namespace. Who acts is then lokt itself. */
	return parent > 0 ? parent : getpid();
}

/* Can a record carry this host's name (sethostname(2) takes any
 * bytes)? */
static bool host_name_ok(void)
{
	char host[LOKT_STR_MAX];

	if (gethostname(host, sizeof(host)) < 0)
		return true; /* not what stands in the way */
	host[sizeof(host) - 1] = '\0';
	return lokt_text_ok(host, strlen(host));
}

int cli_who(struct cli *c, pid_t holder, const char *what)
{
	int r = lokt_who_self(holder, &c->who);

	if (r == -ESRCH)
		return cli_usage_error(c, "no process with pid %d (%s)",
				       (int)holder, what);
	if (r == -EINVAL && !host_name_ok()) {
		cli_error("this host's name is not valid UTF-8: a lock record "
			  "could not carry it — give the host a name in UTF-8 "
			  "(hostname(1), or a container's --hostname)");
		return 1;
	}
	if (r == -EINVAL) /* what a record could not carry */
		return cli_usage_error(
			c,
			"LOKT_OWNER and LOKT_AGENT_ID must be valid UTF-8 of "
			"at most %d bytes — set them to another name",
			LOKT_STR_MAX - 1);
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
	sigaction(SIGQUIT, &sa, NULL);
}

static struct sigaction alarm_was;
static bool alarm_on;

static void on_alarm(int sig)
{
	(void)sig; /* only to interrupt a flock(2): liblokt looks at the time */
}

/* SIGALRM first_ms from now, then every every_ms (on_alarm). */
static void arm_alarm(int64_t first_ms, int64_t every_ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { 0 };

	if (alarm_on)
		return;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, &alarm_was) < 0)
		return;
	if (first_ms < 1)
		first_ms = 1; /* 0 would disarm it */
	it.it_value.tv_sec = (time_t)(first_ms / 1000);
	it.it_value.tv_usec = (suseconds_t)(first_ms % 1000) * 1000;
	it.it_interval.tv_sec = (time_t)(every_ms / 1000);
	it.it_interval.tv_usec = (suseconds_t)(every_ms % 1000) * 1000;
	if (setitimer(ITIMER_REAL, &it, NULL) == 0)
		alarm_on = true;
	else
		sigaction(SIGALRM, &alarm_was, NULL);
}

void cli_wait_alarm(const struct cli *c, int64_t timeout_ms)
{
	/* Not in process (fuzz_cli): the caller's own timer is its own. */
	if (timeout_ms < 0 || lokt_root_is_url(c->root) || c->no_exec)
		return;
	arm_alarm(timeout_ms + WAIT_ALARM_GRACE_MS, 1000);
}

void cli_wait_alarm_off(void)
{
	struct itimerval it = { 0 };

	if (!alarm_on)
		return;
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, &alarm_was, NULL);
	alarm_on = false;
}

static bool stuck_bound_on;

void cli_stuck_bound_until(struct cli *c, int64_t give_up_ms)
{
	/* liblokt gives up on the second interrupt past the deadline, so:
	 * the deadline two ticks before give_up_ms, an alarm one tick
	 * before and the next at give_up_ms. A tick is a second, less for
	 * a bound closer than four (guard's renewal of a short lease), at
	 * least 20 ms: a bound already past still tries the flock once. */
	int64_t now = cli_mono_ms(), tick = (give_up_ms - now) / 4;

	if (!c->store || lokt_root_is_url(c->root) || c->no_exec ||
	    stuck_bound_on)
		return;
	tick = tick > 1000 ? 1000 : tick < 20 ? 20 : tick;
	lokt_store_set_deadline(c->store, give_up_ms - 2 * tick);
	arm_alarm(give_up_ms - tick - now, tick);
	stuck_bound_on = true;
}

void cli_stuck_bound(struct cli *c)
{
	cli_stuck_bound_until(c, cli_mono_ms() + STUCK_MS);
}

void cli_stuck_bound_off(struct cli *c)
{
	if (!stuck_bound_on)
		return;
	cli_wait_alarm_off();
	lokt_store_set_deadline(c->store, 0);
	stuck_bound_on = false;
}

static int end_signal;
static bool end_group;

int cli_signaled(int sig)
{
	end_signal = sig;
	end_group = false;
	return 128 + sig;
}

int cli_signaled_group(int sig)
{
	cli_signaled(sig);
	end_group = true;
	return 128 + sig;
}

int cli_exit(int code)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct rlimit no_core;
	sigset_t one;

	if (!end_signal || code != 128 + end_signal)
		return code;
	/* Nothing left to clean up but stdio, which a death skips. A
	 * SIGQUIT passed on by guard dumps the command's core if anything;
	 * lokt's own says nothing, and is not written (as timeout(1)). 1,
	 * not 0: a limit of 0 does not stop a core_pattern that pipes to a
	 * program (core(5)); 1 byte stops it, and any core file. */
	fflush(NULL);
	if (getrlimit(RLIMIT_CORE, &no_core) == 0 && no_core.rlim_cur > 1) {
		no_core.rlim_cur = 1;
		setrlimit(RLIMIT_CORE, &no_core);
	}
	sigemptyset(&dfl.sa_mask);
	sigaction(end_signal, &dfl, NULL);
	sigemptyset(&one);
	sigaddset(&one, end_signal);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	if (end_group)
		kill(0, end_signal); /* this process among them */
	else
		raise(end_signal);
	return code; /* not reached: the default action of these ends us */
}

static int unknown_command(const char *word)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *near;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		names[i] = commands[i].name;
	near = cli_suggest(word, names, sizeof(names) / sizeof(names[0]));
	if (near)
		cli_error("unknown command '%s' — did you mean '%s'?", word,
			  near);
	else
		cli_error("unknown command '%s'", word);
	fprintf(stderr, "Try 'lokt help'\n");
	return EXIT_USAGE;
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

/* The commands that only read (lokt(1)): nothing they print is a
 * report of a change. */
static bool reads_only(const char *name)
{
	static const char *const readers[] = { "status", "exists", "why",
					       "audit",	 "doctor", "version",
					       "help" };

	for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
		if (!strcmp(name, readers[i]))
			return true;
	return false;
}

/* `lokt --json status`: --json is the command's option, and the one who
 * gave it wants a JSON document, refusals too. Where it goes is said. */
static int json_first(struct cli *c, int argc, char **argv)
{
	const char *cmd = "";

	/* the command word, wherever getopt has got to (--root DIR may
	 * come between) */
	for (int i = optind > 0 ? optind - 1 : 0; i < argc && !*cmd; i++)
		if (find_command(argv[i]))
			cmd = argv[i];
	c->json = true;
	if (*cmd)
		return cli_usage_error(c, "--json goes after the command: "
					  "lokt %s ... --json", cmd);
	return cli_usage_error(c, "--json goes after the command: "
				  "lokt COMMAND ... --json");
}

int cli_run(int argc, char **argv, unsigned flags)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		{ "version", no_argument, NULL, 'V' },
		CLI_END_OPT,
	};
	struct cli c = { .cmd = NULL, .no_exec = flags & CLI_RUN_NO_EXEC,
			 .conflict_exit = -1 };
	const struct command *cmd;
	int opt, r;

	optind = 0; /* a fresh getopt, also on a second run in one process */
	/* Help wins over every other global option, wherever it is. */
	if (cli_asks_help(argc, argv, true, "", opts, NULL)) {
		cli_help_overview(stdout);
		return 0;
	}
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
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
			if (optind > 0 && !strcmp(argv[optind - 1], "--json"))
				return json_first(&c, argc, argv);
			return bad_option(&c, opt, argv, opt == ':', opts);
		}
	}
	if (optind >= argc) {
		cli_help_overview(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return unknown_command(argv[optind]);
	c.cmd = cmd->name;
	/* A command that changes the store reports what it did; a reader of
	 * its output gone away (`lokt lock x | true`) must not end it
	 * between the change and its status, 141 after the lock was taken. A
	 * reader dies of SIGPIPE, as cat does. */
	if (!reads_only(cmd->name))
		signal(SIGPIPE, SIG_IGN);
	argc -= optind;
	argv += optind;
	optind = 0; /* full re-initialisation of getopt for the command */
	r = cmd->fn(&c, argc, argv);
	cli_json_fallback(&c, r);
	/* A reader's output is its whole answer: one lost to a failed write
	 * (a full disk, /dev/full) is an error, as for cat. A command that
	 * changed the store has done so: its status says what was done. */
	if (reads_only(cmd->name) && (fflush(stdout) == EOF || ferror(stdout))) {
		int e = errno;

		cli_error("cannot write to standard output: %s",
			  strerror(e ? e : EIO));
		r = 1;
	}
	lokt_store_close(c.store);
	free(c.root);
	return r;
}
