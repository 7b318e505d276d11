// SPDX-License-Identifier: MIT
/*
 * Who asks, and whether a holder still stands. Owner and agent come from
 * the environment ($LOKT_OWNER, $LOKT_AGENT_ID) or the user database; the
 * holder is a process, named by its pid and its start time (field 22 of
 * /proc/<pid>/stat) so that a pid reused by an unrelated process is told
 * apart. Everything here reads /proc: Linux only.
 *
 * The staleness rule lives here and only here (lokt__judge): TTL first,
 * then, for a holder on this host, a dead or reused pid. A holder on
 * another host cannot be checked and is judged by its TTL alone; so is
 * one of another pid namespace on this host (a container's, whose host
 * name may be the host's own): its pid means another process here.
 *
 * A listing judges thousands of records, often of a few holders: inside
 * lokt__judge_batch_begin/end (one thread's listing), a holder seen twice
 * gets a pidfd, and every later record of it costs one poll(2) of that
 * pidfd instead of reading /proc again. Nothing is taken on trust: the
 * pidfd says whether that very process has exited at the instant of each
 * judgement, and a live process's start time never changes.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define ANCESTRY_MAX 4096 /* steps up a ppid chain before giving up */

/* One read(2) of a /proc file into buf (size-1 bytes at most),
 * NUL-terminated: /proc/<pid>/stat, cmdline and environ hand over as much
 * as fits in the first read, so a second read would only say end of file.
 * Length or -errno; a vanished process is -ESRCH. */
static ssize_t read_proc_once(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = errno == ESRCH ? -ESRCH : -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* The fields of /proc/<pid>/stat we use. comm (field 2) is in parentheses
 * and may itself contain spaces and ')', so the fields after it are found
 * from the LAST ')'. It is the task's comm unescaped, as /proc/<pid>/comm
 * gives it (without the newline): one read for both. */
struct proc_stat {
	char comm[64];	/* field 2 */
	char state;	/* field 3 */
	pid_t ppid;	/* field 4 */
	uint64_t start; /* field 22 */
};

static int read_stat(pid_t pid, struct proc_stat *ret)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v;
	ssize_t n;
	int field;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_proc_once(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	p = strrchr(buf, ')');
	end = strchr(buf, '(');
	if (!p || p[1] != ' ' || !end || end > p)
		return -EIO;
	snprintf(ret->comm, sizeof(ret->comm), "%.*s", (int)(p - end - 1),
		 end + 1);
	p += 2;
	ret->state = *p;
	/* p is at field 3; walk to fields 4 and 22. */
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
		if (field + 1 == 4 || field + 1 == 22) {
			errno = 0;
			v = strtoull(p, &end, 10);
			if (errno || end == p)
				return -EIO;
			if (field + 1 == 4)
				ret->ppid = (pid_t)v;
			else
				ret->start = v;
		}
	}
	return 0;
}

void lokt__hostname(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0 || !buf[0])
		snprintf(buf, size, "localhost");
	buf[size - 1] = '\0';
}

int lokt__pid_start(pid_t pid, uint64_t *ret)
{
	struct proc_stat st;
	int r = read_stat(pid, &st);

	if (r < 0)
		return r;
	*ret = st.start;
	return 0;
}

int lokt__pid_parent(pid_t pid, pid_t *ret)
{
	struct proc_stat st;
	int r = read_stat(pid, &st);

	if (r < 0)
		return r;
	*ret = st.ppid;
	return 0;
}

bool lokt__is_descendant(pid_t pid, pid_t ancestor, uint64_t ancestor_start)
{
	uint64_t start;
	pid_t p = pid;

	if (ancestor <= 0 || pid <= 0)
		return false;
	if (ancestor_start &&
	    (lokt__pid_start(ancestor, &start) < 0 || start != ancestor_start))
		return false;
	for (int i = 0; i < ANCESTRY_MAX; i++) {
		if (p == ancestor)
			return true;
		if (p <= 1 || lokt__pid_parent(p, &p) < 0)
			return false;
	}
	return false;
}

/* The holders met in this thread's listing (lokt__judge_batch_begin):
 * pid, start time and, from the second meeting on, a pidfd of that
 * process. At most MEMO_MAX holders; others are read from /proc each
 * time, as outside a listing. */
#define MEMO_MAX 64

