// SPDX-License-Identifier: MIT
/*
 * Lock and freeze names. A name becomes a file name in the store
 * (<root>/locks/<name>.json) and a file name in the mount, so the rule is
 * strict: no separators, no hidden files (the store keeps its sidecars and
 * queues in dot-files), no "..", and short enough that "<name>.json" and the
 * sidecar ".<name>.lk" stay well under NAME_MAX (255).
 */
#include <string.h>

#include "internal.h"

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

LOKT_API int lokt_name_check(const char *name)
{
	size_t i;

	if (!name || !name[0] || name[0] == '.')
		return -LOKT_E_BAD_NAME;
	for (i = 0; name[i]; i++) {
		if (i >= LOKT_NAME_MAX || !name_char_ok(name[i]))
			return -LOKT_E_BAD_NAME;
		if (name[i] == '.' && name[i + 1] == '.')
			return -LOKT_E_BAD_NAME;
	}
	return 0;
}

LOKT_API const char *lokt_name_rule(void)
{
	return "names are 1 to 200 bytes of letters, digits, '.', '_' and "
	       "'-', not starting with '.', without '..'";
}
