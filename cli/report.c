// SPDX-License-Identifier: MIT
/*
 * The messages of refused or failed transitions. Each says what happened
 * (who holds the lock, whether that process is alive, for how long, when it
 * expires) and what to do next (--wait, lokt why, --break-stale, --force,
 * lokt unfreeze). With --json the same message travels in one JSON
 * document on stdout, with the record that stood in the way.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define MSG_MAX 2048

static const char *verb(enum cli_op op)
{
	switch (op) {
	case CLI_UNLOCK:
		return "release lock";
	case CLI_FREEZE:
		return "freeze";
	case CLI_UNFREEZE:
		return "unfreeze";
	default:
		return "take lock";
	}
}

/* "alice@h (pid 42, alive) running "make" for 2m; expires in 3m" */
static void describe(const struct lokt_info *in, char *buf, size_t size)
{
	char holder[600], cmd[300], timing[128];

	cli_holder(in, holder, sizeof(holder));
	cli_command_of(in, cmd, sizeof(cmd));
	cli_timing(in, timing, sizeof(timing));
	snprintf(buf, size, "%s%s%s %s", holder, cmd[0] ? " " : "", cmd,
		 timing);
}

/* "frozen by alice@h until 2026-11-23T10:15:00Z (in 14m)" */
static void describe_freeze(const struct lokt_info *in, char *buf,
			    size_t size)
{
	char until[64], left[32], owner[CLI_ESC_MAX], host[CLI_ESC_MAX];

	if (in->future) { /* not read: nothing of it is known */
		snprintf(buf, size,
			 "frozen by a file of a newer lokt (protocol version "
			 "%d), which this one never lifts on its own",
			 in->rec.version);
		return;
	}
	cli_fmt_time(&in->rec.expires, until, sizeof(until));
	cli_fmt_ms(-cli_ms_since(&in->rec.expires), left, sizeof(left));
	snprintf(buf, size, "frozen by %s@%s until %s (in %s)",
		 cli_esc(in->rec.owner, owner, sizeof(owner)),
		 cli_esc(in->rec.host, host, sizeof(host)), until, left);
}

static void held_message(enum cli_op op, const char *name,
			 const struct lokt_result *res, char *msg)
{
	char d[1100];

	if (op == CLI_FREEZE && res->have_other) {
		describe_freeze(&res->other, d, sizeof(d));
		snprintf(msg, MSG_MAX,
			 "\"%s\" is already %s — lift it with: lokt unfreeze "
			 "%s --force",
			 name, d, name);
	} else if (res->have_other && res->other.slots) {
		describe(&res->other, d, sizeof(d));
		snprintf(msg, MSG_MAX,
			 "%s %u slot%s of \"%s\" %s taken (one by %s) — "
			 "wait with --wait, or see: lokt why %s",
			 res->other.slots == 1 ? "the" : "all",
			 res->other.slots, res->other.slots == 1 ? "" : "s",
			 name, res->other.slots == 1 ? "is" : "are", d, name);
	} else if (res->have_other && res->other.shared) {
		describe(&res->other, d, sizeof(d));
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" has shared holders (one is %s) — wait "
			 "with --wait, or see: lokt why %s",
			 name, d, name);
	} else if (res->have_other) {
		describe(&res->other, d, sizeof(d));
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" held by %s — wait with --wait, or see: "
			 "lokt why %s",
			 name, d, name);
	} else {
		snprintf(msg, MSG_MAX,
			 "%zu waiter%s queued ahead for lock \"%s\" — join "
			 "the queue with --wait, or see: lokt why %s",
			 res->waiters_ahead,
			 res->waiters_ahead == 1 ? " is" : "s are", name, name);
	}
}

