/* SPDX-License-Identifier: MIT */
/*
 * liblokt — named locks for operations that must never run twice at once.
 *
 * This is the only installed header. It owns the contract between the lock
 * protocol (core/) and its two front ends, the `lokt` CLI (cli/) and the
 * `loktfs` FUSE mount (fs/).
 *
 * Conventions (the same as FUSE's, so fs/ passes results straight through):
 *   - Functions return int: >= 0 on success, a negative value on failure.
 *     A failure is either -errno (a system error) or -LOKT_E_* (a lock
 *     outcome that is not a system error: held, frozen, not owner, ...).
 *   - lokt_exit_code() maps any result to the CLI exit code, lokt_errno()
 *     to the errno the mount returns, lokt_strerror() to a short phrase.
 *   - Output parameters are named ret_* and are left untouched on failure,
 *     except struct lokt_result, which is always filled as far as known
 *     (who holds the lock when we are refused, what we broke, ...).
 *   - The library never prints and never exits. It does append to the
 *     store's audit log, which is part of the protocol.
 *   - All functions are safe to call from several threads at once with
 *     distinct arguments; a struct lokt_store may be shared by threads.
 *     A process may fork while other threads use a directory store:
 *     fork waits until none holds the store's internal locks
 *     (pthread_atfork). With an etcd store, fork only from one thread.
 *   - A NULL where a pointer is required gives -EINVAL (false or NULL
 *     for the calls that return those), never a crash.
 *
 * Linux only: holders are identified through /proc, waits use inotify and
 * pidfd, transitions are serialized with flock(2). The header needs POSIX
 * types (pid_t, struct timespec): with a strict -std=c99 or c11, define
 * _POSIX_C_SOURCE=200809L (or _GNU_SOURCE); the compiler's default gnu
 * dialects need nothing. Build with `pkg-config --cflags --libs liblokt`.
 */
#ifndef LOKT_H
#define LOKT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The store format this library reads and writes (docs/protocol.md).
 * Checklist when a field changes: bump this, update docs/protocol.md,
 * record.c, and the compatibility samples in tests/unit. */
#define LOKT_PROTOCOL_VERSION 1

#define LOKT_NAME_MAX 200 /* bytes, without the ".json" suffix */
#define LOKT_ID_LEN 32 /* lock_id: lowercase hex characters */
#define LOKT_STR_MAX 256 /* owner, host, agent_id (bytes, with NUL) */
/* The longest TTL (and duration) accepted: 100 years. Longer is surely a
 * typo, and keeps every expiry inside what RFC 3339 can write (year 9999). */
#define LOKT_TTL_MAX_SEC (100LL * 365 * 86400)

/* ---- Outcomes ---------------------------------------------------------- */

/* Lock outcomes that are not system errors. Returned negated (-LOKT_E_HELD),
 * like -errno; the values lie above any errno. */
enum lokt_outcome {
	LOKT_E_HELD = 4096, /* held by another live holder (or waiters queued) */
	LOKT_E_FROZEN, /* a freeze blocks new acquisitions of the name */
	LOKT_E_NOT_FOUND, /* no such lock or freeze */
	LOKT_E_NOT_OWNER, /* held by another owner; release refused */
	LOKT_E_BAD_NAME, /* name not [A-Za-z0-9._-]+, starts with '.', has
			    "..", or longer than LOKT_NAME_MAX */
	LOKT_E_FUTURE_VERSION, /* file written by a newer protocol: hands off */
	LOKT_E_CORRUPT, /* malformed record */
	LOKT_E_TIMEOUT, /* waited --timeout and it is still held */
	LOKT_E_LOST, /* renew/release: our lock is gone or was taken */
	LOKT_E_NETFS, /* root on a network filesystem and
			 LOKT_REQUIRE_LOCAL_FS=1 */
	LOKT_E_CANCELED, /* wait interrupted through opts->cancel */
	LOKT_E_FOREIGN, /* a file liblokt did not make (symlink, FIFO,
			   directory...) sits where a record, sidecar, queue
			   or store directory belongs: never followed, never
			   read; `lokt doctor` names it, remove it */
	LOKT_E_NO_ETCD, /* an etcd:// root, and the etcd store's module
			   (liblokt-etcd.so) is not installed */
	LOKT_E_BAD_ROOT, /* an etcd:// root, or its settings (LOKT_ETCD_*,
			    $LOKT_ETCD_CONFIG), that do not parse */
	LOKT_E_UNAVAILABLE, /* the store did not answer: no etcd member
			       reachable, or none with a leader */
	LOKT_E_MODE, /* held in another mode: a semaphore of another
			size, shared holders against a semaphore, or
			exclusively against a semaphore (result->other
			says how it is held) */
	LOKT_E_NO_KEEPER, /* an etcd:// root, and lokt-keeper (which keeps
			     a lock's lease once lokt has exited) could not
			     be run: not installed, not executable */
	LOKT_E_LOGIN, /* an etcd:// root: etcd refused the login (a wrong
			 user or password); errno EACCES */
	LOKT_E_DENIED, /* an etcd:// root: etcd denied the user what the
			  store needs (its role lacks readwrite on the
			  root's prefix); errno EACCES */
};