struct memo {
	pid_t pid;
	uint64_t start;
	int pidfd; /* -1: met once, no pidfd yet */
};

static __thread struct {
	bool on;
	size_t n;
	struct memo v[MEMO_MAX];
} batch;

void lokt__judge_batch_begin(void)
{
	batch.on = true;
	batch.n = 0;
}

void lokt__judge_batch_end(void)
{
	for (size_t i = 0; i < batch.n; i++)
		if (batch.v[i].pidfd >= 0)
			close(batch.v[i].pidfd);
	batch.on = false;
	batch.n = 0;
}

/* Has the process of pidfd exited (a zombie, or reaped)? A pidfd polls
 * readable from the moment its process exits, as a zombie reads 'Z'. */
static bool pidfd_exited(int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};

	return poll(&p, 1, 0) != 0;
}

/* Alive means: /proc/<pid>/stat exists and is not a zombie's (one that
 * has exited and only waits to be reaped); or it cannot be read but
 * kill(2) finds the process: hidden from us (/proc mounted with
 * hidepid=invisible or systemd's ProtectProc=invisible: another user's
 * process has no entry), or not read for want of a descriptor or memory.
 * Its start time is then unknown (*unknown): a pid reused since cannot
 * be told from the holder, and the lock stays live, never broken under
 * a holder that runs. Dead only when kill(2) says ESRCH too. */
static bool stat_alive(pid_t pid, struct proc_stat *st, bool *unknown)
{
	bool exited;
	int fd;

	*unknown = false;
	if (read_stat(pid, st) == 0)
		return st->state != 'Z' && st->state != 'X';
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	/* kill(2) finds a zombie too, and a hidden one shows no state: a
	 * pidfd (no /proc, no permission needed) polls readable once its
	 * process has exited. None to be had (a thread's id): unknown. */
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	exited = fd >= 0 && pidfd_exited(fd);
	if (fd >= 0)
		close(fd);
	if (exited)
		return false;
	*unknown = true;
	st->start = 0;
	return true;
}

/* A second meeting of m's pid: a pidfd of that process. Opened before
 * its stat is read, and kept only when the process is still running
 * after the read: then the pidfd and the stat are of one process (its
 * pid could not be reused while it ran). Alive or not, as stat_alive. */
static bool memo_pidfd(struct memo *m, struct proc_stat *st, bool *unknown)
{
	int fd = (int)syscall(SYS_pidfd_open, m->pid, 0);
	bool alive = stat_alive(m->pid, st, unknown);

	if (fd < 0)
		return alive;
	if (alive && !*unknown && !pidfd_exited(fd)) {
		m->start = st->start;
		m->pidfd = fd;
	} else {
		close(fd);
	}
	return alive;
}

/* Judge pid through the listing's memo: 1 alive (start in *ret_start,
 * unless *unknown: stat_alive), 0 dead. */
static bool memo_alive(pid_t pid, uint64_t *ret_start, bool *unknown)
{
	struct proc_stat st;
	struct memo *m = NULL;
	bool alive;

	*unknown = false;
	for (size_t i = 0; i < batch.n; i++)
		if (batch.v[i].pid == pid)
			m = &batch.v[i];
	if (m && m->pidfd >= 0) {
		if (!pidfd_exited(m->pidfd)) {
			*ret_start = m->start;
			return true;
		}
		/* Exited: judged from /proc again (dead, or its pid reused),
		 * and a pidfd of whatever runs under that pid next time. */
		close(m->pidfd);
		m->pidfd = -1;
	}
	if (m) {
		alive = memo_pidfd(m, &st, unknown);
	} else {
		alive = stat_alive(pid, &st, unknown);
		if (alive && !*unknown && batch.n < MEMO_MAX)
			batch.v[batch.n++] =
				(struct memo){.pid = pid, .pidfd = -1};
	}
	*ret_start = st.start;
	return alive;
}

/* This thread's process as last seen: its pid, and its start time once
 * read from /proc. Forgotten in a fork's child (pthread_atfork); a child
 * made without fork(3) (a raw clone) still has its parent's here until
 * it asks about that pid: getpid(2) then tells, and it learns its own. */
static __thread struct {
	pid_t pid;
	uint64_t start; /* 0: not read yet */
} self;

/* The inode of this process's pid namespace, once read (lokt__pid_ns);
 * 0: not read yet. Every thread's, and forgotten in a fork's child, which
 * may be the first process of a new namespace (unshare --pid --fork). */
