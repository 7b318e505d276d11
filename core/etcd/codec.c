// SPDX-License-Identifier: MIT
/*
 * The gateway's encodings: base64 keys and values (RFC 4648, padded, one
 * canonical form accepted), and 64-bit numbers that arrive as strings.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

int64_t lokt__gw_int(struct json_object *o, const char *key, int64_t def)
{
	struct json_object *v;
	const char *s;
	char *end;
	long long x;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return def;
	if (json_object_get_type(v) == json_type_int)
		return json_object_get_int64(v);
	if (json_object_get_type(v) != json_type_string)
		return def;
	s = json_object_get_string(v);
	if (!isdigit((unsigned char)*s) && *s != '-')
		return def;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end)
		return def;
	return x;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int lokt__b64_encode(const void *data, size_t len, char **ret)
{
	const unsigned char *p = data;
	char *out, *o;
	size_t i;

	out = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | p[i + 1] << 8 | p[i + 2];

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 |
			     (i + 1 < len ? p[i + 1] << 8 : 0);

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	*ret = out;
	return 0;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

int lokt__b64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t len = strlen(s), pad = 0, i, n = 0;
	char *out;

	if (len % 4)
		return -EINVAL;
	if (len && s[len - 1] == '=')
		pad = len >= 2 && s[len - 2] == '=' ? 2 : 1;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (i = 0; i < len; i += 4) {
		int v[4], k;
		bool last = i + 4 == len;

		for (k = 0; k < 4; k++) {
			bool is_pad = last && k >= 4 - (int)pad;

			v[k] = is_pad ? 0 : b64_value(s[i + k]);
			if (v[k] < 0)
				goto bad;
		}
		out[n++] = (char)(v[0] << 2 | v[1] >> 4);
		if (!(last && pad == 2))
			out[n++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (!(last && pad >= 1))
			out[n++] = (char)((v[2] & 3) << 6 | v[3]);
		/* Bits that padding drops must be zero: one encoding only. */
		if (last && ((pad == 2 && (v[1] & 15)) ||
			     (pad == 1 && (v[2] & 3))))
			goto bad;
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
bad:
	free(out);
	return -EINVAL;
}