/* Short phrase for a result: lokt_outcome names or strerror(-r). */
const char *lokt_strerror(int r);

/* CLI exit code: 0 ok (r >= 0); 2 held, frozen, timeout, held in another
 * mode; 3 not found;
 * 4 not owner; 64 bad name (usage); 1 anything else. */
int lokt_exit_code(int r);

/* errno for the mount (positive): EBUSY held/frozen/timeout/mode, ENOENT not
 * found, EPERM not owner, EINVAL bad name, EPROTO future version, EIO
 * corrupt or foreign file, no answer, no keeper, ESTALE lost, EREMOTE
 * netfs, EINTR canceled, EACCES etcd's login refused or access denied;
 * -r for -errno; EIO for anything else. */
int lokt_errno(int r);

/* ---- Values: names, durations, times ----------------------------------- */

/* 0 if name is a valid lock/freeze name, else -LOKT_E_BAD_NAME. */
int lokt_name_check(const char *name);

/* What is allowed, for error messages ("letters, digits, '.', '_', '-'..."). */
const char *lokt_name_rule(void);

/* Parse a duration: "90" (seconds), "1.5s", "500ms", "30m", "2h", "1d",
 * and sums such as "1h30m". Milliseconds in *ret_ms. Rejects negative,
 * empty, unknown units with -EINVAL, and a well-formed duration longer
 * than LOKT_TTL_MAX_SEC (100 years) with -ERANGE. */
int lokt_duration_parse(const char *s, int64_t *ret_ms);

/* Human form of a duration, e.g. "2m30s", "45s", "1h0m", "350ms".
 * Always NUL-terminates; returns the length that was written. */
int lokt_duration_format(int64_t ms, char *buf, size_t size);

/* RFC 3339 UTC with nanoseconds, e.g. 2026-11-23T09:43:00.123456789Z. */
int lokt_time_format(const struct timespec *t, char *buf, size_t size);

/* Parse RFC 3339 (any number of fractional digits, 'Z' or +hh:mm offset). */
int lokt_time_parse(const char *s, struct timespec *ret);

/* ---- Records: the content of one lock or freeze file ------------------- */

struct lokt_record {
	int version; /* 1 */
	char name[LOKT_NAME_MAX + 1];
	char lock_id[LOKT_ID_LEN + 1]; /* "" in files that lack it */
	char owner[LOKT_STR_MAX];
	char host[LOKT_STR_MAX];
	int64_t pid; /* the holder */
	uint64_t pid_start; /* "pid_start_ns": field 22 of /proc/<pid>/stat
			       (clock ticks); 0 when unknown */
	char agent_id[LOKT_STR_MAX]; /* "" when none */
	struct timespec acquired; /* "acquired_ts"; reset on renew */
	int64_t ttl_sec; /* 0: no TTL */
	struct timespec expires; /* "expires_at"; meaningful if ttl_sec > 0 */
	uint64_t fence; /* extension; 0 when absent (lokt 1.x file) */
	int64_t uid; /* extension; -1 when absent */
	/* Extension: a second local process that keeps the lock live while
	 * it runs, even after the holder died (lokt guard's watchdog, which
	 * stops the command, then releases). "keeper_pid", and its start
	 * time "keeper_start_ns" (clock ticks); 0 when none. */
	int64_t keeper_pid;
	uint64_t keeper_start;
	/* Extension "pid_ns": the inode of the pid namespace the writer
	 * numbered `pid` and `keeper_pid` in (/proc/self/ns/pid); 0 when
	 * unknown (lokt 1.x). Processes of another pid namespace, a
	 * container's, are looked at as another host's (docs/protocol.md,
	 * "Staleness"). */
	uint64_t pid_ns;
};

/* Parse the bytes of a lock/freeze file. 0, -LOKT_E_CORRUPT (malformed,
 * wrong types, missing name/owner/pid/acquired_ts, empty, not UTF-8 or
 * over 64 KiB), or -LOKT_E_FUTURE_VERSION (version > 1; ret->version is
 * then set so callers can report it). */
int lokt_record_parse(const char *buf, size_t len, struct lokt_record *ret);

/* Serialize as one JSON object (the protocol's field names), newline
 * terminated, malloc'd into *ret_json. */
int lokt_record_format(const struct lokt_record *rec, char **ret_json);

/* The same members as a json-c object (a new reference, for the caller
 * to put), for a caller that adds members of its own before printing
 * (lokt status --json): no text formatted and parsed again. NULL without
 * memory. */
