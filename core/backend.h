/* SPDX-License-Identifier: MIT */
/*
 * Private to liblokt: the store seam. What a transition does (protocol.c,
 * freeze.c, list.c, wait.c, run.c) is decided once; where records live and
 * how a transition is made atomic is a backend's, behind this one table of
 * calls, as Redis keeps epoll, kqueue and select behind its aeApi* calls.
 * Outside a backend nothing builds a path, reads a directory, sets an
 * inotify watch or takes a flock.
 *
 * DESIGN: a transition is begin -> read/queue -> decide -> create/replace/
 * remove/audit -> end. A backend makes it atomic its own way:
 *
 *   the directory store (dir.c over store.c, queue.c, sidecar.c, watch.c)
 *	begin takes the name's sidecar flock, each write happens at once
 *	(one link, rename or unlink), end drops the flock. end never asks
 *	for a retry.
 *   a networked store (etcd)
 *	begin reads nothing; reads are remembered with their revisions,
 *	writes and audit events are buffered, and end sends them as one
 *	transaction that compares every read. When a compare fails, end
 *	returns -EAGAIN and the protocol runs the whole transition again
 *	from begin, deciding anew on what it then reads.
 *
 * So the protocol must decide only from what it read in this transition,
 * write nothing outside it, and fill its result afresh on every attempt
 * (lokt__transition does the looping). A refusal ends with commit false:
 * nothing it wrote is kept, but its audit events are (a "deny" is still
 * recorded).
 *
 * A transition is about one name and is begun on one kind (locks or
 * freezes: whose records it may write). It may read the other kind (an
 * acquisition reads the name's freeze); a networked backend compares
 * that read too, the directory store reads it unlocked (a freeze is
 * checked at the start of an acquisition, as in lokt 1.x).
 */
#ifndef LOKT_BACKEND_H
#define LOKT_BACKEND_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "internal.h"

/* What a backend knows of a stored record besides its bytes. */
struct lokt_meta {
	uid_t uid; /* who wrote it (its file's owner); (uid_t)-1 unknown */
	struct timespec mtime; /* when it last changed; {0, 0}: unknown (the
				  record's acquisition time stands in) */
	int64_t size; /* bytes */
	uint64_t fence; /* kept by the backend (etcd: the key's
			   create_revision); 0: the record's own */
	bool unproven; /* a lock: nothing proves its holder alive where
			  the store keeps such a proof (etcd: its key on no
			  lease, but a detached one's): a holder on another
			  host, which cannot be looked at, is gone */
};

struct gate;

/* One transition; a backend's own struct starts with this one. */
struct lokt_txn {
	struct lokt_store *s;
	enum lokt_kind kind; /* begun on */
	const char *name;
	bool tended; /* a lock it creates is tended by the caller
			(lokt_acquire_opts.tend): no keeper process */
	/* Not the backend's: the record of several holders that the last
	 * lokt__load_in handed out as gate_json, parsed when it was judged,
	 * for slots.c to change without parsing it again (protocol.c);
	 * freed by lokt__transition. */
	struct gate *gate;
	const char *gate_json;
};

/* What the queue of a name looks like to one asker. */
struct lokt_queue {
	size_t live; /* live waiters, the asker included */
	size_t ahead; /* live waiters before the asker (all, if not queued) */
	pid_t ahead_pid; /* the waiter just ahead (0: none, or on no host of
			    ours to watch) */
	uint64_t ahead_seq; /* its place, 0 if none */
};

/* A waiter's place in a name's queue, and whatever it sleeps on. */
struct lokt_waiter;

/* Why a waiter was refused, for it to choose what to sleep on. */
struct lokt_wait_hint {
	int r; /* -LOKT_E_HELD or -LOKT_E_FROZEN */
	const struct lokt_result *res;
	const struct lokt_queue *q;
};

struct lokt_backend {
	const char *name;
	/* Freeze and unfreeze run nested in a transition on the name's lock
	 * (freeze.c): this store's acquisitions read the freeze under the
	 * lock's exclusion only, so a freeze made between an acquirer's look
	 * and its publication let a lock in after lokt_freeze had returned,
	 * and a waiter let in by an unfreeze audited its acquire before the
	 * unfreeze. A store whose acquisitions compare the freeze where they
	 * write (etcd) needs not. */
	bool freeze_under_lock;

