/* SPDX-License-Identifier: MIT */
/*
 * Private to liblokt: what the files of core/ share and nobody else sees.
 * Not installed. Names are lokt__* (two underscores) and are not exported
 * from the shared library (see core/liblokt.map).
 *
 * Who owns what:
 *   errors.c    outcome names, exit-code and errno mapping
 *   name.c      lock name validation
 *   duration.c  durations and RFC 3339 times
 *   record.c    lock/freeze file JSON <-> struct lokt_record
 *   identity.c  owner, host, /proc: start times, liveness, ancestry,
 *               holder choice, staleness judgement
 *   root.c      root discovery, network filesystem detection
 *   audit.c     audit events; the directory store's log: appending,
 *               rotating, reading
 *   follow.c    following it (lokt_audit_follow)
 *   doctor.c    health checks of a directory store
 *   protocol.c  what each transition does (the DESIGN comment lives there)
 *   freeze.c    freezes; list.c reading and walking the store
 *   gate.c      the record of several holders (slots, shared);
 *   slots.c     the transitions of its holders (DESIGN comment there)
 *   wait.c      waiting in FIFO order: the loop
 *   run.c       lokt_with_lock
 *   backend.h   the seam between those and where records live
 * The directory store, behind the seam:
 *   dir.c       its table of calls (lokt__dir_backend), listing, tidying
 *   store.c     how bytes reach disk: opening the store, per-name sidecar
 *               locks, fence counters, atomic publish
 *   queue.c     the waiter queue files (tickets, doorbells)
 *   sidecar.c   removing idle sidecars, the store-wide fence floor
 *   dirwait.c   what a waiter sleeps on (inotify at the head of the
 *               queue, a doorbell and a pidfd of the waiter ahead)
 *   watch.c     inotify on a name's record (lokt_watch, and dirwait.c)
 */
#ifndef LOKT_INTERNAL_H
#define LOKT_INTERNAL_H

#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lokt.h"

#define LOKT_API __attribute__((visibility("default")))

/* An open store. Threads share it: the root path and the settings are
 * fixed after lokt_store_open; the directory fds follow the root path
 * when the store is moved (lokt__store_follow, store.c), so they are
 * atomic, and an fd once in use is never closed before the store is. */
struct lokt_store {
	const struct lokt_backend *be; /* the seam: backend.h */
	void *be_data; /* the backend's own (the directory store's are the
			  fields below) */
	int64_t confirm_ms; /* lokt_store_confirm_ms; set by the backend */
	char *root; /* absolute */
	/* The directory store's (dir.c, store.c): */
	_Atomic int root_fd; /* O_PATH|O_DIRECTORY of root */
	_Atomic int locks_fd; /* O_DIRECTORY of root/locks */
	_Atomic int freezes_fd; /* O_DIRECTORY of root/freezes */
	_Atomic dev_t root_dev; /* what root_fd is, to notice a move */
	_Atomic ino_t root_ino;
	uid_t root_uid; /* the root's owner when opened: a move is followed
			   only to a root of that owner's, root's or ours */
	pthread_mutex_t follow_lock; /* one reopen at a time; guards: */
	int *retired; /* fds of directories the root path no longer names */
	size_t n_retired;
	char *audit_path; /* root/audit.log */
	char host[LOKT_STR_MAX]; /* this host's name, read once */
	int64_t lock_wait_ms; /* lokt_store_set_lock_wait; 0: unbounded */
	uint64_t audit_max; /* lokt_store_set_audit_max; 0: the default,
			       UINT64_MAX: never rotate */
	mode_t share; /* group/other write bits of the root (0, 020, 002,
			 022): a store shared by several users. What liblokt
			 creates that others must write gets them too. */
};

/* ---- record.c --------------------------------------------------------- */

/* json_tokener_parse, as no fork of another thread may interrupt
 * (record.c, FORK). */
struct json_object *lokt__json_parse(const char *text);

/* A JSON integer for an unsigned 64-bit value (json-c keeps those above
 * INT64_MAX as uint64). */
struct json_object *lokt__json_u64(uint64_t v);

/* One record as a JSON object's members, and back (a holder inside the
 * record of several holders, slots.c). from: -LOKT_E_CORRUPT when
 * anything is wrong; to: NULL when out of memory. */
int lokt__record_from_json(struct json_object *o, struct lokt_record *ret);
/* lokt_record_parse, and on success the document it parsed in *ret_o
 * (the caller puts it), for a caller that reads more of it (a gate's
 * holders): one parse, not two. */
int lokt__record_parse_obj(const char *buf, size_t len,
			   struct lokt_record *ret, struct json_object **ret_o);