struct json_object;
struct json_object *lokt_record_json(const struct lokt_record *rec);

/* Why a record does or does not stand. */
enum lokt_stale {
	LOKT_LIVE = 0, /* holder alive (or remote and TTL not expired) */
	LOKT_STALE_EXPIRED, /* TTL expired */
	LOKT_STALE_DEAD, /* holder pid gone on this host */
	LOKT_STALE_REUSED, /* pid alive but start time differs */
	LOKT_STALE_CORRUPT, /* malformed file */
};

/* "live", "expired", "dead", "reused", "corrupt". */
const char *lokt_stale_name(enum lokt_stale s);

/* A record as judged at one instant. */
struct lokt_info {
	struct lokt_record rec; /* zeroed except name when corrupt */
	enum lokt_stale stale;
	bool local; /* rec.host is this host: pid liveness was checked */
	bool kept; /* live only through its keeper: the holder is gone */
	bool future; /* version > 1: rec.version set, never acted upon */
	struct timespec mtime; /* of the file */
	size_t size; /* of the file, bytes */
	/* Added with slots (docs/protocol.md, "Slots and shared locks"):
	 * the name is a semaphore of `slots` holders, or has `shared`
	 * holders; 0 and false for an exclusive lock. rec is then one
	 * holder (lokt_list, lokt_holders), or the record lokt 1.x reads
	 * (lokt_get: owner "lokt-slots", stale only when every holder is). */
	unsigned slots;
	bool shared;
	/* In a lokt_result's `other`: the record in the way is the name's
	 * freeze (-LOKT_E_FROZEN, a freeze refused by another's, or a wait
	 * that ran out while it stood), not a holder. */
	bool freeze;
};

/* A detached lock (lokt lock --detach) is held by pid 1, which exists in
 * every pid namespace and never exits: every reader, lokt 1.x included,
 * judges it by its TTL alone, so it needs one. lokt_who_self for
 * LOKT_DETACHED_PID records no start time. A renewal without a TTL keeps
 * a detached lock's TTL. */
#define LOKT_DETACHED_PID 1

/* Is rec a detached lock? */
bool lokt_is_detached(const struct lokt_record *rec);

/* ---- Identity: who asks ------------------------------------------------ */

/* Can a record carry the len bytes at s as an owner, host or agent id:
 * strict UTF-8 (no overlong form, no surrogate, nothing past U+10FFFF)
 * without a NUL byte? Their length is the caller's to check. */
bool lokt_text_ok(const char *s, size_t len);

struct lokt_who {
	char owner[LOKT_STR_MAX]; /* $LOKT_OWNER, else the user name */
	char host[LOKT_STR_MAX];
	pid_t pid; /* the holder process */
	uint64_t pid_start; /* its start time, clock ticks */
	char agent_id[LOKT_STR_MAX]; /* $LOKT_AGENT_ID or "" */
	uid_t uid;
	const char *via; /* NULL, or "loktfs": goes into audit "extra" */
	uint64_t pid_ns; /* the pid namespace `pid` is numbered in (the
			    inode of /proc/self/ns/pid); 0 when unknown */
};

/* The user database's name (into name[size], unless name is NULL) and
 * primary group (into *ret_gid, unless NULL) of uid, as getpwuid_r gives
 * them: 0, -ENOENT when there is no such user, -ERANGE when the name does
 * not fit. Where NSS would answer from /etc/passwd alone (nsswitch.conf
 * sends passwd to files first, and the file has the uid), it is read
 * from our own parse of that file, kept while the file and nsswitch.conf
 * are unchanged (core/users.c). Thread-safe. */
int lokt_user_of(uid_t uid, char *name, size_t size, gid_t *ret_gid);

/* For a program acting for itself: owner from $LOKT_OWNER or the user
 * name of getuid(), agent from $LOKT_AGENT_ID, holder = `holder` (the CLI
 * passes getppid() or --holder; guard passes getpid()). -ESRCH when the
 * holder does not exist. */
int lokt_who_self(pid_t holder, struct lokt_who *ret);

/* For the mount: `caller` made a request as `uid`. The holder is the caller
 * when it is a shell (bash, sh, dash, zsh, ksh, mksh, fish, busybox ash),
 * else the caller's parent; owner from LOKT_OWNER in /proc/<caller>/environ
 * when readable, else the user name of uid; agent likewise. */
int lokt_who_caller(pid_t caller, uid_t uid, struct lokt_who *ret);

/* The command line of a local process for messages ("make deploy"),
 * spaces between arguments; -ESRCH if gone. */
int lokt_proc_cmdline(pid_t pid, char *buf, size_t size);

/* ---- The store --------------------------------------------------------- */

struct lokt_store;

