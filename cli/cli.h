/* SPDX-License-Identifier: MIT */
/*
 * What the files of the `lokt` program share. The program is an adapter
 * around liblokt: main.c parses argv and dispatches, each command file
 * builds a struct lokt_who, makes one lokt_* call and reports. Rules about
 * locks live in core/, never here; this header only carries parsing,
 * messages and output helpers.
 *
 * Who owns what:
 *   main.c     main(): cli_run
 *   run.c      one run: dispatch, shared option parsing, store opening
 *   help.c     usage text of every command, `help`, `version`
 *   output.c   messages, durations, holder phrases, JSON, progress line
 *   report.c   refusal and error messages for every outcome
 *   lock.c     lock, unlock, exists
 *   guard.c    guard (the command's process, signals, renewal loop)
 *   watchdog.c what stops a guarded command when guard dies
 *   status.c   status, why
 *   freeze.c   freeze, unfreeze
 *   audit.c    audit
 *   doctor.c   doctor
 */
#ifndef LOKT_CLI_H
#define LOKT_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "lokt.h"

#define EXIT_USAGE 64
#define DEFAULT_WAIT_MS (10 * 60 * 1000) /* --wait without --timeout */
#define WAIT_ALARM_GRACE_MS 1500 /* cli_wait_alarm: past the timeout */
#define STUCK_MS 10000 /* cli_stuck_bound: a command that does not wait */
#define STUCK_WHY_MAX (PATH_MAX + 512) /* cli_stuck_why: a path and words */
#define CLI_GRACE_MS 5000 /* guard: SIGTERM, then SIGKILL this much later */

/* Long-only option values, above any character. */
enum {
	OPT_ROOT = 256,
	OPT_JSON,
	OPT_TTL,
	OPT_WAIT,
	OPT_TIMEOUT,
	OPT_HOLDER,
	OPT_FORCE,
	OPT_YES,
	OPT_BREAK_STALE,
	OPT_OWNER,
	OPT_ALL,
	OPT_PRUNE,
	OPT_ON_LOST,
	OPT_SINCE,
	OPT_NAME,
	OPT_TAIL,
	OPT_DETACH,
	OPT_NAMES,
	OPT_SLOTS,
	OPT_SHARED,
	OPT_LOCK_ID,
};

/* --slots N and --shared (lock, guard): one of N places of a semaphore,
 * or a shared place. */
#define CLI_SLOTS_OPTS                                                         \
	{ "slots", required_argument, NULL, OPT_SLOTS },                       \
	{ "shared", no_argument, NULL, OPT_SHARED }

/* -E N, --conflict-exit-code N (lock, guard): exit N instead of 2 when
 * the lock is held, frozen or the wait timed out, as flock -E. */
#define CLI_CONFLICT_OPT { "conflict-exit-code", required_argument, NULL, 'E' }

/* Every command's option table starts with these. */
#define CLI_COMMON_OPTS                                           \
	{ "root", required_argument, NULL, OPT_ROOT },            \
	{ "help", no_argument, NULL, 'h' }
#define CLI_JSON_OPT { "json", no_argument, NULL, OPT_JSON }
#define CLI_QUIET_OPT { "quiet", no_argument, NULL, 'q' }
#define CLI_END_OPT { NULL, 0, NULL, 0 }

/* One run of a command. */
struct cli {
	const char *cmd; /* the command name, for "Try 'lokt help CMD'" */
	bool json; /* --json: one JSON document on stdout */
	bool quiet; /* -q: nothing on stdout on success, no progress, and
		       no message when refused as held or frozen */
	int conflict_exit; /* -E N: what exit 2 becomes; -1: 2 */
	char *root; /* after cli_open or cli_open_ro */
	struct lokt_store *store; /* after cli_open; NULL after cli_open_ro
				     when root does not exist yet */
	struct lokt_who who; /* after cli_who */
	bool no_exec; /* CLI_RUN_NO_EXEC */
};

/* How the acquisition-like operations are described in messages. */
enum cli_op { CLI_LOCK, CLI_GUARD, CLI_UNLOCK, CLI_FREEZE, CLI_UNFREEZE };

/* ---- run.c ------------------------------------------------------------- */

/* For cli_run's flags. main() passes none: only an in-process caller
 * (tests/fuzz/fuzz_cli.c) can ask for this. */
enum {
	CLI_RUN_NO_EXEC = 1 << 0, /* guard and audit --follow stop after
				     parsing and opening the store: no
				     lock, no process, no waiting */
};

/* One run of `lokt` over argv (argv[0] is the program); returns the exit
 * status. May run again in the same process: getopt is reset; --root
 * sets LOKT_ROOT, which the caller resets if it matters. */
