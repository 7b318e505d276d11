// SPDX-License-Identifier: MIT
/*
 * Identity and staleness with real processes: children are forked, killed
 * and reaped, and the judgement of a record naming them is checked at
 * each step. Nothing here asserts a duration; waits are for a state.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "unit.h"

static char host[LOKT_STR_MAX];

static void setup(void)
{
	lokt__hostname(host, sizeof(host));
}

/* A child that sleeps until killed. */
static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A record held by pid on this host, no TTL. */
static struct lokt_record rec_for(pid_t pid)
{
	struct lokt_record r = { .version = 1, .pid = pid, .uid = -1 };

	strcpy(r.name, "x");
	strcpy(r.owner, "alice");
	strcpy(r.host, host);
	lokt__now(&r.acquired);
	if (pid > 0 && lokt__pid_start(pid, &r.pid_start) < 0)
		r.pid_start = 0;
	return r;
}

static enum lokt_stale judge(const struct lokt_record *r, bool check_pid,
			     bool *local)
{
	struct timespec now;

	lokt__now(&now);
	return lokt__judge(r, host, &now, check_pid, local, NULL);
}

/* Wait (generously) until pid is a zombie. */
static void wait_zombie(pid_t pid)
{
	char path[64], buf[512], *p;
	const struct timespec pause_ts = { 0, 10 * 1000 * 1000 };

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(path, "r");

		cr_assert_not_null(f);
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
		fclose(f);
		p = strrchr(buf, ')');
		if (p && p[2] == 'Z')
			return;
		nanosleep(&pause_ts, NULL);
	}
	cr_assert_fail("%d never became a zombie", (int)pid);
}

TestSuite(judge, .init = setup);
TestSuite(holds, .init = setup);
TestSuite(who, .init = setup);

Test(judge, live_then_dead)
{
	pid_t pid = spawn_sleeper();
	struct lokt_record r = rec_for(pid);
	bool local = false;

	cr_assert_neq(r.pid_start, 0);
	cr_expect_eq(judge(&r, true, &local), LOKT_LIVE);
	cr_expect(local);
	kill_reap(pid);
	cr_expect_eq(judge(&r, true, &local), LOKT_STALE_DEAD);
}

Test(judge, zombie_is_dead)
{
	pid_t pid = spawn_sleeper();
	struct lokt_record r = rec_for(pid);

	kill(pid, SIGKILL);
	wait_zombie(pid);
	cr_expect_eq(kill(pid, 0), 0, "a zombie still exists for kill(0)");
	cr_expect_eq(judge(&r, true, NULL), LOKT_STALE_DEAD);
	waitpid(pid, NULL, 0);
}

Test(judge, reused_pid)
{
	pid_t pid = spawn_sleeper();
	struct lokt_record r = rec_for(pid);

	r.pid_start += 1; /* as if another process had had this pid */
	cr_expect_eq(judge(&r, true, NULL), LOKT_STALE_REUSED);
	r.pid_start = 0; /* unknown start time: pid alone decides */
	cr_expect_eq(judge(&r, true, NULL), LOKT_LIVE);
	kill_reap(pid);
}

/* A holder judging its own record is known alive without /proc
 * (core/identity.c keeps its own pid and start time): a record of our
 * pid with another start time is still REUSED; and a forked child does
 * not take its parent for itself: once the parent has exited, the
 * parent's record is DEAD to the child, though the parent had judged it
 * as its own before the fork. */
