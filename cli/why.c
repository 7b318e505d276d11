// SPDX-License-Identifier: MIT
/*
 * lokt why NAME: what `lokt lock NAME` would meet right now, in sentences.
 * It reads the freeze, the lock and the waiter queue of the name and tells
 * them in the order core decides an acquisition: a freeze refuses first,
 * then a live holder, then queued waiters; a stale lock is broken by the
 * next acquisition. Exit 0 when the lock could be taken now, 2 when not.
 *
 * Re-entrance is core's rule (lokt_holds): when the asker is the holder,
 * runs inside it (same owner and host), or shares its LOKT_AGENT_ID, `lokt
 * lock` renews whatever else stands (a freeze, waiters), and why says so.
 * The asker is lokt's parent, as for `lokt lock`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct why {
	char msg[4096];
	size_t len;
	const char *reason; /* free, frozen, held, stale, queued, future,
			       yours */
	bool acquirable;
};

static void say(struct why *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct why *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->len >= sizeof(w->msg) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->msg + w->len, sizeof(w->msg) - w->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len += (size_t)n;
	if (w->len >= sizeof(w->msg))
		w->len = sizeof(w->msg) - 1;
}

static void why_frozen(struct why *w, const char *name,
		       const struct lokt_info *fr)
{
	char until[64], left[32], owner[CLI_ESC_MAX], host[CLI_ESC_MAX];

	w->reason = "frozen";
	if (fr->future) { /* not read: nothing of it is known */
		say(w, "\"%s\" is frozen by a file of a newer lokt (protocol "
		       "version %d), which this lokt never lifts on its own: "
		       "lokt lock %s is refused (exit 2) until someone "
		       "upgrades lokt or runs: lokt unfreeze %s --force. ",
		    name, fr->rec.version, name, name);
		return;
	}
	cli_fmt_time(&fr->rec.expires, until, sizeof(until));
	cli_fmt_ms(-cli_ms_since(&fr->rec.expires), left, sizeof(left));
	say(w, "\"%s\" is frozen by %s@%s until %s (in %s): lokt lock %s "
	       "is refused (exit 2) until the freeze ends or someone runs: "
	       "lokt unfreeze %s. ",
	    name, cli_esc(fr->rec.owner, owner, sizeof(owner)),
	    cli_esc(fr->rec.host, host, sizeof(host)), until, left, name, name);
	w->reason = "frozen";
}

static void why_held(struct why *w, const char *name,
		     const struct lokt_info *in)
{
	char holder[600], cmd[300], timing[128];

	cli_holder(in, holder, sizeof(holder));
	cli_command_of(in, cmd, sizeof(cmd));
	cli_timing(in, timing, sizeof(timing));
	say(w, "Lock \"%s\" is held by %s%s%s %s. ", name, holder,
	    cmd[0] ? " " : "", cmd, timing);
	if (!in->local)
		say(w, "Its holder runs %s, so only its TTL can make it "
		       "stale. ", cli_elsewhere(in));
	say(w, "lokt lock %s is refused (exit 2) unless you are that "
	       "holder, run inside it, or share its LOKT_AGENT_ID (then it "
	       "renews). Wait for it with: lokt lock %s --wait. ",
	    name, name);
	w->reason = "held";
}

static void why_yours(struct why *w, const char *name,
		      const struct lokt_info *in)
{
	char holder[600], timing[128];

	cli_holder(in, holder, sizeof(holder));
	cli_timing(in, timing, sizeof(timing));
	say(w, "You hold lock \"%s\": its holder is %s %s, and you %s. "
	       "lokt lock %s would renew it (same lock_id and fence%s); lokt "
	       "unlock %s releases it.",
	    name, holder, timing,
	    in->rec.agent_id[0] && in->rec.pid == LOKT_DETACHED_PID ?
		    "share its LOKT_AGENT_ID" :
	    in->rec.agent_id[0] ? "are that process, run inside it, or "
				  "share its LOKT_AGENT_ID" :
				  "are that process or run inside it",
	    name, in->rec.ttl_sec > 0 ? ", a fresh TTL" : "", name);
	w->reason = "yours";
	w->acquirable = true;
}

static void why_stale(struct why *w, const char *name,
		      const struct lokt_info *in)
{
	char holder[600], left[32], owner[CLI_ESC_MAX], host[CLI_ESC_MAX];

	cli_holder(in, holder, sizeof(holder));
	switch (in->stale) {
	case LOKT_STALE_DEAD:
		say(w, "Lock \"%s\" is stale: its holder %s is gone. ", name,
		    holder);
		break;
	case LOKT_STALE_REUSED:
		say(w, "Lock \"%s\" is stale: the pid of its holder %s now "
		       "belongs to another process. ",
		    name, holder);
		break;
	case LOKT_STALE_EXPIRED:
		cli_fmt_ms(cli_ms_since(&in->rec.expires), left, sizeof(left));
		say(w, "Lock \"%s\" of %s@%s is stale: its TTL expired %s "
		       "ago. ",
		    name, cli_esc(in->rec.owner, owner, sizeof(owner)),
		    cli_esc(in->rec.host, host, sizeof(host)), left);
		break;
	default:
		say(w, "Lock \"%s\" is stale: its file is corrupt. ", name);
		break;
	}
	say(w, "The next lokt lock %s breaks it (audited as %s) and takes "
	       "the lock; lokt unlock %s --break-stale removes it now. ",
	    name, in->stale == LOKT_STALE_CORRUPT ? "corrupt-break"
						 : "stale-break",
	    name);
	w->reason = "stale";
	w->acquirable = true;
}