static void not_owner_message(enum cli_op op, const char *name,
			      const struct lokt_result *res, char *msg)
{
	char d[1100];

	if (op == CLI_UNFREEZE) {
		if (res->have_other)
			describe_freeze(&res->other, d, sizeof(d));
		else
			snprintf(d, sizeof(d), "frozen by another owner");
		snprintf(msg, MSG_MAX,
			 "\"%s\" is %s; not yours to lift — use --force to "
			 "lift it anyway",
			 name, d);
		return;
	}
	if (!res->have_other) {
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" belongs to another owner — use "
			 "--break-stale if its holder is gone, or --force",
			 name);
		return;
	}
	describe(&res->other, d, sizeof(d));
	if (res->other.stale != LOKT_LIVE)
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" is held by %s; it is stale but not "
			 "yours — break it with: lokt unlock %s --break-stale",
			 name, d, name);
	else
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" is held by %s; not yours to release — "
			 "wait for it, or take it anyway with: lokt unlock %s "
			 "--force",
			 name, d, name);
}

/* A request in the wrong mode: say which mode the name is in. */
static void mode_message(const char *name, const struct lokt_result *res,
			 char *msg)
{
	char d[1100] = "";

	if (res->have_other)
		describe(&res->other, d, sizeof(d));
	if (res->have_other && res->other.slots)
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" is a semaphore of %u slot%s (one held by "
			 "%s) — ask with --slots %u, or wait until all its "
			 "holders are gone",
			 name, res->other.slots,
			 res->other.slots == 1 ? "" : "s", d,
			 res->other.slots);
	else if (res->have_other && res->other.shared)
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" has shared holders (one is %s) — ask "
			 "with --shared, or exclusively without --slots",
			 name, d);
	else
		snprintf(msg, MSG_MAX,
			 "lock \"%s\" is held exclusively by %s, not as a "
			 "semaphore — ask without --slots, or wait until it "
			 "is released",
			 name, d);
}

static void message(enum cli_op op, int r, const char *name,
		    const struct lokt_result *res, bool frozen, char *msg)
{
	char d[1100];

	switch (-r) {
	case LOKT_E_HELD:
		held_message(op, name, res, msg);
		break;
	case LOKT_E_FROZEN:
		if (res->have_other)
			describe_freeze(&res->other, d, sizeof(d));
		else
			snprintf(d, sizeof(d), "frozen");
		if (res->have_other && res->other.future)
			snprintf(msg, MSG_MAX,
				 "lock \"%s\" is %s — upgrade lokt, or remove "
				 "it with: lokt unfreeze %s --force",
				 name, d, name);
		else
			snprintf(msg, MSG_MAX,
				 "lock \"%s\" is %s — wait with --wait, or "
				 "lift it with: lokt unfreeze %s",
				 name, d, name);
		break;
	case LOKT_E_TIMEOUT:
		if (res->have_other && frozen)
			describe_freeze(&res->other, d, sizeof(d));
		else if (res->have_other)
			describe(&res->other, d, sizeof(d));
		snprintf(msg, MSG_MAX,
			 "timed out waiting for lock \"%s\"%s%s — try a "
			 "longer --timeout, or see: lokt why %s",
			 name,
			 !res->have_other ? "" :
			 frozen		  ? ", still " :
					    ", still held by ",
			 res->have_other ? d : "", name);
		break;
	case LOKT_E_NOT_OWNER:
		not_owner_message(op, name, res, msg);
		break;
	case LOKT_E_NOT_FOUND:
		if (op == CLI_UNFREEZE)
			snprintf(msg, MSG_MAX,
				 "\"%s\" is not frozen — nothing to lift "
				 "(see: lokt status)",
				 name);
		else
			snprintf(msg, MSG_MAX,
				 "lock \"%s\" is not held — nothing to "
				 "release (see: lokt status)",
				 name);
		break;
	case LOKT_E_BAD_NAME:
		snprintf(msg, MSG_MAX, "bad lock name \"%s\": %s", name,
			 lokt_name_rule());
		break;
	case LOKT_E_FUTURE_VERSION:
		snprintf(msg, MSG_MAX,
			 "\"%s\" was written by a newer lokt (protocol "
			 "version %d); not touching it — upgrade lokt, or "
			 "remove it with: lokt %s %s --force",
			 name, res->other.rec.version,
			 op == CLI_FREEZE || op == CLI_UNFREEZE ||
					 res->other.freeze ?
				 "unfreeze" :
				 "unlock",
			 name);
		break;
	case LOKT_E_CORRUPT:
		snprintf(msg, MSG_MAX,
			 "the file of lock \"%s\" is corrupt — break it "
			 "with: lokt unlock %s --break-stale",
			 name, name);
		break;
	case LOKT_E_LOST:
		if (res->have_other)
			describe(&res->other, d, sizeof(d));
		snprintf(msg, MSG_MAX,
			 "lost lock \"%s\": it was removed or broken%s%s%s",
			 name, res->have_other ? " (now held by " : "",
			 res->have_other ? d : "", res->have_other ? ")" : "");
		break;
	case LOKT_E_NETFS:
		snprintf(msg, MSG_MAX,
			 "the lock root is on a network filesystem and "
			 "LOKT_REQUIRE_LOCAL_FS=1 — use a local root");
		break;
	case LOKT_E_MODE:
		mode_message(name, res, msg);
		break;
	case ENOTSUP: /* liblokt: slots on a store that has none */
		snprintf(msg, MSG_MAX,
			 "cannot %s \"%s\": this store has no slots or shared "
			 "locks — use a lock of one holder",
			 verb(op), name);
		break;
	case EOVERFLOW: /* liblokt: the name's fences are used up */
		snprintf(msg, MSG_MAX,
			 "cannot %s \"%s\": its fence counter is exhausted "
			 "(the last fence, 18446744073709551615, was issued; "
			 "fences are never reused) — use another name",
			 verb(op), name);
		break;
	default:
		snprintf(msg, MSG_MAX, "cannot %s \"%s\": %s", verb(op), name,
			 lokt_strerror(r));
		break;
	}
}

