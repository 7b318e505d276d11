// SPDX-License-Identifier: MIT
/*
 * The etcd store behind the seam (core/backend.h), for a root
 * etcd://HOST:PORT[,HOST:PORT...]/PREFIX. Built as a module of its own
 * (liblokt-etcd.so, loaded by lokt_store_open only for such a root), so
 * that a program using the directory store never loads libcurl.
 *
 * DESIGN
 *
 * Keys, under PREFIX:
 *   locks/<name>          a lock's record (the JSON of the directory
 *                         store on one line, its fence left 0: the fence
 *                         is the key's create_revision, but for a lock
 *                         handed over, see "the hand-over"), on the
 *                         holder's lease; or a gate (several holders,
 *                         slots.c) on no lease
 *   slot/<name>/<lock_id> {"lease":L} of one holder of a gate, on that
 *                         holder's lease (see "gates" below)
 *   fences/<name>         empty, touched by every creation of
 *                         locks/<name> and every hand-over, never
 *                         deleted: a gate's creation compares it (see
 *                         send_ops)
 *   freezes/<name>        a freeze's record, on no lease (judged by its
 *                         TTL, as in the directory store)
 *   held/<name>           {"lock_id","lease"} of the lock now held, on no
 *                         lease: when locks/<name> is gone and this is
 *                         not, the lease expired with nobody releasing,
 *                         and the next transition audits "expire"
 *   queue/<name>/<lease>  a waiter, on its own short lease; its place is
 *                         its create_revision; at the head, the record
 *                         it offers (see "the hand-over")
 *   audit/<ns>-<rand>     one audit event (a JSON line), kept for
 *                         LOKT_ETCD_AUDIT_KEEP (7 days by default)
 *
 * A transition reads once, in one read-only txn: the name's lock,
 * freeze, held key, slot keys and (on a lock) queue, all at one
 * revision. Writes
 * and audit events are buffered; end sends them as one txn whose
 * compares say that nothing it read changed: mod_revision equal for a key
 * that was there, create_revision 0 for one that was not; for an
 * acquisition also the freeze as read, and the queue: empty, or no key
 * with a create_revision below the asker's. When a compare fails nothing
 * was applied, end says -EAGAIN and the protocol decides again on fresh
 * reads. etcd refuses two requests on one key in a txn, and a put over a
 * key keeps its create_revision, so breaking a stale lock and taking it
 * are two txns: the removal (compared as above), then the creation
 * (compared: absent, freeze and queue as read); if someone else came
 * between, the creation's compare fails and the transition runs again.
 *
 * A request that timed out may have been applied (a leader change): the
 * key is read again and the lock_id matched. A creation whose lock_id is
 * there was applied; a removal whose record is gone was; a hand-over
 * that touched fences/<name> since the lock as read was; anything else
 * runs again. Never two holders (every write is compared), never a leaked
 * lock (a creation that did not happen leaves its lease revoked).
 *
 * Liveness: a lock of a process is put on a lease of LOKT_ETCD_LEASE (10 s
 * by default), which a keeper process (lokt-keeper, started here before
 * the creation is sent) keeps alive while the holder, or the keeper it
 * names (lokt_keep: guard's watchdog), lives, and revokes when they are
 * gone or the lock is released. A crashed host stops renewing: the lease
 * runs out and the lock passes on. A detached lock (pid 1, loktd's) has no
 * lease: it ends by its TTL.
 *
 * A lock acquired with a keeper named from the start (guard names its
 * watchdog) gets no lokt-keeper: its holder and that keeper keep the
 * lease alive themselves (lokt_tend, every third of the lease), so it
 * lives while either of them does, as the directory store judges it.
 * Whoever of the two releases it revokes the lease after the release.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "slots.h"
#include "gateway.h"
#include "kv.h"
#include "watch.h"

#define AUDIT_KEEP_SEC_DEFAULT (7 * 86400)
#define PAGE 1000 /* keys per range request of a listing */
#define SETTLE_GRACE_MS 2000 /* past a deadline, to resolve a cut write */
#define CUT_TTL_SEC 600 /* a cut write's key (cut_off) lasts that long */

extern char **environ;

struct relay;

struct estore {
	struct lokt_etcd_config cfg;
	struct lokt_gw *gw;
	int64_t audit_keep_sec;
	pthread_mutex_t relays_lock;
	struct relay *relays; /* lokt_watch's, ended and joined at close */
	pid_t pid; /* the process whose threads the relays are */
	pthread_mutex_t tend_lock;
	struct tended *tended; /* leases this process tends (lokt_tend) */
	size_t n_tended;
	/* Watches of waiters that left, told to end, joined later (at the
	 * next wait or at close): a waiter that got its lock must not wait
	 * for its watch threads before it acts. Under tend_lock. */
	struct retired *retired;
	size_t n_retired;
};

struct retired {
	struct lokt_gw_watch *watch;
	pid_t pid; /* the process whose thread it is */
};

/* A lock whose lease this process keeps alive itself: created here with
 * a keeper named (no lokt-keeper started), or found by lokt_tend. Its
 * lease is revoked when it is released from here. */
struct tended {
	char name[LOKT_NAME_MAX + 1];
	char lock_id[LOKT_ID_LEN + 1];
	int64_t lease;
	/* The record as this process last wrote it (NULL: not known), for
	 * a transition to begin from without reading (see snapshot). */
	char *value;
	int64_t create_rev, mod_rev;
	/* held/<name>'s mod_revision when a hand-over wrote it (after the
	 * lock key's creation); 0: the creation's. */
	int64_t held_rev;
	/* A gate's holder: the revision of this process's last write of
	 * the gate (0: none known), for lokt_watch to start after it. */
	int64_t gate_rev;
	/* A lock of guard's (a keeper named): the name's queue, watched
	 * from its acquisition on (queue_from, the revision after it) for a
	 * waiter's offer, so that its release can hand it over without
	 * reading first (offer_guess). The watch is made with the lock's
	 * own (e_watch: guard's, once its command runs), not before; -1:
	 * from then. */
	int64_t queue_from;
	struct lokt_gw_watch *queue;
	pid_t queue_pid; /* the process whose thread it is */
};

static struct estore *es(const struct lokt_store *s)
{
	return s->be_data;
}

/* "PREFIX/area/name" (name may be ""), malloc'd. */
static char *key_of(const struct lokt_store *s, const char *area,
		    const char *name)
{
	char *k;

	if (asprintf(&k, "%s/%s/%s", es(s)->cfg.prefix, area, name) < 0)
		return NULL;
	return k;
}

/* A request nobody answered (-EHOSTUNREACH), or a read that timed out:
 * the store is unavailable, which callers report as such. */
static int unavailable(int r)
{
	return r == -EHOSTUNREACH || r == -ETIMEDOUT ? -LOKT_E_UNAVAILABLE : r;
}

static const char *area_of(enum lokt_kind kind)
{
	return kind == LOKT_FREEZE ? "freezes" : "locks";
}

/* ---- one transition ---------------------------------------------------- */

enum { OP_CREATE, OP_REPLACE, OP_REMOVE, OP_PUT };

struct eop {
	int what;
	enum lokt_kind kind;
	char *value; /* CREATE, REPLACE, PUT */
	char lock_id[LOKT_ID_LEN + 1]; /* CREATE, REPLACE: the record's */
	struct lokt_record *rec; /* CREATE: its fence is set at the end */
	int64_t lease; /* CREATE, PUT adding a holder: 0 none */
	bool adopted; /* ... the asker's queue lease, not one of its own */
	bool handed; /* REPLACE: a hand-over to offer_kv's waiter (e_offer) */
	int tell; /* CREATE: its keeper's stdin, told the outcome; -1 none */
	/* PUT, a gate (the record of several holders): written where none
	 * was; the holder it adds (one at most), and those it drops. */
	bool create, adds;
	char added[LOKT_ID_LEN + 1];
	char (*dropped)[LOKT_ID_LEN + 1];
	size_t n_dropped;
};

struct eaudit {
	char *line;
	size_t at; /* n_ops when it was recorded */
};

struct etxn {
	struct lokt_txn t;
	char *key[2], *held_key, *queue_key, *queue_end;
	char *fence_key; /* fences/<name>: put by each creation of its lock */
	bool have_snap;
	int64_t rev;
	struct lokt_kv *kv[2]; /* NULL: absent */
	size_t n_kv[2];
	struct lokt_kv *held;
	size_t n_held;
	char *slot_key, *slot_end; /* slot/<name>/: a gate's holders */
	struct lokt_kv *slot;
	size_t n_slot;
	struct lokt_kv *q;
	size_t nq;
	bool read[2], read_queue;
	bool provisional; /* the snapshot is this process's last write */
	bool doomed; /* ... and it was not the store's: run again */
	bool guessed; /* the snapshot is a waiter's guess (waiter_guess) */
	uint64_t seq;
	struct eop ops[4];
	size_t n_ops;
	struct eaudit *aud;
	size_t n_aud;
	char *cut_key; /* cut/<nonce>: compared absent by the last write */
	/* A release handing the lock over: the first waiter's place, as
	 * read, and the lock_id it offered (e_offer). */
	const struct lokt_kv *offer_kv;
	char offer_id[LOKT_ID_LEN + 1];
	/* The queue and freeze of a provisional snapshot are guessed from
	 * the queue watch (offer_guess): compared as a reading would be. */
	bool full_guess;
};

static void etxn_free(struct etxn *t)
{
	for (int k = 0; k < 2; k++) {
		free(t->key[k]);
		lokt__kvs_free(t->kv[k], t->n_kv[k]);
	}
	free(t->held_key);
	free(t->fence_key);
	free(t->queue_key);
	free(t->queue_end);
	free(t->slot_key);
	free(t->slot_end);
	free(t->cut_key);
	lokt__kvs_free(t->held, t->n_held);
	lokt__kvs_free(t->slot, t->n_slot);
	lokt__kvs_free(t->q, t->nq);
	for (size_t i = 0; i < t->n_ops; i++) {
		free(t->ops[i].value);
		free(t->ops[i].dropped);
		if (t->ops[i].tell >= 0)
			close(t->ops[i].tell); /* unwritten: not created */
	}
	for (size_t i = 0; i < t->n_aud; i++)
		free(t->aud[i].line);
	free(t->aud);
	free(t);
}

/* ---- leases tended by this process (lokt_tend) -------------------------- */

static int64_t keepalive_ms(const struct lokt_store *s);

/* The lock_id and lease of a held/<name> value. */
static int held_parse(const char *value, char *lock_id, size_t size,
		      int64_t *ret_lease)
{
	struct json_object *o = json_tokener_parse(value), *v;
	int r = -EINVAL;

	if (o && json_object_object_get_ex(o, "lock_id", &v)) {
		snprintf(lock_id, size, "%s", json_object_get_string(v));
		*ret_lease = json_object_object_get_ex(o, "lease", &v) ?
				     json_object_get_int64(v) :
				     0;
		r = 0;
	}
	json_object_put(o);
	return r;
}

/* The lease in a slot key's value (slot/<name>/<lock_id>: a gate's
 * holder, see gates below). */
static int64_t slot_lease(const struct lokt_kv *kv)
{
	long long lease = 0;

	if (!kv || sscanf(kv->value, "{\"lease\":%lld}", &lease) != 1)
		return 0;
	return lease;
}

/* The lease of (name, lock_id) if tended here, removed from the list
 * when take, its queue watch ended and joined (a long-lived holder takes
 * and releases again and again: each hold's thread and connection go
 * with it); 0 when not tended. */
static int64_t tended_find(struct estore *e, const char *name,
			   const char *lock_id, bool take)
{
	struct lokt_gw_watch *queue = NULL;
	pid_t queue_pid = 0;
	int64_t lease = 0;

	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended; i++) {
		struct tended *td = &e->tended[i];

		if (strcmp(td->name, name) || strcmp(td->lock_id, lock_id))
			continue;
		lease = td->lease;
		if (take) {
			free(td->value);
			queue = td->queue;
			queue_pid = td->queue_pid;
			*td = e->tended[--e->n_tended];
		}
		break;
	}
	pthread_mutex_unlock(&e->tend_lock);
	/* Outside the lock: told to stop, its thread ends at once. In a
	 * child of fork() the thread is not there to join. */
	if (queue && queue_pid == getpid())
		lokt__gw_watch_close(queue);
	return lease;
}

static void tended_add(struct estore *e, const char *name,
		       const char *lock_id, int64_t lease)
{
	struct tended *n;

	if (tended_find(e, name, lock_id, false))
		return;
	pthread_mutex_lock(&e->tend_lock);
	n = realloc(e->tended, (e->n_tended + 1) * sizeof(*n));
	if (n) {
		e->tended = n;
		memset(&n[e->n_tended], 0, sizeof(*n));
		snprintf(n[e->n_tended].name, sizeof(n->name), "%s", name);
		snprintf(n[e->n_tended].lock_id, sizeof(n->lock_id), "%s",
			 lock_id);
		n[e->n_tended].lease = lease;
		e->n_tended++;
	}
	/* Without memory the next lokt_tend reads the lease again. */
	pthread_mutex_unlock(&e->tend_lock);
}

/* The lock lock_id tended here is to have its queue watched from
 * revision from, -1: from when the watch is made (queue_watch, made by
 * e_watch). */
static void queue_watch_from(struct estore *e, const char *name,
			     const char *lock_id, int64_t from)
{
	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended; i++)
		if (!strcmp(e->tended[i].name, name) &&
		    !strcmp(e->tended[i].lock_id, lock_id))
			e->tended[i].queue_from = from;
	pthread_mutex_unlock(&e->tend_lock);
}

/* Watch the queue of name for an offer (the hand-over, e_offer), from
 * revision from on, for the lock lock_id tended here. Without it (no
 * memory, no thread), its release reads first, as any other does. */
static void queue_watch(struct estore *e, const char *name,
			const char *lock_id, int64_t from)
{
	struct lokt_gw_watch *watch = NULL;
	char *key, *end = NULL;

	if (asprintf(&key, "%s/queue/%s/", e->cfg.prefix, name) < 0)
		return;
	end = lokt__kv_prefix_end(key);
	if (end && lokt__gw_watch_open(e->gw, key, strlen(key), end,
				       strlen(end), from, &watch) == 0 &&
	    lokt__gw_watch_keep(watch, "\"offer\":") == 0) {
		pthread_mutex_lock(&e->tend_lock);
		for (size_t i = 0; i < e->n_tended && watch; i++) {
			struct tended *td = &e->tended[i];

			if (!strcmp(td->name, name) &&
			    !strcmp(td->lock_id, lock_id) && !td->queue) {
				td->queue = watch;
				td->queue_pid = getpid();
				watch = NULL;
			}
		}
		pthread_mutex_unlock(&e->tend_lock);
	}
	lokt__gw_watch_close(watch);
	free(key);
	free(end);
}

/* Remember the lock record lock_id this process just wrote (at revision
 * rev; a creation when created), or forget what it wrote of name (value
 * NULL: every lock of the name it tends, an old one lost meanwhile
 * too). */
static void tended_wrote(struct estore *e, const char *name,
			 const char *lock_id, const char *value, int64_t rev,
			 bool created)
{
	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended; i++) {
		struct tended *td = &e->tended[i];

		if (strcmp(td->name, name) ||
		    (value && strcmp(td->lock_id, lock_id)))
			continue;
		free(td->value);
		td->value = value && (created || td->create_rev) ?
				    strdup(value) :
				    NULL;
		if (created)
			td->create_rev = rev;
		td->mod_rev = rev;
		if (created || !td->value)
			td->held_rev = 0;
		if (!td->value)
			td->create_rev = td->mod_rev = 0;
	}
	pthread_mutex_unlock(&e->tend_lock);
}

/* The lock lock_id was handed over to this process (e_wait_handed): put
 * over its key (created at create_rev) as value, at revision rev, with
 * its held key; its release and renewals may begin from that. */
static void tended_handed(struct estore *e, const char *name,
			  const char *lock_id, const char *value,
			  int64_t create_rev, int64_t rev)
{
	char *copy;

	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended; i++) {
		struct tended *td = &e->tended[i];

		if (strcmp(td->name, name) || strcmp(td->lock_id, lock_id))
			continue;
		/* Without memory, its first transition reads. */
		if ((copy = strdup(value))) {
			free(td->value);
			td->value = copy;
			td->create_rev = create_rev;
			td->mod_rev = td->held_rev = rev;
		}
		break;
	}
	pthread_mutex_unlock(&e->tend_lock);
}

/* This process wrote the gate of name at revision rev: its holders
 * there are as it wrote them then (see e_watch). */
static void tended_gate_wrote(struct estore *e, const char *name, int64_t rev)
{
	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended; i++)
		if (!strcmp(e->tended[i].name, name))
			e->tended[i].gate_rev = rev;
	pthread_mutex_unlock(&e->tend_lock);
}

/* The lock record of the transition's name as this process last wrote
 * it, into t->kv[LOKT_LOCK] (and its held key into t->held): true when
 * known. */
