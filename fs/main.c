// SPDX-License-Identifier: MIT
/*
 * loktfs — the lock store as a mounted filesystem. This file owns the
 * daemon's life: options, the store, mounting, the loop, and tearing it
 * all down in reverse. The filesystem itself is in ops.c and files.c.
 *
 *   loktfs [-o root=DIR,default_ttl=D,freeze_ttl=D,lock_wait=D,...] [-f] [-d] MOUNTPOINT
 *   loktfs ROOT MOUNTPOINT [-o ...]        (mount -t fuse.loktfs, fstab)
 *
 * Everything the daemon needs from its environment (the root, which may
 * be discovered from the working directory) is settled before it
 * daemonizes, because fuse_daemonize changes directory to "/". A bad
 * option value is reported and nothing is mounted.
 *
 * THE ROOT. Given or discovered, it is checked before anything is
 * created (check_root): it must not be empty; it may be created only
 * when its parent directory exists (mkdir, never mkdir -p: a typo must
 * not grow a tree); it must not lie on a loktfs mount, nor on or under
 * the mount point, nor contain the mount point: a daemon whose store is
 * reached through a loktfs mount would serve itself, or a mount's view
 * of another store, and lokt at that path would not see the store the
 * mount serves.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"
#include "nofile.h"

#define DEFAULT_FREEZE_TTL "15m"
#define DEFAULT_LOCK_WAIT "5s"

struct options {
	char *root; /* root=DIR */
	char *default_ttl; /* default_ttl=D, NULL: none */
	char *freeze_ttl; /* freeze_ttl=D */
	char *lock_wait; /* lock_wait=D */
	char *args[2]; /* [ROOT] MOUNTPOINT */
	int nargs;
};

enum { KEY_NO_VALUE };

#define OPTION(t, m) { t, offsetof(struct options, m), 1 }
static const struct fuse_opt option_spec[] = {
	OPTION("root=%s", root),
	OPTION("default_ttl=%s", default_ttl),
	OPTION("freeze_ttl=%s", freeze_ttl),
	OPTION("lock_wait=%s", lock_wait),
	FUSE_OPT_KEY("root", KEY_NO_VALUE),
	FUSE_OPT_KEY("default_ttl", KEY_NO_VALUE),
	FUSE_OPT_KEY("freeze_ttl", KEY_NO_VALUE),
	FUSE_OPT_KEY("lock_wait", KEY_NO_VALUE),
	FUSE_OPT_END
};

