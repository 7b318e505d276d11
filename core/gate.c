// SPDX-License-Identifier: MIT
/*
 * The record of a name with several holders (a semaphore, or shared
 * holders), the "gate" of slots.c's DESIGN comment: parsing and writing
 * it, judging each of its holders, and listing them (lokt_holders, and
 * lokt_list through list.c). What a transition does with it is slots.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

bool lokt__is_gate(const struct lokt_record *rec)
{
	return !strcmp(rec->host, GATE_HOST) && !strcmp(rec->owner, GATE_OWNER);
}

static int gate_members(struct json_object *o, struct gate *g)
{
	struct json_object *v, *a;
	int64_t n;
	size_t i;

	if (json_object_object_get_ex(o, "slots", &v)) {
		if (!json_object_is_type(v, json_type_int))
			return -LOKT_E_CORRUPT;
		n = json_object_get_int64(v);
		if (n < 1 || n > LOKT_SLOTS_MAX)
			return -LOKT_E_CORRUPT;
		g->slots = (unsigned)n;
	} else if (!json_object_object_get_ex(o, "shared", &v) ||
		   !json_object_is_type(v, json_type_boolean) ||
		   !json_object_get_boolean(v)) {
		return -LOKT_E_CORRUPT;
	}
	if (!json_object_object_get_ex(o, "holders", &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) > LOKT_SLOTS_MAX)
		return -LOKT_E_CORRUPT;
	g->n = json_object_array_length(a);
	for (i = 0; i < g->n; i++) {
		if (lokt__record_from_json(json_object_array_get_idx(a, i),
					   &g->h[i]) < 0 ||
		    strcmp(g->h[i].name, g->top.name))
			return -LOKT_E_CORRUPT;
	}
	return 0;
}

/* The gate whose top record top was parsed from the document o. */
static int gate_from(struct json_object *o, const struct lokt_record *top,
		     struct gate *g)
{
	memset(g, 0, sizeof(*g));
	g->top = *top;
	if (!lokt__is_gate(&g->top))
		return -LOKT_E_CORRUPT;
	return gate_members(o, g);
}

/* The gate in the bytes buf; -LOKT_E_CORRUPT when it is not one. */
int lokt__gate_parse(const char *buf, size_t len, struct gate *g)
{
	struct lokt_record top;
	struct json_object *o;
	int r;

	r = lokt__record_parse_obj(buf, len, &top, &o);
	if (r < 0) {
		memset(g, 0, sizeof(*g));
		return r;
	}
	r = gate_from(o, &top, g);
	json_object_put(o);
	return r;
}

int lokt__gate_format(const struct gate *g, char **ret)
{
	struct json_object *o = lokt__record_to_json(&g->top), *a, *h;
	const char *s;
	size_t i, len;
	int r = -ENOMEM;

	if (!o)
		return -ENOMEM;
	if (g->slots)
		json_object_object_add(o, "slots",
				       json_object_new_int64(g->slots));
	else
		json_object_object_add(o, "shared",
				       json_object_new_boolean(true));
	a = json_object_new_array();
	if (!a)
		goto out;
	json_object_object_add(o, "holders", a);
	for (i = 0; i < g->n; i++) {
		h = lokt__record_to_json(&g->h[i]);
		if (!h || json_object_array_add(a, h) < 0) {
			json_object_put(h);
			goto out;
		}
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		goto out;
	len = strlen(s);
	r = -E2BIG;
	if (len + 1 > GATE_BYTES_MAX)
		goto out;
	r = -ENOMEM;
	*ret = malloc(len + 2);
	if (!*ret)
		goto out;
	memcpy(*ret, s, len);
	(*ret)[len] = '\n';
	(*ret)[len + 1] = '\0';
	r = 0;
out:
	json_object_put(o);
	return r;
}

/* Holder h of a gate judged as gi, as an info of its own. */
void lokt__holder_info(struct lokt_store *s, const struct gate *g,
			const struct lokt_record *h,
			const struct lokt_info *gi, struct lokt_info *ret)
{
	struct timespec now;

	memset(ret, 0, sizeof(*ret));
	ret->rec = *h;
	lokt__now(&now);
	ret->stale = lokt__judge(h, s->host, &now, true, &ret->local,
				 &ret->kept);
	ret->mtime = gi->mtime;
	ret->size = gi->size;
	ret->slots = g->slots;
	ret->shared = !g->slots;
}

void lokt__gate_judge(struct lokt_store *s, struct json_object *o,
		      struct lokt_info *in, struct gate **keep)
{
	struct gate *g = malloc(sizeof(*g));
	struct lokt_info hi;
	size_t i;

	if (keep)
		*keep = NULL;
	if (!g || gate_from(o, &in->rec, g) < 0) {
		free(g);
		memset(&in->rec, 0, sizeof(in->rec));
		in->rec.uid = -1;
		in->stale = LOKT_STALE_CORRUPT;
		return;
	}
	in->slots = g->slots;
	in->shared = !g->slots;
	in->stale = LOKT_STALE_EXPIRED; /* no holder left */
	/* Judged as its first live holder (else its first): its state is
	 * theirs ("live", or "remote" for a holder elsewhere), never that
	 * of the record's own placeholder host. */
	for (i = 0; i < g->n; i++) {
		lokt__holder_info(s, g, &g->h[i], in, &hi);
		if (hi.stale == LOKT_LIVE || i == 0) {
			in->stale = hi.stale;
			in->local = hi.local;
		}
		if (hi.stale == LOKT_LIVE)
			break;
	}
	if (keep)
		*keep = g;
	else
		free(g);
}

int lokt__gate_expand(struct lokt_store *s, const char *buf, size_t len,
		      const struct lokt_info *gi, struct lokt_info **ret,
		      size_t *ret_n)
{
	struct gate *g = malloc(sizeof(*g));
	struct lokt_info *v;
	size_t i;
	int r;

	if (!g)
		return -ENOMEM;
	r = lokt__gate_parse(buf, len, g);
	if (r < 0)
		goto out;
	v = calloc(g->n ? g->n : 1, sizeof(*v));
	r = -ENOMEM;
	if (!v)
		goto out;
	for (i = 0; i < g->n; i++)
		lokt__holder_info(s, g, &g->h[i], gi, &v[i]);
	*ret = v;
	*ret_n = g->n;
	r = 0;
out:
	free(g);
	return r;
}

LOKT_API int lokt_holders(struct lokt_store *s, const char *name,
			  struct lokt_holders *ret)
{
	struct lokt_info in;
	char *json = NULL;
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret)
		return -EINVAL;
	r = lokt__load(s, LOKT_LOCK, name, &in, &json);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->slots = in.slots;
	ret->shared = in.shared;
	if (in.slots || in.shared) {
		r = lokt__gate_expand(s, json, strlen(json), &in, &ret->v,
				      &ret->n);
	} else {
		ret->v = malloc(sizeof(*ret->v));
		r = ret->v ? 0 : -ENOMEM;
		if (ret->v) {
			ret->v[0] = in;
			ret->n = 1;
		}
	}
	free(json);
	return r;
}