static bool tended_record(struct etxn *t)
{
	struct estore *e = es(t->t.s);
	struct lokt_kv *kv, *held;
	bool found = false;

	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended && !found; i++) {
		struct tended *td = &e->tended[i];

		if (strcmp(td->name, t->t.name) || !td->value)
			continue;
		kv = calloc(1, sizeof(*kv));
		held = calloc(1, sizeof(*held));
		if (!kv || !held) {
			free(kv);
			free(held);
			break;
		}
		kv->key = strdup(t->key[LOKT_LOCK]);
		kv->value = strdup(td->value);
		held->key = strdup(t->held_key);
		if (asprintf(&held->value,
			     "{\"lock_id\":\"%s\",\"lease\":%" PRId64 "}",
			     td->lock_id, td->lease) < 0)
			held->value = NULL;
		if (!kv->key || !kv->value || !held->key || !held->value) {
			lokt__kvs_free(kv, 1);
			lokt__kvs_free(held, 1);
			break;
		}
		kv->key_len = strlen(kv->key);
		kv->value_len = strlen(kv->value);
		held->key_len = strlen(held->key);
		held->value_len = strlen(held->value);
		kv->create_rev = held->create_rev = held->mod_rev =
			td->create_rev;
		if (td->held_rev)
			held->mod_rev = td->held_rev;
		kv->mod_rev = td->mod_rev;
		kv->lease = td->lease;
		t->kv[LOKT_LOCK] = kv;
		t->n_kv[LOKT_LOCK] = 1;
		t->held = held;
		t->n_held = 1;
		found = true;
	}
	pthread_mutex_unlock(&e->tend_lock);
	return found;
}

static int e_tend(struct lokt_store *s, const char *name,
		  const char *lock_id, int64_t *ret_next_ms)
{
	struct estore *e = es(s);
	struct lokt_kv *kv = NULL;
	char id[LOKT_ID_LEN + 2], *key;
	int64_t lease = 0, ttl;
	size_t n = 0;
	int r;

	/* Still ours? held/<name> names the lock and its lease (the first
	 * call of guard's watchdog, forked before the lock was made, learns
	 * the lease there). A lock released or taken by anyone else is
	 * lost: its lease, if tended here, is revoked, so that nothing is
	 * kept alive for nothing. */
	key = key_of(s, "held", name);
	if (!key)
		return -ENOMEM;
	r = lokt__kv_range(e->gw, key, NULL, 1, &kv, &n, NULL, NULL);
	free(key);
	if (r < 0)
		return unavailable(r);
	r = n && held_parse(kv[0].value, id, sizeof(id), &lease) == 0 &&
	    !strcmp(id, lock_id) && lease > 0;
	lokt__kvs_free(kv, n);
	if (!r) {
		/* A holder of a gate: its slot key names its lease. */
		kv = NULL;
		n = 0;
		if (asprintf(&key, "%s/slot/%s/%s", e->cfg.prefix, name,
			     lock_id) < 0)
			return -ENOMEM;
		r = lokt__kv_range(e->gw, key, NULL, 1, &kv, &n, NULL, NULL);
		free(key);
		if (r < 0)
			return unavailable(r);
		lease = n ? slot_lease(&kv[0]) : 0;
		r = lease > 0;
		lokt__kvs_free(kv, n);
	}
	if (!r) {
		lease = tended_find(e, name, lock_id, true);
		if (lease)
			lokt__lease_revoke(e->gw, lease);
		return -LOKT_E_LOST;
	}
	tended_add(e, name, lock_id, lease);
	r = lokt__lease_keepalive(e->gw, lease, &ttl);
	if (r == -ENOENT) {
		tended_find(e, name, lock_id, true);
		return -LOKT_E_LOST;
	}
	if (r < 0)
		return unavailable(r);
	*ret_next_ms = keepalive_ms(s);
	return 0;
}

static int e_begin(struct lokt_store *s, enum lokt_kind kind,
		   const char *name, struct lokt_txn **ret)
{
	struct etxn *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->t = (struct lokt_txn){ .s = s, .kind = kind, .name = name };
	t->key[LOKT_LOCK] = key_of(s, "locks", name);
	t->key[LOKT_FREEZE] = key_of(s, "freezes", name);
	t->held_key = key_of(s, "held", name);
	t->fence_key = key_of(s, "fences", name);
	if (asprintf(&t->queue_key, "%s/queue/%s/", es(s)->cfg.prefix,
		     name) < 0)
		t->queue_key = NULL;
	if (t->queue_key)
		t->queue_end = lokt__kv_prefix_end(t->queue_key);
	if (asprintf(&t->slot_key, "%s/slot/%s/", es(s)->cfg.prefix, name) <
	    0)
		t->slot_key = NULL;
	if (t->slot_key)
		t->slot_end = lokt__kv_prefix_end(t->slot_key);
	if (!t->key[0] || !t->key[1] || !t->held_key || !t->fence_key ||
	    !t->queue_end || !t->slot_end) {
		etxn_free(t);
		return -ENOMEM;
	}
	*ret = &t->t;
	return 0;
}

/* The JSON text of o (taken), or NULL. */
static char *json_text(struct json_object *o)
{
	const char *t = o ? json_object_to_json_string_ext(
				    o, JSON_C_TO_STRING_PLAIN) :
			    NULL;
	char *v = t ? strdup(t) : NULL;

	json_object_put(o);
	return v;
}

/* Audit line of an event the backend itself records (an expired lease).
 * Built with json-c, as every other event is (audit.c): a host name is
 * anybody's to choose (a `"` in it made the line unreadable, or forged
 * its fields). */
static char *expire_line(struct lokt_store *s, const char *name,
			 const char *lock_id)
{
	struct json_object *o = json_object_new_object(), *x;
	struct timespec now;
	char ts[64];

	lokt__now(&now);
	if (!o || lokt_time_format(&now, ts, sizeof(ts)) < 0) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "event", json_object_new_string("expire"));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "lock_id", json_object_new_string(lock_id));
	json_object_object_add(o, "owner", json_object_new_string(""));
	json_object_object_add(o, "host", json_object_new_string(s->host));
	json_object_object_add(o, "pid", json_object_new_int(0));
	json_object_object_add(o, "agent_id", json_object_new_string(""));
	json_object_object_add(o, "ttl_sec", json_object_new_int(0));
	json_object_object_add(o, "uid", json_object_new_int((int)getuid()));
	x = json_object_new_object();
	json_object_object_add(x, "reason",
			       json_object_new_string("lease-expired"));
	json_object_object_add(o, "extra", x);
	return json_text(o);
}

