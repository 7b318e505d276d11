/* SPDX-License-Identifier: MIT */
/*
 * Private to loktfs: what main.c, ll.c, ops.c and files.c share. main.c
 * parses the options, opens the store and runs the FUSE loop; ll.c
 * speaks FUSE's low-level protocol (the nodes the kernel knows, what it
 * may remember of them, the request being served) and turns each request
 * into a path; ops.c owns the tree (paths, attributes, listings, statfs);
 * files.c owns what happens to one lock or freeze file (open, create,
 * read, write, truncate, touch, unlink).
 *
 * Every handler of ops.c and files.c returns 0 or a positive count on
 * success and -errno on failure; lock outcomes from liblokt go through
 * lokt_errno(), the one mapping of outcomes to errno.
 */
#ifndef LOKTFS_FS_H
#define LOKTFS_FS_H

/* 35 works with every libfuse >= 3.10; meson passes 312 when the
 * installed libfuse has the 3.12 loop configuration API. */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif

#include <fuse_lowlevel.h>
#include <sys/statvfs.h>
#include <stdbool.h>
#include <stdint.h>

#include "lokt.h"

/* The daemon's state, fixed before the loop starts and only read by the
 * handlers (loktfs_get()). */
struct loktfs {
	struct lokt_store *store;
	int64_t default_ttl_sec; /* locks made by touch or ">": 0 = none */
	int64_t freeze_ttl_sec; /* freezes made by touch or ">": > 0 */
};

/* What a path names. */
enum loktfs_node {
	LOKTFS_ROOT, /* "/" */
	LOKTFS_DIR, /* "/locks" or "/freezes" (kind says which) */
	LOKTFS_AUDIT, /* "/audit" */
	LOKTFS_ENTRY, /* "/locks/<name>" or "/freezes/<name>" */
	LOKTFS_REMOVED, /* no path: a file removed while open (see ops.c) */
	LOKTFS_MODE_DIR, /* "/slots", "/slots/<n>", "/shared" */
};

struct loktfs_path {
	enum loktfs_node node;
	enum lokt_kind kind; /* DIR, ENTRY */
	const char *name; /* ENTRY: points into the path, not validated */
	/* ENTRY and MODE_DIR of /slots/<n>/ and /shared/: the places of a
	 * semaphore of `slots`, or shared ones (lokt_acquire_opts'). */
	unsigned slots;
	bool shared;
};

/* ll.c: the operations given to fuse_session_new, after setup with the
 * daemon's state; that state; who made the request this thread is
 * serving, and their supplementary groups (as getgroups(2)). */
extern const struct fuse_lowlevel_ops loktfs_ll_ops;
void loktfs_ll_setup(struct loktfs *fs);
struct loktfs *loktfs_get(void);
const struct fuse_ctx *loktfs_ctx(void);
int loktfs_getgroups(int size, gid_t list[]);

/* ops.c. A path is NULL for an open file removed through the mount
 * (LOKTFS_REMOVED). readdir calls fill for each entry with its type
 * (S_IFDIR, S_IFREG); a fill that fails (-errno) ends it. */
typedef int (*loktfs_fill_t)(void *buf, const char *name, mode_t type);
int loktfs_parse_path(const char *path, struct loktfs_path *ret);
int loktfs_getattr(const char *path, struct stat *st);
int loktfs_readdir(const char *path, void *buf, loktfs_fill_t fill);
int loktfs_statfs(const char *path, struct statvfs *st);
int loktfs_caller(struct lokt_who *ret);
/* An entry of /slots/<n>/ or /shared/ exists while its name is held in
 * that mode: 0, or -ENOENT (also for a free name). 0 for other paths. */
int loktfs_mode_check(const struct loktfs_path *p);

/* files.c */
int loktfs_open(const char *path, struct fuse_file_info *fi);
int loktfs_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int loktfs_read(const char *path, char *buf, size_t size, off_t off,
		struct fuse_file_info *fi);
int loktfs_write(const char *path, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
int loktfs_truncate(const char *path, off_t size, struct fuse_file_info *fi);
int loktfs_utimens(const char *path, const struct timespec tv[2],
		   struct fuse_file_info *fi);
int loktfs_unlink(const char *path);
/* After loktfs_unlink(path) succeeded: does the name no longer name what
 * was removed (no record, or one taken since by another)? false when a
 * semaphore or shared name still has other holders. */
bool loktfs_unlinked(const char *path);
int loktfs_release(const char *path, struct fuse_file_info *fi);
/* A create whose reply could not be made or could not reach its caller:
 * what the open took is given back (the caller saw it fail), then the
 * handle is released. */
void loktfs_create_undo(struct fuse_file_info *fi);

/* keeper.c: the daemon keeps the leases of the locks taken through the
 * mount (a store with leases: etcd), and releases each when its holder
 * exits. prepare: before fuse_daemonize, so that what can fail is said
 * on stderr; start: after it (a thread would not survive its fork);
 * neither does anything for a store without leases. reserve: may the
 * next acquisition of uid be kept here (1: then lokt_acquire_opts.tend;
 * 0: no, a keeper process of liblokt's keeps it; -EDQUOT: uid keeps its
 * share already, KEPT_PER_UID)? Each reserve that gave 1 is followed by
 * add (the lock was made: kept from now on; on failure it is released
 * and -errno given) or unreserve. stop: release what is kept, end the
 * thread. */
int loktfs_keeper_prepare(struct lokt_store *s);
int loktfs_keeper_start(void);
int loktfs_keeper_reserve(uid_t uid);
void loktfs_keeper_unreserve(void);
int loktfs_keeper_add(const char *name, const char *lock_id, uid_t uid,
		      pid_t holder, uint64_t holder_start);
void loktfs_keeper_stop(void);

/* notify.c: tell a service manager (systemd, $NOTIFY_SOCKET) that the
 * filesystem is mounted; nothing without one. */
void loktfs_notify_ready(void);

#endif /* LOKTFS_FS_H */
