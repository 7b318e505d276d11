// SPDX-License-Identifier: MIT
/*
 * lokt lock, unlock and exists. `lock` makes the process that ran lokt
 * (its parent: the shell or script) the holder, unless --holder PID says
 * otherwise; the lokt process itself exits at once. Waiting (--wait) is
 * done by core; we only draw the progress line and turn SIGINT/SIGTERM
 * into a canceled wait, after which we end by that signal, as a killed
 * process would (cli_signaled: a script's shell stops on ^C).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct lock_args {
	int64_t ttl_ms, timeout_ms;
	bool wait, timeout_set, detach, shared;
	unsigned slots;
	pid_t holder;
};


static int lock_opt(struct cli *c, int opt, const char *arg, void *data)
{
	struct lock_args *a = data;
	char *end;
	long pid;

	switch (opt) {
	case OPT_DETACH:
		a->detach = true;
		return 0;
	case OPT_SLOTS:
		return cli_slots(c, arg, &a->slots);
	case OPT_SHARED:
		a->shared = true;
		return 0;
	case OPT_TTL:
		return cli_duration(c, "--ttl", arg, &a->ttl_ms);
	case OPT_WAIT:
		a->wait = true;
		return 0;
	case OPT_TIMEOUT:
		a->timeout_set = true;
		return cli_duration(c, "--timeout", arg, &a->timeout_ms);
	case OPT_HOLDER:
		errno = 0;
		pid = strtol(arg, &end, 10);
		if (errno || *end || end == arg || pid <= 0 || pid > 1 << 30)
			return cli_usage_error(c, "bad --holder \"%s\": give "
						  "a process id", arg);
		a->holder = (pid_t)pid;
		return 0;
	}
	return 0;
}

static void print_acquired(struct cli *c, const char *name,
			   const struct lokt_result *res)
{
	struct json_object *doc;
	char left[32];

	if (c->json) {
		doc = cli_record_json(&res->lock);
		json_object_object_add(doc, "renewed",
				       json_object_new_boolean(res->renewed));
		json_object_object_add(
			doc, "broke",
			res->broke == LOKT_LIVE
				? NULL
				: json_object_new_string(
					  lokt_stale_name(res->broke)));
		json_object_object_add(doc, "state",
				       json_object_new_string("live"));
		json_object_object_add(doc, "root",
				       json_object_new_string(c->root));
		cli_json_print(doc);
		return;
	}
	if (c->quiet)
		return;
	printf("%s \"%s\" (fence %llu, ", res->renewed ? "renewed" : "acquired",
	       name, (unsigned long long)res->lock.fence);
	if (res->lock.ttl_sec > 0) {
		cli_fmt_ms(-cli_ms_since(&res->lock.expires), left,
			   sizeof(left));
		printf("expires in %s)", left);
	} else {
		printf("no TTL: held while pid %lld lives)",
		       (long long)res->lock.pid);
	}
	/* Which store: the default depends on the working directory. */
	printf(" in %s\n", c->root);
}

/* The holder of a lock taken after a wait may have exited meanwhile (it
 * is lokt's parent, or --holder): the lock would be stale from the start,
 * broken by the next lock. Then it is given back, and said: 1. */
static bool holder_gone(struct cli *c, const char *name,
			const struct lokt_result *res)
{
	struct lokt_result rel;
	struct lokt_info in;

	if (lokt_get(c->store, LOKT_LOCK, name, &in, NULL) < 0 ||
	    (in.stale != LOKT_STALE_DEAD && in.stale != LOKT_STALE_REUSED) ||
	    strcmp(in.rec.lock_id, res->lock.lock_id))
		return false;
	lokt_release(c->store, name, &c->who, res->lock.lock_id, 0, &rel);
	cli_error("the holder of lock \"%s\" (pid %lld) exited while lokt "
		  "waited: the lock, stale from the start, was given back — "
		  "wait from a process that stays (a shell, --holder PID), "
		  "or use: lokt guard %s --wait -- CMD...",
		  name, (long long)c->who.pid, name);
	return true;
}

