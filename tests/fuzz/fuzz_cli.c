// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for `lokt`'s argument parsing: every command, with any
 * flags and values, run in-process through cli_run (cli/run.c), must
 * never crash, must exit with a documented code (0, 1, 2, 3, 4, 64), and
 * a usage error (64) must leave the store untouched.
 *
 * Input: the arguments after "lokt", separated by NUL bytes ("lock\0x\0
 * --ttl\05m"); a trailing NUL ends the last one, two NULs in a row make
 * an empty argument. Seeds: tests/fuzz/corpus/cli/, one file per seed.
 *
 * What keeps the target inside its temp dir (/tmp/lokt-fuzz-cli.XXXXXX):
 * LOKT_ROOT is <dir>/root (absent before every input, removed after);
 * lokt runs in <dir>/cwd, so a relative --root lands there
 * (emptied after); an input that could name a place outside (an argument
 * starting with '/', holding "=/" or "..") is skipped. guard runs with
 * CLI_RUN_NO_EXEC: it parses and opens the store, and never takes a lock,
 * forks or execs (audit --follow likewise never waits). stdin and stdout are /dev/null (unlock --force never
 * asks), stderr too while lokt runs; sanitizer reports keep the real
 * stderr. Each input starts from an empty store, so `lock --wait` never
 * waits.
 *
 * Link with every file of cli/ but main.c, and liblokt (the static
 * archive or the sources): see cli/main.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ARGS 64
#define INPUT_MAX 4096

/* From the sanitizer runtime when there is one (not declared in any
 * header we can rely on without it). */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], root[96], cwd[96];
static int devnull = -1, err_fd = -1, home_fd = -1;

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)type;
	if (ftw->level > 0)
		(void)remove(path);
	return 0;
}

/* Remove what is inside path (not path itself); absent is fine. */
static void empty_dir(const char *path)
{
	(void)nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	empty_dir(dir);
	(void)rmdir(dir);
}

static void die(const char *what)
{
	perror(what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s", "/tmp/lokt-fuzz-cli.XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(cwd, sizeof(cwd), "%s/cwd", dir);
	if (mkdir(cwd, 0700) < 0)
		die(cwd);
	home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (home_fd < 0)
		die("."); /* libFuzzer's paths are relative to it */
	atexit(cleanup);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	err_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (devnull < 0 || err_fd < 0 || dup2(devnull, 0) < 0 ||
	    dup2(devnull, 1) < 0)
		die("/dev/null");
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)err_fd);
	unsetenv("LOKT_OWNER");
	unsetenv("LOKT_AGENT_ID");
	unsetenv("LOKT_REQUIRE_LOCAL_FS");
	return 0;
}

/* Could this argument make lokt act outside the temp dir (a --root)? */
static bool unsafe(const char *arg)
{
	return arg[0] == '/' || strstr(arg, "=/") || strstr(arg, "..");
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool is_empty(const char *path)
{
	struct dirent *de;
	bool empty = true;
	DIR *d = opendir(path);

	if (!d)
		die(path);
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

static void report(const char *what, int argc, char **argv, int rc)
{
	dprintf(err_fd, "fuzz_cli: %s (exit %d):", what, rc);
	for (int i = 0; i < argc; i++)
		dprintf(err_fd, " '%s'", argv[i]);
	dprintf(err_fd, "\n");
	abort();
}

static int run(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction old[3];
	int rc;

	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], NULL, &old[i]);
	setenv("LOKT_ROOT", root, 1); /* --root changes it: reset */
	if (chdir(cwd) < 0)
		die(cwd);
	dup2(devnull, 2);
	rc = cli_run(argc, argv, CLI_RUN_NO_EXEC);
	dup2(err_fd, 2);
	if (fchdir(home_fd) < 0)
		die("fchdir");
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[INPUT_MAX + 1];
	char *argv[MAX_ARGS + 2], *p, *end;
	int argc = 0, rc;

	if (size > INPUT_MAX)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "lokt";
	for (p = buf, end = buf + size; p < end; p += strlen(p) + 1) {
		if (argc > MAX_ARGS || unsafe(p))
			return 0;
		argv[argc++] = p;
	}
	argv[argc] = NULL;

	rc = run(argc, argv);
	if (rc != 0 && rc != 1 && rc != 2 && rc != 3 && rc != 4 &&
	    rc != EXIT_USAGE)
		report("undocumented exit status", argc, argv, rc);
	if (rc == EXIT_USAGE && (exists(root) || !is_empty(cwd)))
		report("a usage error touched the store", argc, argv, rc);
	empty_dir(root);
	(void)rmdir(root);
	empty_dir(cwd);
	return 0;
}
