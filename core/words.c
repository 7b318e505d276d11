// SPDX-License-Identifier: MIT
/*
 * The one-word names of results that programs put in machine-readable
 * answers: the "error" field of `lokt --json` and of loktd's HTTP API
 * ("held", "not_found", ...). Scripts match on them: a word here never
 * changes meaning; a new outcome gets a new word (mirror it in
 * docs/protocol.md).
 */
#include "internal.h"

LOKT_API const char *lokt_error_word(int r)
{
	switch (-r) {
	case LOKT_E_HELD:
		return "held";
	case LOKT_E_FROZEN:
		return "frozen";
	case LOKT_E_NOT_FOUND:
		return "not_found";
	case LOKT_E_NOT_OWNER:
		return "not_owner";
	case LOKT_E_BAD_NAME:
		return "bad_name";
	case LOKT_E_FUTURE_VERSION:
		return "future_version";
	case LOKT_E_CORRUPT:
		return "corrupt";
	case LOKT_E_TIMEOUT:
		return "timeout";
	case LOKT_E_LOST:
		return "lost";
	case LOKT_E_NETFS:
		return "netfs";
	case LOKT_E_CANCELED:
		return "canceled";
	case LOKT_E_FOREIGN:
		return "foreign_file";
	case LOKT_E_MODE:
		return "mode";
	case LOKT_E_UNAVAILABLE:
		return "unavailable";
	default:
		return "error";
	}
}
