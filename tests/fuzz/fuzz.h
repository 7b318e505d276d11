/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets of tests/fuzz: turning the fuzzer's bytes
 * into a C string, and stopping with a message when a property fails.
 * A failed property aborts, which libFuzzer reports as a crash and saves
 * the input that caused it (tests/fuzz/run.sh prints where).
 */
#ifndef LOKT_FUZZ_H
#define LOKT_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lokt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a malloc'd, NUL-terminated string (an embedded NUL ends it
 * early, as it would for a C caller). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#define FUZZ_ASSERT(cond, ...)                                                 \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
				"%s:%d: property failed: %s: ", __FILE__,      \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#endif /* LOKT_FUZZ_H */