/* Programs that run lokt as their child and exit when it exits
 * (timeout 60 lokt lock x, sudo lokt lock x): lokt's parent, the holder,
 * would be gone at once and the lock stale, broken by the next lock.
 * Known by the parent's executable (a script named "time" runs bash),
 * or by its name where the executable cannot be read (su, of root's,
 * running lokt as another user). */
static bool parent_is_wrapper(char comm[32])
{
	static const char *const wrappers[] = { "timeout", "sudo",    "su",
						"doas",	   "runuser", "time",
						"xargs",   "flock",   "strace",
						"ltrace" };
	char path[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)getppid());
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		base = strrchr(exe, '/');
		base = base ? base + 1 : exe;
		n = (ssize_t)strnlen(base, 31);
		memcpy(comm, base, (size_t)n);
		comm[n] = '\0';
	} else {
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)getppid());
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, comm, 31);
		close(fd);
		if (n <= 0)
			return false;
		comm[n] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
	}
	for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
		if (!strcmp(comm, wrappers[i]))
			return true;
	return false;
}

int cmd_lock(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_JSON_OPT,
		CLI_QUIET_OPT,
		{ "ttl", required_argument, NULL, OPT_TTL },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "holder", required_argument, NULL, OPT_HOLDER },
		{ "detach", no_argument, NULL, OPT_DETACH },
		CLI_SLOTS_OPTS,
		CLI_CONFLICT_OPT,
		CLI_END_OPT,
	};
	struct lock_args a = { .timeout_ms = DEFAULT_WAIT_MS };
	static volatile sig_atomic_t cancel;
	struct cli_progress pr = { 0 };
	struct lokt_acquire_opts ao = { 0 };
	struct lokt_result res = { 0 };
	const char *name;
	char comm[32];
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "qE:", opts, lock_opt, &a, &ex);
	if (first < 0)
		return ex;
	if ((r = cli_one_name(c, argc, argv, first, &name)))
		return r;
	if (a.timeout_set)
		a.wait = true; /* as flock -w: a timeout means waiting */
	if ((r = cli_slots_check(c, a.slots, a.shared)))
		return r;
	if (a.detach && !a.ttl_ms)
		return cli_usage_error(c, "--detach needs --ttl (e.g. --ttl 2h): "
					  "a detached lock ends only when its "
					  "owner releases it or its TTL runs out");
	if (a.detach && a.holder)
		return cli_usage_error(c, "--detach and --holder name two "
					  "different holders: choose one");
	if (a.detach)
		a.holder = LOKT_DETACHED_PID; /* see lokt.h */
	if (!a.holder && getppid() == 0) {
		cli_error("lokt runs as pid 1 (in a container?): no process "
			  "called it, so none could hold lock \"%s\" after "
			  "lokt exits — take it with --ttl D --detach (held "
			  "until released or expired), run the work under it "
			  "with: lokt guard %s -- CMD..., or name a holder "
			  "with --holder PID",
			  name, name);
		return 1;
	}
	/* (Not in-process: the fuzz target runs under timeout.) */
	if (!a.holder && !c->no_exec && parent_is_wrapper(comm))
		return cli_usage_error(
			c,
			"lokt's parent, the lock's holder, is \"%s\" (pid %d), "
			"which exits when lokt does: lock \"%s\" would be "
			"stale at once, and the next lock would break it — "
			"name the holder with --holder PID (e.g. --holder $$, "
			"your shell), bound a wait with --timeout D, or run "
			"the work under the lock with: lokt guard %s -- CMD...",
			comm, (int)getppid(), name, name);
	if ((r = cli_who(c, a.holder ? a.holder : getppid(), "--holder")))
		return r;
	if ((r = cli_open(c)))
		return r;

	ao.ttl_sec = cli_ttl_sec(a.ttl_ms);
	ao.wait = a.wait;
	ao.timeout_ms = a.timeout_ms;
	ao.cancel = &cancel;
	ao.slots = a.slots;
	ao.shared = a.shared;
	pr.name = name;
	if (a.wait && !c->quiet && isatty(STDERR_FILENO)) {
		ao.progress = cli_progress_cb;
		ao.userdata = &pr;
	}
	if (a.wait) {
		cli_catch_signals(&cancel);
		cli_wait_alarm(c, a.timeout_ms);
	} else {
		cli_stuck_bound(c);
	}
	r = lokt_acquire(c->store, name, &c->who, &ao, &res);
	cli_wait_alarm_off();
	cli_stuck_bound_off(c);
	cli_progress_clear(&pr);
	if (r == -EAGAIN && !lokt_root_is_url(c->root))
		return cli_report_stuck(c, LOKT_LOCK, name, a.wait);
	if (r == -LOKT_E_CANCELED)
		return cancel ? cli_signaled(cancel) : 128 + SIGINT;
	if (r == -EINVAL && c->who.pid == LOKT_DETACHED_PID && !ao.ttl_sec &&
	    getpid() != LOKT_DETACHED_PID) {
		/* liblokt: a lock of pid 1 with no TTL never ends (lokt.h) */
		cli_error("lokt's holder would be pid 1 (%s): with no TTL "
			  "the lock \"%s\" would never end, and every "
			  "process would count as its holder — take it with "
			  "--ttl D (--detach), run the work under it with: "
			  "lokt guard %s -- CMD..., or name a holder with "
			  "--holder PID",
			  a.holder ? "--holder 1" :
				     "lokt was orphaned, or is run by the "
				     "first process: init, or a container's",
			  name, name);
		return 1;
	}
	if (r < 0)
		return cli_report(c, CLI_LOCK, r, name, &res);
	cli_report_broke(c, name, &res);
	if (a.wait && !res.renewed && holder_gone(c, name, &res))
		return 1;
	print_acquired(c, name, &res);
	return 0;
}