static uint64_t own_pid_ns;

static void self_forget(void)
{
	self.pid = 0;
	self.start = 0;
	__atomic_store_n(&own_pid_ns, 0, __ATOMIC_RELAXED);
}

static void self_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, self_forget);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A process stays in the pid namespace it started in (unshare(2) and
 * setns(2) move only its children to come): one stat(2) per process. */
uint64_t lokt__pid_ns(void)
{
	uint64_t ns = __atomic_load_n(&own_pid_ns, __ATOMIC_RELAXED);
	struct stat st;

	if (ns)
		return ns;
	(void)pthread_once(&atfork_once, self_atfork);
	if (stat("/proc/self/ns/pid", &st) < 0)
		return 0; /* no /proc: unknown, as in lokt 1.x's records */
	__atomic_store_n(&own_pid_ns, (uint64_t)st.st_ino, __ATOMIC_RELAXED);
	return (uint64_t)st.st_ino;
}

/* Are the pids of a record of pid namespace ns (0: unknown) numbered as
 * asker's (0: unknown)? Unknown on either side is yes, as before records
 * said. */
static bool same_pid_ns(uint64_t ns, uint64_t asker)
{
	return !ns || !asker || ns == asker;
}

/* Is pid this very process? Then it is alive, and its start time is
 * known without /proc: a holder releasing or renewing its own lock is
 * judged in one getpid(2), and any other pid costs nothing here once
 * this process is known. */
static bool is_self(pid_t pid, uint64_t *ret_start)
{
	pid_t me;

	if (self.pid && pid != self.pid)
		return false;
	(void)pthread_once(&atfork_once, self_atfork);
	me = getpid();
	if (self.pid != me) {
		self.pid = me;
		self.start = 0;
	}
	if (pid != me ||
	    (!self.start && lokt__pid_start(me, &self.start) < 0))
		return false;
	*ret_start = self.start;
	return true;
}

static enum lokt_stale judge_pid(pid_t pid, uint64_t want_start)
{
	struct proc_stat st;
	bool unknown = false;
	uint64_t start;

	if (pid <= 0)
		return LOKT_STALE_DEAD;
	if (is_self(pid, &start)) {
		/* alive, start known */
	} else if (batch.on) {
		if (!memo_alive(pid, &start, &unknown))
			return LOKT_STALE_DEAD;
	} else {
		if (!stat_alive(pid, &st, &unknown))
			return LOKT_STALE_DEAD;
		start = st.start;
	}
	if (want_start && !unknown && start != want_start)
		return LOKT_STALE_REUSED;
	return LOKT_LIVE;
}

enum lokt_stale lokt__judge(const struct lokt_record *rec, const char *host,
			    const struct timespec *now, bool check_pid,
			    bool *ret_local, bool *ret_kept)
{
	bool local = strcmp(rec->host, host) == 0 &&
		     same_pid_ns(rec->pid_ns, lokt__pid_ns());
	enum lokt_stale st;

	if (ret_local)
		*ret_local = local;
	if (ret_kept)
		*ret_kept = false;
	if (rec->ttl_sec > 0 && lokt__ms_between(now, &rec->expires) >= 0)
		return LOKT_STALE_EXPIRED;
	if (!check_pid || !local)
		return LOKT_LIVE;
	st = rec->pid > INT32_MAX ? LOKT_STALE_DEAD :
				    judge_pid((pid_t)rec->pid, rec->pid_start);
	/* A dead holder's keeper that still runs keeps the lock live. */
	if (st != LOKT_LIVE && rec->keeper_pid > 0 &&
	    rec->keeper_pid <= INT32_MAX &&
	    judge_pid((pid_t)rec->keeper_pid, rec->keeper_start) == LOKT_LIVE) {
		if (ret_kept)
			*ret_kept = true;
		return LOKT_LIVE;
	}
	return st;
}

bool lokt__init_holds(const struct lokt_who *who, int64_t ttl_sec)
{
	return who->pid == LOKT_DETACHED_PID && ttl_sec == 0 &&
	       (getpid() != LOKT_DETACHED_PID || who->via);
}

LOKT_API bool lokt_is_detached(const struct lokt_record *rec)
{
	return rec && rec->pid == LOKT_DETACHED_PID;
}