/* Root discovery from directory `cwd` (NULL: the working directory),
 * first match wins: $LOKT_ROOT; <git common dir>/lokt; the nearest
 * existing .lokt/ walking up; the host-wide store named by the
 * configuration file (lokt_config_path: a line "root = /absolute/dir");
 * else <cwd>/.lokt. Malloc'd absolute path. -EINVAL when the
 * configuration file is needed and is not valid (or not readable),
 * -ENOENT when it is needed and $LOKT_CONFIG names a file that does not
 * exist (LOKT_CONFIG=/dev/null: no host-wide store). */
int lokt_root_find(const char *cwd, char **ret_root);

/* The configuration file: $LOKT_CONFIG, else /etc/lokt.conf. */
const char *lokt_config_path(void);

/* Open the store at root (creating root, locks/ and freezes/ as needed).
 * Refuses a network filesystem with -LOKT_E_NETFS when
 * $LOKT_REQUIRE_LOCAL_FS=1. */
int lokt_store_open(const char *root, struct lokt_store **ret);

/* lokt_store_open, and on failure what was wrong in words, where there
 * is more to say than the code's lokt_strerror: for an etcd:// root, the
 * part of the URL, or the file, line and setting of $LOKT_ETCD_CONFIG
 * (a password file readable by others, a key it does not know). why is
 * "" otherwise; why_size 0: none wanted. */
int lokt_store_open_why(const char *root, struct lokt_store **ret, char *why,
			size_t why_size);

/* Is root the URL of a networked store (etcd://HOST:PORT[,...]/PREFIX)
 * rather than a directory? Such a root is used as given: never made
 * absolute, created or searched for. */
bool lokt_root_is_url(const char *root);
void lokt_store_close(struct lokt_store *s); /* NULL is fine */

/* Bound how long a transition waits for another transition on the same
 * name (which holds the name's sidecar flock for microseconds, unless its
 * process was stopped half-way): ms > 0 gives up with -EAGAIN after about
 * ms; 0, the default, waits as long as it takes. A server that must not
 * let one stuck caller hold up others (loktfs) sets it. Call before the
 * store is shared between threads. */
void lokt_store_set_lock_wait(struct lokt_store *s, int64_t ms);
const char *lokt_store_root(const struct lokt_store *s);

/* How long a lock of this store outlives a holder's host that cannot
 * reach the store (etcd: the liveness lease, LOKT_ETCD_LEASE), in ms; 0
 * for a directory store. A holder that has not seen its lock for that
 * long must count it lost (guard does). */
int64_t lokt_store_confirm_ms(const struct lokt_store *s);

/* From now on, no request of this store made by the calling thread
 * waits past mono_ms (a CLOCK_MONOTONIC time in ms; 0: no deadline; other
 * threads are not affected): a call that would is answered
 * -LOKT_E_UNAVAILABLE at that time. For a holder that must know
 * by then whether its lock still stands (guard, within the liveness
 * lease). A directory store waits for nothing on the network; its wait
 * for another process's transition of the same name (the name's flock,
 * held for as long as that process is stopped in it), when a second
 * signal past mono_ms interrupts it and the flock is still held (install
 * a handler without SA_RESTART and arm an interval timer: lokt does),
 * gives up with -EAGAIN; the first only looks again, for a caller
 * stopped in that wait and continued with the holder. A waiting
 * acquisition sets this deadline itself (its timeout and a second). */
void lokt_store_set_deadline(struct lokt_store *s, int64_t mono_ms);

enum lokt_kind { LOKT_LOCK, LOKT_FREEZE };

/* Who holds up a change of `name` (of kind `kind`) in a flock of a
 * directory store, for a message after -EAGAIN: the pid holding the
 * flock of the name's sidecar, of the other kind's (an acquisition that
 * clears an expired freeze takes it too) or of a fence floor (read by a
 * name new to the store), from /proc/locks, the first found in that
 * order; the file's path ("ROOT/DIR/FILE") in path. 0: none held now
 * (let go meanwhile, or a holder /proc does not show); -EOPNOTSUPP on a
 * networked store. */
int lokt_store_flock_holder(struct lokt_store *s, enum lokt_kind kind,
			    const char *name, char *path, size_t size);
/* The name (its kind in *ret_kind) whose change in the calling thread
 * last gave up in a flock of store s (-EAGAIN: held up past the thread's
 * deadline), for a command of many names (lokt_release_all, lokt_prune)
 * to say which one; NULL when none did since the thread last set
 * a deadline (lokt_store_set_deadline, not 0). Valid until the thread's next call into s. */
const char *lokt_store_stuck_name(const struct lokt_store *s,
				  enum lokt_kind *ret_kind);