struct unlock_args {
	bool force, yes, break_stale, all;
	const char *owner, *lock_id;
};

/* A lock_id (docs/protocol.md): LOKT_ID_LEN lowercase hex digits. Not
 * "null", which jq prints for a refusal's document. */
static bool id_ok(const char *id)
{
	return strlen(id) == LOKT_ID_LEN &&
	       strspn(id, "0123456789abcdef") == LOKT_ID_LEN;
}

static int unlock_opt(struct cli *c, int opt, const char *arg, void *data)
{
	struct unlock_args *a = data;

	switch (opt) {
	case OPT_FORCE:
		a->force = true;
		break;
	case OPT_YES:
		a->yes = true;
		break;
	case OPT_BREAK_STALE:
		a->break_stale = true;
		break;
	case OPT_ALL:
		a->all = true;
		break;
	case OPT_OWNER:
		if (!*arg || strlen(arg) >= LOKT_STR_MAX)
			return cli_usage_error(c, "bad --owner \"%s\"", arg);
		a->owner = arg;
		break;
	case OPT_LOCK_ID:
		if (!id_ok(arg))
			return cli_usage_error(c, "bad --lock-id \"%s\": the "
						  "lock_id of lokt lock --json "
						  "(or $LOKT_LOCK_ID), 32 "
						  "hex digits", arg);
		a->lock_id = arg;
		break;
	}
	return 0;
}

/* --force on a terminal: ask before breaking someone's lock. The lock_id
 * of what was shown goes to seen ("" when the file has none), so that only
 * the confirmed acquisition is broken, not one that replaced it while the
 * user read the question. */