int cli_run(int argc, char **argv, unsigned flags);

/* Command-specific option handler: return 0, or an exit code (after
 * printing a message) to stop. */
typedef int (*cli_opt_fn)(struct cli *c, int opt, const char *arg,
			  void *data);

/* getopt_long over argv[0..argc) with permutation (flags before or after
 * the name), "+" ordering when posix is true. Handles --root, --help,
 * --json, --quiet; the rest goes to fn. Returns the index of the first
 * positional argument, or -1 with *ret_exit set (0 after --help, 64 on
 * bad usage, already reported): the caller must then stop and exit. */
int cli_parse(struct cli *c, int argc, char **argv, bool posix,
	      const char *shortopts, const struct option *longopts,
	      cli_opt_fn fn, void *data, int *ret_exit);

/* Does argv hold -h or --help where cli_parse would take it as an option
 * (not as an option's value, not after "--", with posix: not after the
 * first positional argument)? *ret_first (may be NULL): where the options
 * end. Nothing acts; getopt is left ready for a fresh parse. cli_parse
 * asks this first, so help wins over any other option on the line. */
bool cli_asks_help(int argc, char **argv, bool posix, const char *shortopts,
		   const struct option *longopts, int *ret_first);

/* Exactly one positional NAME that is a valid lock name. 0 or 64. */
int cli_one_name(struct cli *c, int argc, char **argv, int first,
		 const char **ret_name);

/* A valid lock name, or a usage error naming what is allowed. */
int cli_check_name(struct cli *c, const char *name);

/* The message for a duration longer than lokt_duration_parse accepts
 * (-ERANGE): option, value, the maximum in days. */
#define CLI_TOO_LONG                                                           \
	"%s \"%s\" is longer than the maximum, 100 years (%lldd): use "        \
	"a shorter duration"

/* Parse a duration given to option `opt`; 0 or 64. */
int cli_duration(struct cli *c, const char *opt, const char *arg,
		 int64_t *ret_ms);

/* Parse --slots N (1 to LOKT_SLOTS_MAX) into *ret; 0 or 64. */
int cli_slots(struct cli *c, const char *arg, unsigned *ret);

/* After parsing: --slots and --shared together is a usage error (64). */
int cli_slots_check(struct cli *c, unsigned slots, bool shared);

/* Milliseconds to whole seconds for a TTL, rounding up (500ms → 1s). */
int64_t cli_ttl_sec(int64_t ms);

/* Find and open the store (LOKT_ROOT / --root / discovery), creating it
 * as needed. 0 or 1. */
int cli_open(struct cli *c);

/* For commands that only read (status, exists, why, audit): the same, but
 * a root that does not exist yet is not created; c->store is then NULL
 * and the command answers as for an empty store. 0 or 1. */
int cli_open_ro(struct cli *c);

/* Fill c->who for holder pid. 0, or 64 when the pid does not exist. */
int cli_who(struct cli *c, pid_t holder, const char *what);

/* Catch SIGINT/SIGTERM/SIGHUP/SIGQUIT into *flag (the signal number),
 * without SA_RESTART so a wait in core wakes up. */
void cli_catch_signals(volatile sig_atomic_t *flag);

/* A waiting acquisition on a directory store: SIGALRM timeout_ms and
 * WAIT_ALARM_GRACE_MS from now, then every second (none for timeout_ms
 * < 0), caught without SA_RESTART and doing nothing else: it interrupts
 * liblokt's flock(2) of the name's sidecar, which gives up on the second
 * interrupt past the wait's deadline (-EAGAIN), held by another process
 * stopped in a change of the name (liblokt waits there as long as it is
 * held). The wait itself ends at its timeout. cli_wait_alarm_off disarms
 * it. */
void cli_wait_alarm(const struct cli *c, int64_t timeout_ms);
void cli_wait_alarm_off(void);

/* A command that does not wait (lock and guard without --wait, unlock,
 * freeze, unfreeze) on a directory store: its change of one name gives
 * up (-EAGAIN) when held up for STUCK_MS in a flock of the store (the
 * name's sidecar, or the fence floor for a name new to the store) by a
 * process stopped in a change, or a flock(1) by hand: the thread's
 * deadline, and cli_wait_alarm to interrupt the flock past it. Not on a
 * URL's store (its requests have their own timeout), not in process.
 * cli_stuck_bound_off ends it. */
void cli_stuck_bound(struct cli *c);
/* The same bound, giving up at give_up_ms (cli_mono_ms) instead: guard's
 * renewal, by the end of its lease, and its release. */
void cli_stuck_bound_until(struct cli *c, int64_t give_up_ms);
void cli_stuck_bound_off(struct cli *c);