struct json_object *lokt__record_to_json(const struct lokt_record *rec);

/* ---- duration.c -------------------------------------------------------- */

/* CLOCK_REALTIME now. */
void lokt__now(struct timespec *ret);

/* The instants RFC 3339 can write, in seconds since the epoch:
 * 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
#define RFC3339_FIRST_SEC (-62167219200LL)
#define RFC3339_LAST_SEC 253402300799LL

/* a - b in milliseconds. */
int64_t lokt__ms_between(const struct timespec *a, const struct timespec *b);

/* ---- identity.c -------------------------------------------------------- */

/* This host's name (gethostname), NUL-terminated. */
void lokt__hostname(char *buf, size_t size);

/* The inode of this process's pid namespace (/proc/self/ns/pid), in
 * which every pid it records or looks up is numbered; 0 without /proc. */
uint64_t lokt__pid_ns(void);

/* Field 22 of /proc/<pid>/stat; -ESRCH when the process is gone. */
int lokt__pid_start(pid_t pid, uint64_t *ret);

/* Parent pid from /proc/<pid>/stat; -ESRCH when gone. */
int lokt__pid_parent(pid_t pid, pid_t *ret);

/* True when pid is ancestor itself or a descendant of it, and ancestor's
 * start time is ancestor_start (0: not checked). */
bool lokt__is_descendant(pid_t pid, pid_t ancestor, uint64_t ancestor_start);

/* Judge a parsed record at `now` on host `host`: expired TTL first, then,
 * when rec->host == host, pid gone (DEAD) or start time differs (REUSED).
 * A dead or reused holder whose keeper runs is LIVE, and *ret_kept true.
 * Freezes are judged by TTL only (check_pid false). Sets *ret_local and
 * *ret_kept (either may be NULL). */
enum lokt_stale lokt__judge(const struct lokt_record *rec, const char *host,
			    const struct timespec *now, bool check_pid,
			    bool *ret_local, bool *ret_kept);

/* Around one thread's judging of many records (a listing): a holder met
 * more than once is then checked through a pidfd, one poll(2), instead
 * of reading /proc each time; as exact as without (identity.c). Every
 * begin has its end, on the same thread. */
void lokt__judge_batch_begin(void);
void lokt__judge_batch_end(void);

/* Would a new lock of who, with ttl_sec, never end? who's pid is 1: a
 * detached holder, judged by its TTL alone (pid 1 never exits, and every
 * process descends from it: any of its owner's would "hold" the lock),
 * and there is no TTL. Unless we are that pid 1 ourselves (guard as a
 * container's first process, the holder while it runs), not a daemon
 * acting for a caller (who->via). An orphan's lokt lock, a command of
 * init's, docker run IMAGE sh -c 'lokt lock x': each needs --ttl (or
 * lokt guard). */
bool lokt__init_holds(const struct lokt_who *who, int64_t ttl_sec);

/* Is kind one of enum lokt_kind's? */
static inline bool lokt__kind_ok(enum lokt_kind kind)
{
	return kind == LOKT_LOCK || kind == LOKT_FREEZE;
}

/* A record can be written of who: its owner, host and agent_id are
 * NUL-terminated UTF-8 (what a reader accepts: anything else would make
 * the record read as corrupt, and be broken), its pid positive. 0 or
 * -EINVAL. */
int lokt__who_check(const struct lokt_who *who);

/* Does `who` hold `rec`? Same non-empty agent_id and same uid (rec->uid
 * unknown: any); or same host, same owner, and who->pid is rec->pid or its
 * descendant (rec->pid_start checked when known). */
bool lokt__holds(const struct lokt_record *rec, const struct lokt_who *who);
/* May who release rec, renew it, extend or lift the freeze? The same
 * owner; through a door (the mount, loktd without tokens) also the
 * record's uid, unless who is root. */
bool lokt__owns(const struct lokt_record *rec, const struct lokt_who *who);
/* May who force (break or lift) rec, another owner's, live: anyone
 * directly (the store's permissions decide); through a door that tells
 * users apart (the mount, loktd without tokens), root and rec's own user
 * only. */
bool lokt__may_force(const struct lokt_record *rec, const struct lokt_who *who);

/* The temporary name `<stem>.tmp` in dfd, into tmp (size bytes), for a
 * file written only under a flock that keeps every other writer of that
 * name away (a name's sidecar, a queue's, the fence floor's): what is
 * there is a leftover of a writer killed half-way and is removed first.
 * Something there we may not remove (a directory, another user's file in
 * a sticky directory: planted, it would stop every such write) gets a
 * name of our own beside it, `<stem>.<16 hex>.tmp`, which a writer killed
 * half-way leaves for --prune-expired after an hour (dir.c); lokt doctor
 * names what was planted. The caller creates it with O_EXCL. 0 or
 * -errno. */