/* Would `who` re-enter `rec` (lokt_acquire renews instead of refusing)?
 * Same non-empty agent_id and who->uid is the lock's uid; or same host,
 * same owner, and who->pid is the holder or its descendant (the holder's
 * start time checked when known).
 * For `lokt why` and similar explanations; the transitions decide under
 * the name's lock, so the answer may be out of date a moment later. */
bool lokt_holds(const struct lokt_record *rec, const struct lokt_who *who);

/* ---- Transitions ------------------------------------------------------- */

/* Progress of a wait, for a front end to display. */
struct lokt_progress {
	const struct lokt_info *holder; /* NULL when free but not our turn */
	bool frozen; /* holder describes the freeze that blocks us */
	int64_t waited_ms;
	size_t position; /* 1 = next in line */
	size_t waiters; /* live waiters including us */
};

struct lokt_acquire_opts {
	int64_t ttl_sec; /* 0: no TTL; at most LOKT_TTL_MAX_SEC (-EINVAL) */
	bool wait; /* queue and wait instead of -LOKT_E_HELD */
	/* With wait: < 0 forever. On a store over the network (etcd), no
	 * request of the wait waits past the timeout and a second: a
	 * cluster that stops answering ends the wait then with
	 * -LOKT_E_UNAVAILABLE (the calling thread's lokt_store_set_deadline
	 * is cleared when the wait returns). */
	int64_t timeout_ms;
	void (*progress)(const struct lokt_progress *p, void *userdata);
	void *userdata;
	/* With wait: checked whenever the wait wakes; nonzero gives up with
	 * -LOKT_E_CANCELED. A signal handler setting it interrupts the wait
	 * (install handlers without SA_RESTART). Without wait, on a
	 * directory store: the same, for the flock of a name held by
	 * another process. */
	volatile sig_atomic_t *cancel;
	/* A local process named the new lock's keeper from the start, as
	 * lokt_keep would name it afterwards (0: none): while it runs, the
	 * lock is live even if its holder has died. On a store whose locks
	 * live by a lease (etcd), the holder and the keeper keep that lease
	 * alive themselves with lokt_tend, so no keeper process is started
	 * for the lock. A re-entrant acquisition (a renewal) leaves the
	 * lock's keeper as it was. -ESRCH when keeper does not exist. */
	pid_t keeper;
	/* The caller keeps the new lock's lease alive itself (lokt_tend),
	 * and releases the lock when its holder dies: on a store with
	 * leases (etcd), no keeper process is started for it. loktfs does
	 * this for the locks taken through its mount. Implied by keeper. */
	bool tend;
	/* Added with slots: take one of `slots` places of a semaphore (1 to
	 * LOKT_SLOTS_MAX), or one of the shared places (`shared`: any
	 * number of shared holders, or one exclusive holder); neither: an
	 * exclusive lock, which is also the writer of a shared name. Both:
	 * -EINVAL. A name held in another mode: -LOKT_E_MODE, even with
	 * wait. */
	unsigned slots;
	bool shared;
	/* A re-entrant acquisition (a renewal) renews the lock with the TTL
	 * it has (none stays none), not with ttl_sec, which is then only
	 * for a new lock: the lease of a lock taken again from inside its
	 * holder is the holder's (lokt guard run in a shell that holds the
	 * lock, or in another guard). */
	bool keep_ttl;
};

/* The most holders of one name at once (a semaphore's N, or shared
 * holders): they share one record of at most 64 KiB. */
#define LOKT_SLOTS_MAX 32

/* What a transition did, or what stood in its way. */
struct lokt_result {
	struct lokt_record lock; /* on success: the record now in the store
				    (acquire, renew, freeze) or removed
				    (release, unfreeze) */
	struct lokt_info other; /* on refusal: the holder or freeze in the
				   way; valid when have_other */
	bool have_other;
	bool renewed; /* acquire was re-entrant: renewed our own lock */
	enum lokt_stale broke; /* a stale record was broken first, and why
				  (LOKT_LIVE: nothing broken) */
	struct lokt_record broken; /* what was broken, when broke != LIVE */
	size_t waiters_ahead; /* on -LOKT_E_HELD because of the queue */
};

/* Acquire `name` for `who`. Free → new lock (new lock_id, fence one more
 * than any earlier acquisition of the name). Held by `who` (same host and
 * who->pid is the holder or its descendant, same owner; or same non-empty
 * agent_id) → renew (lock_id and fence kept, acquired_ts reset, TTL set to
 * opts->ttl_sec). Stale → broken (audited with the reason), then acquired.
 * Frozen → -LOKT_E_FROZEN. Else -LOKT_E_HELD, or with opts->wait, wait in
 * a first-come-first-served queue woken by events. Audited: acquire,
 * renew, deny, freeze-deny, stale-break, corrupt-break. -EINVAL for a
 * who whose owner, host or agent_id is not UTF-8 (a record could not
 * carry it), and for a new lock of pid LOKT_DETACHED_PID without
 * opts->ttl_sec (it would never end), unless the caller is that pid 1
 * itself; a renewal keeps its TTL. */