/* lokt stops because of signal sig (caught: a wait canceled, or guard's
 * command died of a signal guard had forwarded to it): returns 128+sig,
 * the status a shell shows, and has cli_exit end the process by sig
 * itself once everything is cleaned up. A shell running a script waits
 * out a ^C and stops the script only if the program it waited for died
 * of SIGINT; an exit 130 it takes for the program's own answer, and
 * goes on with the next line (bash, make, xargs alike). */
int cli_signaled(int sig);

/* The same, by signalling lokt's whole process group (lokt among it):
 * a signal the terminal sent to a process group lokt had handed the
 * terminal to (guard's command), which would otherwise have reached
 * lokt's group, and the script lokt runs in with it. */
int cli_signaled_group(int sig);

/* main's end: exit with code, or by the signal of cli_signaled when
 * code is still its 128+sig. */
int cli_exit(int code);

/* ---- help.c ------------------------------------------------------------ */

int cli_help_command(const char *cmd); /* usage on stdout; 0 or 64 */
void cli_help_overview(FILE *f);
bool cli_is_command(const char *cmd);

/* Say why the lock root could not be found (r from lokt_root_find);
 * returns exit status 1. */
int cli_root_error(int r);
/* With --json, after a command that failed (status) without printing a
 * JSON document: {"error": "error", "message": its last error}, so that
 * stdout has exactly one document (lokt(1)). */
void cli_json_fallback(const struct cli *c, int status);
/* A JSON document is being written to stdout without cli_json_print. */
void cli_json_started(void);

/* The process lokt acts for when it does not hold anything itself
 * (freeze, unfreeze, unlock, prune: audit and owner only): its parent, or
 * lokt itself when it has none in its pid namespace (it runs as pid 1). */
pid_t cli_caller(void);

/* The candidate closest to word when it looks like a typo of it (for
 * "did you mean"), else NULL. */
const char *cli_suggest(const char *word, const char *const *candidates,
			size_t n);
int cmd_help(struct cli *c, int argc, char **argv);
int cmd_version(struct cli *c, int argc, char **argv);