Test(judge, own_record_and_after_a_fork)
{
	struct lokt_record mine = rec_for(getpid());
	int res[2], status;
	char verdict = 0;
	pid_t mid;

	cr_assert_eq(pipe(res), 0);
	mid = fork();
	cr_assert(mid >= 0);
	if (mid == 0) {
		struct lokt_record r = rec_for(getpid());
		pid_t child;

		if (judge(&r, true, NULL) != LOKT_LIVE)
			_exit(1);
		child = fork();
		if (child < 0)
			_exit(1);
		if (child == 0) {
			/* Once our parent has exited, judge its record. */
			for (int i = 0; getppid() == r.pid && i < 3000; i++)
				usleep(10000);
			verdict = judge(&r, true, NULL) == LOKT_STALE_DEAD ?
					  'D' :
					  'L';
			_exit(write(res[1], &verdict, 1) == 1 ? 0 : 1);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(mid, &status, 0), mid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(res[1]);
	cr_assert_eq(read(res[0], &verdict, 1), 1);
	cr_expect_eq(verdict, 'D', "the child took its exited parent for itself");
	close(res[0]);
	/* Judged after the fork: mid must have learned itself, not us. */
	cr_expect_eq(judge(&mine, true, NULL), LOKT_LIVE);
	mine.pid_start += 1;
	cr_expect_eq(judge(&mine, true, NULL), LOKT_STALE_REUSED);
}

/* Inside a listing (lokt__judge_batch_begin), a holder met again is
 * judged through a pidfd: it must say what /proc says, at each call,
 * whatever happened to the holder since the last one. */
Test(judge, batch_is_never_stale)
{
	pid_t pid = spawn_sleeper(), other = spawn_sleeper();
	struct lokt_record r = rec_for(pid), o = rec_for(other);
	struct lokt_record wrong = r;

	wrong.pid_start += 1;
	lokt__judge_batch_begin();
	for (int i = 0; i < 3; i++) { /* met once, then by pidfd */
		cr_expect_eq(judge(&r, true, NULL), LOKT_LIVE, "round %d", i);
		cr_expect_eq(judge(&wrong, true, NULL), LOKT_STALE_REUSED);
		cr_expect_eq(judge(&o, true, NULL), LOKT_LIVE);
	}
	kill(pid, SIGKILL);
	wait_zombie(pid);
	cr_expect_eq(judge(&r, true, NULL), LOKT_STALE_DEAD, "a zombie");
	waitpid(pid, NULL, 0);
	cr_expect_eq(judge(&r, true, NULL), LOKT_STALE_DEAD, "reaped");
	cr_expect_eq(judge(&o, true, NULL), LOKT_LIVE, "the other lives");
	kill_reap(other);
	cr_expect_eq(judge(&o, true, NULL), LOKT_STALE_DEAD, "and dies");
	lokt__judge_batch_end();
	cr_expect_eq(judge(&o, true, NULL), LOKT_STALE_DEAD, "after the batch");
}

Test(judge, ttl)
{
	struct lokt_record r = rec_for(getpid());

	r.ttl_sec = 5;
	r.acquired.tv_sec -= 10;
	r.expires = r.acquired;
	r.expires.tv_sec += r.ttl_sec;
	cr_expect_eq(judge(&r, true, NULL), LOKT_STALE_EXPIRED,
		     "expired although the holder lives");
	r.ttl_sec = 60;
	r.expires.tv_sec = r.acquired.tv_sec + 60;
	cr_expect_eq(judge(&r, true, NULL), LOKT_LIVE);
}

Test(judge, remote_by_ttl_only)
{
	pid_t pid = spawn_sleeper();
	struct lokt_record r = rec_for(pid);
	bool local = true;

	kill_reap(pid);
	strcpy(r.host, "another-host.example");
	cr_expect_eq(judge(&r, true, &local), LOKT_LIVE,
		     "a remote pid cannot be checked");
	cr_expect_not(local);
	r.ttl_sec = 1;
	r.expires = r.acquired;
	r.acquired.tv_sec -= 5;
	r.expires.tv_sec -= 4;
	cr_expect_eq(judge(&r, true, &local), LOKT_STALE_EXPIRED);
}

Test(judge, freeze_by_ttl_only)
{
	pid_t pid = spawn_sleeper();
	struct lokt_record r = rec_for(pid);

	kill_reap(pid);
	cr_expect_eq(judge(&r, false, NULL), LOKT_LIVE,
		     "a freeze outlives the process that made it");
}

Test(judge, absurd_pid)
{
	struct lokt_record r = rec_for(getpid());

	r.pid = (int64_t)INT32_MAX + 5;
	r.pid_start = 0;
	cr_expect_eq(judge(&r, true, NULL), LOKT_STALE_DEAD);
}

Test(judge, pid_start_with_hostile_comm)
{
	int fds[2];
	uint64_t child_view = 0, our_view = 0;
	pid_t pid, parent = 0;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		uint64_t start = 0;

		lokt__pid_start(getpid(), &start);
		prctl(PR_SET_NAME, "a) b ) 1 2 (");
		if (write(fds[1], &start, sizeof(start)) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_eq(read(fds[0], &child_view, sizeof(child_view)),
		     sizeof(child_view));
	cr_assert_eq(lokt__pid_start(pid, &our_view), 0);
	cr_expect_eq(our_view, child_view);
	cr_expect_neq(our_view, 0);
	cr_assert_eq(lokt__pid_parent(pid, &parent), 0);
	cr_expect_eq(parent, getpid());
	kill_reap(pid);
	cr_expect_eq(lokt__pid_start(pid, &our_view), -ESRCH);
	cr_expect_eq(lokt__pid_parent(pid, &parent), -ESRCH);
}

static struct lokt_who who_for(pid_t pid, const char *owner)
{
	struct lokt_who w = { .pid = pid, .uid = getuid() };

	strcpy(w.owner, owner);
	strcpy(w.host, host);
	lokt__pid_start(pid, &w.pid_start);
	return w;
}

Test(holds, holder_and_descendants)
{
	struct lokt_record r = rec_for(getpid());
	struct lokt_who self = who_for(getpid(), "alice");
	pid_t child, grandchild;
	int fds[2];

	cr_expect(lokt__holds(&r, &self));
	child = spawn_sleeper();
	struct lokt_who kid = who_for(child, "alice");
	cr_expect(lokt__holds(&r, &kid), "a child of the holder re-enters");
	/* The public lokt_holds answers the same, and no for nothing. */
	cr_expect(lokt_holds(&r, &kid));
	cr_expect_not(lokt_holds(NULL, &kid));
	cr_expect_not(lokt_holds(&r, NULL));

	/* A grandchild: child forks and reports its own child's pid. */
	cr_assert_eq(pipe(fds), 0);
	pid_t mid = fork();
	cr_assert(mid >= 0);
	if (mid == 0) {
		pid_t g = fork();
		if (g == 0) {
			for (;;)
				pause();
		}
		if (write(fds[1], &g, sizeof(g)) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_eq(read(fds[0], &grandchild, sizeof(grandchild)),
		     sizeof(grandchild));
	struct lokt_who gk = who_for(grandchild, "alice");
	cr_expect(lokt__holds(&r, &gk), "a grandchild re-enters");

	/* The holder's parent is not inside its subtree. */
	struct lokt_who parent = who_for(getppid(), "alice");
	cr_expect_not(lokt__holds(&r, &parent));

	/* The holder's record names the child: the test process (its
	 * parent) is outside. */
	struct lokt_record rc = rec_for(child);
	cr_expect_not(lokt__holds(&rc, &self));
	cr_expect(lokt__holds(&rc, &kid));

	kill(grandchild, SIGKILL);
	kill_reap(mid);
	kill_reap(child);
}

Test(holds, owner_host_and_start_must_match)
{
	struct lokt_record r = rec_for(getpid());
	struct lokt_who w = who_for(getpid(), "bob");

	cr_expect_not(lokt__holds(&r, &w), "another owner");
	w = who_for(getpid(), "alice");
	strcpy(w.host, "elsewhere");
	cr_expect_not(lokt__holds(&r, &w), "another host");
	w = who_for(getpid(), "alice");
	r.pid_start += 1;
	cr_expect_not(lokt__holds(&r, &w), "the holder pid was reused");
}

Test(holds, agent_ids)
{
	struct lokt_record r = rec_for(getpid());
	struct lokt_who w = who_for(getppid(), "bob");

	strcpy(r.agent_id, "agent-1");
	strcpy(w.agent_id, "agent-1");
	cr_expect(lokt__holds(&r, &w), "same agent id, anywhere");
	w = who_for(getpid(), "alice");
	strcpy(w.agent_id, "agent-2");
	cr_expect_not(lokt__holds(&r, &w), "another agent id, same process");
	w.agent_id[0] = '\0';
	cr_expect(lokt__holds(&r, &w), "no agent id: the process rule");
}

/* An agent id can be read in the lock file by anyone: it stands for the
 * holder only for callers of the lock's uid (through every door). */
Test(holds, agent_id_needs_the_lock_uid)
{
	struct lokt_record r = rec_for(getpid());
	struct lokt_who w = who_for(getppid(), "bob");

	strcpy(r.agent_id, "agent-1");
	strcpy(w.agent_id, "agent-1");
	r.uid = 1000;
	w.uid = 1000;
	cr_expect(lokt__holds(&r, &w), "same agent id, same uid");
	w.uid = 1001;
	cr_expect_not(lokt__holds(&r, &w), "same agent id, another uid");
	w.uid = 0;
	cr_expect_not(lokt__holds(&r, &w), "not even root by agent id");
	r.uid = -1;
	cr_expect(lokt__holds(&r, &w), "a record of unknown uid: any");
}

Test(holds, is_descendant_bounds)
{
	cr_expect(lokt__is_descendant(getpid(), getpid(), 0));
	cr_expect(lokt__is_descendant(getpid(), 1, 0));
	cr_expect_not(lokt__is_descendant(1, getpid(), 0));
	cr_expect_not(lokt__is_descendant(getpid(), 0, 0));
	cr_expect_not(lokt__is_descendant(0, getpid(), 0));
	cr_expect_not(lokt__is_descendant(getpid(), -1, 0));
}

Test(who, self)
{
	struct lokt_who w;
	uint64_t start;

	setenv("LOKT_OWNER", "zed", 1);
	setenv("LOKT_AGENT_ID", "bot-9", 1);
	cr_assert_eq(lokt_who_self(getppid(), &w), 0);
	cr_expect_str_eq(w.owner, "zed");
	cr_expect_str_eq(w.agent_id, "bot-9");
	cr_expect_str_eq(w.host, host);
	cr_expect_eq(w.pid, getppid());
	cr_assert_eq(lokt__pid_start(getppid(), &start), 0);
	cr_expect_eq(w.pid_start, start);
	cr_expect_eq(w.uid, getuid());
	cr_expect_null(w.via);

	unsetenv("LOKT_OWNER");
	unsetenv("LOKT_AGENT_ID");
	cr_assert_eq(lokt_who_self(getpid(), &w), 0);
	struct passwd *pw = getpwuid(getuid());
	cr_assert_not_null(pw);
	cr_expect_str_eq(w.owner, pw->pw_name);
	cr_expect_str_eq(w.agent_id, "");
}

Test(who, self_gone_holder)
{
	pid_t pid = spawn_sleeper();
	struct lokt_who w;

	kill_reap(pid);
	cr_expect_eq(lokt_who_self(pid, &w), -ESRCH);
}

Test(who, owner_too_long)
{
	char owner[LOKT_STR_MAX + 8];
	struct lokt_who w;

	memset(owner, 'o', sizeof(owner) - 1);
	owner[sizeof(owner) - 1] = '\0';
	setenv("LOKT_OWNER", owner, 1);
	cr_expect_eq(lokt_who_self(getpid(), &w), -EINVAL);
}

Test(who, owner_not_utf8)
{
	struct lokt_who w;

	setenv("LOKT_OWNER", "caf\xe9", 1);
	cr_expect_eq(lokt_who_self(getpid(), &w), -EINVAL);
	setenv("LOKT_OWNER", "caf\xc3\xa9", 1);
	cr_expect_eq(lokt_who_self(getpid(), &w), 0);
	cr_expect_str_eq(w.owner, "caf\xc3\xa9");
	setenv("LOKT_AGENT_ID", "a\xff", 1);
	cr_expect_eq(lokt_who_self(getpid(), &w), -EINVAL);
	unsetenv("LOKT_AGENT_ID");
	unsetenv("LOKT_OWNER");
}

/* Children of pid, from /proc/<pid>/task/<pid>/children. */
static pid_t first_child(pid_t pid)
{
	char path[96];
	int child = 0;
	const struct timespec pause_ts = { 0, 10 * 1000 * 1000 };

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
		 (int)pid);
	for (int i = 0; i < 3000 && child <= 0; i++) {
		FILE *f = fopen(path, "r");

		if (!f || fscanf(f, "%d", &child) != 1)
			child = 0;
		if (f)
			fclose(f);
		if (child <= 0)
			nanosleep(&pause_ts, NULL);
	}
	cr_assert_gt(child, 0, "%d never forked", (int)pid);
	return child;
}

/* Wait until /proc/<pid>/comm is want. */
static void wait_comm(pid_t pid, const char *want)
{
	char path[64], buf[64] = "";
	const struct timespec pause_ts = { 0, 10 * 1000 * 1000 };

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(path, "r");

		if (f && fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\n")] = '\0';
		if (f)
			fclose(f);
		if (!strcmp(buf, want))
			return;
		nanosleep(&pause_ts, NULL);
	}
	cr_assert_fail("%d is \"%s\", never \"%s\"", (int)pid, buf, want);
}

Test(who, caller_shell_holds_else_parent)
{
	char *const env[] = { "LOKT_OWNER=mallory", "LOKT_AGENT_ID=ag-3",
			      "PATH=/usr/bin:/bin", NULL };
	pid_t sh, sleeper;
	struct lokt_who w;
	char cmd[256];

	unsetenv("LOKT_OWNER");
	sh = fork();
	cr_assert(sh >= 0);
	if (sh == 0) {
		execle("/bin/sh", "sh", "-c", "sleep 300; true", (char *)NULL,
		       env);
		_exit(127);
	}
	wait_comm(sh, "sh");
	sleeper = first_child(sh);
	wait_comm(sleeper, "sleep");
	/* comm changes early in exec, the command line and environment a
	 * little later: wait for the command line too. */
	for (int i = 0; i < 3000; i++) {
		const struct timespec pause_ts = { 0, 10 * 1000 * 1000 };

		if (lokt_proc_cmdline(sleeper, cmd, sizeof(cmd)) == 0 &&
		    !strcmp(cmd, "sleep 300"))
			break;
		nanosleep(&pause_ts, NULL);
	}

	cr_assert_eq(lokt_who_caller(sh, 4321, &w), 0);
	cr_expect_eq(w.pid, sh, "a shell caller holds");
	cr_expect_str_eq(w.owner, "mallory");
	cr_expect_str_eq(w.agent_id, "ag-3");
	cr_expect_eq(w.uid, 4321);

	cr_assert_eq(lokt_who_caller(sleeper, 0, &w), 0);
	cr_expect_eq(w.pid, sh, "a non-shell caller: its parent holds");
	cr_expect_str_eq(w.owner, "mallory");

	cr_assert_eq(lokt_proc_cmdline(sleeper, cmd, sizeof(cmd)), 0);
	cr_expect_str_eq(cmd, "sleep 300");

	kill(sleeper, SIGKILL);
	kill_reap(sh);
	cr_expect_eq(lokt_who_caller(sh, 0, &w), -ESRCH);
	cr_expect_eq(lokt_proc_cmdline(sh, cmd, sizeof(cmd)), -ESRCH);
}

Test(who, caller_without_owner_env_uses_uid)
{
	pid_t pid = spawn_sleeper();
	struct lokt_who w;
	struct passwd *pw = getpwuid(0);

	unsetenv("LOKT_OWNER");
	cr_assert_not_null(pw);
	cr_assert_eq(lokt_who_caller(pid, 0, &w), 0);
	cr_expect_str_eq(w.owner, pw->pw_name);
	cr_expect_eq(w.pid, getpid(), "the caller's parent holds");
	/* A uid without a passwd entry: the number. */
	cr_assert_eq(lokt_who_caller(pid, 3999999, &w), 0);
	cr_expect_str_eq(w.owner, "3999999");
	kill_reap(pid);
}

Test(who, new_id)
{
	char a[LOKT_ID_LEN + 1], b[LOKT_ID_LEN + 1];

	cr_assert_eq(lokt__new_id(a), 0);
	cr_assert_eq(lokt__new_id(b), 0);
	cr_expect_eq(strlen(a), LOKT_ID_LEN);
	cr_expect_eq(strspn(a, "0123456789abcdef"), LOKT_ID_LEN);
	cr_expect_str_neq(a, b);
}

/* A script run through its #! line has its own name as comm; it is still
 * a shell, and holds what it locks by its own redirections. */
Test(who, caller_script_is_a_shell)
{
	char *dir = unit_tmpdir(), *script;
	static const char text[] = "#!/bin/sh\nsleep 300\ntrue\n";
	pid_t pid;
	struct lokt_who w;

	unit_write(dir, "deploy-it", text, sizeof(text) - 1);
	cr_assert(asprintf(&script, "%s/deploy-it", dir) > 0);
	cr_assert_eq(chmod(script, 0755), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		execl(script, script, (char *)NULL);
		_exit(127);
	}
	wait_comm(pid, "deploy-it");
	cr_assert_eq(lokt_who_caller(pid, 0, &w), 0);
	cr_expect_eq(w.pid, pid, "the script (comm \"deploy-it\") holds");
	kill(first_child(pid), SIGKILL);
	kill_reap(pid);
	unit_rmrf(dir);
	free(dir);
	free(script);
}

/* The caller's comm is read from its stat, between the first '(' and the
 * last ')': a process that calls itself "bash" is a shell and holds (with
 * its own start time, from the same read), one that calls itself
 * "x) (bash" is not, and its parent holds. */
static pid_t spawn_named(const char *comm)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, comm);
		for (;;)
			pause();
	}
	wait_comm(pid, comm);
	return pid;
}

Test(who, caller_comm_from_stat)
{
	pid_t shell = spawn_named("bash"), other = spawn_named("x) (bash");
	uint64_t start;
	struct lokt_who w;

	cr_assert_eq(lokt_who_caller(shell, 0, &w), 0);
	cr_expect_eq(w.pid, shell, "comm \"bash\": the caller holds");
	cr_assert_eq(lokt__pid_start(shell, &start), 0);
	cr_expect_eq(w.pid_start, start);
	cr_assert_eq(lokt_who_caller(other, 0, &w), 0);
	cr_expect_eq(w.pid, getpid(), "comm \"x) (bash\": its parent holds");
	cr_assert_eq(lokt__pid_start(getpid(), &start), 0);
	cr_expect_eq(w.pid_start, start);
	kill_reap(shell);
	kill_reap(other);
}

/* lokt_user_of answers as getpwuid_r does for every user the database
 * lists (core/users.c reads /etc/passwd itself where NSS would answer
 * from it alone: its parse must agree with glibc's), twice (the second
 * time from the kept table); a uid nobody has is -ENOENT, a name that
 * does not fit -ERANGE. */
Test(users, as_getpwuid_r)
{
	struct passwd *pw, one, *found;
	char name[LOKT_STR_MAX], buf[4096];
	size_t n = 0;
	gid_t gid;

	setpwent();
	while ((pw = getpwent()) != NULL) {
		uid_t uid = pw->pw_uid;

		/* The first entry of a uid is the one getpwuid_r gives. */
		cr_assert_eq(getpwuid_r(uid, &one, buf, sizeof(buf), &found),
			     0);
		cr_assert_not_null(found);
		for (int round = 0; round < 2; round++) {
			gid = (gid_t)-1;
			cr_assert_eq(lokt_user_of(uid, name, sizeof(name),
						  &gid),
				     0, "uid %u", (unsigned)uid);
			cr_assert_str_eq(name, found->pw_name);
			cr_assert_eq(gid, found->pw_gid, "uid %u",
				     (unsigned)uid);
		}
		n++;
	}
	endpwent();
	cr_assert_gt(n, 0);
	cr_assert_eq(lokt_user_of(0, NULL, 0, &gid), 0);
	cr_assert_eq(gid, 0);
	cr_assert_eq(lokt_user_of(0, name, 4, NULL), -ERANGE); /* "root" */
	cr_assert_eq(lokt_user_of((uid_t)4294967000u, name, sizeof(name),
				  &gid),
		     -ENOENT);
}

/* The user database read while /etc/passwd is young is not kept, however
 * long the parse then takes (a stall, lokt__test_pause): its age is taken
 * before the files are read. Judged after the parse, a parse that took a
 * second kept what a change in its first clock tick made stale. The file
 * is made young by a chmod to its own mode (its ctime only). */
static void stall_users(const char *where)
{
	const struct timespec t = { 1, 200 * 1000 * 1000 };

	if (!strcmp(where, "users-read"))
		nanosleep(&t, NULL);
}

Test(users, age_judged_as_of_the_read)
{
	char name[LOKT_STR_MAX];
	struct stat st;

	if (geteuid() != 0)
		cr_skip_test("needs root to touch /etc/passwd's ctime");
	cr_assert_eq(stat("/etc/passwd", &st), 0);
	cr_assert_eq(chmod("/etc/passwd", st.st_mode & 07777), 0);
	lokt__test_pause = stall_users;
	cr_assert_eq(lokt_user_of(0, name, sizeof(name), NULL), 0);
	lokt__test_pause = NULL;
	cr_expect_not(lokt__users_kept(), "read young, stalled: not kept");
	cr_assert_eq(lokt_user_of(0, name, sizeof(name), NULL), 0);
	cr_expect(lokt__users_kept(), "read settled: kept");
}