static bool confirm_force(struct cli *c, const char *name,
			  char seen[LOKT_ID_LEN + 1])
{
	struct lokt_info in;
	char holder[600], answer[16];

	seen[0] = '\0';
	if (lokt_get(c->store, LOKT_LOCK, name, &in, NULL) < 0)
		return true; /* nothing there: release reports it */
	/* A name of several holders is broken whole: no one lock_id. */
	if (!in.future && in.stale != LOKT_STALE_CORRUPT && !in.slots &&
	    !in.shared)
		snprintf(seen, LOKT_ID_LEN + 1, "%s", in.rec.lock_id);
	cli_holder(&in, holder, sizeof(holder));
	fprintf(stderr, "Break lock \"%s\" held by %s? [y/N] ", name, holder);
	fflush(stderr);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

static int unlock_all(struct cli *c, const struct unlock_args *a)
{
	size_t n = 0;
	int r;

	cli_stuck_bound(c);
	r = lokt_release_all(c->store, &c->who, a->owner, &n);
	cli_stuck_bound_off(c);
	if (r == -EAGAIN && !lokt_root_is_url(c->root))
		return cli_report_stuck_many(c, "unlock --all", "released", n,
					     a->owner ? a->owner : c->who.owner);
	if (r < 0) {
		cli_error("cannot release the locks of %s: %s",
			  a->owner ? a->owner : c->who.owner,
			  lokt_strerror(r));
		return lokt_exit_code(r);
	}
	if (c->json) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "owner",
				       json_object_new_string(
					       a->owner ? a->owner
							: c->who.owner));
		json_object_object_add(doc, "released",
				       json_object_new_int64((int64_t)n));
		cli_json_print(doc);
	} else if (!c->quiet) {
		printf("released %zu lock%s of %s\n", n, n == 1 ? "" : "s",
		       a->owner ? a->owner : c->who.owner);
	}
	return 0;
}

static void print_released(struct cli *c, const char *name,
			   const struct lokt_result *res)
{
	struct lokt_info in;
	char holder[600];

	cli_info_of(&res->lock, &in);
	in.stale = res->broke;
	/* A newer lokt's file (--force): its version is all that was read
	 * of it, as status shows it. */
	in.future = res->lock.version > LOKT_PROTOCOL_VERSION;
	if (c->json) {
		/* The record released, and how: released by its owner, or
		 * broken (stale, corrupt, future, or by force). */
		struct json_object *doc = in.future ? cli_info_json(&in) :
					  cli_record_json(&res->lock);

		json_object_object_add(
			doc, "broke",
			res->broke != LOKT_LIVE ?
				json_object_new_string(lokt_stale_name(res->broke)) :
			strcmp(res->lock.owner, c->who.owner) ?
				json_object_new_string("force") :
				NULL);
		json_object_object_add(doc, "state",
				       json_object_new_string("released"));
		cli_json_print(doc);
		return;
	}
	if (c->quiet)
		return;
	cli_holder(&in, holder, sizeof(holder));
	if (res->broke == LOKT_STALE_CORRUPT)
		printf("broke the corrupt lock file of \"%s\"\n", name);
	else if (in.future)
		printf("broke the lock file of \"%s\" of protocol version %d\n",
		       name, res->lock.version);
	else if (res->broke != LOKT_LIVE)
		printf("broke stale lock \"%s\" of %s\n", name, holder);
	else if (strcmp(res->lock.owner, c->who.owner))
		printf("broke lock \"%s\" of %s\n", name, holder);
	else
		printf("released \"%s\"\n", name);
}

