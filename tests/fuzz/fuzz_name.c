// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: lokt_name_check against the rule as docs/protocol.md
 * states it, written out again here as an independent oracle: 1 to 200
 * bytes of [A-Za-z0-9._-], not starting with '.', without "..". A name the
 * check accepts must also fit the longest file name the store derives from
 * it, a record's temp file ".<name>.json.<lock_id>.tmp", in NAME_MAX.
 */
#include <limits.h>
#include <stdbool.h>

#include "fuzz.h"

static bool rule_allows(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > LOKT_NAME_MAX || s[0] == '.' || strstr(s, ".."))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_string(data, size);
	int r = lokt_name_check(name);
	size_t longest;

	FUZZ_ASSERT(r == 0 || r == -LOKT_E_BAD_NAME, "returned %d", r);
	FUZZ_ASSERT((r == 0) == rule_allows(name), "check says %d for \"%s\"",
		    r, name);
	/* ".<name>.json.<lock_id>.tmp" */
	longest = 1 + strlen(name) + strlen(".json.") + LOKT_ID_LEN + 4;
	FUZZ_ASSERT(r < 0 || longest <= NAME_MAX,
		    "\"%s\" does not fit a file name", name);
	free(name);
	return 0;
}