int cli_report(struct cli *c, enum cli_op op, int r, const char *name,
	       const struct lokt_result *res)
{
	/* The record in the way is the name's freeze (liblokt says so): a
	 * wait that ran out against it was not against a holder. */
	bool frozen = res->have_other && res->other.freeze;
	char msg[MSG_MAX];
	struct json_object *doc;

	message(op, r, name, res, frozen, msg);
	/* -q: a busy lock is an answer, not an error (flock -n is silent);
	 * for lock and guard only (lokt(1)): a freeze refused is said. */
	if (!(c->quiet && lokt_exit_code(r) == 2 &&
	      (op == CLI_LOCK || op == CLI_GUARD)))
		cli_error("%s", msg);
	if (c->json) {
		doc = json_object_new_object();
		json_object_object_add(doc, "error",
				       json_object_new_string(lokt_error_word(r)));
		json_object_object_add(doc, "message",
				       json_object_new_string(msg));
		json_object_object_add(doc, "name",
				       json_object_new_string(name));
		if (res->have_other)
			json_object_object_add(doc,
					       frozen ? "freeze" : "holder",
					       cli_info_json(&res->other));
		if (-r == LOKT_E_HELD && !res->have_other)
			json_object_object_add(
				doc, "waiters_ahead",
				json_object_new_int64(
					(int64_t)res->waiters_ahead));
		cli_json_print(doc);
	}
	if (lokt_exit_code(r) == 2 && c->conflict_exit >= 0)
		return c->conflict_exit;
	return lokt_exit_code(r);
}

bool cli_stuck_why(const struct cli *c, enum lokt_kind kind,
		   const char *name, char *buf, size_t size)
{
	char file[PATH_MAX];
	int pid = lokt_store_flock_holder(c->store, kind, name, file,
					  sizeof(file));

	if (pid > 0)
		snprintf(buf, size,
			 "a change of the name that another process has left "
			 "half-done: pid %d holds the flock of %s (stopped "
			 "there: ^Z, SIGSTOP, a paused container; or a "
			 "flock(1) by hand)",
			 pid, file);
	else
		snprintf(buf, size,
			 "a change of the name that another process had left "
			 "half-done, its flock let go just now (stopped "
			 "there: ^Z, SIGSTOP, a paused container; or a "
			 "flock(1) by hand)");
	return pid > 0;
}

/* The message of a change given up in a flock (r), on stderr; with
 * --json, the start of its document (error, message), for the caller to
 * complete and print. */