/* Does who ask through a door that acts for every user and tells them
 * apart by uid (the kernel's word): the mount (who->via "loktfs"), or
 * loktd for a local caller of another uid than loktd's ("loktd" without
 * tokens: its uid is the caller's socket's, loktd/peer.c). With tokens
 * loktd acts with its own uid, and as itself it may do what its rights
 * let it, as the same user may with lokt. */
static bool door(const struct lokt_who *who)
{
	if (!who->via)
		return false;
	if (!strcmp(who->via, "loktfs"))
		return true;
	return !strcmp(who->via, "loktd") && who->uid != geteuid();
}

/* Does who own rec: may it release the lock, renew it, extend or lift
 * the freeze? The same owner name; through a door (above), also the
 * record's uid, unless the caller is root: the owner name there is a
 * claim (LOKT_OWNER in the caller's environment, a request's "owner"),
 * the uid the kernel's word (loktfs(8) and loktd(8), SECURITY). A record
 * whose uid is not known is only root's, there. */
bool lokt__owns(const struct lokt_record *rec, const struct lokt_who *who)
{
	if (strcmp(rec->owner, who->owner) != 0)
		return false;
	return lokt__may_force(rec, who);
}

bool lokt__may_force(const struct lokt_record *rec, const struct lokt_who *who)
{
	if (!door(who) || who->uid == 0)
		return true;
	return rec->uid >= 0 && (uid_t)rec->uid == who->uid;
}

bool lokt__holds(const struct lokt_record *rec, const struct lokt_who *who)
{
	/* An agent id is a name anyone may read in the lock file, not a
	 * secret: it stands for the holder only for callers of the lock's
	 * uid. (A record without uid, from lokt 1.x, was given its file's
	 * owner when read.) */
	if (rec->agent_id[0] && who->agent_id[0])
		return strcmp(rec->agent_id, who->agent_id) == 0 &&
		       (rec->uid < 0 || (uid_t)rec->uid == who->uid);
	/* A detached lock (pid 1: every process descends from it) with an
	 * agent id is that agent's alone: a lock taken over HTTP (agent
	 * http:...) was re-entered, and renewed, by any local process of
	 * its owner, which then worked under it beside the HTTP client. A
	 * detached lock without one stays the owner's (lokt lock --detach:
	 * the owner's next lock renews it). */
	if (rec->agent_id[0] && rec->pid == LOKT_DETACHED_PID)
		return false;
	if (strcmp(rec->host, who->host) != 0 ||
	    !same_pid_ns(rec->pid_ns, who->pid_ns) || !lokt__owns(rec, who) ||
	    rec->pid > INT32_MAX)
		return false;
	return lokt__is_descendant(who->pid, (pid_t)rec->pid, rec->pid_start);
}

LOKT_API bool lokt_holds(const struct lokt_record *rec,
			 const struct lokt_who *who)
{
	return rec && who && lokt__holds(rec, who);
}

int lokt__new_id(char out[LOKT_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[LOKT_ID_LEN / 2];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0xf];
	}
	out[LOKT_ID_LEN] = '\0';
	return 0;
}

/* Copy value into dst[size]; -EINVAL when too long (never truncate: a
 * truncated owner could equal someone else's). */
static int copy_str(char *dst, size_t size, const char *value)
{
	size_t len = strlen(value);

	if (len >= size)
		return -EINVAL;
	memcpy(dst, value, len + 1);
	return 0;
}

/* The user name of uid, else the uid as a number. */
static void user_name(uid_t uid, char *buf, size_t size)
{
	if (lokt_user_of(uid, buf, size, NULL) < 0 || !buf[0])
		snprintf(buf, size, "%u", (unsigned)uid);
}

/* Owner: the given one, else the user name of w->uid; agent: as given. */
static int fill_names(struct lokt_who *w, const char *owner, const char *agent)
{
	int r;

	if (owner && owner[0]) {
		r = copy_str(w->owner, sizeof(w->owner), owner);
		if (r < 0)
			return r;
	} else {
		user_name(w->uid, w->owner, sizeof(w->owner));
	}
	return agent ? copy_str(w->agent_id, sizeof(w->agent_id), agent) : 0;
}

/* The holder and its start time: read from /proc, unless known (start:
 * read with the holder's stat just before). */