	/* ---- one transition ------------------------------------------- */
	/* Start a transition on (kind, name): *ret until end. */
	int (*begin)(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, struct lokt_txn **ret);
	/* The name's record of kind: malloc'd bytes (NUL-terminated) and
	 * meta, -LOKT_E_NOT_FOUND, -LOKT_E_FOREIGN (not a record of ours:
	 * never touched), -errno. */
	int (*read)(struct lokt_txn *t, enum lokt_kind kind, char **ret_buf,
		    size_t *ret_len, struct lokt_meta *ret_meta);
	/* The name's queue relative to place seq (0: not queued); waiters
	 * found dead are removed. Only on a transition begun on locks. */
	int (*queue)(struct lokt_txn *t, uint64_t seq, struct lokt_queue *ret);
	/* Store rec, of the transition's kind, as a new record: never over
	 * one (-EEXIST). Its fence is chosen here, above floor and above
	 * every fence the name had, and set in rec->fence before end
	 * returns 0 (at once for the directory store). */
	int (*create)(struct lokt_txn *t, struct lokt_record *rec,
		      uint64_t floor);
	/* Replace the record of the transition's kind with rec. */
	int (*replace)(struct lokt_txn *t, const struct lokt_record *rec);
	/* Remove the name's record of kind, the transition's own (an
	 * expired freeze met by an acquisition is removed in a transition on
	 * the freeze, nested). -LOKT_E_NOT_FOUND when absent. */
	int (*remove)(struct lokt_txn *t, enum lokt_kind kind);
	/* The name's next fence, above floor and above every fence the
	 * name had, issued now without a record (a holder added to the
	 * record of several holders, slots.c). NULL: this store keeps no
	 * such records (slots and shared locks are refused, -ENOTSUP). */
	int (*fence)(struct lokt_txn *t, uint64_t floor, uint64_t *ret);
	/* Store json as the transition's record, as it is: new (never over
	 * one: -EEXIST) when create, else over the one there. For the
	 * record of several holders, whose fences are in it (slots.c).
	 * NULL with fence. */
	int (*put)(struct lokt_txn *t, const char *json, bool create);
	/* Record one audit event (a JSON line, no newline). */
	void (*audit)(struct lokt_txn *t, const char *line, size_t len);
	/* End it: keep its writes (commit) or not. 0; -EAGAIN: what it read
	 * changed meanwhile, nothing was kept, run the transition again
	 * (a refusal too: it was decided on what the store no longer had);
	 * -errno. t is freed either way. */
	int (*end)(struct lokt_txn *t, bool commit);

	/* ---- reading outside a transition ------------------------------ */
	int (*get)(struct lokt_store *s, enum lokt_kind kind, const char *name,
		   char **ret_buf, size_t *ret_len, struct lokt_meta *ret_meta);
	/* Call fn for every record of kind (any order); fn's negative
	 * result stops the walk and is returned. A name removed while
	 * walking may be missed, never reported twice. */
	int (*list)(struct lokt_store *s, enum lokt_kind kind,
		    int (*fn)(const char *name, const char *buf, size_t len,
			      const struct lokt_meta *meta, void *ud),
		    void *ud);
	/* Call fn with the name of every record of kind (any order) without
	 * reading the records: the names list would report, for a directory
	 * listing (lokt_list_names). fn's negative result stops the walk.
	 * May be NULL: list stands in. */
	int (*names)(struct lokt_store *s, enum lokt_kind kind,
		     int (*fn)(const char *name, void *ud), void *ud);
	/* What stat(2) of the name's record shows through the mount, as
	 * get and lokt__judge_bytes would find it, without the judgement
	 * (lokt_get_attr). May be NULL: get and lokt__attr_of stand in. */
	int (*attr)(struct lokt_store *s, enum lokt_kind kind,
		    const char *name, struct lokt_attr *ret);
	int (*waiters)(struct lokt_store *s, const char *name,
		       struct lokt_queue *ret);

	/* ---- waiting in FIFO order -------------------------------------- */
	/* Take a place after every waiter of name; *ret_seq is its key. */
	int (*wait_join)(struct lokt_store *s, const char *name,
			 struct lokt_waiter **ret, uint64_t *ret_seq);
	/* After a refusal: arm what the next sleep wakes on. The monotonic
	 * ms by which to try again even without an event (INT64_MAX: only
	 * on an event), at or after now. */
	int64_t (*wait_plan)(struct lokt_waiter *w,
			     const struct lokt_wait_hint *h, int64_t now);
	/* Without a transition: is the waiter ahead (q->ahead_seq) still
	 * there? With count, q is refreshed (position, waiters). */
	bool (*wait_behind)(struct lokt_waiter *w, bool count,
			    struct lokt_queue *q);
	/* Sleep up to timeout ms; true when something changed that calls
	 * for a new attempt now. */
	bool (*wait_sleep)(struct lokt_waiter *w, int64_t timeout_ms);
	/* Leave the queue (the next waiter learns at once); frees w. */
	void (*wait_leave)(struct lokt_waiter *w);