int lokt_acquire(struct lokt_store *s, const char *name,
		 const struct lokt_who *who,
		 const struct lokt_acquire_opts *opts,
		 struct lokt_result *ret);

/* Renew the lock with lock_id (a holder keeping its lease): reset
 * acquired_ts and expiry with ttl_sec. -LOKT_E_LOST when the file is gone
 * or has another lock_id (audited as "lost"). */
int lokt_renew(struct lokt_store *s, const char *name, const char *lock_id,
	       const struct lokt_who *who, int64_t ttl_sec,
	       struct lokt_result *ret);

/* Name `keeper` (a local process, 0: none) as the lock's keeper: while it
 * runs, the lock is live even if its holder has died; TTL still applies.
 * Only the acquisition with lock_id (else -LOKT_E_LOST); -ESRCH when
 * keeper does not exist. guard names its watchdog, so that the lock
 * outlives a SIGKILLed guard until the watchdog has stopped the command
 * and released it. Not audited. */
int lokt_keep(struct lokt_store *s, const char *name, const char *lock_id,
	      pid_t keeper, struct lokt_result *ret);

/* Keep the lease of a lock named with opts.keeper alive, from its holder
 * or its keeper: on a store whose locks live by a lease (etcd) call it
 * again within *ret_next_ms (a third of the lease); the directory store
 * has no lease, and sets *ret_next_ms to -1 (never again). 0;
 * -LOKT_E_LOST when the lease is gone (the lock with it); another error
 * when the store did not answer (try again: the lease outlives a few
 * missed calls). Not audited. */
int lokt_tend(struct lokt_store *s, const char *name, const char *lock_id,
	      int64_t *ret_next_ms);

/* The holder of acquisition lock_id gives it up as lost although nobody
 * took it, for `reason` ("unrenewed": its lease could not be renewed and
 * runs out before the next attempt): audited as "lost" with that reason,
 * as far as the audit log can be written. Changes no lock. 0 or -EINVAL,
 * -LOKT_E_BAD_NAME. */
int lokt_audit_lost(struct lokt_store *s, const char *name, const char *lock_id,
		    const struct lokt_who *who, const char *reason);

enum lokt_release_flags {
	LOKT_RELEASE_BREAK_STALE = 1 << 0, /* another owner's stale lock may
					      be broken (audited stale-break
					      or corrupt-break) */
	LOKT_RELEASE_FORCE = 1 << 1, /* break whatever is there, live or
					future-version (force-break) */
	LOKT_RELEASE_SEEN = 1 << 2, /* lock_id is not the caller's own but
				       the acquisition it saw (a user
				       confirmed breaking that one): a
				       different one, or none, is
				       -LOKT_E_LOST, not audited as lost */
	LOKT_RELEASE_OWN = 1 << 3, /* with lock_id: released only when it is
				      the caller's owner's, as without one
				      (-LOKT_E_NOT_OWNER else). A lock_id is
				      no secret (in the file, in status):
				      without this flag, naming it releases
				      another owner's acquisition */
};

/* Release `name`. Same owner (from anywhere) → released. With lock_id
 * non-NULL, only that acquisition is released (else -LOKT_E_LOST, audited
 * "lost" unless SEEN: a guard never removes its successor's lock). Another owner's lock → broken if
 * stale and BREAK_STALE, broken if FORCE, else -LOKT_E_NOT_OWNER (and
 * result->other says whose). Free → -LOKT_E_NOT_FOUND. On a store the
 * caller cannot write (the name's sidecar gives EACCES, EPERM or EROFS),
 * an unlocked read still answers NOT_FOUND (LOST with lock_id),
 * NOT_OWNER and FUTURE_VERSION; a release that would be allowed returns
 * that system error, and nothing is audited. */
int lokt_release(struct lokt_store *s, const char *name,
		 const struct lokt_who *who, const char *lock_id,
		 unsigned flags, struct lokt_result *ret);

/* Release every lock of `owner` (NULL: who->owner), and every place it
 * holds in a semaphore or shared name. *ret_count = how many locks and
 * places (each place counts, as status lists it), also
 * when it fails part-way (-EAGAIN: held up past the calling thread's
 * lokt_store_set_deadline in a name's flock; the names after it are left
 * as they were). */
int lokt_release_all(struct lokt_store *s, const struct lokt_who *who,
		     const char *owner, size_t *ret_count);

/* Remove every stale lock (expired, dead, reused, corrupt), audited as
 * auto-prune (corrupt-break for corrupt files). *ret_count = how many
 * locks, places and freezes,
 * also when it fails part-way (as lokt_release_all). */
int lokt_prune(struct lokt_store *s, const struct lokt_who *who,
	       size_t *ret_count);