static int fill_holder(pid_t holder, const uint64_t *start,
		       struct lokt_who *w)
{
	lokt__hostname(w->host, sizeof(w->host));
	w->pid = holder;
	w->pid_ns = lokt__pid_ns();
	if (start) {
		w->pid_start = *start;
		return 0;
	}
	return lokt__pid_start(holder, &w->pid_start);
}

LOKT_API int lokt_who_self(pid_t holder, struct lokt_who *ret)
{
	struct lokt_who w = {.uid = getuid()};
	const char *owner = getenv("LOKT_OWNER");
	const char *agent = getenv("LOKT_AGENT_ID");
	int r;

	if (!ret)
		return -EINVAL;
	r = fill_names(&w, owner, agent);
	if (r == 0)
		r = fill_holder(holder, NULL, &w);
	if (r == 0)
		r = lokt__who_check(&w); /* $LOKT_OWNER not UTF-8 */
	if (r < 0)
		return r;
	/* pid 1 is some init in every pid namespace: no start time, so that
	 * a reader in another namespace does not call a detached lock's
	 * holder reused. */
	if (holder == LOKT_DETACHED_PID)
		w.pid_start = 0;
	*ret = w;
	return 0;
}

/* Value of `key` in a NUL-separated environment block, or NULL. */
static const char *env_lookup(const char *env, size_t len, const char *key)
{
	size_t klen = strlen(key);
	const char *p = env, *end = env + len;

	while (p < end) {
		size_t n = strnlen(p, (size_t)(end - p));

		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		p += n + 1;
	}
	return NULL;
}

static bool shell_name(const char *name, bool busybox_ok)
{
	static const char *const shells[] = {"bash", "sh",   "dash", "zsh",
					     "ksh",  "mksh", "fish", "ash"};

	if (!strcmp(name, "busybox"))
		return busybox_ok;
	for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
		if (!strcmp(name, shells[i]))
			return true;
	return false;
}

/* Is process pid (whose comm is given) a shell? By comm: "bash", "sh"...
 * A script run through its #! line has the script's name as comm, so the
 * executable (/proc/<pid>/exe) is asked too, except for busybox, whose
 * applets (touch, cp...) all share one executable. */
static bool is_shell(pid_t pid, const char *comm)
{
	char path[64], exe[4096];
	const char *base;
	ssize_t n;

	if (shell_name(comm, true))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
		exe[n - 10] = '\0'; /* the shell was upgraded meanwhile */
	base = strrchr(exe, '/');
	return shell_name(base ? base + 1 : exe, false);
}

LOKT_API int lokt_who_caller(pid_t caller, uid_t uid, struct lokt_who *ret)
{
	struct lokt_who w = {.uid = uid};
	const char *owner = NULL, *agent = NULL;
	struct proc_stat st;
	pid_t holder = caller;
	bool self_holds = true;
	char path[64], *env;
	ssize_t envlen;
	int r;

	if (!ret)
		return -EINVAL;
	/* The caller's comm, parent and start time, in one read. */
	r = read_stat(caller, &st);
	if (r < 0)
		return r;
	if (!is_shell(caller, st.comm) && st.ppid > 0) {
		holder = st.ppid; /* not init: its parent holds */
		self_holds = false;
	}

	/* The environment at exec time, which is what a user set with
	 * `LOKT_OWNER=x touch ...`; unreadable (another user's process and
	 * we are not root) means the defaults. */
	env = malloc(256 * 1024);
	if (!env)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)caller);
	envlen = read_proc_once(path, env, 256 * 1024);
	if (envlen > 0) {
		owner = env_lookup(env, (size_t)envlen, "LOKT_OWNER");
		agent = env_lookup(env, (size_t)envlen, "LOKT_AGENT_ID");
	}
	r = fill_names(&w, owner, agent);
	free(env);
	if (r == 0)
		r = fill_holder(holder, self_holds ? &st.start : NULL, &w);
	if (r < 0)
		return r;
	*ret = w;
	return 0;
}

LOKT_API int lokt_proc_cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64], comm[64];
	ssize_t n;

	if (!buf || size == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = pid > 0 ? read_proc_once(path, buf, size) : -ESRCH;
	if (n < 0)
		return (int)n;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	if (n > 0)
		return 0;
	/* Kernel threads and zombies have no command line: show comm. */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = read_proc_once(path, comm, sizeof(comm));
	if (n < 0)
		return (int)n;
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(buf, size, "[%s]", comm);
	return 0;
}