/* A name of several holders (a semaphore, or shared): "3 of 3 slots
 * taken, by ...", and what a request in its mode would meet. Answers for
 * `lokt lock NAME --slots N` (or --shared), the mode it is in. */
static void why_slots(struct why *w, struct cli *c, const char *name,
		      const struct lokt_info *in, const struct lokt_who *who,
		      bool frozen, size_t waiters)
{
	char holder[600], cmd[300], timing[128], ask[32];
	struct lokt_holders h;
	size_t i, live = 0, said = 0;

	if (lokt_holders(c->store, name, &h) < 0) {
		h.n = 0;
		h.v = NULL;
	}
	for (i = 0; i < h.n; i++)
		live += h.v[i].stale == LOKT_LIVE;
	if (in->slots) {
		snprintf(ask, sizeof(ask), "--slots %u", in->slots);
		say(w, "\"%s\" is a semaphore: %zu of %u slot%s taken", name,
		    live, in->slots, in->slots == 1 ? "" : "s");
	} else {
		snprintf(ask, sizeof(ask), "--shared");
		say(w, "\"%s\" has %zu shared holder%s", name, live,
		    live == 1 ? "" : "s");
	}
	for (i = 0; i < h.n; i++) {
		if (h.v[i].stale != LOKT_LIVE)
			continue;
		cli_holder(&h.v[i], holder, sizeof(holder));
		cli_command_of(&h.v[i], cmd, sizeof(cmd));
		cli_timing(&h.v[i], timing, sizeof(timing));
		say(w, "%s %s%s%s %s", said++ ? ";" : ", by", holder,
		    cmd[0] ? " " : "", cmd, timing);
	}
	say(w, ". ");
	if (h.n > live)
		say(w, "%zu more %s stale: the next acquisition breaks "
		       "%s (stale-break). ",
		    h.n - live, h.n - live == 1 ? "holder is" : "holders are",
		    h.n - live == 1 ? "it" : "them");
	w->reason = "held";
	for (i = 0; who && i < h.n; i++) {
		if (h.v[i].stale == LOKT_LIVE && lokt_holds(&h.v[i].rec, who)) {
			say(w, "You hold one of them (fence %llu): lokt lock "
			       "%s %s would renew it; lokt unlock %s "
			       "releases it.",
			    (unsigned long long)h.v[i].rec.fence, name, ask,
			    name);
			w->reason = "yours";
			w->acquirable = true;
			free(h.v);
			return;
		}
	}
	if (in->slots && live >= in->slots) {
		say(w, "lokt lock %s %s is refused (exit 2) until a slot is "
		       "free; wait for one with: lokt lock %s %s --wait. ",
		    name, ask, name, ask);
	} else if (in->slots && frozen) {
		say(w, "A slot is free, but lokt lock %s %s is refused (exit "
		       "2) while the name is frozen. ",
		    name, ask);
	} else if (in->slots) {
		say(w, "lokt lock %s %s would take a slot now. ", name, ask);
		w->reason = "free";
		w->acquirable = true;
	} else {
		/* A new shared holder is refused while the name is frozen or
		 * has waiters (a writer queued ahead): said after, by
		 * explain(). */
		if (!frozen && !waiters)
			say(w, "lokt lock %s --shared joins them; ", name);
		say(w, "lokt lock %s (exclusive, the writer) is refused "
		       "(exit 2) until they are gone, and with --wait queues "
		       "ahead of every later shared request. ",
		    name);
		w->reason = "shared";
		w->acquirable = true;
	}
	if (live) /* once every holder is stale, any mode breaks them */
		say(w, "Asking in another mode is refused at once (exit 2): "
		       "%s. ",
		    in->slots ? "exclusively, --shared or another --slots" :
				"with --slots");
	free(h.v);
}