static struct json_object *say_stuck(const struct cli *c, int r,
				     const char *msg)
{
	struct json_object *doc;

	if (!c->quiet)
		cli_error("%s", msg);
	if (!c->json)
		return NULL;
	doc = json_object_new_object();
	json_object_object_add(doc, "error",
			       json_object_new_string(lokt_error_word(r)));
	json_object_object_add(doc, "message", json_object_new_string(msg));
	return doc;
}

int cli_report_stuck(struct cli *c, enum lokt_kind kind, const char *name,
		     bool waited)
{
	int r = waited ? -LOKT_E_TIMEOUT : -LOKT_E_UNAVAILABLE;
	struct json_object *doc;
	char why[STUCK_WHY_MAX], msg[STUCK_WHY_MAX + 3 * LOKT_NAME_MAX];
	const char *todo = cli_stuck_why(c, kind, name, why, sizeof(why)) ?
				   "let it go on, or end it" :
				   "try again";

	if (waited)
		snprintf(msg, sizeof(msg),
			 "timed out waiting for lock \"%s\": the wait ran "
			 "past its --timeout in %s — %s",
			 name, why, todo);
	else
		snprintf(msg, sizeof(msg),
			 "gave up on %s \"%s\" after %d s, nothing changed: "
			 "held up by %s — %s",
			 kind == LOKT_FREEZE ? "freeze" : "lock", name,
			 STUCK_MS / 1000, why, todo);
	if ((doc = say_stuck(c, r, msg))) {
		json_object_object_add(doc, "name",
				       json_object_new_string(name));
		cli_json_print(doc);
	}
	if (!waited)
		return lokt_exit_code(r);
	return c->conflict_exit >= 0 ? c->conflict_exit : 2;
}

int cli_report_stuck_many(struct cli *c, const char *what, const char *verb,
			  size_t done, const char *owner)
{
	int r = -LOKT_E_UNAVAILABLE;
	struct json_object *doc;
	char why[STUCK_WHY_MAX], msg[STUCK_WHY_MAX + 2 * LOKT_NAME_MAX];
	enum lokt_kind kind = LOKT_LOCK;
	const char *name = lokt_store_stuck_name(c->store, &kind);

	if (name) {
		cli_stuck_why(c, kind, name, why, sizeof(why));
		snprintf(msg, sizeof(msg),
			 "gave up on %s after %d s: %s %zu, then held up on "
			 "%s \"%s\" by %s; the names after it were left as "
			 "they were — let it go on, or end it, then run this "
			 "again",
			 what, STUCK_MS / 1000, verb, done,
			 kind == LOKT_FREEZE ? "freeze" : "lock", name, why);
	} else {
		snprintf(msg, sizeof(msg),
			 "gave up on %s after %d s: %s %zu, then held up by a "
			 "change of a name that another process has left "
			 "half-done (it holds the flock of that name's "
			 "locks/.NAME.lk or freezes/.NAME.lk: /proc/locks "
			 "gives its pid); the names after it were left as "
			 "they were — let it go on, or end it, then run this "
			 "again",
			 what, STUCK_MS / 1000, verb, done);
	}
	if ((doc = say_stuck(c, r, msg))) {
		if (owner)
			json_object_object_add(doc, "owner",
					       json_object_new_string(owner));
		json_object_object_add(doc, verb,
				       json_object_new_int64((int64_t)done));
		cli_json_print(doc);
	}
	return lokt_exit_code(r);
}

void cli_report_broke(struct cli *c, const char *name,
		      const struct lokt_result *res)
{
	struct lokt_info in;
	char holder[600];

	if (res->broke == LOKT_LIVE || c->quiet)
		return;
	cli_info_of(&res->broken, &in);
	in.stale = res->broke;
	if (res->broke == LOKT_STALE_CORRUPT) {
		cli_warning("broke the corrupt lock file of \"%s\"", name);
		return;
	}
	cli_holder(&in, holder, sizeof(holder));
	cli_warning("broke stale lock \"%s\" of %s", name, holder);
}