/* Freeze `name` for ttl_sec (1..LOKT_TTL_MAX_SEC, else -EINVAL): blocks new acquisitions
 * until unfreeze or expiry. An active freeze by the same owner is
 * extended; by another owner → -LOKT_E_HELD with result->other. */
int lokt_freeze(struct lokt_store *s, const char *name,
		const struct lokt_who *who, int64_t ttl_sec,
		struct lokt_result *ret);

/* Remove a freeze: same owner, or anyone when expired, or force (audited
 * force-unfreeze). -LOKT_E_NOT_FOUND, -LOKT_E_NOT_OWNER. On a store the
 * caller cannot write, those two are still told apart (as for
 * lokt_release); an unfreeze it would be allowed gives the -errno. */
int lokt_unfreeze(struct lokt_store *s, const char *name,
		  const struct lokt_who *who, bool force,
		  struct lokt_result *ret);

/* ---- Reading ----------------------------------------------------------- */

/* The record of one lock or freeze, judged now. -LOKT_E_NOT_FOUND when
 * absent. With ret_json non-NULL, the file's bytes, malloc'd and NUL
 * terminated (what `cat` through the mount shows). A future-version file
 * is returned (info->future) and not judged. */
int lokt_get(struct lokt_store *s, enum lokt_kind kind, const char *name,
	     struct lokt_info *ret, char **ret_json);

/* All locks or freezes, sorted by name; malloc'd array, free() it. Files
 * whose names are not valid lock names are skipped. */
int lokt_list(struct lokt_store *s, enum lokt_kind kind,
	      struct lokt_info **ret, size_t *ret_n);

/* What stat(2) of a record shows through the mount. */
struct lokt_attr {
	int64_t uid; /* the record's "uid", else its file's owner */
	struct timespec acquired; /* "acquired_ts"; 0 when unknown (corrupt) */
	struct timespec mtime; /* of the file */
	size_t size; /* of the file, bytes */
};

/* The attributes of the record of `name`, as lokt_get would find them,
 * without judging the record (no /proc read). A record read before whose
 * file has not changed since is not read again (core/attr.c says why
 * that is exact). -LOKT_E_NOT_FOUND, -LOKT_E_FOREIGN, -errno. */
int lokt_get_attr(struct lokt_store *s, enum lokt_kind kind,
		  const char *name, struct lokt_attr *ret);

/* The names lokt_list would list, sorted, without reading or judging a
 * record: what a directory listing needs (the mount's readdir, shell
 * completion). One malloc'd block, free() it alone: *ret_n pointers to
 * the names, the names after them. */
int lokt_list_names(struct lokt_store *s, enum lokt_kind kind, char ***ret,
		    size_t *ret_n);

/* Every holder of a name, judged now. */
struct lokt_holders {
	unsigned slots; /* a semaphore of that many places; 0: not one */
	bool shared; /* shared holders */
	size_t n;
	struct lokt_info *v; /* malloc'd, free() it: in the order they
				came; an exclusive lock is its one holder */
};

/* The holders of name: a lock's one record, or each holder of a
 * semaphore or shared name. -LOKT_E_NOT_FOUND when free. */
int lokt_holders(struct lokt_store *s, const char *name,
		 struct lokt_holders *ret);

/* Live waiters queued for a name. -LOKT_E_FOREIGN when a foreign file
 * (directory store: a symlink, FIFO, directory...) is where its queue or
 * sidecar belongs: then no transition of the name can run. */
int lokt_waiters(struct lokt_store *s, const char *name, size_t *ret_n);

/* ---- Watching ---------------------------------------------------------- */

/* An fd (non-blocking, close-on-exec; close() it) that poll(2) reports
 * readable whenever the record of `name` may have changed: created,
 * replaced, removed. A holder that must learn at once that its lock was
 * broken or taken polls it, then calls lokt_watch_changed and, on 1, looks
 * with lokt_get. Local changes only: a change made by another host on a
 * shared filesystem produces no event here (re-check on a timer too).
 * On an etcd store every change is seen, from every host, and a lock
 * this process tends (lokt_tend) is watched from its last write on: a
 * change made between that write and the watch is reported at once. */
int lokt_watch(struct lokt_store *s, enum lokt_kind kind, const char *name,
	       int *ret_fd);

/* Consume what is pending on a lokt_watch fd: 1 if any of it concerned
 * `name` (or events were lost), 0 if not (or nothing was pending). */
int lokt_watch_changed(int fd, const char *name);

/* ---- Running under a lock ---------------------------------------------- */

/* Acquire `name` (as lokt_acquire with opts), call fn(userdata, &held)
 * while holding it, release it on every path (only this acquisition, by
 * lock_id). Returns the acquire/release result; fn's return value goes to
 * *ret_fn (may be NULL). result->broke tells whether a stale lock was
 * broken to get in, and why. The lock's TTL is not renewed while fn runs:
 * pass ttl_sec 0 or one longer than fn takes. */