	/* ---- hand-over (docs/protocol.md, "Hand-over on etcd"); NULL: none */
	/* Offer rec as the record a releaser may publish for w when w is
	 * the first live waiter; NULL takes the offer back (called in a
	 * transition on the name, so that no releaser hands it over after). */
	int (*wait_offer)(struct lokt_waiter *w, const struct lokt_record *rec);
	/* w found the record it offered published. sure: found in a
	 * transition, so the releaser has ended; true then. Else true when
	 * the releaser is known to have ended (it signals w last), false
	 * when w must make sure in a transition; true with the record as
	 * published in *ret when the backend has it (ret->lock_id empty:
	 * not given, the caller reads it). Once true, w's place was taken
	 * down by the releaser, not by wait_leave. */
	bool (*wait_handed)(struct lokt_waiter *w, bool sure,
			    struct lokt_record *ret);
	/* In a release transition on the name's lock: the first live
	 * waiter's offer, 0 with it in *ret (its uid the waiter's, as the
	 * store knows it); -LOKT_E_NOT_FOUND when nobody waits or the first
	 * waiter offers nothing usable. offer_end follows either way. */
	int (*offer)(struct lokt_txn *t, struct lokt_record *ret);
	/* handed: the offer was published, take the waiter's place down and
	 * signal it (last). */
	void (*offer_end)(struct lokt_txn *t, bool handed);

	/* ---- the rest ----------------------------------------------------- */
	/* A descriptor readable when the name's record of kind changes:
	 * an inotify instance (events filtered by name), or a socket whose
	 * every byte means "it changed" (a networked store's relay). */
	int (*watch)(struct lokt_store *s, enum lokt_kind kind,
		     const char *name, int *ret_fd);
	/* Keep the lease of the lock with lock_id alive (lokt_tend): 0 with
	 * *ret_next_ms, when to call again; -LOKT_E_LOST when the lease is
	 * gone. NULL: the store has no leases (the directory store). */
	int (*tend)(struct lokt_store *s, const char *name,
		    const char *lock_id, int64_t *ret_next_ms);
	/* lokt_store_set_deadline. NULL: nothing waits on the network. */
	void (*deadline)(struct lokt_store *s, int64_t mono_ms);
	/* Remove what crashed writers left and what idle names keep. */
	int (*tidy)(struct lokt_store *s);
	/* Record one audit event outside a transition. */
	void (*audit_append)(struct lokt_store *s, const char *line,
			     size_t len);
	/* Call fn for every audit line kept, oldest first (no newline, NUL
	 * terminated); fn's negative result stops and is returned. */
	int (*audit_lines)(struct lokt_store *s,
			   int (*fn)(const char *line, size_t len, void *ud),
			   void *ud);
	/* Follow the audit log: every line kept, oldest first, then
	 * fn(NULL, 0) once, then each line appended, until fn returns
	 * non-zero (1 is returned) or *cancel is set (0). NULL: the
	 * directory store's own follow.c does it. */
	int (*audit_follow)(struct lokt_store *s,
			    int (*fn)(const char *line, size_t len, void *ud),
			    void *ud, volatile sig_atomic_t *cancel);
	/* Health checks of what only this backend knows (lokt_doctor adds
	 * those about records): at most max of them into ck, *ret_n made. */
	int (*doctor)(struct lokt_store *s, struct lokt_check *ck, size_t max,
		      size_t *ret_n);
	void (*close)(struct lokt_store *s);
};

/* The directory store (dir.c). */
extern const struct lokt_backend lokt__dir_backend;
/* Its attr call, with a parse cache (attr.c). */
int lokt__dir_attr(struct lokt_store *s, enum lokt_kind kind,
		   const char *name, struct lokt_attr *ret);

/* The etcd store is a module (liblokt-etcd.so, core/etcd/backend.c),
 * loaded by lokt_store_open for an etcd:// root; this is its entry. */
#define LOKT_ETCD_MODULE_ENTRY "lokt_etcd_module_open"
typedef int lokt_etcd_module_open_fn(const char *root, struct lokt_store **ret,
				     char *why, size_t why_size);
lokt_etcd_module_open_fn lokt_etcd_module_open;
/* The module's other entry: lokt-keeper's main (core/etcd/keeper.c). */
int lokt_etcd_keeper_main(int argc, char **argv);

/* The attributes of a record's bytes as lokt__judge_bytes gives them:
 * its uid, else the writer's (meta->uid), corrupt or not; its acquisition
 * time; mtime and size from meta (list.c). */
void lokt__attr_of(const char *buf, size_t len, const struct lokt_meta *meta,
		   struct lokt_attr *ret);

/* Run step(t, ud) as one transition on (kind, name), again from the
 * start while the backend says it conflicted. step returns >= 0 to
 * commit, < 0 to refuse (its audit events are kept). */
int lokt__transition(struct lokt_store *s, enum lokt_kind kind,
		     const char *name,
		     int (*step)(struct lokt_txn *t, void *ud), void *ud);

#endif /* LOKT_BACKEND_H */
