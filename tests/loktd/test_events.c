// SPDX-License-Identifier: MIT
/*
 * The event stream's buffer (loktd/events.c), from inside: its appends
 * (broadcast) and its reader as libmicrohttpd calls it. A reader that
 * stays a little behind for ever must not grow the buffer by everything
 * it was sent (the check against falling 1 MiB behind only looked at
 * what was unread); one that falls 1 MiB behind is ended.
 */
#include <criterion/criterion.h>

#include "../../loktd/events.c"

/* What events.c uses from the rest of loktd, and these tests never
 * reach (no request is served here). */
struct loktd loktd;
enum MHD_Result reply_error(struct req *q, unsigned status, const char *word,
			    const char *fmt, ...)
{
	(void)q, (void)status, (void)word, (void)fmt;
	cr_assert_fail("reply_error is not reached here");
	return MHD_NO;
}

void metrics_refusal(enum outcome o)
{
	(void)o;
	cr_assert_fail("metrics_refusal is not reached here");
}

static struct sse *stream(void)
{
	struct sse *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	s->refs = 1;
	streams = s;
	return s;
}

Test(events, a_reader_always_behind_stays_bounded)
{
	struct sse *s = stream();
	char line[1001], out[1000];

	memset(line, 'x', 1000);
	line[1000] = 0;
	broadcast(line);
	broadcast(line); /* 2000 bytes behind from here on */
	for (int i = 0; i < 20000; i++) { /* 20 MB in all */
		broadcast(line);
		cr_assert_eq(reader(s, 0, out, sizeof(out)), 1000);
	}
	cr_expect(!s->closing, "a reader 2000 bytes behind is not ended");
	cr_expect_leq(s->cap, BUF_MAX + 1000, "buffer of %zu bytes", s->cap);
	streams = NULL;
	unref(s);
}

Test(events, a_reader_1mib_behind_is_ended)
{
	struct sse *s = stream();
	char line[1001];

	memset(line, 'y', 1000);
	line[1000] = 0;
	for (int i = 0; i < 1100 && !s->closing; i++)
		broadcast(line);
	cr_expect(s->closing);
	cr_expect_leq(s->cap, BUF_MAX + 1000);
	streams = NULL;
	unref(s);
}