int lokt__temp_name(int dfd, const char *stem, char *tmp, size_t size);

/* 32 lowercase hex characters of fresh randomness, NUL-terminated. */
int lokt__new_id(char out[LOKT_ID_LEN + 1]);

/* ---- audit.c ----------------------------------------------------------- */

/* Record one event, outside a transition (the directory store appends a
 * line to audit.log). `rec` supplies lock_id and ttl_sec (NULL: none); `who` supplies owner,
 * host, pid, agent_id and, when who->via is set, extra.via. `extra` is a
 * JSON object or NULL and is consumed (put). Failures are ignored: the
 * audit log never blocks a transition. */
void lokt__audit(struct lokt_store *s, const char *event, const char *name,
		 const struct lokt_record *rec, const struct lokt_who *who,
		 struct json_object *extra);

/* The same, inside transition t (of t's name): the backend keeps it with
 * the transition's writes (backend.h). */
struct lokt_txn;
void lokt__taudit(struct lokt_txn *t, const char *event,
		  const struct lokt_record *rec, const struct lokt_who *who,
		  struct json_object *extra);

/* The directory store's audit log: append one line (with its newline)
 * with one write(2), rotating at the cap. Best effort. */
void lokt__audit_file_append(struct lokt_store *s, const char *line,
			     size_t len);

/* The audit log's current and previous generation, in the root. */
#define AUDIT_LOG "audit.log"
#define AUDIT_OLD "audit.log.1"

/* Open file (AUDIT_LOG, AUDIT_OLD) of the root: no symlink followed, no
 * FIFO waited on, a regular file of one link only (else -EPERM). */
int lokt__audit_open_log(const struct lokt_store *s, const char *file,
			 int flags, struct stat *ret_st);

/* The directory store's audit_lines (backend.h): audit.log.1, then
 * audit.log. */
int lokt__dir_audit_lines(struct lokt_store *s,
			  int (*fn)(const char *line, size_t len, void *ud),
			  void *ud);

/* Both generations as one sequence, for reading: *ret_old and *ret_cur
 * (-1 where absent); -ENOENT when neither exists. */
int lokt__audit_open_both(struct lokt_store *s, int *ret_old, int *ret_cur);

/* Parse one line (without its newline); false when it is no event. */
bool lokt__audit_parse(const char *line, struct lokt_event *ev);

/* Does ev pass filter f (since, name; NULL: everything)? */
bool lokt__audit_matches(const struct lokt_event *ev,
			 const struct lokt_audit_filter *f);

/* Same device and inode. */
bool lokt__same_file(const struct stat *a, const struct stat *b);

/* ---- watch.c ----------------------------------------------------------- */

/* Watch the kind's directory on the inotify instance ino; the watch
 * descriptor or -errno. */
int lokt__watch_add(int ino, const struct lokt_store *s, enum lokt_kind kind);

/* Read every pending event of ino (non-blocking): 1 if one names file
 * `json`, comes from watch any_wd (-1: none), or says events were lost or
 * a watched directory went away; else 0; -errno. */
int lokt__watch_drain(int ino, const char *json, int any_wd);

/* ---- root.c ------------------------------------------------------------ */

/* Create root (mode 0755, parents too) as needed. */
int lokt__ensure_root(const char *root);

/* Create root, root/locks and root/freezes (mode 0755) as needed. For
 * tests and tools: lokt_store_open makes locks/ and freezes/ itself,
 * relative to the root's fd, and refuses what is not a directory. */
int lokt__ensure_dirs(const char *root);

/* ---- caches of parsed files (attr.c, users.c): for tests -------------- */

/* NULL but in tests: called between reading a file and judging whether
 * it was old enough for its parse to be kept ("attr-read": a record,
 * "users-read": nsswitch.conf and /etc/passwd), where a test stalls as a
 * preempted thread would. */
extern void (*lokt__test_pause)(const char *where);
/* The cancel flag of the waiting acquisition this thread is in
 * (lokt_acquire_opts.cancel), for store.c's flock waits on a sidecar;
 * NULL outside one. Set by wait.c. */
extern __thread volatile sig_atomic_t *lokt__wait_cancel;

/* Is the parse of the record of stat st kept (attr.c)? */
bool lokt__attr_kept(const struct stat *st);

/* The most entries attr.c's table grows to (a power of two, at least
 * 4096); tests lower it to see the table emptied when full. */
extern size_t lokt__attr_max;

/* Is the parse of /etc/passwd kept (users.c)? */
bool lokt__users_kept(void);

#endif /* LOKT_INTERNAL_H */