/* Words that only mean something to mount(8) or systemd in /etc/fstab. */
static bool fstab_only(const char *opt)
{
	static const char *const words[] = {
		"defaults", "auto", "noauto", "user", "nouser", "users",
		"owner", "group", "_netdev", "nofail",
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(opt, words[i]) == 0)
			return true;
	return strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *o = data;

	if (key == FUSE_OPT_KEY_NONOPT) {
		if (o->nargs == 2) {
			fprintf(stderr,
				"loktfs: error: unexpected argument '%s': give [ROOT] MOUNTPOINT — see loktfs --help\n",
				arg);
			return -1;
		}
		o->args[o->nargs] = strdup(arg);
		return o->args[o->nargs++] ? 0 : -1;
	}
	if (key == KEY_NO_VALUE) {
		fprintf(stderr,
			"loktfs: error: -o %s needs a value, e.g. -o %s=%s\n",
			arg, arg, strcmp(arg, "root") == 0 ? "/srv/lokt" : "30m");
		return -1;
	}
	if (key == FUSE_OPT_KEY_OPT && fstab_only(arg))
		return 0;
	/* The kernel would then judge access by the modes shown: EACCES
	 * for what loktfs answers EBUSY, and the sticky lock directories
	 * would stop anyone from breaking another user's stale lock. */
	if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "default_permissions")) {
		fprintf(stderr,
			"loktfs: error: -o default_permissions is not supported: loktfs decides who may take, renew and release each lock itself (by uid and owner); the kernel's mode checks would refuse what it allows — drop the option\n");
		return -1;
	}
	return 1;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       %s ROOT MOUNTPOINT [-o options]   (mount helper form)\n"
	       "\n"
	       "Named locks as files: touch locks/NAME takes a lock, cat shows\n"
	       "who holds it, rm gives it back; freezes/NAME blocks a name;\n"
	       "audit is the audit log. See loktfs(8).\n"
	       "\n"
	       "loktfs options:\n"
	       "    -o root=DIR            lock store (default: $LOKT_ROOT, the git\n"
	       "                           common dir's lokt/, the nearest .lokt/\n"
	       "                           upwards, the root of /etc/lokt.conf\n"
	       "                           or $LOKT_CONFIG, else ./.lokt)\n"
	       "    -o default_ttl=D       TTL of locks taken with touch or '>'\n"
	       "                           (default: none, the holder's life)\n"
	       "    -o freeze_ttl=D        TTL of freezes made with touch or '>'\n"
	       "                           (default: " DEFAULT_FREEZE_TTL ")\n"
	       "    -o lock_wait=D         how long a request waits for another\n"
	       "                           transition on the same name that is\n"
	       "                           stuck (its process stopped) before it\n"
	       "                           fails with EAGAIN (default: " DEFAULT_LOCK_WAIT ";\n"
	       "                           0: as long as it takes)\n"
	       "    -o allow_other         let other users use the mount\n"
	       "Durations: 90 (seconds), 1.5s, 500ms, 30m, 2h, 1d, 1h30m.\n"
	       "\n",
	       prog, prog);
	fuse_cmdline_help();
}

/* A duration option in whole seconds (rounded up); 0 allowed when
 * zero_ok (no TTL). */
static int ttl_option(const char *name, const char *value, bool zero_ok,
		      int64_t *ret_sec)
{
	int64_t ms;

	if (lokt_duration_parse(value, &ms) < 0 || (ms == 0 && !zero_ok)) {
		fprintf(stderr,
			"loktfs: error: -o %s=%s: not a%s duration; use e.g. 90, 30s, 500ms, 15m, 2h, 1d%s\n",
			name, value, zero_ok ? "" : " positive",
			zero_ok ? " (0: no TTL)" : "");
		return -EINVAL;
	}
	*ret_sec = (ms + 999) / 1000;
	return 0;
}

/* The root as an absolute path: from root=, from ROOT, or discovered
 * from the working directory. */
static int find_root(const struct options *o, char **ret)
{
	const char *given = o->root;
	char *cwd;
	int r;

	if (!given && o->nargs == 2)
		given = o->args[0];
	if (given && !given[0]) {
		fprintf(stderr,
			"loktfs: error: the root is empty; give the store's directory, e.g. -o root=/srv/lokt\n");
		return -EINVAL;
	}
	if (!given) {
		r = lokt_root_find(NULL, ret);
		if (r == -ENOENT && getenv("LOKT_CONFIG") &&
		    access(lokt_config_path(), F_OK) < 0)
			fprintf(stderr,
				"loktfs: error: LOKT_CONFIG names %s, which does not exist; fix the name, set LOKT_CONFIG=/dev/null for no host-wide store, or give the store with -o root=DIR\n",
				lokt_config_path());
		else if (r == -EINVAL)
			fprintf(stderr,
				"loktfs: error: %s is not valid (it needs one line \"root = /absolute/dir\", comments on lines of their own); fix it, or give the store with -o root=DIR\n",
				lokt_config_path());
		else if (r < 0)
			fprintf(stderr,
				"loktfs: error: cannot find a lock store from %s: %s; give one with -o root=DIR\n",
				"the working directory", lokt_strerror(r));
		return r;
	}
	if (given[0] == '/' || lokt_root_is_url(given) ||
	    !(cwd = get_current_dir_name()))
		return (*ret = strdup(given)) ? 0 : -ENOMEM;
	r = asprintf(ret, "%s/%s", cwd, given);
	free(cwd);
	return r < 0 ? -ENOMEM : 0;
}