static void explain(struct why *w, struct cli *c, const char *name, int lr,
		    const struct lokt_info *in, bool frozen,
		    const struct lokt_info *fr, size_t waiters, bool yours,
		    const struct lokt_who *who)
{
	w->acquirable = false;
	if (yours) { /* a renewal: neither freezes nor waiters stop it */
		why_yours(w, name, in);
		return;
	}
	if (frozen)
		why_frozen(w, name, fr);
	if (lr == 0 && in->future) {
		say(w, "Lock \"%s\" was written by a newer lokt (protocol "
		       "version %d); this lokt will not touch it. ",
		    name, in->rec.version);
		w->reason = "future";
	} else if (lr == 0 && (in->slots || in->shared)) {
		/* Its record is the gate lokt 1.x reads (pid 1, owner
		 * lokt-slots): the holders are what to explain, stale too. */
		why_slots(w, c, name, in, who, frozen, waiters);
		if (!strcmp(w->reason, "yours"))
			goto out;
	} else if (lr == 0 && in->stale == LOKT_LIVE) {
		why_held(w, name, in);
	} else if (lr == 0) {
		why_stale(w, name, in);
	} else {
		say(w, frozen ? "Nobody holds the lock itself. "
			      : "Lock \"%s\" is free. ",
		    name);
		w->reason = "free";
		w->acquirable = true;
	}
	if (waiters && w->acquirable) {
		char mode[32] = "";

		/* the request of the name's mode, as why_slots said it */
		if (lr == 0 && in->slots)
			snprintf(mode, sizeof(mode), " --slots %u", in->slots);
		else if (lr == 0 && in->shared)
			snprintf(mode, sizeof(mode), " --shared");
		say(w, "But %zu waiter%s queued for it: a plain lokt lock "
		       "%s%s is refused (exit 2) until they have had their "
		       "turn; lokt lock %s%s --wait joins the queue at "
		       "position %zu.",
		    waiters, waiters == 1 ? " is" : "s are", name, mode, name,
		    mode, waiters + 1);
		w->reason = "queued";
		w->acquirable = false;
	} else if (waiters) {
		say(w, "%zu waiter%s queued ahead of any new one.", waiters,
		    waiters == 1 ? " is" : "s are");
	}
	if (frozen) {
		w->acquirable = false;
		w->reason = "frozen";
	}
	if (w->acquirable && !strcmp(w->reason, "free") &&
	    !(lr == 0 && in->slots))
		say(w, "lokt lock %s would take it now.", name);
out:
	while (w->len && w->msg[w->len - 1] == ' ')
		w->msg[--w->len] = 0;
}

int cmd_why(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, CLI_JSON_OPT,
					      CLI_END_OPT };
	struct why w = { .len = 0 };
	struct lokt_info in, fr;
	struct lokt_who who;
	bool yours, have_who;
	struct json_object *doc;
	const char *name;
	size_t waiters = 0;
	bool frozen;
	int first, ex = 0, r, lr;

	first = cli_parse(c, argc, argv, false, "", opts, NULL, NULL, &ex);
	if (first < 0)
		return ex;
	if ((r = cli_one_name(c, argc, argv, first, &name)))
		return r;
	if ((r = cli_open_ro(c)))
		return r;
	lr = r = -LOKT_E_NOT_FOUND; /* no root yet: free */
	if (c->store) {
		lr = lokt_get(c->store, LOKT_LOCK, name, &in, NULL);
		r = lokt_get(c->store, LOKT_FREEZE, name, &fr, NULL);
	}
	if ((lr < 0 && lr != -LOKT_E_NOT_FOUND) ||
	    (r < 0 && r != -LOKT_E_NOT_FOUND)) {
		cli_error("cannot read \"%s\": %s", name,
			  lokt_strerror(lr < 0 && lr != -LOKT_E_NOT_FOUND ? lr
									  : r));
		return 1;
	}
	frozen = r == 0 && (fr.future || fr.stale == LOKT_LIVE);
	/* A queue or sidecar that cannot be used fails lokt lock as it
	 * would: "free" would be a lie. */
	if (c->store && (r = lokt_waiters(c->store, name, &waiters)) < 0 &&
	    r != -LOKT_E_NOT_FOUND) {
		cli_error("cannot read \"%s\": %s", name, lokt_strerror(r));
		return 1;
	}
	/* the asker, as `lokt lock` would see it: lokt's parent */
	have_who = lokt_who_self(getppid(), &who) == 0;
	yours = lr == 0 && !in.future && in.stale == LOKT_LIVE && have_who &&
		lokt_holds(&in.rec, &who);
	explain(&w, c, name, lr, &in, frozen, &fr, waiters, yours,
		have_who ? &who : NULL);
	if (!c->json) {
		printf("%s\n", w.msg);
		return w.acquirable ? 0 : 2;
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "name", json_object_new_string(name));
	json_object_object_add(doc, "acquirable",
			       json_object_new_boolean(w.acquirable));
	json_object_object_add(doc, "reason", json_object_new_string(w.reason));
	json_object_object_add(doc, "message", json_object_new_string(w.msg));
	json_object_object_add(doc, "lock", lr == 0 ? cli_info_json(&in) : NULL);
	json_object_object_add(doc, "freeze", frozen ? cli_info_json(&fr) : NULL);
	json_object_object_add(doc, "waiters",
			       json_object_new_int64((int64_t)waiters));
	cli_json_print(doc);
	return w.acquirable ? 0 : 2;
}