int lokt_with_lock(struct lokt_store *s, const char *name,
		   const struct lokt_who *who,
		   const struct lokt_acquire_opts *opts,
		   int (*fn)(void *userdata, const struct lokt_record *held),
		   void *userdata, int *ret_fn, struct lokt_result *ret);

/* ---- Audit log --------------------------------------------------------- */

struct lokt_audit_filter {
	struct timespec since; /* {0,0}: from the start */
	const char *name; /* NULL: every name */
	size_t tail; /* 0: all; else only the last `tail` matching */
};

struct lokt_event {
	struct timespec ts;
	char event[32]; /* "acquire", "deny", "stale-break", ... */
	char name[LOKT_NAME_MAX + 1];
	char lock_id[LOKT_ID_LEN + 1];
	char owner[LOKT_STR_MAX];
	char host[LOKT_STR_MAX];
	int64_t pid;
	char agent_id[LOKT_STR_MAX];
	int64_t ttl_sec;
	char *line; /* the whole JSON line (without newline), malloc'd */
};

/* Matching events, oldest first; lines that do not parse are skipped.
 * Free with lokt_events_free. */
int lokt_audit_read(struct lokt_store *s, const struct lokt_audit_filter *f,
		    struct lokt_event **ret, size_t *ret_n);
void lokt_events_free(struct lokt_event *ev, size_t n);

/* Follow the audit log, as tail -F: call fn for every event matching f,
 * the history first (f->tail: only its last tail events), then each event
 * as it is appended, across rotations, woken by inotify (and a look every
 * second, for a root shared with other hosts). Returns 0 when fn returns
 * nonzero, -LOKT_E_CANCELED once *cancel is set (a signal handler setting
 * it, installed without SA_RESTART, ends the wait at once), or -errno. */
int lokt_audit_follow(struct lokt_store *s, const struct lokt_audit_filter *f,
		      int (*fn)(const struct lokt_event *ev, void *userdata),
		      void *userdata, volatile sig_atomic_t *cancel);

/* Path of the audit log. Only for messages: the store is shared, so open
 * the log with lokt_audit_open, never through this path. */
const char *lokt_audit_path(const struct lokt_store *s);

struct stat;

/* A read-only descriptor of the current audit log (audit.log, not the
 * rotated audit.log.1), opened without following a symlink or waiting on
 * a FIFO, and its fstat. -ENOENT before the first event; -EPERM when
 * something other than a regular file is there. A store that keeps no
 * audit file (etcd://) gives its whole log as it is now, every line, in
 * an anonymous file (mode 0400). */
int lokt_audit_open(struct lokt_store *s, int *ret_fd, struct stat *ret_st);

/* Rotate audit.log to audit.log.1 once an append brings it to `bytes`
 * (0: never rotate). The default is 16 MiB; programs take LOKT_AUDIT_MAX.
 * Call before the store is shared between threads. */
void lokt_store_set_audit_max(struct lokt_store *s, uint64_t bytes);

/* A LOKT_AUDIT_MAX value: bytes, or with a k, M or G suffix (powers of
 * 1024); 0 never rotates. -EINVAL for anything else. */
int lokt_audit_max_parse(const char *text, uint64_t *ret);

/* ---- Doctor ------------------------------------------------------------ */

enum lokt_check_level { LOKT_CHECK_OK, LOKT_CHECK_WARN, LOKT_CHECK_FAIL };

struct lokt_check {
	char id[32]; /* "root_writable", "network_fs", "clock",
			"corrupt_files", "future_version", "foreign_files",
			"temp_files", "sidecars", "audit_mode",
			"proc_visible"; etcd: its own */
	enum lokt_check_level level;
	char message[512];
};

/* Health checks of the store at root (which need not be openable).
 * Malloc'd array; free() it. */
int lokt_doctor(const char *root, struct lokt_check **ret, size_t *ret_n);

/* 1 if path lies on a network filesystem (NFS, CIFS/SMB, 9p, FUSE sshfs,
 * Ceph, Lustre, GlusterFS, AFS...), 0 if local, -errno. */
int lokt_is_network_fs(const char *path);

/* Library version string, e.g. "0.1.0". */
const char *lokt_version(void);

/* ---- Words for machine-readable answers -------------------------------- */

/* The one-word name of a failed result, as `lokt --json` and loktd put it
 * in "error": "held", "frozen", "not_found", "not_owner", "bad_name",
 * "future_version", "corrupt", "timeout", "lost", "netfs", "canceled",
 * "foreign_file", "mode"; "error" for a system error (-errno) or success. */
const char *lokt_error_word(int r);

#ifdef __cplusplus
}
#endif
#endif /* LOKT_H */