/* Is a file of device dev on a loktfs mount? /proc/self/mountinfo says
 * which mount has that device ("ID PARENT MAJ:MIN ... - FSTYPE ..."):
 * every FUSE mount has a device of its own. 1 yes, 0 no, -errno. */
static int on_loktfs(dev_t dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	unsigned int maj, min;
	char *line = NULL, *sep;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return -errno;
	while (r == 0 && getline(&line, &cap, f) > 0) {
		sep = strstr(line, " - ");
		if (sscanf(line, "%*d %*d %u:%u", &maj, &min) == 2 && sep &&
		    makedev(maj, min) == dev &&
		    strncmp(sep + 3, "fuse.loktfs ", 12) == 0)
			r = 1;
	}
	free(line);
	fclose(f);
	return r;
}

/* Is path `in` the directory `dir` or below it? Both canonical. */
static bool within(const char *in, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(in, dir, n) == 0 && (in[n] == '\0' || in[n] == '/');
}

/* *dir = "*dir/<last component of path>"; false on ENOMEM (*dir freed). */
static bool join_last(char **dir, const char *path)
{
	char *copy = strdup(path), *joined = NULL;

	if (copy && asprintf(&joined, "%s/%s", strcmp(*dir, "/") ? *dir : "",
			     basename(copy)) < 0)
		joined = NULL;
	free(copy);
	free(*dir);
	*dir = joined;
	return joined != NULL;
}

/*
 * The rules of THE ROOT above, for the absolute path root, before the
 * store is opened (which creates it). Says what is wrong and what to do.
 */
static int check_root(const char *root, const char *mountpoint)
{
	char *copy = strdup(root), *parent = NULL, *real = NULL;
	const char *what = root;
	struct stat st;
	int r = -EINVAL;

	if (!copy)
		return -ENOMEM;
	if (stat(root, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr,
				"loktfs: error: root %s is not a directory; give the store's directory with -o root=DIR\n",
				root);
			goto out;
		}
		real = realpath(root, NULL);
	} else if (errno == ENOENT) {
		parent = dirname(copy);
		if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr,
				"loktfs: error: root %s does not exist, and neither does its parent %s; loktfs creates only the last directory: check the path, or create the parent first (mkdir -p %s)\n",
				root, parent, parent);
			goto out;
		}
		what = parent;
		real = realpath(parent, NULL);
		if (real && !join_last(&real, root))
			real = NULL;
	} else {
		fprintf(stderr,
			"loktfs: error: cannot reach root %s: %s; check the path and its permissions\n",
			root, strerror(errno));
		goto out;
	}
	if (!real) {
		r = errno ? -errno : -ENOMEM;
		fprintf(stderr, "loktfs: error: cannot resolve %s: %s\n", what,
			strerror(-r));
		goto out;
	}
	r = on_loktfs(st.st_dev);
	if (r != 0) {
		fprintf(stderr,
			r > 0 ? "loktfs: error: root %s is on a loktfs mount; give the store itself (the root= of that mount, see: findmnt -t fuse.loktfs), not a view of it\n" :
				"loktfs: error: cannot tell whether root %s is on a loktfs mount: cannot read /proc/self/mountinfo\n",
			root);
		r = -EINVAL;
		goto out;
	}
	if (within(real, mountpoint) || within(mountpoint, real)) {
		fprintf(stderr,
			"loktfs: error: root %s and mount point %s overlap; the mount would hide the store or serve itself: mount elsewhere\n",
			root, mountpoint);
		r = -EINVAL;
		goto out;
	}
	r = 0;
out:
	free(real);
	free(copy);
	return r;
}

/* fsname=ROOT, so mount(8) and df show "ROOT on MOUNTPOINT type
 * fuse.loktfs". Inserted first: the user's own -o fsname= still wins. */