int cmd_unlock(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_QUIET_OPT,
		CLI_JSON_OPT,
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "break-stale", no_argument, NULL, OPT_BREAK_STALE },
		{ "owner", required_argument, NULL, OPT_OWNER },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "lock-id", required_argument, NULL, OPT_LOCK_ID },
		CLI_END_OPT,
	};
	struct unlock_args a = { 0 };
	struct lokt_result res = { 0 };
	const char *name = NULL;
	char seen[LOKT_ID_LEN + 1] = "";
	unsigned flags = 0;
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "qy", opts, unlock_opt, &a,
			  &ex);
	if (first < 0)
		return ex;
	/* lokt 1.x: `unlock --owner O` (no name) releases all of O's locks;
	 * unambiguous here, where --owner alone names no lock. */
	if (!a.all && a.owner && first >= argc && !a.force && !a.break_stale)
		a.all = true;
	if (a.all && first < argc)
		return cli_usage_error(c, "unlock --all takes no NAME");
	if (a.all && (a.force || a.break_stale || a.yes || a.lock_id))
		return cli_usage_error(c, "--force, --yes, --break-stale and "
					  "--lock-id cannot be used with --all");
	if (!a.all && (r = cli_one_name(c, argc, argv, first, &name)))
		return r;
	if (a.yes && !a.force)
		return cli_usage_error(c, "--yes only makes sense with --force");
	if (a.lock_id && (a.force || a.break_stale))
		return cli_usage_error(c, "--lock-id releases your own "
					  "acquisition only: it cannot be used "
					  "with --force or --break-stale");
	if ((r = cli_who(c, cli_caller(), "parent")))
		return r;
	if (a.owner)
		snprintf(c->who.owner, sizeof(c->who.owner), "%s", a.owner);
	if ((r = cli_open(c)))
		return r;
	if (a.all)
		return unlock_all(c, &a);

	if (a.force && !a.yes && isatty(STDIN_FILENO)) {
		if (!confirm_force(c, name, seen)) {
			cli_error("lock \"%s\" left as it was (not confirmed)",
				  name);
			return 1;
		}
		if (seen[0])
			flags |= LOKT_RELEASE_SEEN;
	}
	flags |= a.force ? LOKT_RELEASE_FORCE : 0;
	flags |= a.break_stale ? LOKT_RELEASE_BREAK_STALE : 0;
	flags |= a.lock_id ? LOKT_RELEASE_OWN : 0; /* no more than a plain
						      unlock may */
	cli_stuck_bound(c);
	/* --lock-id: that acquisition only. The same owner may release from
	 * anywhere, so a script's plain unlock after its TTL ran out would
	 * release the next holder's lock (lokt(1), EXAMPLES). */
	r = lokt_release(c->store, name, &c->who,
			 a.lock_id		       ? a.lock_id :
			 flags & LOKT_RELEASE_SEEN ? seen :
						     NULL,
			 flags, &res);
	cli_stuck_bound_off(c);
	if (r == -EAGAIN && !lokt_root_is_url(c->root))
		return cli_report_stuck(c, LOKT_LOCK, name, false);
	if (r == -LOKT_E_LOST && a.lock_id) {
		r = cli_report(c, CLI_UNLOCK, r, name, &res);
		if (!c->quiet)
			fprintf(stderr, "nothing was released: lock_id %s is "
				"not the lock \"%s\" now (it ran out or was "
				"broken, and the name freed or taken again)\n",
				a.lock_id, name);
		return r;
	}
	if (r == -LOKT_E_LOST) {
		cli_error("lock \"%s\" changed while you confirmed (it was "
			  "released or taken again); nothing was broken — "
			  "look with: lokt status %s, then run the command "
			  "again",
			  name, name);
		return lokt_exit_code(r);
	}
	if (r < 0)
		return cli_report(c, CLI_UNLOCK, r, name, &res);
	print_released(c, name, &res);
	return 0;
}

int cmd_exists(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, CLI_END_OPT };
	struct lokt_info in;
	const char *name;
	int first, ex = 0, r;

	first = cli_parse(c, argc, argv, false, "", opts, NULL, NULL, &ex);
	if (first < 0)
		return ex;
	if ((r = cli_one_name(c, argc, argv, first, &name)))
		return r;
	if ((r = cli_open_ro(c)))
		return r;
	if (!c->store)
		return 3; /* no root yet: nothing is held */
	r = lokt_get(c->store, LOKT_LOCK, name, &in, NULL);
	if (r == -LOKT_E_NOT_FOUND)
		return 3;
	if (r < 0) {
		cli_error("cannot read lock \"%s\": %s", name,
			  lokt_strerror(r));
		return 1;
	}
	/* A newer protocol's lock is not ours to judge: it stands. */
	return in.future || in.stale == LOKT_LIVE ? 0 : 3;
}