/* A fresh unique key for an audit event: time-ordered. */
static char *audit_key(const struct lokt_store *s)
{
	struct timespec now;
	unsigned char rnd[4] = { 0 };
	char *k;

	clock_gettime(CLOCK_REALTIME, &now);
	(void)!getentropy(rnd, sizeof(rnd));
	if (asprintf(&k, "%s/audit/%020" PRId64 "-%02x%02x%02x%02x",
		     es(s)->cfg.prefix,
		     (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, rnd[0],
		     rnd[1], rnd[2], rnd[3]) < 0)
		return NULL;
	return k;
}

static void put_audit(struct lokt_store *s, struct lokt_etcd_txn *x,
		      const char *line)
{
	char *k = audit_key(s);

	if (k)
		lokt__txn_put(x, true, k, line, 0, false);
	free(k);
}

/* The lock key is gone but its held key is not: the lease expired with
 * nobody releasing. Record it once (compared: whoever sees it first). */
static void note_expired(struct etxn *t)
{
	struct lokt_store *s = t->t.s;
	struct lokt_etcd_txn x;
	struct lokt_txn_answer a = { 0 };
	char id[LOKT_ID_LEN + 2] = "", *line;
	int64_t lease;

	if (held_parse(t->held[0].value, id, sizeof(id), &lease) < 0)
		id[0] = 0;
	line = expire_line(s, t->t.name, id);
	if (!line || lokt__txn_init(&x) < 0) {
		free(line);
		return;
	}
	lokt__txn_cmp(&x, t->held_key, NULL, LOKT_CMP_MOD, LOKT_CMP_EQ,
		      t->held[0].mod_rev);
	lokt__txn_cmp(&x, t->key[LOKT_LOCK], NULL, LOKT_CMP_CREATE,
		      LOKT_CMP_EQ, 0);
	lokt__txn_delete(&x, true, t->held_key, NULL);
	put_audit(s, &x, line);
	if (lokt__txn_run(es(s)->gw, &x, &a) == 0)
		json_object_put(a.answer);
	lokt__txn_free(&x);
	free(line);
}

/* Read the name's keys, once per transition, at one revision; or, for a
 * lock this process tends and wrote last, begin from what it wrote,
 * without a read (a release or renewal by its holder reads nothing
 * else). Every decision on it is compared in the end as any read is: if
 * the store had changed, nothing is applied and the transition runs
 * again, reading. full: more than the lock record is wanted (its freeze,
 * its queue): read the store, and if the lock record there is not what
 * was written, the decision already made on it is doomed: end says so
 * (-EAGAIN) and the transition runs again, reading. */
static bool waiter_guess(struct etxn *t);
static void waiter_saw(struct etxn *t);

/* ---- gates: names of several holders (slots.c) --------------------------
 *
 * A gate (the record of a semaphore's or shared lock's holders, gate.c)
 * is the name's lock key as any record is, on no lease: its holders come
 * and go by rewriting it. Each holder but a detached one (pid 1: ends by
 * its TTL) has a key of its own, slot/<name>/<lock_id> = {"lease":L}, on
 * a lease of its own, which its keeper keeps alive as a lock's: put in
 * the txn that adds the holder, deleted in the one that drops it. A
 * holder whose slot key is gone (its lease expired: host crashed or cut
 * off) is dropped from the gate by the next transition that reads it,
 * and recorded ("expire"), as an expired lock is (note_expired). */

/* A gate as gate.c writes it (compact JSON): the member, not a string
 * that merely holds the words (its quotes would be escaped). */
/* Is kv a gate (a semaphore's or shared name's record)? Judged as the
 * directory store judges one, on the parsed record: its host and owner.
 * The bytes only tell which values are worth parsing: the same JSON
 * re-indented by hand (etcdctl put of jq's output) is still the gate,
 * where a match of the exact bytes took it for a corrupt record, broken
 * by the next acquisition while its holders lived. */
static bool kv_is_gate(const struct lokt_kv *kv)
{
	struct lokt_record rec;

	return kv->value && strstr(kv->value, "\"" GATE_HOST "\"") &&
	       lokt_record_parse(kv->value, kv->value_len, &rec) == 0 &&
	       lokt__is_gate(&rec);
}

/* The gate in kv, malloc'd; NULL when it is not one. */
static struct gate *gate_of(const struct lokt_kv *kv)
{
	struct gate *g;

	if (!kv_is_gate(kv) || !(g = malloc(sizeof(*g))))
		return NULL;
	if (lokt__gate_parse(kv->value, kv->value_len, g) < 0) {
		free(g);
		return NULL;
	}
	return g;
}

/* A holder's slot key, proof that its lease lives: slot/NAME/LOCK_ID on
 * a lease. One put by hand on none (a copy kept after its lease ran out)
 * proves nothing: its holder is gone as if the key were. */
static bool slot_lives(const struct lokt_kv *kv, size_t plen, const char *id)
{
	return kv->lease > 0 && kv->key_len > plen &&
	       !strcmp(kv->key + plen, id);
}

static const struct lokt_kv *slot_of(const struct etxn *t, const char *id)
{
	size_t n = strlen(t->slot_key);

	for (size_t i = 0; i < t->n_slot; i++)
		if (slot_lives(&t->slot[i], n, id))
			return &t->slot[i];
	return NULL;
}

/* Drop, in one compared txn, the holders of the gate read whose slot
 * key is gone, recording each; 1 when there were some (read again). */
static int gate_expired(struct etxn *t)
{
	struct lokt_store *s = t->t.s;
	struct gate *g = gate_of(&t->kv[LOKT_LOCK][0]);
	struct lokt_txn_answer a = { 0 };
	struct lokt_etcd_txn x;
	char *json = NULL, *line;
	size_t i = 0, gone = 0;
	int r;

	if (!g)
		return 0;
	if (lokt__txn_init(&x) < 0) {
		free(g);
		return 0;
	}
	while (i < g->n) {
		if (lokt_is_detached(&g->h[i]) || slot_of(t, g->h[i].lock_id)) {
			i++;
			continue;
		}
		line = expire_line(s, t->t.name, g->h[i].lock_id);
		if (line)
			put_audit(s, &x, line);
		free(line);
		/* Its key, if one was put back on no lease (slot_lives),
		 * goes with it. */
		if (asprintf(&line, "%s%s", t->slot_key, g->h[i].lock_id) >=
		    0) {
			lokt__txn_delete(&x, true, line, NULL);
			free(line);
		}
		memmove(&g->h[i], &g->h[i + 1], (g->n - i - 1) * sizeof(g->h[0]));
		g->n--;
		gone++;
	}
	r = 0;
	if (gone) {
		lokt__txn_cmp(&x, t->key[LOKT_LOCK], NULL, LOKT_CMP_MOD,
			      LOKT_CMP_EQ, t->kv[LOKT_LOCK][0].mod_rev);
		if (!g->n) {
			lokt__txn_delete(&x, true, t->key[LOKT_LOCK], NULL);
			lokt__txn_delete(&x, true, t->slot_key, t->slot_end);
		} else if (lokt__gate_format(g, &json) == 0) {
			lokt__txn_put(&x, true, t->key[LOKT_LOCK], json, 0,
				      false);
		}
		if (!g->n || json) {
			if (lokt__txn_run(es(s)->gw, &x, &a) == 0)
				json_object_put(a.answer);
			r = 1;
		}
	}
	lokt__txn_free(&x);
	free(json);
	free(g);
	return r;
}

/* Read the name's keys, once per transition, at one revision; or, for a
 * lock this process tends and wrote last, begin from what it wrote,
 * without a read (a release or renewal by its holder reads nothing
 * else). Every decision on it is compared in the end as any read is: if
 * the store had changed, nothing is applied and the transition runs
 * again, reading. full: more than the lock record is wanted (its freeze,
 * its queue): read the store, and if the lock record there is not what
 * was written, the decision already made on it is doomed: end says so
 * (-EAGAIN) and the transition runs again, reading. */
static int snapshot_of(struct etxn *t, bool full)
{
	struct lokt_store *s = t->t.s;
	struct lokt_etcd_txn x;
	struct lokt_txn_answer a = { 0 };
	bool queue = t->t.kind == LOKT_LOCK;
	int64_t was_create = 0, was_mod = 0;
	int r, tries = 0;

	if (t->have_snap && (!full || !t->provisional || t->full_guess))
		return 0;
	if (!t->have_snap && !full && t->t.kind == LOKT_LOCK &&
	    tended_record(t)) {
		t->have_snap = t->provisional = true;
		return 0;
	}
	if (!t->have_snap && waiter_guess(t)) {
		t->have_snap = t->guessed = true;
		return 0;
	}
	if (t->provisional) {
		was_create = t->kv[LOKT_LOCK][0].create_rev;
		was_mod = t->kv[LOKT_LOCK][0].mod_rev;
		lokt__kvs_free(t->kv[LOKT_LOCK], t->n_kv[LOKT_LOCK]);
		lokt__kvs_free(t->held, t->n_held);
		t->kv[LOKT_LOCK] = t->held = NULL;
		t->n_kv[LOKT_LOCK] = t->n_held = 0;
		t->have_snap = t->provisional = false;
	}
again:
	r = lokt__txn_init(&x);
	if (r < 0)
		return r;
	lokt__txn_get(&x, true, t->key[LOKT_LOCK], NULL);
	lokt__txn_get(&x, true, t->key[LOKT_FREEZE], NULL);
	lokt__txn_get(&x, true, t->held_key, NULL);
	/* Keys only: a slot key's value says nothing its key and lease do
	 * not, and values planted there could make the answer too large
	 * for any transition of the name to run. */
	lokt__txn_get_keys(&x, true, t->slot_key, t->slot_end);
	if (queue)
		lokt__txn_get(&x, true, t->queue_key, t->queue_end);
	r = lokt__txn_run(es(s)->gw, &x, &a);
	lokt__txn_free(&x);
	if (r < 0)
		return unavailable(r); /* a read changes nothing */
	r = lokt__txn_kvs(&a, 0, &t->kv[LOKT_LOCK], &t->n_kv[LOKT_LOCK]);
	if (r == 0)
		r = lokt__txn_kvs(&a, 1, &t->kv[LOKT_FREEZE],
				  &t->n_kv[LOKT_FREEZE]);
	if (r == 0)
		r = lokt__txn_kvs(&a, 2, &t->held, &t->n_held);
	if (r == 0)
		r = lokt__txn_kvs(&a, 3, &t->slot, &t->n_slot);
	if (r == 0 && queue)
		r = lokt__txn_kvs(&a, 4, &t->q, &t->nq);
	t->rev = a.rev;
	json_object_put(a.answer);
	if (r < 0)
		return r;
	if (t->n_kv[LOKT_LOCK] && t->t.kind == LOKT_LOCK && tries++ < 3 &&
	    gate_expired(t)) {
		for (int k = 0; k < 2; k++) {
			lokt__kvs_free(t->kv[k], t->n_kv[k]);
			t->kv[k] = NULL;
			t->n_kv[k] = 0;
		}
		lokt__kvs_free(t->held, t->n_held);
		lokt__kvs_free(t->slot, t->n_slot);
		lokt__kvs_free(t->q, t->nq);
		t->held = t->slot = t->q = NULL;
		t->n_held = t->n_slot = t->nq = 0;
		goto again;
	}
	t->have_snap = true;
	if (was_create &&
	    (!t->n_kv[LOKT_LOCK] || t->kv[LOKT_LOCK][0].create_rev != was_create ||
	     t->kv[LOKT_LOCK][0].mod_rev != was_mod)) {
		t->doomed = true;
		tended_wrote(es(s), t->t.name, NULL, NULL, 0, false);
	}
	if (t->n_held && !t->n_kv[LOKT_LOCK])
		note_expired(t);
	waiter_saw(t);
	return 0;
}

static int snapshot(struct etxn *t)
{
	return snapshot_of(t, false);
}

/* A record's fence: its key's create_revision, or for a lock handed over
 * (e_offer) the fence written in it. The record is JSON as json-c writes
 * it: the member's name in quotes followed by a colon occurs nowhere else
 * (a string's quotes are escaped). */
static uint64_t kv_fence(const struct lokt_kv *kv)
{
	const char *f = kv->value ? strstr(kv->value, "\"fence\":") : NULL;
	unsigned long long v = 0;

	if (f && sscanf(f + 8, "%llu", &v) == 1 && v)
		return v;
	return (uint64_t)kv->create_rev;
}

/* Is kv's record a detached lock's (pid 1)? */
static bool value_detached(const struct lokt_kv *kv)
{
	struct lokt_record rec;

	return kv->value &&
	       lokt_record_parse(kv->value, kv->value_len, &rec) == 0 &&
	       lokt_is_detached(&rec);
}

static void meta_of(const struct lokt_kv *kv, bool lock,
		    struct lokt_meta *ret)
{
	bool gate = lock && kv_is_gate(kv);

	memset(ret, 0, sizeof(*ret));
	ret->uid = (uid_t)-1;
	ret->size = (int64_t)kv->value_len;
	ret->fence = kv_fence(kv);
	/* lokt puts every lock on its holder's lease but a detached one
	 * (pid 1, judged by its TTL) and a gate (its holders' slot keys
	 * are): one on none was put by hand, and proves no holder alive
	 * (a copy kept after its lease ran out would hold it for ever).
	 * Freezes are on no lease (their TTL ends them): the flag is of
	 * locks only, and a freeze's record is not parsed for it. */
	ret->unproven = lock && kv->lease <= 0 && !gate && !value_detached(kv);
	if (gate) {
		/* A gate keeps its holders' fences in it, and has no uid
		 * of its own: its newest holder's stands for the writer's
		 * (the directory store's file owner). */
		struct gate *g = gate_of(kv);

		ret->fence = 0;
		if (g && g->n && g->h[g->n - 1].uid >= 0)
			ret->uid = (uid_t)g->h[g->n - 1].uid;
		free(g);
	}
}

/* The bytes of a record as a reader expects them: with its fence, which
 * the key keeps (its create_revision), written in, unless it carries its
 * own (handed over). A record this version
 * cannot parse (a newer one, a corrupt one) is given as it is. */
static int copy_value(const struct lokt_kv *kv, char **ret_buf,
		      size_t *ret_len)
{
	struct lokt_record rec;
	char *b;

	if (!kv_is_gate(kv) &&
	    lokt_record_parse(kv->value, kv->value_len, &rec) == 0 &&
	    kv->create_rev > 0) {
		if (!rec.fence)
			rec.fence = (uint64_t)kv->create_rev;
		if (lokt_record_format(&rec, &b) == 0) {
			*ret_buf = b;
			*ret_len = strlen(b);
			return 0;
		}
	}
	b = malloc(kv->value_len + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b, kv->value, kv->value_len);
	b[kv->value_len] = '\0';
	*ret_buf = b;
	*ret_len = kv->value_len;
	return 0;
}

static int e_read(struct lokt_txn *tt, enum lokt_kind kind, char **ret_buf,
		  size_t *ret_len, struct lokt_meta *ret_meta)
{
	struct etxn *t = (struct etxn *)tt;
	int r = snapshot_of(t, kind != LOKT_LOCK);

	if (r < 0)
		return r;
	t->read[kind] = true;
	if (!t->n_kv[kind])
		return -LOKT_E_NOT_FOUND;
	if (ret_meta)
		meta_of(&t->kv[kind][0], kind == LOKT_LOCK, ret_meta);
	return copy_value(&t->kv[kind][0], ret_buf, ret_len);
}

/* A waiter's key holds {"host","pid"}: its pid, when on this host. */
static pid_t waiter_pid(const struct lokt_store *s, const struct lokt_kv *kv)
{
	struct json_object *o = json_tokener_parse(kv->value), *h, *p;
	pid_t pid = 0;

	if (o && json_object_object_get_ex(o, "host", &h) &&
	    json_object_object_get_ex(o, "pid", &p) &&
	    !strcmp(json_object_get_string(h), s->host))
		pid = (pid_t)json_object_get_int64(p);
	json_object_put(o);
	return pid;
}

/* Is kv a waiter's key as e_wait_join writes it, <prefix>/queue/NAME/
 * and its own lease in 16 hex digits? base: the length of
 * "<prefix>/queue/"; name: the name it must be of, or NULL for any.
 * Anything else there (a key put by hand without a lease, a deeper key)
 * is no waiter of lokt's, and would stand in the name's queue forever:
 * it is foreign, as a file in a queue directory of the directory store
 * is, and lokt doctor names it. */
static bool waiter_key(const struct lokt_kv *kv, size_t base,
		       const char *name)
{
	char got[LOKT_NAME_MAX + 1], want[17];
	const char *rest = kv->key + base, *slash;
	size_t len;

	if (kv->lease <= 0 || kv->key_len < base + 18 ||
	    memchr(kv->key, 0, kv->key_len))
		return false;
	slash = strchr(rest, '/');
	len = slash ? (size_t)(slash - rest) : 0;
	if (!len || len > LOKT_NAME_MAX || kv->key_len != base + len + 17)
		return false;
	memcpy(got, rest, len);
	got[len] = 0;
	snprintf(want, sizeof(want), "%016" PRIx64, (uint64_t)kv->lease);
	return lokt_name_check(got) == 0 && (!name || !strcmp(got, name)) &&
	       !memcmp(slash + 1, want, 16);
}

/* The queue of kvs q (any order) of name as seen from place seq;
 * -LOKT_E_FOREIGN when a key there is not a waiter's (waiter_key). */
static int queue_of(const struct lokt_store *s, const char *name,
		    const struct lokt_kv *q, size_t nq, uint64_t seq,
		    struct lokt_queue *ret)
{
	size_t base = strlen(es(s)->cfg.prefix) + strlen("/queue/");
	const struct lokt_kv *ahead = NULL;

	for (size_t i = 0; i < nq; i++)
		if (!waiter_key(&q[i], base, name))
			return -LOKT_E_FOREIGN;
	memset(ret, 0, sizeof(*ret));
	ret->live = nq;
	for (size_t i = 0; i < nq; i++) {
		uint64_t c = (uint64_t)q[i].create_rev;

		if (seq && c >= seq)
			continue;
		ret->ahead++;
		if (seq && (!ahead || c > (uint64_t)ahead->create_rev))
			ahead = &q[i];
	}
	if (ahead) {
		ret->ahead_seq = (uint64_t)ahead->create_rev;
		ret->ahead_pid = waiter_pid(s, ahead);
	}
	return 0;
}

static int e_queue(struct lokt_txn *tt, uint64_t seq, struct lokt_queue *ret)
{
	struct etxn *t = (struct etxn *)tt;
	int r;

	if (tt->kind != LOKT_LOCK)
		return -EINVAL;
	r = snapshot_of(t, true);
	if (r < 0)
		return r;
	t->read_queue = true;
	t->seq = seq;
	return queue_of(tt->s, tt->name, t->q, t->nq, seq, ret);
}

/* A record as a key's value: its JSON on one line (readers get it as
 * the directory store writes it: copy_value), for the fewest bytes in
 * each request through the gateway. */
static int record_value(const struct lokt_record *rec, char **ret)
{
	struct json_object *o = lokt_record_json(rec);
	const char *s = o ? json_object_to_json_string_ext(
				    o, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE) :
			    NULL;

	*ret = s ? strdup(s) : NULL;
	json_object_put(o);
	return *ret ? 0 : -ENOMEM;
}

static int add_op(struct etxn *t, int what, enum lokt_kind kind,
		  const struct lokt_record *rec, struct eop **ret)
{
	struct lokt_record copy;
	struct eop *op;
	int r;

	if (t->n_ops == sizeof(t->ops) / sizeof(t->ops[0]))
		return -E2BIG;
	op = &t->ops[t->n_ops];
	memset(op, 0, sizeof(*op));
	op->tell = -1;
	op->what = what;
	op->kind = kind;
	if (rec) {
		snprintf(op->lock_id, sizeof(op->lock_id), "%s", rec->lock_id);
		copy = *rec;
		/* A lock created here has its key's create_revision for a
		 * fence, not written in it; one handed over carries its own
		 * (e_offer), and its renewals keep it. */
		if (what == OP_CREATE ||
		    (t->n_kv[kind] &&
		     copy.fence == (uint64_t)t->kv[kind][0].create_rev))
			copy.fence = 0;
		r = record_value(&copy, &op->value);
		if (r < 0)
			return r;
	}
	t->n_ops++;
	if (ret)
		*ret = op;
	return 0;
}

/* Where lokt-keeper is: $LOKT_KEEPER (tests, a build tree), else the
 * installed one. */
static const char *keeper_path(void)
{
	const char *p = getenv("LOKT_KEEPER");

	return p && *p ? p : LOKT_LIBEXECDIR "/lokt-keeper";
}

/* Start the keeper of lease for the lock rec of name: its own session,
 * stdio on /dev/null, the child of nobody but init (a double fork: a
 * long-lived caller such as loktfs keeps no zombie). It keeps the lease
 * alive until the lock with rec->lock_id is released, or its holder (or
 * the keeper the record names) is gone; then it revokes the lease.
 *
 * Between fork and exec only async-signal-safe calls: the caller may have
 * threads (loktfs). We wait for the exec itself, not for the keeper to
 * load its libraries: a close-on-exec pipe is closed by a successful
 * exec, or carries the errno of a failed one. An exec that failed is
 * -LOKT_E_NO_KEEPER (its errno alone, "No such file or directory", said
 * nothing of what was missing; lokt doctor names the path and errno). */
static int keeper_start(struct lokt_store *s, const char *name,
			const struct lokt_record *rec, int64_t lease,
			int *ret_tell)
{
	char lease_s[32], pid_s[32], start_s[32];
	const char *path = keeper_path();
	char *argv[] = { (char *)"lokt-keeper", s->root, (char *)name,
			 (char *)rec->lock_id, lease_s, pid_s, start_s, NULL };
	int pfd[2], tell[2], err = 0, status, null;
	sigset_t all, old;
	pid_t pid, kid;
	ssize_t n;

	snprintf(lease_s, sizeof(lease_s), "%" PRId64, lease);
	snprintf(pid_s, sizeof(pid_s), "%" PRId64, (int64_t)rec->pid);
	snprintf(start_s, sizeof(start_s), "%" PRIu64, rec->pid_start);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	/* The keeper's stdin: we send "1" once the lock is created, or
	 * close it unwritten when it was not (see e_end). */
	/* A socket, not a pipe: telling a keeper that died must not raise
	 * SIGPIPE in the caller (send with MSG_NOSIGNAL). */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tell) < 0) {
		err = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -err;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		setsid();
		kid = fork();
		if (kid == 0) {
			sigset_t none;

			sigemptyset(&none);
			null = open("/dev/null", O_RDWR);
			dup2(tell[0], 0);
			if (null >= 0) {
				dup2(null, 1);
				dup2(null, 2);
			}
			sigprocmask(SIG_SETMASK, &none, NULL);
			execve(path, argv, environ);
			err = errno;
			(void)!write(pfd[1], &err, sizeof(err));
			_exit(127);
		}
		if (kid < 0) {
			err = errno;
			(void)!write(pfd[1], &err, sizeof(err));
		}
		_exit(0);
	}
	if (pid < 0)
		err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);
	close(tell[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while ((n = read(pfd[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n > 0 || pid < 0) {
		close(tell[1]);
		return n > 0 && pid > 0 && err != EAGAIN && err != ENOMEM ?
			       -LOKT_E_NO_KEEPER :
			       -(err ? err : EIO);
	}
	*ret_tell = tell[1];
	return 0;
}

/* The asker's own queue entry, as read in this transition, or NULL. */
static const struct lokt_kv *own_place(const struct etxn *t)
{
	for (size_t i = 0; t->seq && i < t->nq; i++)
		if ((uint64_t)t->q[i].create_rev == t->seq)
			return &t->q[i];
	return NULL;
}

/* The lease of a new holder rec (a lock, or a gate's holder), into op:
 * 0, or -errno with no lease left behind. A waiter whose lock is tended
 * by its holder and keeper (no lokt-keeper) takes its place's lease: it
 * is alive, as long, and its place leaves the queue in the same txn (one
 * request fewer between a release and the next holder). Else a new
 * lease, and for a holder nobody tends (a keeper named from the start,
 * or loktfs), a lokt-keeper started for it. */
static int holder_lease(struct etxn *t, const struct lokt_record *rec,
			struct eop *op)
{
	const struct lokt_kv *place = t->t.tended ? own_place(t) : NULL;
	struct estore *e = es(t->t.s);
	int r;

	if (place && place->lease > 0) {
		op->lease = place->lease;
		op->adopted = true;
		return 0;
	}
	r = lokt__lease_grant(e->gw, e->cfg.lease_sec, &op->lease);
	if (r == 0 && !t->t.tended)
		r = keeper_start(t->t.s, t->t.name, rec, op->lease, &op->tell);
	if (r < 0 && op->lease) {
		lokt__lease_revoke(e->gw, op->lease);
		op->lease = 0;
	}
	return r < 0 ? unavailable(r) : 0;
}

static int e_create(struct lokt_txn *tt, struct lokt_record *rec,
		    uint64_t floor)
{
	struct etxn *t = (struct etxn *)tt;
	struct eop *op;
	int r;

	(void)floor; /* revisions only grow, cluster-wide */
	r = add_op(t, OP_CREATE, tt->kind, rec, &op);
	if (r < 0)
		return r;
	op->rec = rec;
	if (tt->kind == LOKT_LOCK && !lokt_is_detached(rec) &&
	    (r = holder_lease(t, rec, op)) < 0) {
		free(op->value);
		t->n_ops--;
		return r;
	}
	return 0;
}

static int e_replace(struct lokt_txn *tt, const struct lokt_record *rec)
{
	struct etxn *t = (struct etxn *)tt;
	struct eop *op;
	int r = add_op(t, OP_REPLACE, tt->kind, rec, &op);

	/* The record offered by the first waiter, published for it: on its
	 * place's lease, which its holder and keeper tend (send_ops). */
	if (r == 0 && t->offer_kv && tt->kind == LOKT_LOCK &&
	    !strcmp(rec->lock_id, t->offer_id)) {
		op->handed = op->adopted = true;
		op->lease = t->offer_kv->lease;
	}
	return r;
}

/* ---- the hand-over ------------------------------------------------------
 *
 * A waiter at the head of the queue whose lock would be tended by its
 * holder and keeper (guard's: it takes its place's lease, holder_lease)
 * writes in its queue key, besides {"host","pid"}, the record it would
 * create ("offer"). A release that reads such an offer first in the queue
 * publishes it in its own txn (protocol.c, hand_over), instead of deleting
 * the lock: the lock key put over with the offered record and on the
 * waiter's lease, its held key naming it, its place deleted, fences/<name>
 * touched; compared on the place as read (still there: its lease is
 * alive; changed, an offer taken back) and on all the release compares.
 * The waiter, watching the lock, sees its lock_id put and holds: one
 * write to the log between a release and the next holder, not two.
 *
 * A put over a key keeps its create_revision, so the fence of a lock
 * handed over is written in its record: the revision read plus one
 * (e_fence), above every fence the name had, and below the revision of
 * any later creation, as the txn is compared on that reading. */

/* A release by the process that keeps the lock, begun from what it
 * wrote (tended_record), whose queue it watches (queue_watch). 1: the
 * watch kept an offer; take it for the queue, and no freeze, as a read
 * would have found them: the hand-over compares both (the place
 * unchanged, nobody queued before it, no freeze), and if the guess was
 * wrong nothing is applied and the release runs again, reading (e_end
 * forgets what it wrote). 0: it kept none, so no hand-over, and no read
 * for it (an offer not seen yet makes a waiter create the lock itself,
 * as before). -1: not watched: read. */
static int offer_guess(struct etxn *t)
{
	struct estore *e = es(t->t.s);
	struct lokt_kv kv, *q;
	int r = -1;

	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended && r < 0; i++) {
		struct tended *td = &e->tended[i];

		if (!strcmp(td->name, t->t.name) && td->value && td->queue)
			r = lokt__gw_watch_kept(td->queue, &kv);
	}
	pthread_mutex_unlock(&e->tend_lock);
	if (r != 1)
		return r == 0 ? 0 : -1;
	q = malloc(sizeof(*q));
	if (!q) {
		free(kv.key);
		free(kv.value);
		return -1;
	}
	*q = kv;
	t->q = q;
	t->nq = 1;
	t->rev = kv.mod_rev;
	t->full_guess = true;
	return 1;
}

/* In a release transition: the first waiter's offer, read with the
 * rest of the name's keys (or guessed: offer_guess). */
static int e_offer(struct lokt_txn *tt, struct lokt_record *ret)
{
	struct etxn *t = (struct etxn *)tt;
	const struct lokt_kv *head = NULL;
	struct json_object *o = NULL, *v;
	const char *json;
	int r;

	if (tt->kind != LOKT_LOCK)
		return -LOKT_E_NOT_FOUND;
	r = t->provisional ? offer_guess(t) : -1;
	if (r == 0)
		return -LOKT_E_NOT_FOUND;
	if (r < 0 && (r = snapshot_of(t, true)) < 0)
		return r;
	if (!t->n_kv[LOKT_LOCK] || kv_is_gate(&t->kv[LOKT_LOCK][0]))
		return -LOKT_E_NOT_FOUND;
	for (size_t i = 0; i < t->nq; i++)
		if (!head || t->q[i].create_rev < head->create_rev)
			head = &t->q[i];
	r = -LOKT_E_NOT_FOUND;
	if (head && head->lease > 0)
		o = json_tokener_parse(head->value);
	if (o && json_object_object_get_ex(o, "offer", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json = json_object_to_json_string_ext(v,
						      JSON_C_TO_STRING_PLAIN);
		if (lokt_record_parse(json, strlen(json), ret) == 0 &&
		    !strcmp(ret->name, tt->name) && ret->lock_id[0] &&
		    ret->keeper_pid > 0 && !lokt_is_detached(ret))
			r = 0;
	}
	json_object_put(o);
	if (r == 0) {
		t->offer_kv = head;
		snprintf(t->offer_id, sizeof(t->offer_id), "%s",
			 ret->lock_id);
	}
	return r;
}

static void e_offer_end(struct lokt_txn *tt, bool handed)
{
	struct etxn *t = (struct etxn *)tt;

	if (!handed)
		t->offer_kv = NULL;
}

static int e_remove(struct lokt_txn *tt, enum lokt_kind kind)
{
	struct etxn *t = (struct etxn *)tt;
	int r = snapshot(t);

	if (r < 0)
		return r;
	if (kind != tt->kind)
		return -EINVAL;
	if (!t->n_kv[kind])
		return -LOKT_E_NOT_FOUND;
	return add_op(t, OP_REMOVE, kind, NULL, NULL);
}

/* Revisions only grow, cluster-wide: every fence the name had (a lock
 * key's create_revision, a gate holder's fence) was issued at or before
 * the revision read, and the txn that uses this one is compared on that
 * reading, so it commits later. */
static int e_fence(struct lokt_txn *tt, uint64_t floor, uint64_t *ret)
{
	struct etxn *t = (struct etxn *)tt;
	int r = snapshot_of(t, true);

	if (r < 0)
		return r;
	*ret = ((uint64_t)t->rev > floor ? (uint64_t)t->rev : floor) + 1;
	return 0;
}

/* A gate written (slots.c): what it adds and drops of the holders read
 * is found here, so that the added holder gets its lease (a keeper's,
 * as a lock's: e_create) and slot key, and the dropped ones lose theirs,
 * in the same txn. */
static int e_put(struct lokt_txn *tt, const char *json, bool create)
{
	struct etxn *t = (struct etxn *)tt;
	struct gate *now = NULL, *was = NULL;
	const struct lokt_record *rec = NULL;
	struct eop *op;
	size_t i, k;
	int r;

	if (tt->kind != LOKT_LOCK)
		return -EINVAL;
	r = snapshot_of(t, true);
	if (r < 0)
		return r;
	if (t->n_ops == sizeof(t->ops) / sizeof(t->ops[0]))
		return -E2BIG;
	if (!(now = malloc(sizeof(*now))))
		return -ENOMEM;
	r = lokt__gate_parse(json, strlen(json), now);
	if (r < 0)
		goto out;
	if (t->n_kv[LOKT_LOCK] && !create)
		was = gate_of(&t->kv[LOKT_LOCK][0]);
	op = &t->ops[t->n_ops];
	memset(op, 0, sizeof(*op));
	op->tell = -1;
	op->what = OP_PUT;
	op->kind = LOKT_LOCK;
	op->create = create;
	op->value = strdup(json);
	if (!op->value) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < now->n; i++) {
		for (k = 0; was && k < was->n; k++)
			if (!strcmp(was->h[k].lock_id, now->h[i].lock_id))
				break;
		if (was && k < was->n)
			continue;
		if (rec) { /* one holder added per transition */
			r = -EPROTO;
			goto fail;
		}
		rec = &now->h[i];
	}
	if (was) {
		op->dropped = calloc(was->n ? was->n : 1,
				     sizeof(op->dropped[0]));
		if (!op->dropped) {
			r = -ENOMEM;
			goto fail;
		}
		for (k = 0; k < was->n; k++) {
			for (i = 0; i < now->n; i++)
				if (!strcmp(was->h[k].lock_id, now->h[i].lock_id))
					break;
			if (i == now->n)
				snprintf(op->dropped[op->n_dropped++],
					 sizeof(op->dropped[0]), "%s",
					 was->h[k].lock_id);
		}
	}
	t->n_ops++;
	if (rec) {
		op->adds = true;
		snprintf(op->added, sizeof(op->added), "%s", rec->lock_id);
		if (!lokt_is_detached(rec) &&
		    (r = holder_lease(t, rec, op)) < 0) {
			t->n_ops--;
			goto fail;
		}
	}
	r = 0;
	goto out;
fail:
	free(op->value);
	free(op->dropped);
	op->value = NULL;
	op->dropped = NULL;
out:
	free(now);
	free(was);
	return r;
}

static void e_audit(struct lokt_txn *tt, const char *line, size_t len)
{
	struct etxn *t = (struct etxn *)tt;
	struct eaudit *na;

	while (len && line[len - 1] == '\n')
		len--;
	na = realloc(t->aud, (t->n_aud + 1) * sizeof(*na));
	if (!na)
		return; /* best effort, as in the directory store */
	t->aud = na;
	na[t->n_aud].line = strndup(line, len);
	na[t->n_aud].at = t->n_ops;
	if (na[t->n_aud].line)
		t->n_aud++;
}

/* Compare key as read: unchanged, or still absent. */
static void cmp_as_read(struct lokt_etcd_txn *x, const char *key,
			const struct lokt_kv *kv, size_t n)
{
	if (n)
		lokt__txn_cmp(x, key, NULL, LOKT_CMP_MOD, LOKT_CMP_EQ,
			      kv[0].mod_rev);
	else
		lokt__txn_cmp(x, key, NULL, LOKT_CMP_CREATE, LOKT_CMP_EQ, 0);
}

/* Nobody queued ahead of the asker, as read: the queue empty, or every
 * key in it created at or after the asker's. */
static void cmp_queue(struct etxn *t, struct lokt_etcd_txn *x)
{
	bool mine = false;

	for (size_t i = 0; i < t->nq; i++)
		mine |= t->seq && (uint64_t)t->q[i].create_rev == t->seq;
	if (mine)
		lokt__txn_cmp(x, t->queue_key, t->queue_end, LOKT_CMP_CREATE,
			      LOKT_CMP_GREATER, (int64_t)t->seq - 1);
	else
		lokt__txn_cmp(x, t->queue_key, t->queue_end, LOKT_CMP_CREATE,
			      LOKT_CMP_EQ, 0);
}

/* Which audit lines go with a txn: all of them, or those recorded up to
 * op `split` (the removal of a break-and-take), or those after it. */
enum { AUD_ALL, AUD_UPTO, AUD_AFTER };

/* One txn of ops [from, to) and the audit lines of `which` around split. */
static int send_ops(struct etxn *t, size_t from, size_t to, int which,
		    size_t split, struct lokt_txn_answer *ret)
{
	struct lokt_store *s = t->t.s;
	struct lokt_etcd_txn x;
	const struct lokt_kv *place;
	bool creates = false, adds = false, gate_new = false;
	char held[128], *slot;
	int r;

	r = lokt__txn_init(&x);
	if (r < 0)
		return r;
	for (size_t i = from; i < to; i++) {
		creates |= t->ops[i].what == OP_CREATE ||
			   (t->ops[i].what == OP_PUT && t->ops[i].create);
		adds |= t->ops[i].what == OP_CREATE ||
			(t->ops[i].what == OP_PUT && t->ops[i].adds);
		gate_new |= t->ops[i].what == OP_PUT && t->ops[i].create;
	}
	/* A key of this write's own compared absent: put by cut_off once
	 * the write is cut short, it keeps the write from being applied
	 * after that, however late it reaches the log. */
	if (from < to) {
		char nonce[LOKT_ID_LEN + 1];

		free(t->cut_key);
		t->cut_key = NULL;
		if (lokt__new_id(nonce) < 0 ||
		    asprintf(&t->cut_key, "%s/cut/%s", es(s)->cfg.prefix,
			     nonce) < 0) {
			t->cut_key = NULL;
			lokt__txn_free(&x);
			return -ENOMEM;
		}
		lokt__txn_cmp(&x, t->cut_key, NULL, LOKT_CMP_CREATE,
			      LOKT_CMP_EQ, 0);
	}
	/* Audit events alone (a refusal's) are written whatever changed. */
	for (int k = 0; k < 2 && from < to; k++) {
		if (!t->read[k])
			continue;
		if (creates && k == (int)t->t.kind)
			lokt__txn_cmp(&x, t->key[k], NULL, LOKT_CMP_CREATE,
				      LOKT_CMP_EQ, 0);
		else
			cmp_as_read(&x, t->key[k], t->kv[k], t->n_kv[k]);
	}
	if (adds && t->read_queue)
		cmp_queue(t, &x);
	/* A guess took the lock's held key for gone with it: an expired
	 * lease leaves it, to be recorded by a transition that reads. */
	if (creates && t->guessed)
		lokt__txn_cmp(&x, t->held_key, NULL, LOKT_CMP_CREATE,
			      LOKT_CMP_EQ, 0);
	/* A new gate's fence is the read's revision plus one (e_fence):
	 * the lock key compared absent would not show a lock taken and
	 * released since that read, whose fence may be that very number.
	 * Every creation of the lock key touches fences/<name>, which
	 * nothing deletes: untouched since the read, nobody took it. */
	if (gate_new)
		lokt__txn_cmp(&x, t->fence_key, NULL, LOKT_CMP_MOD,
			      LOKT_CMP_LESS, t->rev + 1);
	if (creates && t->t.kind == LOKT_LOCK)
		lokt__txn_put(&x, true, t->fence_key, "", 0, false);
	for (size_t i = from; i < to; i++) {
		struct eop *op = &t->ops[i];

		if (op->what == OP_REMOVE) {
			lokt__txn_delete(&x, true, t->key[op->kind], NULL);
			if (op->kind == LOKT_LOCK)
				lokt__txn_delete(&x, true, t->held_key, NULL);
			/* A gate's last holders go with it. */
			if (op->kind == LOKT_LOCK && t->n_slot)
				lokt__txn_delete(&x, true, t->slot_key,
						 t->slot_end);
		} else if (op->what == OP_PUT) {
			/* A gate is on no lease: its holders' slots are. */
			lokt__txn_put(&x, true, t->key[op->kind], op->value, 0,
				      false);
			for (size_t k = 0; k < op->n_dropped; k++)
				if (asprintf(&slot, "%s%s", t->slot_key,
					     op->dropped[k]) >= 0) {
					lokt__txn_delete(&x, true, slot, NULL);
					free(slot);
				}
			snprintf(held, sizeof(held), "{\"lease\":%" PRId64 "}",
				 op->lease);
			if (op->adds && op->lease &&
			    asprintf(&slot, "%s%s", t->slot_key, op->added) >=
				    0) {
				lokt__txn_put(&x, true, slot, held, op->lease,
					      false);
				free(slot);
			}
		} else {
			lokt__txn_put(&x, true, t->key[op->kind], op->value,
				      op->lease,
				      op->what == OP_REPLACE && !op->handed);
		}
		if (op->handed) {
			/* The waiter's place as read: there, its lease is
			 * alive; changed, its offer was taken back. */
			lokt__txn_cmp(&x, t->offer_kv->key, NULL, LOKT_CMP_MOD,
				      LOKT_CMP_EQ, t->offer_kv->mod_rev);
			lokt__txn_cmp(&x, t->queue_key, t->queue_end,
				      LOKT_CMP_CREATE, LOKT_CMP_GREATER,
				      t->offer_kv->create_rev - 1);
			lokt__txn_delete(&x, true, t->offer_kv->key, NULL);
			snprintf(held, sizeof(held),
				 "{\"lock_id\":\"%s\",\"lease\":%" PRId64 "}",
				 op->lock_id, op->lease);
			lokt__txn_put(&x, true, t->held_key, held, 0, false);
			lokt__txn_put(&x, true, t->fence_key, "", 0, false);
		}
		/* The asker leaves the queue as it takes the lock. */
		place = op->what == OP_CREATE || (op->what == OP_PUT && op->adds) ?
				own_place(t) :
				NULL;
		if (place && op->kind == LOKT_LOCK)
			lokt__txn_delete(&x, true, place->key, NULL);
		if (op->what == OP_CREATE && op->kind == LOKT_LOCK &&
		    op->lease) {
			snprintf(held, sizeof(held),
				 "{\"lock_id\":\"%s\",\"lease\":%" PRId64 "}",
				 op->rec->lock_id, op->lease);
			lokt__txn_put(&x, true, t->held_key, held, 0, false);
		}
	}
	for (size_t i = 0; i < t->n_aud; i++)
		if (which == AUD_ALL ||
		    (which == AUD_UPTO && t->aud[i].at <= split) ||
		    (which == AUD_AFTER && t->aud[i].at > split))
			put_audit(s, &x, t->aud[i].line);
	r = lokt__txn_run(es(s)->gw, &x, ret);
	lokt__txn_free(&x);
	return r;
}

/* A write cut short (-ETIMEDOUT: a timeout, a connection lost, a leader
 * change) may still be on its way to the log, and be applied after any
 * reading of it. Its cut key put (on a lease, to go by itself) makes its
 * compare fail whenever it arrives after this; applied before, a reading
 * after this sees it. So what settle reads after this is final. 0, or
 * -errno: the cluster did not take it, and nothing can be known. */
static int cut_off(struct etxn *t)
{
	struct lokt_gw *gw = es(t->t.s)->gw;
	struct lokt_etcd_txn x;
	struct lokt_txn_answer a = { 0 };
	int64_t lease = 0;
	int r = -ETIMEDOUT;

	/* Each try is ambiguous only in the same way: a lease granted
	 * twice expires, a key put twice is put. */
	for (int i = 0; i < 3 && r == -ETIMEDOUT; i++) {
		if (!lease) {
			r = lokt__lease_grant(gw, CUT_TTL_SEC, &lease);
			if (r < 0) {
				lease = 0;
				continue;
			}
		}
		r = lokt__txn_init(&x);
		if (r < 0)
			return r;
		lokt__txn_put(&x, true, t->cut_key, "", lease, false);
		r = lokt__txn_run(gw, &x, &a);
		lokt__txn_free(&x);
		json_object_put(a.answer);
		a.answer = NULL;
	}
	return r;
}

/* The key of kind, the held key and fences/<name>, read again in one
 * read-only txn (at one revision); 0 or -errno. */
static int settle_read(struct etxn *t, enum lokt_kind kind, struct lokt_kv **kv,
		       size_t *n, struct lokt_kv **held, size_t *n_held,
		       struct lokt_kv **fence, size_t *n_fence)
{
	struct lokt_etcd_txn x;
	struct lokt_txn_answer a = { 0 };
	int r = lokt__txn_init(&x);

	if (r < 0)
		return r;
	lokt__txn_get(&x, true, t->key[kind], NULL);
	lokt__txn_get(&x, true, t->held_key, NULL);
	lokt__txn_get(&x, true, t->fence_key, NULL);
	r = lokt__txn_run(es(t->t.s)->gw, &x, &a);
	lokt__txn_free(&x);
	if (r < 0)
		return unavailable(r);
	r = lokt__txn_kvs(&a, 0, kv, n);
	if (r == 0)
		r = lokt__txn_kvs(&a, 1, held, n_held);
	if (r == 0)
		r = lokt__txn_kvs(&a, 2, fence, n_fence);
	json_object_put(a.answer);
	return r;
}

/* After a timed-out send of ops [from, to), cut off (cut_off): was it
 * applied? Read the key again and match what we wrote. 1 applied
 * (*ret_rev: the creation's revision), 0 not, -errno. */
static int settle(struct etxn *t, size_t from, size_t to, int64_t *ret_rev)
{
	struct eop *op = &t->ops[to - 1];
	struct lokt_kv *kv = NULL, *held = NULL, *fence = NULL;
	struct lokt_record rec;
	size_t n = 0, n_held = 0, n_fence = 0;
	int r, applied = 0;

	(void)from;
	r = settle_read(t, op->kind, &kv, &n, &held, &n_held, &fence, &n_fence);
	if (r < 0) {
		lokt__kvs_free(kv, n);
		lokt__kvs_free(held, n_held);
		lokt__kvs_free(fence, n_fence);
		return r;
	}
	if (op->what == OP_REMOVE) {
		/* Gone, or made again since (by someone after us). But a
		 * lock on a lease goes by itself too, when its lease
		 * expires: our removal of a lock key deletes the held key
		 * with it (send_ops), an expiry leaves it (note_expired
		 * records it). So a held key still there as read (its
		 * mod_revision unchanged) says that our removal was not
		 * applied, whatever became of the lock key. Only a lock
		 * on a lease has a held key; a detached lock or a gate
		 * (on no lease: gone only by a removal, ours or
		 * gate_expired's once all its holders' slot keys expired,
		 * which this cannot tell apart) is judged by its key
		 * alone, and so is a lock whose held key another's
		 * transition deleted in recording its expiry. */
		applied = !n || (t->n_kv[op->kind] &&
				 kv[0].create_rev !=
					 t->kv[op->kind][0].create_rev);
		if (op->kind == LOKT_LOCK && t->n_held && n_held &&
		    held[0].mod_rev == t->held[0].mod_rev)
			applied = 0;
	} else if (op->what == OP_PUT) {
		/* A gate: the holder it added is in it, those it dropped
		 * are not; a renewal, its bytes are there. */
		struct gate *g = n ? gate_of(&kv[0]) : NULL;
		bool in[2] = { false, false };

		for (size_t i = 0; g && i < g->n; i++) {
			in[0] |= op->adds && !strcmp(g->h[i].lock_id, op->added);
			for (size_t k = 0; k < op->n_dropped; k++)
				in[1] |= !strcmp(g->h[i].lock_id,
						 op->dropped[k]);
		}
		if (op->adds)
			applied = in[0];
		else if (op->n_dropped)
			applied = !in[1];
		else
			applied = n && kv[0].value_len == strlen(op->value) &&
				  !memcmp(kv[0].value, op->value,
					  kv[0].value_len);
		free(g);
	} else if (op->what == OP_REPLACE) {
		/* A renewal: its bytes are there (a lock_id and an expiry
		 * to the millisecond: nobody else writes the same). */
		applied = n && kv[0].value_len == strlen(op->value) &&
			  !memcmp(kv[0].value, op->value, kv[0].value_len);
		if (applied)
			*ret_rev = kv[0].mod_rev;
		/* A hand-over: the waiter it made the holder may have
		 * renewed or released the lock before this reading, its
		 * bytes gone. But it touched fences/<name>, as only a
		 * creation or a hand-over does, and not since the lock
		 * as read was written (at or after its last touch):
		 * untouched since, it was not applied; touched, the lock
		 * went on after our reading, as after a removal (above). */
		if (!applied && op->handed && t->n_kv[LOKT_LOCK])
			applied = n_fence && fence[0].mod_rev >
						 t->kv[LOKT_LOCK][0].mod_rev;
	} else if (n && lokt_record_parse(kv[0].value, kv[0].value_len,
					  &rec) == 0) {
		const char *want = op->rec ? op->rec->lock_id :
				   t->n_kv[op->kind] ? "" : NULL;

		applied = op->what == OP_CREATE && want &&
			  !strcmp(rec.lock_id, want);
		*ret_rev = kv[0].create_rev;
	}
	lokt__kvs_free(kv, n);
	lokt__kvs_free(held, n_held);
	lokt__kvs_free(fence, n_fence);
	return applied;
}

/* A gate's holder dropped (released, broken, or with its gate): its
 * lease, when tended here, revoked now. Another's keeper finds the
 * holder gone and revokes it then, as it does for a lock. */
static void slot_end_of(struct etxn *t, const char *lock_id)
{
	int64_t lease = tended_find(es(t->t.s), t->t.name, lock_id, true);

	if (lease)
		lokt__lease_revoke(es(t->t.s)->gw, lease);
}

/* The lock this transition removed was tended here: revoke its lease,
 * which nobody else will. */
static void untend(struct etxn *t)
{
	char id[LOKT_ID_LEN + 2];
	int64_t lease;

	if (!t->n_held ||
	    held_parse(t->held[0].value, id, sizeof(id), &lease) < 0)
		return;
	lease = tended_find(es(t->t.s), t->t.name, id, true);
	if (lease)
		lokt__lease_revoke(es(t->t.s)->gw, lease);
}

static void drop_leases(struct etxn *t)
{
	for (size_t i = 0; i < t->n_ops; i++)
		if (t->ops[i].lease && !t->ops[i].adopted)
			lokt__lease_revoke(es(t->t.s)->gw, t->ops[i].lease);
}

/* Do ops [from, to) add a holder: a lock created, a gate's holder
 * added (on its own lease)? */
static bool creates(const struct etxn *t, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (t->ops[i].what == OP_CREATE ||
		    (t->ops[i].what == OP_PUT && t->ops[i].adds))
			return true;
	return false;
}

static int e_end(struct lokt_txn *tt, bool commit)
{
	struct etxn *t = (struct etxn *)tt;
	struct lokt_txn_answer a = { 0 };
	size_t split = 0, i;
	int64_t rev = 0, grace_from = 0;
	int r = 0;

	if (t->doomed) {
		/* Decided on what this process last wrote, which the store
		 * no longer had: nothing is sent, not even a refusal's
		 * audit; the transition runs again, reading. */
		drop_leases(t);
		etxn_free(t);
		return -EAGAIN;
	}
	if (!commit || !t->n_ops) {
		drop_leases(t);
		t->n_ops = commit ? t->n_ops : 0;
		if (t->n_aud) {
			r = send_ops(t, 0, 0, AUD_ALL, 0, &a);
			json_object_put(a.answer);
		}
		etxn_free(t);
		return 0; /* audit is best effort */
	}
	/* A creation after a removal of the same key: two txns. */
	for (i = 1; i < t->n_ops; i++)
		if ((t->ops[i].what == OP_CREATE ||
		     (t->ops[i].what == OP_PUT && t->ops[i].create)) &&
		    t->ops[i - 1].what == OP_REMOVE &&
		    t->ops[i - 1].kind == t->ops[i].kind)
			split = i;
	for (int phase = split ? 0 : 1; phase < 2; phase++) {
		size_t from = phase ? split : 0, to = phase ? t->n_ops : split;

		r = send_ops(t, from, to,
			     !split ? AUD_ALL : phase ? AUD_AFTER : AUD_UPTO,
			     split, &a);
		if (r == -ETIMEDOUT) {
			/* Cut by the caller's deadline (a wait's timeout),
			 * a creation may still have been applied: it is read
			 * back, or its leases revoked (below), past the
			 * deadline if need be, so that no lock is left on
			 * its lease behind a caller told it failed. Each
			 * cut has its grace; the caller's deadline is put
			 * back before the next phase, which is a new write
			 * (sent on this grace, and cut again, it would be
			 * left with no time to settle). Only a creation:
			 * a renewal or a removal leaves nobody's lock
			 * behind, and its deadline (guard's lease, the
			 * watchdog's SIGKILL) must hold. */
			int64_t before = creates(t, from, to) ?
						 lokt__gw_grace(es(tt->s)->gw,
								SETTLE_GRACE_MS) :
						 0;

			bool bounded;

			if (before && !grace_from)
				grace_from = before;
			/* Cut by a request's own timeout (no deadline of the
			 * caller's): resolved within one more. */
			bounded = lokt__gw_bound(es(tt->s)->gw);
			r = cut_off(t);
			if (r == 0)
				r = settle(t, from, to, &rev);
			else
				r = unavailable(r);
			if (bounded)
				lokt__gw_set_deadline(es(tt->s)->gw, 0);
			if (r == 0)
				r = -EAGAIN;
			else if (r > 0)
				r = 0, a.succeeded = true, a.rev = rev;
			if (r == 0 && !phase && grace_from)
				lokt__gw_set_deadline(es(tt->s)->gw,
						      grace_from);
		} else if (r == 0) {
			if (!a.succeeded)
				r = -EAGAIN;
			rev = a.rev;
		}
		json_object_put(a.answer);
		a.answer = NULL;
		if (r < 0)
			break;
	}
	if (r == 0) {
		for (i = 0; i < t->n_ops; i++) {
			struct eop *op = &t->ops[i];

			if (op->what == OP_CREATE && op->rec)
				op->rec->fence = (uint64_t)rev;
			if (op->what == OP_CREATE && op->lease && op->tell < 0)
				tended_add(es(tt->s), tt->name,
					   op->rec->lock_id, op->lease);
			if (op->what == OP_CREATE && op->lease && op->tell < 0 &&
			    op->rec->keeper_pid > 0)
				queue_watch_from(es(tt->s), tt->name,
						 op->rec->lock_id, rev + 1);
			if (op->what == OP_PUT && op->lease && op->tell < 0)
				tended_add(es(tt->s), tt->name, op->added,
					   op->lease);
			/* A gate changes with its other holders: never
			 * begun from what this process wrote of it. */
			if (op->kind == LOKT_LOCK && op->what != OP_REMOVE)
				tended_wrote(es(tt->s), tt->name, op->lock_id,
					     op->what == OP_PUT ? NULL :
								  op->value,
					     rev, op->what == OP_CREATE);
			if ((op->what == OP_REMOVE || op->handed) &&
			    op->kind == LOKT_LOCK)
				untend(t);
			if (op->what == OP_PUT)
				for (size_t k = 0; k < op->n_dropped; k++)
					slot_end_of(t, op->dropped[k]);
			if (op->what == OP_PUT && rev > 0)
				tended_gate_wrote(es(tt->s), tt->name, rev);
			if (op->what == OP_REMOVE && op->kind == LOKT_LOCK)
				for (size_t k = 0; k < t->n_slot; k++)
					slot_end_of(t, t->slot[k].key +
							       strlen(t->slot_key));
			/* Its keeper learns that it was created: from now
			 * on, its record gone means released (the keeper
			 * then revokes the lease and leaves). */
			if (op->tell >= 0) {
				(void)!send(op->tell, "1", 1, MSG_NOSIGNAL);
				close(op->tell);
				op->tell = -1;
			}
		}
	} else {
		drop_leases(t);
		/* What this process wrote last is not the store's any more
		 * (or may not be): read from now on. */
		tended_wrote(es(tt->s), tt->name, NULL, NULL, 0, false);
	}
	if (grace_from)
		lokt__gw_set_deadline(es(tt->s)->gw, grace_from);
	etxn_free(t);
	return r == -EAGAIN ? r : unavailable(r);
}

/* ---- reading outside a transition -------------------------------------- */

/* A gate kv as a reader is shown it: without the holders whose slot
 * key is gone (their lease expired; the next transition drops them for
 * good, gate_expired), read now, after the gate. 0 with *ret_buf,
 * -LOKT_E_NOT_FOUND when no holder is left. */
static int gate_shown(struct lokt_store *s, const char *name,
		      const struct lokt_kv *kv, char **ret_buf,
		      size_t *ret_len)
{
	const struct lokt_range_opts keys = { .keys_only = true };
	struct gate *g = gate_of(kv);
	struct lokt_kv *sk = NULL;
	size_t n = 0, i = 0, k, plen;
	char *from = NULL, *end = NULL;
	bool dropped = false;
	int r;

	if (!g)
		return copy_value(kv, ret_buf, ret_len);
	if (asprintf(&from, "%s/slot/%s/", es(s)->cfg.prefix, name) < 0)
		from = NULL;
	end = from ? lokt__kv_prefix_end(from) : NULL;
	r = end ? lokt__kv_range_opts(es(s)->gw, from, end, &keys, &sk, &n,
				      NULL, NULL) :
		  -ENOMEM;
	plen = from ? strlen(from) : 0;
	free(from);
	free(end);
	if (r < 0) {
		free(g);
		return unavailable(r);
	}
	while (i < g->n) {
		for (k = 0; k < n; k++)
			if (slot_lives(&sk[k], plen, g->h[i].lock_id))
				break;
		if (lokt_is_detached(&g->h[i]) || k < n) {
			i++;
			continue;
		}
		memmove(&g->h[i], &g->h[i + 1],
			(g->n - i - 1) * sizeof(g->h[0]));
		g->n--;
		dropped = true;
	}
	lokt__kvs_free(sk, n);
	if (!dropped)
		r = copy_value(kv, ret_buf, ret_len);
	else if (!g->n)
		r = -LOKT_E_NOT_FOUND;
	else if ((r = lokt__gate_format(g, ret_buf)) == 0)
		*ret_len = strlen(*ret_buf);
	free(g);
	return r;
}

static int e_get(struct lokt_store *s, enum lokt_kind kind, const char *name,
		 char **ret_buf, size_t *ret_len, struct lokt_meta *ret_meta)
{
	struct lokt_kv *kv = NULL;
	size_t n = 0;
	char *k = key_of(s, area_of(kind), name);
	int r;

	if (!k)
		return -ENOMEM;
	r = lokt__kv_range(es(s)->gw, k, NULL, 1, &kv, &n, NULL, NULL);
	free(k);
	if (r < 0)
		return unavailable(r);
	if (!n)
		r = -LOKT_E_NOT_FOUND;
	else if (kind == LOKT_LOCK && kv_is_gate(&kv[0]))
		r = gate_shown(s, name, &kv[0], ret_buf, ret_len);
	else
		r = copy_value(&kv[0], ret_buf, ret_len);
	if (r == 0 && ret_meta)
		meta_of(&kv[0], kind == LOKT_LOCK, ret_meta);
	lokt__kvs_free(kv, n);
	return r;
}

/* Every key of [from, end), a page at a time, each page one range
 * request at the revision of the first (a consistent listing). */
static int walk(struct lokt_store *s, const char *from, const char *end,
		bool keys_only, int (*fn)(const struct lokt_kv *kv, void *ud),
		void *ud)
{
	struct lokt_range_opts o = { .limit = PAGE, .keys_only = keys_only };
	struct lokt_kv *kv;
	char *start = strdup(from);
	bool more = true;
	size_t n, i;
	int64_t rev;
	int r = 0;

	if (!start)
		return -ENOMEM;
	while (more && r == 0) {
		kv = NULL;
		n = 0;
		r = lokt__kv_range_opts(es(s)->gw, start, end, &o, &kv, &n,
					&rev, &more);
		if (r == -ERANGE && o.revision) {
			/* The revision of the first page was compacted away
			 * meanwhile: the rest as the store is now, from the
			 * same key (nothing reported twice; a name changed
			 * meanwhile is shown as it is now). */
			o.revision = 0;
			r = 0;
			continue;
		}
		if (r == -E2BIG && o.limit > 1) {
			/* A page larger than an answer may be (values planted
			 * by hand, of a megabyte each): smaller pages. (One
			 * key is at most etcd's request size, 1.5 MiB by
			 * default, well under an answer's 8 MiB.) */
			o.limit /= 2;
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		if (o.limit < PAGE && (int64_t)n == o.limit)
			o.limit = o.limit * 2 < PAGE ? o.limit * 2 : PAGE;
		/* Every page as the store was at the first one's revision:
		 * one reading, however many pages. (The revision an answer
		 * gives is the store's now, not the one asked for.) */
		if (!o.revision)
			o.revision = rev;
		for (i = 0; i < n && r >= 0; i++)
			r = fn(&kv[i], ud);
		if (n && r >= 0) {
			/* The next page starts just after the last key: the
			 * key and a byte 0x01 (no name holds one). */
			free(start);
			start = malloc(kv[n - 1].key_len + 2);
			if (!start) {
				r = -ENOMEM;
			} else {
				memcpy(start, kv[n - 1].key, kv[n - 1].key_len);
				start[kv[n - 1].key_len] = '\x01';
				start[kv[n - 1].key_len + 1] = '\0';
			}
		}
		if (!n)
			more = false;
		lokt__kvs_free(kv, n);
	}
	free(start);
	return unavailable(r < 0 ? r : 0);
}

struct list_ctx {
	struct lokt_store *s;
	bool gates; /* locks: a gate is shown as gate_shown says */
	size_t skip; /* length of the area's prefix */
	int (*fn)(const char *name, const char *buf, size_t len,
		  const struct lokt_meta *meta, void *ud);
	void *ud;
};

static int list_kv(const struct lokt_kv *kv, void *ud)
{
	struct list_ctx *c = ud;
	struct lokt_meta meta;
	const char *name = kv->key + c->skip;
	char *buf;
	size_t len;
	int r;

	if (kv->key_len <= c->skip || lokt_name_check(name) < 0)
		return 0; /* not a record of ours */
	meta_of(kv, c->gates, &meta);
	r = c->gates && kv_is_gate(kv) ?
		    gate_shown(c->s, name, kv, &buf, &len) :
		    copy_value(kv, &buf, &len);
	if (r == -LOKT_E_NOT_FOUND)
		return 0; /* every holder gone */
	if (r < 0)
		return r;
	r = c->fn(name, buf, len, &meta, c->ud);
	free(buf);
	return r;
}

static int e_list(struct lokt_store *s, enum lokt_kind kind,
		  int (*fn)(const char *name, const char *buf, size_t len,
			    const struct lokt_meta *meta, void *ud),
		  void *ud)
{
	char *from = key_of(s, area_of(kind), ""), *end;
	struct list_ctx c = { .s = s, .gates = kind == LOKT_LOCK, .fn = fn,
			      .ud = ud };
	int r;

	if (!from)
		return -ENOMEM;
	end = lokt__kv_prefix_end(from);
	c.skip = strlen(from);
	r = end ? walk(s, from, end, false, list_kv, &c) : -ENOMEM;
	free(from);
	free(end);
	return r;
}

struct names_ctx {
	size_t skip; /* length of the area's prefix */
	int (*fn)(const char *name, void *ud);
	void *ud;
};

static int names_kv(const struct lokt_kv *kv, void *ud)
{
	struct names_ctx *c = ud;
	const char *name = kv->key + c->skip;

	if (kv->key_len <= c->skip || lokt_name_check(name) < 0)
		return 0; /* not a record of ours */
	return c->fn(name, c->ud);
}

/* The names alone: one paged range read of keys, without the records. */
static int e_names(struct lokt_store *s, enum lokt_kind kind,
		   int (*fn)(const char *name, void *ud), void *ud)
{
	char *from = key_of(s, area_of(kind), ""), *end;
	struct names_ctx c = { .fn = fn, .ud = ud };
	int r;

	if (!from)
		return -ENOMEM;
	end = lokt__kv_prefix_end(from);
	c.skip = strlen(from);
	r = end ? walk(s, from, end, true, names_kv, &c) : -ENOMEM;
	free(from);
	free(end);
	return r;
}

/* The name's queue, read now. */
static int queue_read(struct lokt_store *s, const char *name,
		      struct lokt_kv **ret, size_t *ret_n, int64_t *ret_rev)
{
	char *from, *end;
	int r;

	if (asprintf(&from, "%s/queue/%s/", es(s)->cfg.prefix, name) < 0)
		return -ENOMEM;
	end = lokt__kv_prefix_end(from);
	r = end ? lokt__kv_range(es(s)->gw, from, end, 0, ret, ret_n, ret_rev,
				 NULL) :
		  -ENOMEM;
	free(from);
	free(end);
	return unavailable(r);
}

static int e_waiters(struct lokt_store *s, const char *name,
		     struct lokt_queue *ret)
{
	struct lokt_kv *q = NULL;
	size_t nq = 0;
	int r = queue_read(s, name, &q, &nq, NULL);

	if (r < 0)
		return r;
	r = queue_of(s, name, q, nq, 0, ret);
	lokt__kvs_free(q, nq);
	return r;
}

/* ---- waiting ------------------------------------------------------------ */

struct lokt_waiter {
	struct lokt_store *s;
	char name[LOKT_NAME_MAX + 1];
	char *key; /* our queue key */
	int64_t lease;
	uint64_t seq;
	int64_t keepalive_at; /* monotonic ms */
	int64_t lease_until; /* monotonic ms: our lease lives at least until
				then (granted or kept alive for its TTL, as
				of before the request) */
	/* lock + freeze (+ a gate's slots), or the one ahead */
	struct lokt_gw_watch *watch[3];
	uint64_t watching; /* what watch[] is on: the place ahead, or 0 */
	bool at_head;
	bool frozen_seen; /* the last read of the name found a freeze */
	int64_t read_rev; /* ... and its revision */
	int64_t guessed_at; /* the deletion a guess was made on */
	/* Our offer (the hand-over, e_offer): our queue key's value with
	 * it, written once at the head (offer_rev: its revision, 0 not
	 * written or not known), and the lock_id it names. */
	char *offer;
	int64_t offer_rev;
	bool offer_out; /* written, or perhaps (its request cut short) */
	char offer_id[LOKT_ID_LEN + 1];
};

/* The waiter of this thread (a transition and its waiter run in one). */
static __thread struct lokt_waiter *waiting_here;

/* A waiter at the head of the queue was woken by the deletion of the
 * lock: begin its next attempt from what that says (no lock, no freeze,
 * nobody ahead: its own place alone) instead of reading, once per
 * deletion. The creation compares all of it, as it compares a read (and
 * the held key too: gone with the lock, not left by an expired lease), so
 * a wrong guess costs one more attempt, which reads. One request fewer
 * between a release and the next holder: as `etcdctl lock`, a waiter
 * acts on the deletion it was told of. */
static bool waiter_guess(struct etxn *t)
{
	struct lokt_waiter *w = waiting_here;
	struct lokt_kv *own;
	int64_t del;

	if (!w || w->s != t->t.s || t->t.kind != LOKT_LOCK ||
	    strcmp(w->name, t->t.name) || !w->at_head || !w->watch[0] ||
	    w->frozen_seen)
		return false;
	/* A deletion since the last read, not guessed on yet. */
	del = lokt__gw_watch_last_delete(w->watch[0]);
	if (del <= w->read_rev || del == w->guessed_at)
		return false;
	own = calloc(1, sizeof(*own));
	if (!own)
		return false;
	own->key = strdup(w->key);
	own->value = strdup("");
	if (!own->key || !own->value) {
		lokt__kvs_free(own, 1);
		return false;
	}
	own->key_len = strlen(own->key);
	own->create_rev = own->mod_rev = (int64_t)w->seq;
	own->lease = w->lease;
	t->q = own;
	t->nq = 1;
	t->rev = del;
	w->guessed_at = del;
	return true;
}

/* A read of the name: whether the waiter of this thread may guess. */
static void waiter_saw(struct etxn *t)
{
	struct lokt_waiter *w = waiting_here;

	if (w && w->s == t->t.s && !strcmp(w->name, t->t.name)) {
		w->frozen_seen = t->n_kv[LOKT_FREEZE] > 0;
		w->read_rev = t->rev;
	}
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t keepalive_ms(const struct lokt_store *s)
{
	return es(s)->cfg.lease_sec * 1000 / 3;
}

/* Join the watches retired so far. */
static void retired_close(struct estore *e)
{
	struct retired *r;
	size_t n;

	pthread_mutex_lock(&e->tend_lock);
	r = e->retired;
	n = e->n_retired;
	e->retired = NULL;
	e->n_retired = 0;
	pthread_mutex_unlock(&e->tend_lock);
	/* In a child of fork() the threads are not there to join. */
	for (size_t i = 0; i < n; i++)
		if (r[i].pid == getpid())
			lokt__gw_watch_close(r[i].watch);
	free(r);
}

/* End the waiter's watches; retire: without waiting for them to end. */
static void unwatch_as(struct lokt_waiter *w, bool retire)
{
	struct estore *e = es(w->s);
	struct retired *r;

	for (int i = 0; i < 3; i++) {
		if (!w->watch[i])
			continue;
		if (retire) {
			lokt__gw_watch_stop(w->watch[i]);
			pthread_mutex_lock(&e->tend_lock);
			r = realloc(e->retired,
				    (e->n_retired + 1) * sizeof(*r));
			if (r) {
				e->retired = r;
				r[e->n_retired].watch = w->watch[i];
				r[e->n_retired++].pid = getpid();
				w->watch[i] = NULL;
			}
			pthread_mutex_unlock(&e->tend_lock);
		}
		lokt__gw_watch_close(w->watch[i]); /* not retired: now */
		w->watch[i] = NULL;
	}
	w->watching = 0;
	w->at_head = false;
}

static void unwatch(struct lokt_waiter *w)
{
	unwatch_as(w, false);
}

/* Our place's value, with an offer (a record's JSON text; NULL:
 * without). Built with json-c: the host name is anybody's to choose. */
static char *place_value(const struct lokt_waiter *w, const char *offer)
{
	struct json_object *o = json_object_new_object(), *of = NULL;

	if (!o || (offer && !(of = json_tokener_parse(offer)))) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "host", json_object_new_string(w->s->host));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	if (of)
		json_object_object_add(o, "offer", of);
	return json_text(o);
}

static int e_wait_join(struct lokt_store *s, const char *name,
		       struct lokt_waiter **ret, uint64_t *ret_seq)
{
	struct estore *e = es(s);
	struct lokt_waiter *w = calloc(1, sizeof(*w));
	struct lokt_txn_answer a = { 0 };
	struct lokt_etcd_txn x;
	char *value = NULL;
	int r;

	retired_close(e); /* long-lived callers wait again and again */
	if (!w)
		return -ENOMEM;
	w->s = s;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->lease_until = mono_ms() + e->cfg.lease_sec * 1000;
	r = lokt__lease_grant(e->gw, e->cfg.lease_sec, &w->lease);
	if (r == 0 && asprintf(&w->key, "%s/queue/%s/%016" PRIx64,
			       e->cfg.prefix, name, (uint64_t)w->lease) < 0) {
		w->key = NULL;
		r = -ENOMEM;
	}
	if (r == 0)
		r = lokt__txn_init(&x);
	if (r == 0 && !(value = place_value(w, NULL))) {
		lokt__txn_free(&x);
		r = -ENOMEM;
	}
	if (r == 0) {
		lokt__txn_put(&x, true, w->key, value, w->lease, false);
		r = lokt__txn_run(e->gw, &x, &a);
		lokt__txn_free(&x);
		/* A put on a fresh key of our own lease: applied or not, a
		 * retry could only make it again, so the revision is read. */
		w->seq = (uint64_t)a.rev;
		json_object_put(a.answer);
	}
	free(value);
	if (r < 0) {
		if (w->lease)
			lokt__lease_revoke(e->gw, w->lease);
		free(w->key);
		free(w);
		return unavailable(r);
	}
	w->keepalive_at = mono_ms() + keepalive_ms(s);
	waiting_here = w;
	*ret = w;
	*ret_seq = w->seq;
	return 0;
}

/* Watch the key of the waiter at place seq (its create_revision), from
 * the revision of the read that found it. */
static int watch_ahead(struct lokt_waiter *w, uint64_t seq)
{
	struct lokt_kv *q = NULL;
	size_t nq = 0, i;
	int64_t rev = 0;
	int r = queue_read(w->s, w->name, &q, &nq, &rev);

	if (r < 0)
		return r;
	for (i = 0; i < nq; i++)
		if ((uint64_t)q[i].create_rev == seq)
			break;
	if (i == nq)
		r = 1; /* gone already: try again at once */
	else
		r = lokt__gw_watch_open(es(w->s)->gw, q[i].key, q[i].key_len,
					NULL, 0, rev + 1, &w->watch[0]);
	lokt__kvs_free(q, nq);
	if (r == 0)
		w->watching = seq;
	return r;
}

/* At the head: watch the lock and the freeze, and for a gate its
 * holders' slot keys too (a holder whose lease expired changes only its
 * slot key: the next attempt drops it from the gate). */
static int watch_head(struct lokt_waiter *w, bool gate)
{
	char *k[3] = { key_of(w->s, "locks", w->name),
		       key_of(w->s, "freezes", w->name), NULL },
	     *end = NULL;
	char want[LOKT_ID_LEN + 3];
	int r = k[0] && k[1] ? 0 : -ENOMEM;

	/* With an offer out: the lock from just after it, every put of it
	 * looked at for our lock_id (e_wait_handed). */
	for (int i = 0; i < 2 && r == 0; i++)
		r = lokt__gw_watch_open(es(w->s)->gw, k[i], strlen(k[i]), NULL,
					0, i ? 0 : w->offer_rev + !!w->offer_rev,
					&w->watch[i]);
	if (r == 0 && w->offer_rev) {
		snprintf(want, sizeof(want), "\"%s\"", w->offer_id);
		r = lokt__gw_watch_expect(w->watch[0], want);
	}
	if (r == 0 && gate) {
		if (asprintf(&k[2], "%s/slot/%s/", es(w->s)->cfg.prefix,
			     w->name) < 0)
			k[2] = NULL;
		end = k[2] ? lokt__kv_prefix_end(k[2]) : NULL;
		r = end ? lokt__gw_watch_open(es(w->s)->gw, k[2],
					      strlen(k[2]), end, strlen(end),
					      0, &w->watch[2]) :
			  -ENOMEM;
	}
	for (int i = 0; i < 3; i++)
		free(k[i]);
	free(end);
	if (r == 0)
		w->at_head = true;
	return r;
}

/* Our queue key's value with our offer in it, put once we are first in
 * the queue and the lock is held (a release may then hand it to us),
 * compared: our place still there. */
static void offer_write(struct lokt_waiter *w)
{
	struct lokt_txn_answer a = { 0 };
	struct lokt_etcd_txn x;
	int r;

	if (lokt__txn_init(&x) < 0)
		return;
	lokt__txn_cmp(&x, w->key, NULL, LOKT_CMP_CREATE, LOKT_CMP_EQ,
		      (int64_t)w->seq);
	lokt__txn_put(&x, true, w->key, w->offer, w->lease, false);
	r = lokt__txn_run(es(w->s)->gw, &x, &a);
	/* Cut short, it may have been applied: taken back on leaving all
	 * the same. Its revision unknown, a hand-over is found by the next
	 * attempt (its lock_id), not by the watch. */
	w->offer_out = r < 0 || a.succeeded;
	if (r == 0 && a.succeeded)
		w->offer_rev = a.rev;
	json_object_put(a.answer);
	lokt__txn_free(&x);
}

/* Offer rec (the hand-over, above), written at the head (offer_write);
 * or, rec NULL, take it back: our place put again without it, compared
 * on its being there (a hand-over deletes it), so that a release that
 * read the offer cannot hand it over after (its compare on the place as
 * read fails) (-EAGAIN: the place is gone, handed over perhaps: the
 * caller looks at the lock). Only a lock its holder and keeper tend
 * takes its place's lease; any other is not offered. */
static int e_wait_offer(struct lokt_waiter *w, const struct lokt_record *rec)
{
	struct lokt_txn_answer a = { 0 };
	struct lokt_record copy;
	struct lokt_etcd_txn x;
	char *json, *plain;
	int r;

	if (rec) {
		if (rec->keeper_pid <= 0 || lokt_is_detached(rec))
			return -ENOTSUP;
		copy = *rec;
		copy.fence = 0;
		r = record_value(&copy, &json);
		if (r < 0)
			return r;
		free(w->offer);
		w->offer = place_value(w, json);
		free(json);
		if (!w->offer)
			return -ENOMEM;
		snprintf(w->offer_id, sizeof(w->offer_id), "%s",
			 rec->lock_id);
		return 0;
	}
	free(w->offer);
	w->offer = NULL;
	if (!w->offer_out)
		return 0;
	plain = place_value(w, NULL);
	r = plain ? lokt__txn_init(&x) : -ENOMEM;
	if (r == 0) {
		lokt__txn_cmp(&x, w->key, NULL, LOKT_CMP_CREATE, LOKT_CMP_EQ,
			      (int64_t)w->seq);
		lokt__txn_put(&x, true, w->key, plain, w->lease, false);
		r = lokt__txn_run(es(w->s)->gw, &x, &a);
		if (r == 0 && !a.succeeded)
			r = -EAGAIN;
		json_object_put(a.answer);
		lokt__txn_free(&x);
	}
	free(plain);
	w->offer_rev = 0;
	w->offer_out = false;
	return unavailable(r);
}

/* A hand-over seen on the watch, by a waiter that was stopped or
 * starved past what its lease was sure to live: the lock put on that
 * lease may have gone with it since, and been taken by another, the
 * events saying so perhaps not read yet. The lock read: 1 if it is still
 * the one handed to us (its value, creation and revision in *ret, to
 * free), 0 if it is gone (nothing of it is kept here: leaving revokes our
 * lease), -1 if the read failed (the event is trusted, as it would have
 * been in time). */
static int handed_still(struct lokt_waiter *w, struct lokt_kv *ret)
{
	struct lokt_record rec;
	struct lokt_kv *kv = NULL;
	size_t n = 0;
	char *key = key_of(w->s, "locks", w->name);
	int r = key ? lokt__kv_range(es(w->s)->gw, key, NULL, 1, &kv, &n,
				     NULL, NULL) :
		      -ENOMEM;

	free(key);
	if (r < 0)
		return -1;
	r = n == 1 && kv[0].lease == w->lease &&
	    lokt_record_parse(kv[0].value, kv[0].value_len, &rec) == 0 &&
	    !strcmp(rec.lock_id, w->offer_id);
	if (r) {
		*ret = kv[0];
		memset(&kv[0], 0, sizeof(kv[0]));
	}
	lokt__kvs_free(kv, n);
	return r;
}

/* Was our offer published? sure: a transition found it (the lock is
 * ours). Else: the lock's watch saw a put of it (the store's word), whose
 * record is given in *ret, read: its fence is written in it (e_offer).
 * Our place went in that txn, and its lease is the lock's from now on:
 * leaving must not revoke it. Unless the lock has gone since, with our
 * lease (handed_still): true then too, as our place went all the same,
 * with nothing in *ret, so that the caller reads the lock, finds it not
 * ours and queues again. */
static bool e_wait_handed(struct lokt_waiter *w, bool sure,
			  struct lokt_record *ret)
{
	const char *value = NULL;
	int64_t rev = 0, create = 0;
	struct lokt_kv now = { 0 };
	int64_t put_rev;
	int still = -1;

	if (!sure && !(w->at_head && w->watch[0] &&
		       (rev = lokt__gw_watch_found(w->watch[0], &value,
						   &create)) > 0))
		return false;
	put_rev = rev;
	/* Our lease kept alive less than two thirds of its TTL ago (a
	 * waiter keeps it alive every third): it lives, and the lock on
	 * it, unless forced away (as any holder's lock may be; guard
	 * looks). Else, look now. */
	if (!sure && mono_ms() > w->lease_until - keepalive_ms(w->s) &&
	    (still = handed_still(w, &now)) >= 0) {
		value = still ? now.value : NULL;
		create = still ? now.create_rev : 0;
		put_rev = still ? now.mod_rev : 0;
	}
	if (still == 0) {
		if (ret)
			memset(ret, 0, sizeof(*ret));
		w->offer_rev = 0;
		w->offer_out = false;
		return true;
	}
	if (ret && value &&
	    lokt_record_parse(value, strlen(value), ret) < 0)
		memset(ret, 0, sizeof(*ret)); /* read by the caller */
	tended_add(es(w->s), w->name, w->offer_id, w->lease);
	/* What was put is the lock as the hand-over wrote it: renewing or
	 * releasing it may begin from that (tended_record). */
	if (value && create > 0)
		tended_handed(es(w->s), w->name, w->offer_id, value, create,
			      put_rev);
	/* The waiter behind us writes its offer after the hand-over (and
	 * the revision found is after the one we read, when sure). */
	queue_watch_from(es(w->s), w->name, w->offer_id,
			 !sure ? rev + 1 :
			 w->offer_rev ? w->offer_rev + 1 :
					-1);
	w->offer_rev = 0;
	w->offer_out = false;
	free(now.key);
	free(now.value);
	return true;
}

static int64_t e_wait_plan(struct lokt_waiter *w,
			   const struct lokt_wait_hint *h, int64_t now)
{
	int64_t later = now + keepalive_ms(w->s);
	bool gate;

	if (h->q->ahead > 0) {
		if (w->watching == h->q->ahead_seq)
			return later;
		unwatch(w);
		/* Watching from the read's revision: what happened to it
		 * since is seen. */
		return watch_ahead(w, h->q->ahead_seq) == 0 ? later : now;
	}
	if (w->at_head)
		return later;
	unwatch(w);
	gate = h->res->have_other &&
	       (h->res->other.slots || h->res->other.shared);
	if (w->offer && !w->offer_out && !gate)
		offer_write(w);
	/* The watches start now: try again at once, so that a change
	 * between the refusal and the watch is not missed. */
	return watch_head(w, gate) == 0 ? now : now + 250;
}

static bool e_wait_behind(struct lokt_waiter *w, bool count,
			  struct lokt_queue *q)
{
	struct lokt_kv *kv = NULL;
	struct lokt_queue now;
	size_t n = 0;
	bool there = false;

	if (queue_read(w->s, w->name, &kv, &n, NULL) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		there |= (uint64_t)kv[i].create_rev == q->ahead_seq;
	if (there && count) {
		/* A foreign key: the next attempt reads it, and fails. */
		if (queue_of(w->s, w->name, kv, n, w->seq, &now) < 0 ||
		    now.ahead_seq != q->ahead_seq)
			there = false;
		else
			*q = now;
	}
	lokt__kvs_free(kv, n);
	return there;
}

static bool e_wait_sleep(struct lokt_waiter *w, int64_t timeout_ms)
{
	struct pollfd pfd[3];
	int n = 0, ret;
	int64_t now = mono_ms(), ttl;
	bool hit = false;

	if (now >= w->keepalive_at) {
		/* Our place is kept by our lease; a lease lost (we were cut
		 * off too long) is a place lost: the next attempt shows it. */
		if (lokt__lease_keepalive(es(w->s)->gw, w->lease, &ttl) < 0)
			hit = true;
		else
			w->lease_until = now + ttl * 1000;
		w->keepalive_at = now + keepalive_ms(w->s);
	}
	if (hit)
		return true;
	if (w->keepalive_at - now < timeout_ms)
		timeout_ms = w->keepalive_at - now;
	for (int i = 0; i < 3; i++)
		if (w->watch[i])
			pfd[n++] = (struct pollfd){
				.fd = lokt__gw_watch_fd(w->watch[i]),
				.events = POLLIN
			};
	ret = poll(pfd, n, (int)(timeout_ms < 0 ? 0 : timeout_ms));
	if (ret <= 0)
		return false;
	for (int i = 0; i < 3; i++)
		if (w->watch[i] && lokt__gw_watch_consume(w->watch[i]) != 0)
			hit = true;
	return hit;
}

/* Is lease now a lock's, tended here (taken over by e_create)? */
static bool lease_tended(struct estore *e, int64_t lease)
{
	bool found = false;

	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; i < e->n_tended && !found; i++)
		found = e->tended[i].lease == lease;
	pthread_mutex_unlock(&e->tend_lock);
	return found;
}

static void e_wait_leave(struct lokt_waiter *w)
{
	if (waiting_here == w)
		waiting_here = NULL;
	unwatch_as(w, true);
	/* Revoking the lease deletes our queue key: the waiter behind,
	 * watching it, learns at once. Unless our lock took it over (its
	 * queue key went in the same txn). */
	if (!lease_tended(es(w->s), w->lease))
		lokt__lease_revoke(es(w->s)->gw, w->lease);
	free(w->offer);
	free(w->key);
	free(w);
}

/* ---- the rest ------------------------------------------------------------ */

/* lokt_watch: a socket that becomes readable when the key changes. A
 * thread relays the watch; it ends when the caller closes its end (poll
 * sees the hang-up) or the store is closed (which shuts the socket down
 * and joins it), so the caller needs nothing but close(). */
struct relay {
	struct relay *next;
	struct lokt_gw_watch *watch;
	int fd;
	pthread_t th;
};

static void *relay_run(void *arg)
{
	struct relay *rl = arg;
	struct pollfd pfd[2] = {
		{ .fd = lokt__gw_watch_fd(rl->watch), .events = POLLIN },
		{ .fd = rl->fd, .events = 0 },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL))
			break;
		if (pfd[0].revents &&
		    lokt__gw_watch_consume(rl->watch) != 0 &&
		    send(rl->fd, "!", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    errno != EAGAIN)
			break;
	}
	lokt__gw_watch_close(rl->watch);
	rl->watch = NULL;
	return NULL;
}

static int e_watch(struct lokt_store *s, enum lokt_kind kind,
		   const char *name, int *ret_fd)
{
	struct estore *e = es(s);
	struct relay *rl = calloc(1, sizeof(*rl));
	char *k = key_of(s, area_of(kind), name);
	char qid[LOKT_ID_LEN + 1] = "";
	int64_t from = 0, qfrom = 0;
	int sv[2], r;

	if (!rl || !k) {
		free(rl);
		free(k);
		return -ENOMEM;
	}
	/* A lock tended here: from just after what this process last wrote
	 * of it, so that nothing done to it since is missed (lokt.h). */
	pthread_mutex_lock(&e->tend_lock);
	for (size_t i = 0; kind == LOKT_LOCK && i < e->n_tended; i++) {
		if (strcmp(e->tended[i].name, name))
			continue;
		if (e->tended[i].queue_from && !e->tended[i].queue) {
			qfrom = e->tended[i].queue_from;
			memcpy(qid, e->tended[i].lock_id, sizeof(qid));
		}
		if (e->tended[i].value && e->tended[i].mod_rev > 0)
			from = e->tended[i].mod_rev + 1;
		/* A gate's holder (a slot or shared lock): its gate as this
		 * process last wrote it. */
		else if (!from && e->tended[i].gate_rev > 0)
			from = e->tended[i].gate_rev + 1;
	}
	pthread_mutex_unlock(&e->tend_lock);
	/* guard watches its lock once its command runs: its queue too. */
	if (qfrom)
		queue_watch(e, name, qid, qfrom > 0 ? qfrom : 0);
	r = lokt__gw_watch_open(e->gw, k, strlen(k), NULL, 0, from,
				&rl->watch);
	free(k);
	if (r == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		r = -errno;
	if (r < 0) {
		lokt__gw_watch_close(rl->watch);
		free(rl);
		return r;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	rl->fd = sv[1];
	r = lokt__thread_start(&rl->th, relay_run, rl);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		lokt__gw_watch_close(rl->watch);
		free(rl);
		return r;
	}
	pthread_mutex_lock(&e->relays_lock);
	rl->next = e->relays;
	e->relays = rl;
	pthread_mutex_unlock(&e->relays_lock);
	*ret_fd = sv[0];
	return 0;
}

/* End every relay of the store: wake each, join it, free it. */
static void relays_end(struct estore *e)
{
	struct relay *rl, *next;

	for (rl = e->relays; rl; rl = next) {
		next = rl->next;
		/* In a child of fork() the threads are not there to join. */
		if (e->pid == getpid()) {
			shutdown(rl->fd, SHUT_RDWR);
			pthread_join(rl->th, NULL);
		}
		close(rl->fd);
		free(rl);
	}
	e->relays = NULL;
}

static void e_deadline(struct lokt_store *s, int64_t mono_ms)
{
	lokt__gw_set_deadline(es(s)->gw, mono_ms);
}

static int e_tidy(struct lokt_store *s)
{
	struct estore *e = es(s);
	struct lokt_etcd_txn x;
	struct lokt_txn_answer a = { 0 };
	char *from = key_of(s, "audit", ""), *end = NULL;
	struct timespec now;
	int r;

	if (!from)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &now);
	if (asprintf(&end, "%s%020" PRId64, from,
		     ((int64_t)now.tv_sec - e->audit_keep_sec) *
			     1000000000) < 0)
		end = NULL;
	r = end ? lokt__txn_init(&x) : -ENOMEM;
	if (r == 0) {
		lokt__txn_delete(&x, true, from, end);
		r = lokt__txn_run(e->gw, &x, &a);
		json_object_put(a.answer);
		lokt__txn_free(&x);
	}
	free(from);
	free(end);
	return unavailable(r);
}

static void e_audit_append(struct lokt_store *s, const char *line, size_t len)
{
	struct lokt_etcd_txn x;
	struct lokt_txn_answer a = { 0 };
	char *l = strndup(line, len && line[len - 1] == '\n' ? len - 1 : len);

	if (l && lokt__txn_init(&x) == 0) {
		put_audit(s, &x, l);
		if (lokt__txn_run(es(s)->gw, &x, &a) == 0)
			json_object_put(a.answer);
		lokt__txn_free(&x);
	}
	free(l);
}

struct audit_ctx {
	int (*fn)(const char *line, size_t len, void *ud);
	void *ud;
};

static int audit_kv(const struct lokt_kv *kv, void *ud)
{
	struct audit_ctx *c = ud;

	return c->fn(kv->value, kv->value_len, c->ud);
}

static int e_audit_lines(struct lokt_store *s,
			 int (*fn)(const char *line, size_t len, void *ud),
			 void *ud)
{
	char *from = key_of(s, "audit", ""), *end;
	struct audit_ctx c = { .fn = fn, .ud = ud };
	int r;

	if (!from)
		return -ENOMEM;
	end = lokt__kv_prefix_end(from);
	r = end ? walk(s, from, end, false, audit_kv, &c) : -ENOMEM;
	free(from);
	free(end);
	return r;
}

/* Deliver every audit key after `*last` (all when NULL) in [from, end),
 * a page at a time, every page as the store was at the first one's
 * revision, *rev: an event written meanwhile, whatever its key, is one
 * created after *rev (see audit_since). *last follows. 1 when fn asked
 * to stop. */
static int audit_after(struct lokt_store *s, char **last, const char *from,
		       const char *end, int64_t *rev,
		       int (*fn)(const char *line, size_t len, void *ud),
		       void *ud)
{
	struct lokt_range_opts o = { .limit = PAGE };
	struct lokt_kv *kv;
	bool more = true;
	size_t n, i, kl;
	char *start;
	int r = 0;

	while (more && r == 0) {
		if (*last) {
			kl = strlen(*last);
			start = malloc(kl + 2);
			if (!start)
				return -ENOMEM;
			memcpy(start, *last, kl);
			start[kl] = '\x01'; /* just after it: no key holds 0x01 */
			start[kl + 1] = '\0';
		} else {
			start = strdup(from);
			if (!start)
				return -ENOMEM;
		}
		kv = NULL;
		n = 0;
		r = lokt__kv_range_opts(es(s)->gw, start, end, &o, &kv, &n,
					o.revision ? NULL : rev, &more);
		free(start);
		if (r == -ERANGE && o.revision) {
			o.revision = 0; /* compacted meanwhile: as walk */
			r = 0;
			continue;
		}
		if (r < 0)
			return unavailable(r);
		o.revision = *rev;
		for (i = 0; i < n && r == 0; i++)
			r = fn(kv[i].value, kv[i].value_len, ud) ? 1 : 0;
		if (n) {
			free(*last);
			*last = strdup(kv[n - 1].key);
			if (!*last)
				r = -ENOMEM;
		} else {
			more = false;
		}
		lokt__kvs_free(kv, n);
	}
	return r;
}

/* Deliver every audit key created at *since or later, in the order they
 * were created (whatever the writers' clocks, which order the keys); *since
 * follows. 1 when fn asked to stop. */
static int audit_since(struct lokt_store *s, int64_t *since, const char *from,
		       const char *end,
		       int (*fn)(const char *line, size_t len, void *ud),
		       void *ud)
{
	struct lokt_kv *kv;
	bool more = true;
	int64_t top;
	size_t n, i;
	int r = 0;

	while (more && r == 0) {
		kv = NULL;
		n = 0;
		r = lokt__kv_range_since(es(s)->gw, from, end, *since, PAGE,
					 &kv, &n, NULL, &more);
		if (r < 0)
			return unavailable(r);
		more = more && n;
		/* The keys of one txn share its revision, and a full page may
		 * end among them: the rest of that revision comes whole with
		 * the next page. (A page of one revision, a txn of more
		 * keys than lokt ever writes, is taken as it is.) */
		top = more && kv[0].create_rev != kv[n - 1].create_rev ?
			      kv[n - 1].create_rev :
			      INT64_MAX;
		for (i = 0; i < n && r == 0 && kv[i].create_rev < top; i++) {
			r = fn(kv[i].value, kv[i].value_len, ud) ? 1 : 0;
			*since = kv[i].create_rev + 1;
		}
		if (r == 0 && top != INT64_MAX)
			*since = top;
		lokt__kvs_free(kv, n);
	}
	return r;
}

/* lokt_audit_follow: the history (in key order: by time), fn(NULL) to
 * mark its end, then each new event in the order it was written, woken
 * by a watch on the audit keys (and a look every second). New events are
 * those created after the history was read, whatever their keys say: a
 * host whose clock is behind is followed too. */
static int e_audit_follow(struct lokt_store *s,
			  int (*fn)(const char *line, size_t len, void *ud),
			  void *ud, volatile sig_atomic_t *cancel)
{
	char *from = key_of(s, "audit", ""), *end = NULL, *last = NULL;
	struct lokt_gw_watch *w = NULL;
	struct pollfd p;
	int64_t rev = 0;
	int r;

	end = from ? lokt__kv_prefix_end(from) : NULL;
	r = end ? audit_after(s, &last, from, end, &rev, fn, ud) : -ENOMEM;
	if (r == 0)
		r = fn(NULL, 0, ud) ? 1 : 0;
	if (r == 0)
		r = lokt__gw_watch_open(es(s)->gw, from, strlen(from), end,
					strlen(end), rev + 1, &w);
	rev++; /* the first revision the history did not see */
	while (r == 0 && !(cancel && *cancel)) {
		p = (struct pollfd){ .fd = lokt__gw_watch_fd(w), .events = POLLIN };
		if (poll(&p, 1, 1000) > 0)
			lokt__gw_watch_consume(w);
		r = audit_since(s, &rev, from, end, fn, ud);
		/* A cluster that does not answer for a while (a member
		 * stopped, killed or restarted: a read cut off, refused, timed
		 * out; a leader lost) is followed on, as tail -F follows a
		 * file that comes back: the next look, a second later or when
		 * the watch (which starts again by itself) rings, reads from
		 * where this one stopped. */
		if (r < 0)
			r = 0;
	}
	lokt__gw_watch_close(w);
	free(last);
	free(from);
	free(end);
	return r;
}

static void e_close(struct lokt_store *s)
{
	struct estore *e = es(s);

	if (e) {
		relays_end(e);
		retired_close(e);
		pthread_mutex_destroy(&e->relays_lock);
		pthread_mutex_destroy(&e->tend_lock);
		for (size_t i = 0; i < e->n_tended; i++) {
			free(e->tended[i].value);
			if (e->pid == getpid())
				lokt__gw_watch_close(e->tended[i].queue);
		}
		free(e->tended);
		lokt__gw_close(e->gw);
		lokt__etcd_config_free(&e->cfg);
		free(e);
	}
	free(s->root);
	free(s);
}

/* The status of one member, asked of it alone. 0 with its version and
 * leader id, or -errno. */
static int member_status(struct estore *e, const char *endpoint,
			 char *version, size_t vsize, int64_t *ret_leader,
			 int64_t *ret_rev, char *why, size_t wsize)
{
	struct lokt_gw_opts o = {
		.endpoints = &endpoint, .n_endpoints = 1,
		.cacert = e->cfg.cacert, .cert = e->cfg.cert, .key = e->cfg.key,
		.user = e->cfg.user, .password = e->cfg.password,
		.password_file = e->cfg.password_file, .timeout_ms = 3000,
	};
	struct json_object *req = json_object_new_object(), *ans = NULL, *v,
			   *h;
	struct lokt_gw *g = NULL;
	int r = req ? lokt__gw_open(&o, &g) : -ENOMEM;

	if (r == 0)
		r = lokt__gw_call(g, "/v3/maintenance/status", req,
				  LOKT_GW_IDEMPOTENT, &ans);
	if (r == 0) {
		snprintf(version, vsize, "%s",
			 json_object_object_get_ex(ans, "version", &v) ?
				 json_object_get_string(v) :
				 "?");
		/* Member ids are unsigned 64-bit: often above INT64_MAX. */
		*ret_leader = json_object_object_get_ex(ans, "leader", &v) ?
				      (int64_t)strtoull(json_object_get_string(v),
							NULL, 10) :
				      0;
		*ret_rev = json_object_object_get_ex(ans, "header", &h) ?
				   lokt__gw_int(h, "revision", 0) :
				   0;
	}
	json_object_put(ans);
	json_object_put(req);
	if (r < 0 && g)
		lokt__gw_last_error(g, why, wsize);
	lokt__gw_close(g);
	return r;
}

static void check(struct lokt_check *ck, size_t max, size_t *n,
		  const char *id, enum lokt_check_level level,
		  const char *msg)
{
	if (*n >= max)
		return;
	snprintf(ck[*n].id, sizeof(ck[*n].id), "%s", id);
	ck[*n].level = level;
	snprintf(ck[*n].message, sizeof(ck[*n].message), "%s", msg);
	(*n)++;
}

/* Is kv a holder's slot key as lokt writes it, <prefix>/slot/NAME/ and
 * a lock id (32 hex digits), on a lease? base: the length of
 * "<prefix>/slot/". */
static bool slot_key_ok(const struct lokt_kv *kv, size_t base)
{
	char got[LOKT_NAME_MAX + 1];
	const char *rest = kv->key + base, *slash;
	size_t len;

	if (kv->lease <= 0 || kv->key_len <= base ||
	    memchr(kv->key, 0, kv->key_len))
		return false;
	slash = strchr(rest, '/');
	len = slash ? (size_t)(slash - rest) : 0;
	if (!len || len > LOKT_NAME_MAX ||
	    kv->key_len != base + len + 1 + LOKT_ID_LEN)
		return false;
	memcpy(got, rest, len);
	got[len] = 0;
	return lokt_name_check(got) == 0 &&
	       strspn(slash + 1, "0123456789abcdef") == LOKT_ID_LEN;
}

struct foreign {
	size_t base, n;
	bool slots; /* under slot/, else under queue/ */
	char first[200];
};

static int foreign_kv(const struct lokt_kv *kv, void *ud)
{
	struct foreign *f = ud;
	bool ok = f->slots ? slot_key_ok(kv, f->base) :
			     waiter_key(kv, f->base, NULL);

	if (!ok && f->n++ == 0)
		snprintf(f->first, sizeof(f->first), "%.*s",
			 (int)strnlen(kv->key, kv->key_len), kv->key);
	return 0;
}

/* Keys under the queues and the slots that lokt did not write
 * (waiter_key, slot_key_ok): one in a queue blocks its name for good, and
 * lokt lock of it says "foreign"; one in slot/ proves no holder alive. */
static void foreign_check(struct lokt_store *s, struct lokt_check *ck,
			  size_t max, size_t *n)
{
	static const char *const where[] = { "queue", "slot" };
	struct foreign f = { 0 };
	char *from, *end, msg[512];
	int r = 0;

	for (size_t w = 0; w < 2 && r >= 0; w++) {
		end = NULL;
		r = -ENOMEM;
		if (asprintf(&from, "%s/%s/", es(s)->cfg.prefix, where[w]) < 0)
			from = NULL;
		if (from && (end = lokt__kv_prefix_end(from))) {
			f.base = strlen(from);
			f.slots = w == 1;
			r = walk(s, from, end, true, foreign_kv, &f);
		}
		free(from);
		free(end);
	}
	if (r < 0)
		snprintf(msg, sizeof(msg),
			 "could not read the queues and slots under %.100s: %s",
			 es(s)->cfg.prefix, lokt_strerror(r));
	else if (f.n)
		snprintf(msg, sizeof(msg),
			 "%zu key(s) under %.60s/queue/ or /slot/ that lokt did not write (%.100s%s): a waiter's key is queue/NAME/ and its own lease in hex, a holder's slot/NAME/LOCK_ID on a lease; one in a queue stands there for ever (lokt lock NAME fails with \"foreign\") — find who put them there and remove them (etcdctl del KEY)",
			 f.n, es(s)->cfg.prefix, f.first,
			 f.n > 1 ? ", ..." : "");
	else
		snprintf(msg, sizeof(msg),
			 "no foreign key under %.100s/queue/ or /slot/",
			 es(s)->cfg.prefix);
	check(ck, max, n, "foreign_keys",
	      r < 0 ? LOKT_CHECK_WARN :
	      f.n	  ? LOKT_CHECK_FAIL :
			    LOKT_CHECK_OK,
	      msg);
}

static int e_doctor(struct lokt_store *s, struct lokt_check *ck, size_t max,
		    size_t *ret_n)
{
	struct estore *e = es(s);
	char version[32], ep[128], msg[512], down[256] = "", why[320];
	size_t answered = 0, with_leader = 0, n = 0;
	int64_t leader = 0, first_leader = 0, rev = 0;
	int refused = 0; /* a member answered, refusing the user */
	bool disagree = false;
	struct lokt_kv *kv = NULL;
	size_t nk = 0;
	char *under;
	int r;

	for (size_t i = 0; i < e->cfg.n_endpoints; i++) {
		why[0] = 0;
		r = member_status(e, e->cfg.endpoints[i], version,
				  sizeof(version), &leader, &rev, why,
				  sizeof(why));
		if (r < 0) {
			size_t len = strlen(down);
			const char *w = strchr(why, ' ');

			if (r == -LOKT_E_LOGIN || r == -LOKT_E_DENIED) {
				refused = r;
				w = r == -LOKT_E_LOGIN ? "refused the login" :
							 "denied the user";
			} else {
				/* why names the endpoint already: its
				 * words only. */
				w = w && *why ? w + 1 : strerror(-r);
			}
			snprintf(down + len, sizeof(down) - len, "%s%s (%.120s)",
				 len ? ", " : "", e->cfg.endpoints[i], w);
			continue;
		}
		answered++;
		if (leader) {
			with_leader++;
			if (first_leader && leader != first_leader)
				disagree = true;
			if (!first_leader)
				first_leader = leader;
		}
	}
	/* A linearizable read through the store's own connection: what
	 * every transition needs. Of a key under the prefix ("PREFIX/"),
	 * which a role granted on the prefix alone may read (etcdctl role
	 * grant-permission --prefix ROLE readwrite PREFIX/). */
	if (asprintf(&under, "%s/", e->cfg.prefix) < 0)
		return -ENOMEM;
	r = lokt__kv_range(e->gw, under, NULL, 1, &kv, &nk, &rev, NULL);
	free(under);
	lokt__kvs_free(kv, nk);
	if (r == 0) {
		snprintf(msg, sizeof(msg),
			 "etcd at %s answered a linearizable read (revision %lld, prefix %s)",
			 lokt__gw_endpoint(e->gw, ep, sizeof(ep)), (long long)rev,
			 e->cfg.prefix);
		check(ck, max, &n, "etcd_endpoint", LOKT_CHECK_OK, msg);
	} else if (r == -LOKT_E_LOGIN || r == -LOKT_E_DENIED) {
		snprintf(msg, sizeof(msg),
			 "etcd at %s answered, but refused the store's read of %s/: %s",
			 lokt__gw_endpoint(e->gw, ep, sizeof(ep)),
			 e->cfg.prefix, lokt_strerror(r));
		check(ck, max, &n, "etcd_endpoint", LOKT_CHECK_FAIL, msg);
	} else {
		snprintf(msg, sizeof(msg),
			 "no etcd endpoint answered a linearizable read (%.160s): locks can be neither taken nor released; check that the members run and have a leader (etcdctl endpoint status), and the TLS and user settings (LOKT_ETCD_*)",
			 *lokt__gw_last_error(e->gw, why, sizeof(why)) ?
				 why :
				 strerror(-unavailable(r) == LOKT_E_UNAVAILABLE ?
						  EHOSTUNREACH :
						  -r));
		check(ck, max, &n, "etcd_endpoint", LOKT_CHECK_FAIL, msg);
	}
	if (!answered && refused)
		snprintf(msg, sizeof(msg), "%s; the members: %s",
			 lokt_strerror(refused), down);
	else if (!answered)
		snprintf(msg, sizeof(msg), "no member answered: %s", down);
	else if (disagree)
		snprintf(msg, sizeof(msg),
			 "members disagree about the leader (an election under way?); %zu of %zu answered",
			 answered, e->cfg.n_endpoints);
	else if (answered < e->cfg.n_endpoints)
		snprintf(msg, sizeof(msg),
			 "%zu of the root's %zu endpoints answer (leader %llx); not answering: %s — the cluster works while a majority of all its members does",
			 answered, e->cfg.n_endpoints,
			 (unsigned long long)first_leader, down);
	else
		snprintf(msg, sizeof(msg),
			 "all %zu endpoints of the root answer, etcd %s, one leader (%llx)",
			 answered, version, (unsigned long long)first_leader);
	check(ck, max, &n, "etcd_cluster",
	      !answered || !with_leader ? LOKT_CHECK_FAIL :
	      disagree || answered < e->cfg.n_endpoints ? LOKT_CHECK_WARN :
							  LOKT_CHECK_OK,
	      msg);
	foreign_check(s, ck, max, &n);
	/* lokt lock starts one to keep each lock's lease (keeper_start):
	 * without it every lokt lock fails (-LOKT_E_NO_KEEPER); this says
	 * where it was looked for and why it cannot run. */
	if (access(keeper_path(), X_OK) == 0) {
		snprintf(msg, sizeof(msg),
			 "%.300s keeps the lease of each lock taken with lokt lock",
			 keeper_path());
		check(ck, max, &n, "etcd_keeper", LOKT_CHECK_OK, msg);
	} else {
		snprintf(msg, sizeof(msg),
			 "%.300s: %s — without it lokt lock (but for --detach) cannot take a lock on etcd, guard and loktfs can; reinstall liblokt0, or point LOKT_KEEPER at it",
			 keeper_path(), strerror(errno));
		check(ck, max, &n, "etcd_keeper", LOKT_CHECK_FAIL, msg);
	}
	*ret_n = n;
	return 0;
}

static const struct lokt_backend etcd_backend = {
	.name = "etcd",
	.begin = e_begin,
	.read = e_read,
	.queue = e_queue,
	.create = e_create,
	.replace = e_replace,
	.remove = e_remove,
	.fence = e_fence,
	.offer = e_offer,
	.offer_end = e_offer_end,
	.put = e_put,
	.audit = e_audit,
	.end = e_end,
	.get = e_get,
	.list = e_list,
	.names = e_names,
	.waiters = e_waiters,
	.wait_join = e_wait_join,
	.wait_plan = e_wait_plan,
	.wait_behind = e_wait_behind,
	.wait_sleep = e_wait_sleep,
	.wait_leave = e_wait_leave,
	.wait_offer = e_wait_offer,
	.wait_handed = e_wait_handed,
	.watch = e_watch,
	.tend = e_tend,
	.deadline = e_deadline,
	.tidy = e_tidy,
	.audit_append = e_audit_append,
	.audit_lines = e_audit_lines,
	.audit_follow = e_audit_follow,
	.doctor = e_doctor,
	.close = e_close,
};

/* The module's one entry (liblokt_etcd.map): lokt_store_open's, for an
 * etcd:// root. why receives what was wrong with the root or the
 * settings, for the message. */
__attribute__((visibility("default"))) int
lokt_etcd_module_open(const char *root, struct lokt_store **ret, char *why,
		      size_t why_size)
{
	struct lokt_gw_opts o = { 0 };
	struct lokt_store *s;
	struct estore *e;
	const char *keep;
	int64_t ms;
	int r;

	s = calloc(1, sizeof(*s));
	e = calloc(1, sizeof(*e));
	if (!s || !e) {
		free(s);
		free(e);
		return -ENOMEM;
	}
	s->be = &etcd_backend;
	s->be_data = e;
	pthread_mutex_init(&e->relays_lock, NULL);
	pthread_mutex_init(&e->tend_lock, NULL);
	e->pid = getpid();
	s->root_fd = s->locks_fd = s->freezes_fd = -1;
	e->audit_keep_sec = AUDIT_KEEP_SEC_DEFAULT;
	s->root = strdup(root);
	r = s->root ? lokt__etcd_parse_url(root, &e->cfg, why, why_size) :
		      -ENOMEM;
	if (r == 0)
		r = lokt__etcd_load_settings(&e->cfg, why, why_size);
	if (r == -EINVAL)
		r = -LOKT_E_BAD_ROOT;
	keep = getenv("LOKT_ETCD_AUDIT_KEEP");
	if (r == 0 && keep && *keep) {
		r = lokt_duration_parse(keep, &ms);
		if (r < 0 || ms < 1000) {
			snprintf(why, why_size,
				 "LOKT_ETCD_AUDIT_KEEP=%s is not a duration of a second or more",
				 keep);
			r = -EINVAL;
		} else {
			e->audit_keep_sec = ms / 1000;
		}
	}
	if (r == 0) {
		o.endpoints = (const char *const *)e->cfg.endpoints;
		o.n_endpoints = e->cfg.n_endpoints;
		o.cacert = e->cfg.cacert;
		o.cert = e->cfg.cert;
		o.key = e->cfg.key;
		o.user = e->cfg.user;
		o.password = e->cfg.password;
		o.password_file = e->cfg.password_file;
		o.timeout_ms = e->cfg.timeout_ms;
		r = lokt__gw_open(&o, &e->gw);
	}
	if (r < 0) {
		e_close(s);
		return r;
	}
	lokt__hostname(s->host, sizeof(s->host));
	s->confirm_ms = e->cfg.lease_sec * 1000;
	*ret = s;
	return 0;
}

/* ---- the keeper (lokt-keeper) ------------------------------------------- */

/* Is pid alive and started at start (0: not checked)? A pidfd of it, or
 * -1 when it is gone. */
static int track(pid_t pid, uint64_t start)
{
	uint64_t now;
	long fd;

	if (pid <= 0 || lokt__pid_start(pid, &now) < 0 || (start && now != start))
		return -1;
	fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -1 : (int)fd;
}

/* The lock's record now: 1 ours (lock_id), 0 gone or another's, -errno
 * when the store did not answer. */
static int still_ours(struct lokt_store *s, const char *name,
		      const char *lock_id, struct lokt_record *ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r = e_get(s, LOKT_LOCK, name, &buf, &len, NULL);

	struct gate *g;
	bool parsed;

	if (r == -LOKT_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	parsed = lokt_record_parse(buf, len, ret) == 0;
	r = parsed && !strcmp(ret->lock_id, lock_id);
	/* One holder of a gate: that holder's record. */
	if (!r && parsed && lokt__is_gate(ret) && (g = malloc(sizeof(*g)))) {
		if (lokt__gate_parse(buf, len, g) == 0)
			for (size_t i = 0; i < g->n && !r; i++)
				if (!strcmp(g->h[i].lock_id, lock_id)) {
					*ret = g->h[i];
					r = 1;
				}
		free(g);
	}
	free(buf);
	return r;
}

__attribute__((visibility("default"))) int
lokt_etcd_keeper_main(int argc, char **argv)
{
	struct lokt_store *s = NULL;
	struct lokt_gw_watch *watch = NULL;
	struct lokt_record rec;
	struct lokt_who who;
	char why[256], *key;
	const char *name, *lock_id;
	int64_t lease, now, seen_by, ka_at, lease_end, ttl, lease_ms;
	pid_t holder, tracked;
	uint64_t start;
	bool seen = false, told = false;
	int pidfd = -1, r;

	if (argc != 7)
		return 64;
	name = argv[2];
	lock_id = argv[3];
	lease = strtoll(argv[4], NULL, 10);
	holder = (pid_t)strtol(argv[5], NULL, 10);
	start = strtoull(argv[6], NULL, 10);
	if (lokt_name_check(name) < 0 || lease <= 0 ||
	    lokt_etcd_module_open(argv[1], &s, why, sizeof(why)) < 0)
		return 1;
	lease_ms = es(s)->cfg.lease_sec * 1000;
	key = key_of(s, "locks", name);
	if (!key || lokt_who_self(getpid(), &who) < 0)
		goto out;
	r = lokt__gw_watch_open(es(s)->gw, key, strlen(key), NULL, 0, 0,
				&watch);
	if (r < 0)
		goto out;
	tracked = holder;
	pidfd = track(holder, start);
	fcntl(0, F_SETFL, O_NONBLOCK);
	now = mono_ms();
	/* The creation is being sent as we start: wait for it as long as
	 * a request may take, then give up (it was refused). */
	seen_by = now + 2 * (es(s)->cfg.timeout_ms ? es(s)->cfg.timeout_ms :
						     8000);
	ka_at = now;
	lease_end = now + lease_ms; /* granted just before we started */
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = lokt__gw_watch_fd(watch), .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = told ? -1 : 0, .events = POLLIN },
		};
		bool died = false;
		char c;

		/* Whoever started us says whether the lock was created
		 * ("1"), or closes our stdin when it was not. */
		if (!told && (r = (int)read(0, &c, 1)) >= 0) {
			told = true;
			if (r == 1)
				seen = true;
			else if (!seen)
				break; /* never created */
		}
		now = mono_ms();
		/* Every request bounded by the lease as last renewed: a
		 * member that does not answer must not hold us past it. */
		lokt__gw_set_deadline(es(s)->gw, lease_end);
		if (now >= ka_at) {
			r = lokt__lease_keepalive(es(s)->gw, lease, &ttl);
			if (r == -ENOENT) {
				if (seen)
					lokt_audit_lost(s, name, lock_id, &who,
							"lease-expired");
				break;
			}
			/* The lease runs ttl from when the member renewed
			 * it, after we asked: at least until now + ttl. */
			if (r == 0 && ttl > 0)
				lease_end = now + ttl * 1000;
			ka_at = now + lease_ms / 3;
		}
		if (mono_ms() >= lease_end) {
			/* Not renewed before our count ran out. A leader
			 * elected meanwhile gives every lease its whole TTL
			 * again, so one last keepalive decides (a short
			 * one): answered, go on; else the lease is gone or
			 * out of reach, and the loss is recorded if the
			 * cluster answers soon (else the next transition on
			 * the name records the expiry: note_expired). */
			now = mono_ms();
			lokt__gw_set_deadline(es(s)->gw, now + 2000);
			if (lokt__lease_keepalive(es(s)->gw, lease, &ttl) == 0 &&
			    ttl > 0) {
				lease_end = now + ttl * 1000;
				ka_at = now + lease_ms / 3;
				continue;
			}
			lokt__gw_set_deadline(es(s)->gw, mono_ms() + 2000);
			if (seen)
				lokt_audit_lost(s, name, lock_id, &who,
						"unrenewed");
			break;
		}
		r = still_ours(s, name, lock_id, &rec);
		if (r == 1) {
			seen = true;
			/* guard's watchdog named itself the keeper: while it
			 * lives, the lock does (lokt_keep). */
			if (rec.keeper_pid > 0 && rec.keeper_pid != tracked) {
				int fd = track((pid_t)rec.keeper_pid,
					       rec.keeper_start);

				if (fd >= 0) {
					if (pidfd >= 0)
						close(pidfd);
					pidfd = fd;
					tracked = (pid_t)rec.keeper_pid;
				}
			}
		} else if (r == 0 && (seen || now >= seen_by)) {
			break; /* released, taken over, or never made */
		}
		if (seen && pidfd < 0)
			died = true;
		if (!died) {
			pfd[1].fd = pidfd;
			r = poll(pfd, 3, (int)(ka_at - mono_ms() > 0 ?
						       ka_at - mono_ms() :
						       0));
			if (r > 0 && pfd[0].revents)
				lokt__gw_watch_consume(watch);
			died = r > 0 && pidfd >= 0 && pfd[1].revents;
		}
		if (died) {
			close(pidfd);
			pidfd = -1;
			/* The holder (or its keeper) is gone: unless the
			 * record names a live keeper now, release it. A
			 * holder that released it before exiting left
			 * nothing to do (and no loss to record). */
			r = still_ours(s, name, lock_id, &rec);
			if (r == 1 && rec.keeper_pid > 0 &&
			    rec.keeper_pid != tracked &&
			    (pidfd = track((pid_t)rec.keeper_pid,
					   rec.keeper_start)) >= 0) {
				tracked = (pid_t)rec.keeper_pid;
				continue;
			}
			if (r == 1)
				lokt_release(s, name, &who, lock_id,
					     LOKT_RELEASE_SEEN, NULL);
			break;
		}
	}
	lokt__lease_revoke(es(s)->gw, lease);
out:
	if (pidfd >= 0)
		close(pidfd);
	lokt__gw_watch_close(watch);
	free(key);
	lokt_store_close(s);
	return 0;
}
