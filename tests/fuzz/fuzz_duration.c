// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: lokt_duration_parse and lokt_duration_format.
 *
 * Parsing: the input as a string. Whatever parses lies in 0 ..
 * LOKT_TTL_MAX_SEC seconds, and its formatted form parses again to the same
 * value, or less by what the format leaves out (below a minute the format
 * is exact; "2m30s" drops milliseconds, "1h5m" seconds, "2d3h" minutes).
 *
 * Formatting: the first 8 bytes as any int64 (negative too) and the next
 * byte as a buffer size from 0 to 63: the result is NUL-terminated inside
 * the buffer and its length is what was written.
 */
#include <stdbool.h>

#include "fuzz.h"

/* What lokt_duration_format leaves out of ms (>= 0). */
static int64_t format_loss(int64_t ms)
{
	if (ms < 60000)
		return 0;
	if (ms < 3600000)
		return ms % 1000;
	if (ms < 86400000)
		return ms % 60000;
	return ms % 3600000;
}

static void check_parse(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size), buf[64];
	int64_t ms = -1, again = -1;
	int r = lokt_duration_parse(s, &ms);

	if (r < 0) {
		/* -EINVAL: not a duration; -ERANGE: one longer than the
		 * maximum (100 years). */
		FUZZ_ASSERT(r == -EINVAL || r == -ERANGE,
			    "\"%s\": returned %d", s, r);
		FUZZ_ASSERT(ms == -1, "\"%s\": failed but set %lld", s,
			    (long long)ms);
		free(s);
		return;
	}
	FUZZ_ASSERT(r == 0, "\"%s\": returned %d", s, r);
	FUZZ_ASSERT(ms >= 0 && ms <= LOKT_TTL_MAX_SEC * 1000,
		    "\"%s\" parsed to %lld ms", s, (long long)ms);
	lokt_duration_format(ms, buf, sizeof(buf));
	r = lokt_duration_parse(buf, &again);
	FUZZ_ASSERT(r == 0, "\"%s\" (%lld ms) formats as \"%s\", which fails",
		    s, (long long)ms, buf);
	FUZZ_ASSERT(again == ms - format_loss(ms),
		    "\"%s\" = %lld ms, formatted \"%s\" = %lld ms", s,
		    (long long)ms, buf, (long long)again);
	free(s);
}

static void check_format(const uint8_t *data, size_t size)
{
	char buf[64];
	int64_t ms;
	size_t bufsize;
	int n;

	if (size < 9)
		return;
	memcpy(&ms, data, sizeof(ms));
	bufsize = data[8] % sizeof(buf);
	memset(buf, 'x', sizeof(buf));
	n = lokt_duration_format(ms, buf, bufsize);
	if (bufsize == 0) {
		FUZZ_ASSERT(n == 0 && buf[0] == 'x', "size 0: wrote %d", n);
		return;
	}
	FUZZ_ASSERT(n >= 0 && (size_t)n < bufsize,
		    "%lld in %zu bytes: returned %d", (long long)ms, bufsize,
		    n);
	FUZZ_ASSERT(buf[n] == '\0' && strlen(buf) == (size_t)n,
		    "%lld in %zu bytes: not terminated at %d", (long long)ms,
		    bufsize, n);
	FUZZ_ASSERT(buf[bufsize] == 'x', "%lld: wrote past %zu bytes",
		    (long long)ms, bufsize);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_format(data, size);
	return 0;
}