static int name_mount(struct fuse_args *args, const char *root)
{
	char *opts = NULL, *fsname;
	int r;

	if (asprintf(&fsname, "fsname=%s", root) < 0)
		return -ENOMEM;
	r = fuse_opt_add_opt_escaped(&opts, fsname);
	free(fsname);
	if (r == 0)
		r = fuse_opt_insert_arg(args, 1, "-o");
	if (r == 0)
		r = fuse_opt_insert_arg(args, 2, opts);
	free(opts);
	return r < 0 ? -ENOMEM : 0;
}

/* The multi-threaded loop. libfuse 3.12 replaced the loop's option struct
 * by an object; the old struct still works but makes 3.12-3.14 print a
 * bogus warning at every start. */
static int loop_mt(struct fuse_session *se,
		   const struct fuse_cmdline_opts *cmd)
{
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 12)
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	int r;

	if (!loop)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(loop, (unsigned int)cmd->clone_fd);
	/* UINT_MAX is "not given"; libfuse 3.14 warns when it is passed on. */
	if (cmd->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, cmd->max_idle_threads);
	fuse_loop_cfg_set_max_threads(loop, cmd->max_threads);
	r = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	return r;
#else
	struct fuse_loop_config loop = {
		.clone_fd = cmd->clone_fd,
		.max_idle_threads = cmd->max_idle_threads,
	};

	return fuse_session_loop_mt(se, &loop);
#endif
}

/* SIGINT, SIGTERM and SIGHUP stop the loop and unmount. libfuse leaves a
 * signal alone when it is ignored, and a shell starts background jobs
 * with SIGINT ignored; the contract is that SIGINT unmounts, so they are
 * reset first. */
static int catch_signals(struct fuse_session *se)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	return fuse_set_signal_handlers(se);
}

