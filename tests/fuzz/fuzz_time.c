// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: lokt_time_parse and lokt_time_format (RFC 3339).
 *
 * Parsing: the input as a string. Whatever parses formats (UTC, nine
 * fractional digits) and parses again to the same instant, and formatting
 * that gives the same text: the form written to lock files is a fixed
 * point.
 *
 * Formatting: the first 16 bytes as any struct timespec and the next byte
 * as a buffer size from 0 to 63: either an error, or a NUL-terminated
 * string inside the buffer that parses back to the same instant; never a
 * byte past the buffer.
 */

#include "fuzz.h"

static void check_parse(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size), out[64], out2[64];
	struct timespec t, again;
	int r = lokt_time_parse(s, &t);

	if (r < 0) {
		FUZZ_ASSERT(r == -EINVAL, "\"%s\": returned %d", s, r);
		free(s);
		return;
	}
	FUZZ_ASSERT(r == 0, "\"%s\": returned %d", s, r);
	FUZZ_ASSERT(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L,
		    "\"%s\": tv_nsec %ld", s, (long)t.tv_nsec);
	r = lokt_time_format(&t, out, sizeof(out));
	FUZZ_ASSERT(r > 0, "\"%s\" (%lld s) does not format: %d", s,
		    (long long)t.tv_sec, r);
	r = lokt_time_parse(out, &again);
	FUZZ_ASSERT(r == 0, "\"%s\" formats as \"%s\", which does not parse", s,
		    out);
	FUZZ_ASSERT(again.tv_sec == t.tv_sec && again.tv_nsec == t.tv_nsec,
		    "\"%s\" -> \"%s\" -> another instant", s, out);
	r = lokt_time_format(&again, out2, sizeof(out2));
	FUZZ_ASSERT(r > 0 && strcmp(out, out2) == 0,
		    "\"%s\" formats as \"%s\", then as \"%s\"", s, out, out2);
	free(s);
}

static void check_format(const uint8_t *data, size_t size)
{
	char buf[64];
	struct timespec t, back;
	int64_t sec, nsec;
	size_t bufsize;
	int n;

	if (size < 17)
		return;
	memcpy(&sec, data, sizeof(sec));
	memcpy(&nsec, data + 8, sizeof(nsec));
	t.tv_sec = (time_t)sec;
	t.tv_nsec = (long)(nsec % 1000000000L);
	if (t.tv_nsec < 0)
		t.tv_nsec = -t.tv_nsec;
	bufsize = data[16] % sizeof(buf);
	memset(buf, 'x', sizeof(buf));
	n = lokt_time_format(&t, buf, bufsize);
	if (n < 0) {
		FUZZ_ASSERT(n == -ENOSPC || n == -EOVERFLOW,
			    "%lld: returned %d", (long long)sec, n);
	} else {
		FUZZ_ASSERT((size_t)n < bufsize && buf[n] == '\0' &&
				strlen(buf) == (size_t)n,
			    "%lld in %zu bytes: returned %d", (long long)sec,
			    bufsize, n);
		FUZZ_ASSERT(lokt_time_parse(buf, &back) == 0 &&
				back.tv_sec == t.tv_sec &&
				back.tv_nsec == t.tv_nsec,
			    "%lld.%09ld formats as \"%s\", which does not "
			    "parse back",
			    (long long)sec, (long)t.tv_nsec, buf);
	}
	FUZZ_ASSERT(buf[bufsize] == 'x', "%lld: wrote past %zu bytes",
		    (long long)sec, bufsize);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_format(data, size);
	return 0;
}