/* ---- output.c ---------------------------------------------------------- */

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* error: ... then "Try 'lokt help CMD'"; returns 64. */
int cli_usage_error(const struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* s made safe for one line of a terminal, into buf: newline, tab and CR
 * as \n \t \r, other control characters (C0, DEL, C1) as \xNN or \u00NN,
 * bytes that are not UTF-8 as \xNN. For anything read from a lock file,
 * the audit log or /proc (untrusted). Truncates at a whole character;
 * returns buf. CLI_ESC_MAX bytes are enough for a message: a string full
 * of control characters is cut rather than quadrupled. */
#define CLI_ESC_MAX LOKT_STR_MAX
#define CLI_CMD_COLUMN 60 /* bytes of a command line in status's table */
const char *cli_esc(const char *s, char *buf, size_t size);

void cli_now(struct timespec *ret);
int64_t cli_mono_ms(void); /* CLOCK_MONOTONIC in milliseconds */
int64_t cli_ms_since(const struct timespec *t); /* now - t */
void cli_fmt_ms(int64_t ms, char *buf, size_t size); /* clamps at 0 */
void cli_fmt_time(const struct timespec *t, char *buf, size_t size);

/* "live", "remote", "dead", "expired", "reused", "corrupt", "future". */
const char *cli_state(const struct lokt_info *in);
/* Where a live holder that is not local runs: "on another host", or "in
 * another pid namespace" (this host's name, a container's process). */
const char *cli_elsewhere(const struct lokt_info *in);
/* "alice@build-1 (pid 4242, alive)" */
void cli_holder(const struct lokt_info *in, char *buf, size_t size);
/* "for 2m30s; expires in 27m30s" / "; no TTL" / "; expired 5s ago" */
void cli_timing(const struct lokt_info *in, char *buf, size_t size);
/* The command line of a live local holder into cmd; false when none is
 * known (another host, stale, gone, or pid 1: a detached lock). */
bool cli_cmdline(const struct lokt_info *in, char *cmd, size_t size);
/* Around the printing of one listing (status): each holder's command
 * line is read once, however many of the listed locks it holds (its
 * records were judged live in that listing). */
void cli_cmdline_batch(bool on);

/* `running "make deploy"` for a live local holder, else "". */
void cli_command_of(const struct lokt_info *in, char *buf, size_t size);
/* Wrap a record into a lokt_info judged live (for our own records). */
void cli_info_of(const struct lokt_record *rec, struct lokt_info *ret);

struct json_object *cli_record_json(const struct lokt_record *rec);
struct json_object *cli_info_json(const struct lokt_info *in);
void cli_json_print(struct json_object *doc); /* prints and puts */

/* The one-line progress display of a wait (lokt_acquire_opts.progress). */
struct cli_progress {
	const char *name;
	bool drawn;
	size_t width; /* of the line drawn, to blank it without escapes */
};
void cli_progress_cb(const struct lokt_progress *p, void *userdata);
void cli_progress_clear(struct cli_progress *pr);

/* ---- report.c ---------------------------------------------------------- */

/* Report a failed transition (r < 0) on `name`: message on stderr, JSON
 * document on stdout with --json. Returns the exit code. */
int cli_report(struct cli *c, enum cli_op op, int r, const char *name,
	       const struct lokt_result *res);
/* A change of `name` (of kind `kind`) that gave up in a flock of the
 * store (-EAGAIN): a wait (lock or guard --wait, `waited`) past its
 * timeout (cli_wait_alarm), exit 2 or -E N; any other command after
 * STUCK_MS (cli_stuck_bound), exit 1, as a store that did not answer.
 * Says that another process is stuck in a change of the name, and where
 * to find it. */
/* The same for a command of many names (unlock --all, status
 * --prune-expired: `what`), which gave up after STUCK_MS on one of
 * them, `done` names `verb` (released, pruned) before it, of owner (or
 * NULL). Exit 1. */
int cli_report_stuck_many(struct cli *c, const char *what, const char *verb,
			  size_t done, const char *owner);
/* What holds up a change of `name` in a flock of the store, for a
 * message (STUCK_WHY_MAX): "a change of the name that another process
 * has left half-done: pid N holds the flock of FILE (...)", read from
 * /proc/locks by liblokt (true), or that it was let go just now
 * (false). */
bool cli_stuck_why(const struct cli *c, enum lokt_kind kind,
		   const char *name, char *buf, size_t size);
int cli_report_stuck(struct cli *c, enum lokt_kind kind, const char *name,
		     bool waited);
/* Report the stale lock that an acquisition broke, as a warning. */
void cli_report_broke(struct cli *c, const char *name,
		      const struct lokt_result *res);

/* ---- watchdog.c -------------------------------------------------------- */

struct cli_watchdog {
	struct lokt_store *store;
	const char *name;
	const struct lokt_who *who;
	int64_t ttl_sec; /* renewed while the command is stopped; 0: none */
	int close_fd; /* an fd of guard's the watchdog must not keep, or -1 */
};

/* Fork the watchdog, before the lock is taken (it is named the lock's
 * keeper in the acquisition); *ret_wfd is the write end of its pipe
 * (O_CLOEXEC), *ret_ready what cli_watchdog_detached waits on. */
int cli_watchdog_start(const struct cli_watchdog *wd, pid_t *ret_pid,
		       int *ret_wfd, int *ret_ready);
/* Before the command is started: wait until the watchdog has left
 * guard's session, so that nothing sent to guard's group or session
 * reaches it (0), or -errno: it could not, and is dying. Closes ready. */
int cli_watchdog_detached(int ready);
/* guard holds the lock: lock_id is what the watchdog releases if guard
 * dies, unless outer (an outer holder's lock, which stays held). */
int cli_watchdog_held(int wfd, const char *lock_id, bool outer,
		      int64_t outer_ttl); /* -errno: gone */
/* In the command's process, before exec: tell the watchdog our pid. */
void cli_watchdog_announce(int wfd);
/* guard lost the lock (already audited): the watchdog must not release
 * it. */
void cli_watchdog_lost(int wfd);
/* Does any process of group pgid still run code? When /proc cannot be
 * read, kill(-pgid, 0) answers, counting zombies: late, never early. */
bool cli_group_runs(pid_t pgid);
/* guard's normal exit: tell the watchdog to go, close the pipe. */
void cli_watchdog_done(int wfd);
/* guard's exit after the command ended, its release held up in the
 * name's flock: the watchdog releases the lock (lokt_release with flags)
 * once that is let go, stopping nothing. Closes the pipe; -errno: the
 * watchdog is gone. */
int cli_watchdog_release(int wfd, unsigned flags);

/* ---- commands ---------------------------------------------------------- */

int cmd_lock(struct cli *c, int argc, char **argv);
int cmd_unlock(struct cli *c, int argc, char **argv);
int cmd_exists(struct cli *c, int argc, char **argv);
int cmd_guard(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_why(struct cli *c, int argc, char **argv);
int cmd_freeze(struct cli *c, int argc, char **argv);
int cmd_unfreeze(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_doctor(struct cli *c, int argc, char **argv);

#endif /* LOKT_CLI_H */