static int run(struct fuse_args *args, const struct fuse_cmdline_opts *cmd,
	       const char *mountpoint, struct loktfs *fs)
{
	struct fuse_session *se;
	int r = 1;

	(void)lokt_nofile_raise();
	loktfs_ll_setup(fs);
	/* libfuse has said what it refused; say what to do about it. */
	se = fuse_session_new(args, &loktfs_ll_ops, sizeof(loktfs_ll_ops), fs);
	if (!se) {
		fprintf(stderr,
			"loktfs: error: options refused (see above); loktfs --help lists them\n");
		return 1;
	}
	if (fuse_session_mount(se, mountpoint) != 0) {
		fprintf(stderr,
			"loktfs: error: could not mount on %s (see above); nothing was mounted\n",
			mountpoint);
		goto out_destroy;
	}
	/* What can fail of the keeper is tried while stderr is still the
	 * caller's: after fuse_daemonize nobody would read it. */
	r = loktfs_keeper_prepare(fs->store);
	if (r < 0) {
		fprintf(stderr,
			"loktfs: error: cannot keep the leases of locks taken through the mount: %s; nothing was mounted\n",
			strerror(-r));
		r = 1;
		goto out_unmount;
	}
	r = 1;
	if (fuse_daemonize(cmd->foreground) != 0)
		goto out_unmount;
	if (catch_signals(se) != 0)
		goto out_unmount;
	/* After fuse_daemonize: its thread would not survive the fork. In
	 * the background only the system log can still be told. */
	r = loktfs_keeper_start();
	if (r < 0) {
		fprintf(stderr,
			"loktfs: error: cannot keep the leases of locks taken through the mount: %s\n",
			strerror(-r));
		if (!cmd->foreground)
			syslog(LOG_ERR,
			       "cannot keep the leases of locks taken through %s: %s; unmounted",
			       mountpoint, strerror(-r));
		r = 1;
		goto out_unmount;
	}
	/* Mounted (requests wait in the kernel until the loop serves them):
	 * a unit ordered after loktfs@.service may use it now. */
	loktfs_notify_ready();
	r = cmd->singlethread ? fuse_session_loop(se) : loop_mt(se, cmd);
	/* > 0: the number of the signal that ended the loop, a clean stop. */
	r = r < 0 ? 1 : 0;
	loktfs_keeper_stop();
	fuse_remove_signal_handlers(se);
out_unmount:
	fuse_session_unmount(se);
out_destroy:
	fuse_session_destroy(se);
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct options o = { 0 };
	struct loktfs fs = { 0 };
	char *root = NULL, *mountpoint = NULL, why[320];
	int64_t lock_wait_ms = 0;
	const char *audit_max;
	uint64_t audit_bytes = 0;
	int r, ret = 1;

	/* Defaults are strdup'ed: fuse_opt_parse frees what it replaces. */
	o.freeze_ttl = strdup(DEFAULT_FREEZE_TTL);
	o.lock_wait = strdup(DEFAULT_LOCK_WAIT);
	if (!o.freeze_ttl || !o.lock_wait ||
	    fuse_opt_parse(&args, &o, option_spec, opt_proc))
		goto out;
	/* The type is fuse.loktfs whatever the program is called. */
	if (fuse_opt_insert_arg(&args, 1, "-osubtype=loktfs") != 0)
		goto out;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;
	if (cmd.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("loktfs %s (liblokt %s, protocol %d, libfuse %s)\n",
		       LOKT_VERSION, lokt_version(), LOKT_PROTOCOL_VERSION,
		       fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (o.nargs == 0) {
		fprintf(stderr,
			"loktfs: error: no mount point given — usage: loktfs [-o root=DIR] MOUNTPOINT (see loktfs --help)\n");
		goto out;
	}
	if ((o.default_ttl && ttl_option("default_ttl", o.default_ttl, true,
					 &fs.default_ttl_sec) < 0) ||
	    ttl_option("freeze_ttl", o.freeze_ttl, false,
		       &fs.freeze_ttl_sec) < 0)
		goto out;
	if (lokt_duration_parse(o.lock_wait, &lock_wait_ms) < 0) {
		fprintf(stderr,
			"loktfs: error: -o lock_wait=%s: not a duration; use e.g. 5s, 500ms, 1m (0: wait as long as it takes)\n",
			o.lock_wait);
		goto out;
	}
	mountpoint = realpath(o.args[o.nargs - 1], NULL);
	if (!mountpoint) {
		fprintf(stderr,
			"loktfs: error: bad mount point %s: %s; create the directory first\n",
			o.args[o.nargs - 1], strerror(errno));
		goto out;
	}
	if (find_root(&o, &root) < 0 ||
	    (!lokt_root_is_url(root) && check_root(root, mountpoint) < 0))
		goto out;
	audit_max = getenv("LOKT_AUDIT_MAX");
	if (audit_max && *audit_max &&
	    lokt_audit_max_parse(audit_max, &audit_bytes) < 0) {
		fprintf(stderr,
			"loktfs: error: bad LOKT_AUDIT_MAX \"%s\": give the audit log's size cap in bytes, e.g. 16M or 512k (0: never rotate), or unset it for the default\n",
			audit_max);
		goto out;
	}
	r = lokt_store_open_why(root, &fs.store, why, sizeof(why));
	if (r == 0)
		lokt_store_set_lock_wait(fs.store, lock_wait_ms);
	if (r == 0 && audit_max && *audit_max)
		lokt_store_set_audit_max(fs.store, audit_bytes);
	if (r < 0 && why[0]) {
		fprintf(stderr,
			"loktfs: error: cannot open the lock store %s: %s\n",
			root, why);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr,
			"loktfs: error: cannot open the lock store %s: %s; check the path and its permissions, or run: lokt --root %s doctor\n",
			root, lokt_strerror(r), root);
		goto out;
	}
	if (name_mount(&args, root) < 0)
		goto out;
	ret = run(&args, &cmd, mountpoint, &fs);
out:
	lokt_store_close(fs.store);
	free(mountpoint);
	free(root);
	free(cmd.mountpoint);
	free(o.args[0]);
	free(o.args[1]);
	free(o.root);
	free(o.default_ttl);
	free(o.freeze_ttl);
	free(o.lock_wait);
	fuse_opt_free_args(&args);
	return ret;
}
