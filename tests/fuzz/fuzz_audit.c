// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: lokt_audit_read over an audit.log holding the input,
 * in a store of its own under $TMPDIR (removed at exit).
 *
 * The log is shared by every user of a store, so its bytes are hostile.
 * Reading must return every line it can show, and only those: each event
 * has a non-empty type, a line without its newline, and matches the
 * filter; --tail keeps the last ones; nothing leaks (ASan's leak check
 * runs at exit). The first input byte picks a filter, the rest is the log.
 */
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "fuzz.h"

static struct lokt_store *store;
static char dir[] = "/tmp/lokt-fuzz-audit.XXXXXX";
static char log_path[sizeof(dir) + 32];

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	lokt_store_close(store);
	(void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char root[sizeof(dir) + 8];
	int r;

	if (!mkdtemp(dir))
		abort();
	snprintf(root, sizeof(root), "%s/root", dir);
	r = lokt_store_open(root, &store);
	FUZZ_ASSERT(r == 0, "cannot open a store in %s: %d", root, r);
	snprintf(log_path, sizeof(log_path), "%s/audit.log", root);
	atexit(cleanup);
	return 0;
}

static void write_log(const uint8_t *data, size_t size)
{
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_ASSERT(fd >= 0, "open %s", log_path);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size, "write %s",
		    log_path);
	close(fd);
}

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size && data[size - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lokt_audit_filter f = {{0, 0}, NULL, 0};
	struct lokt_event *ev = NULL;
	size_t n = 0, lines;
	int r;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		f.name = "a";
	if (data[0] & 2)
		f.since = (struct timespec){1700000000, 0};
	f.tail = (data[0] >> 2) % 4;
	data++, size--;
	lines = count_lines(data, size);
	write_log(data, size);

	r = lokt_audit_read(store, &f, &ev, &n);
	FUZZ_ASSERT(r == 0, "returned %d", r);
	FUZZ_ASSERT(n <= lines, "%zu events from %zu lines", n, lines);
	FUZZ_ASSERT(!f.tail || n <= f.tail, "%zu events, tail %zu", n, f.tail);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(ev[i].line && !strchr(ev[i].line, '\n'),
			    "event %zu: line", i);
		FUZZ_ASSERT(ev[i].event[0], "event %zu: no type", i);
		FUZZ_ASSERT(!f.name || strcmp(ev[i].name, f.name) == 0,
			    "event %zu: name \"%s\"", i, ev[i].name);
		FUZZ_ASSERT(!f.since.tv_sec ||
				ev[i].ts.tv_sec >= f.since.tv_sec,
			    "event %zu: before --since", i);
	}
	lokt_events_free(ev, n);
	return 0;
}
