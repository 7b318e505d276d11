// SPDX-License-Identifier: MIT
/*
 * Reading the store (one record, all records, the waiters of a name) and
 * the transitions that walk it: releasing every lock of an owner, and
 * pruning every stale lock and expired freeze. Each walked name gets a
 * transition of its own (protocol.c), where the record is re-read and
 * re-judged: what the listing saw may have changed since.
 *
 * A foreign entry (LOKT_E_FOREIGN: in the directory store, a symlink,
 * FIFO or directory named like a record) is skipped by every walk: one
 * planted file must not make the listing of every other name fail. lokt
 * doctor reports it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

LOKT_API int lokt_get(struct lokt_store *s, enum lokt_kind kind,
		      const char *name, struct lokt_info *ret, char **ret_json)
{
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret || !lokt__kind_ok(kind))
		return -EINVAL;
	return lokt__load(s, kind, name, ret, ret_json);
}

static int by_name(const void *a, const void *b)
{
	const struct lokt_info *x = a, *y = b;

	return strcmp(x->rec.name, y->rec.name);
}

struct listing {
	struct lokt_store *s;
	enum lokt_kind kind;
	struct lokt_info *v;
	size_t n, cap;
};

static int list_one(const char *name, const char *buf, size_t len,
		    const struct lokt_meta *meta, void *ud)
{
	struct listing *l = ud;
	struct lokt_info *nv, in, *hv;
	size_t hn = 1;
	int r;

	lokt__judge_bytes(l->s, l->kind, name, buf, len, meta, &in);
	hv = &in;
	if (in.slots || in.shared) {
		/* Every holder of a name of several is listed. */
		r = lokt__gate_expand(l->s, buf, len, &in, &hv, &hn);
		if (r < 0)
			return r;
	}
	if (l->n + hn > l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		if (l->cap < l->n + hn)
			l->cap = l->n + hn;
		nv = realloc(l->v, l->cap * sizeof(*nv));
		if (!nv) {
			if (hv != &in)
				free(hv);
			return -ENOMEM;
		}
		l->v = nv;
	}
	memcpy(&l->v[l->n], hv, hn * sizeof(*hv));
	l->n += hn;
	if (hv != &in)
		free(hv);
	return 0;
}

LOKT_API int lokt_list(struct lokt_store *s, enum lokt_kind kind,
		       struct lokt_info **ret, size_t *ret_n)
{
	struct listing l = { .s = s, .kind = kind };
	int r;

	if (!s || !ret || !ret_n || !lokt__kind_ok(kind))
		return -EINVAL;
	lokt__judge_batch_begin();
	r = s->be->list(s, kind, list_one, &l);
	lokt__judge_batch_end();
	if (r < 0) {
		free(l.v);
		return r;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_name);
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names collected so far: n NUL-terminated strings in text[len]. */
struct names {
	char *text;
	size_t n, len, cap;
};

static int add_name(const char *name, void *ud)
{
	struct names *l = ud;
	size_t k = strlen(name) + 1;
	char *nt;

	if (l->len + k > l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		while (l->len + k > l->cap)
			l->cap *= 2;
		nt = realloc(l->text, l->cap);
		if (!nt)
			return -ENOMEM;
		l->text = nt;
	}
	memcpy(l->text + l->len, name, k);
	l->len += k;
	l->n++;
	return 0;
}

/* One block: n pointers, then the strings, sorted by name. */
static char **names_block(const struct names *l)
{
	char **v = malloc(l->n * sizeof(char *) + l->len + 1), *p;

	if (!v)
		return NULL;
	p = (char *)(v + l->n);
	if (l->len)
		memcpy(p, l->text, l->len);
	for (size_t i = 0; i < l->n; i++) {
		v[i] = p;
		p += strlen(p) + 1;
	}
	if (l->n)
		qsort(v, l->n, sizeof(*v), by_str);
	return v;
}

/* A backend without a names call: its listing, the bytes unused. */
static int add_listed(const char *name, const char *buf, size_t len,
		      const struct lokt_meta *meta, void *ud)
{
	(void)buf;
	(void)len;
	(void)meta;
	return add_name(name, ud);
}

LOKT_API int lokt_list_names(struct lokt_store *s, enum lokt_kind kind,
			     char ***ret, size_t *ret_n)
{
	struct names l = { 0 };
	char **v = NULL;
	int r;

	if (!s || !ret || !ret_n || !lokt__kind_ok(kind))
		return -EINVAL;
	r = s->be->names ? s->be->names(s, kind, add_name, &l)
			 : s->be->list(s, kind, add_listed, &l);
	if (r >= 0) {
		v = names_block(&l);
		if (!v)
			r = -ENOMEM;
	}
	free(l.text);
	if (r < 0)
		return r;
	*ret = v;
	*ret_n = l.n;
	return 0;
}

void lokt__attr_of(const char *buf, size_t len, const struct lokt_meta *meta,
		   struct lokt_attr *ret)
{
	struct lokt_record rec;
	int r;

	memset(&rec, 0, sizeof(rec));
	r = lokt_record_parse(buf, len, &rec);
	if (r < 0 && r != -LOKT_E_FUTURE_VERSION) {
		memset(&rec, 0, sizeof(rec));
		rec.uid = -1;
	}
	if (r == 0 && lokt__is_gate(&rec)) {
		/* Several holders, one record (slots.c): the uid of the
		 * first to come, the record's own being nobody's. */
		struct gate *g = malloc(sizeof(*g));

		if (g && lokt__gate_parse(buf, len, g) == 0 && g->n > 0)
			rec.uid = g->h[0].uid;
		free(g);
	}
	if (rec.uid < 0)
		rec.uid = meta->uid;
	ret->uid = rec.uid;
	ret->acquired = rec.acquired;
	ret->mtime = meta->mtime;
	if (!ret->mtime.tv_sec && !ret->mtime.tv_nsec)
		ret->mtime = rec.acquired;
	ret->size = meta->size < 0 ? 0 : (size_t)meta->size;
}

LOKT_API int lokt_get_attr(struct lokt_store *s, enum lokt_kind kind,
			   const char *name, struct lokt_attr *ret)
{
	struct lokt_meta meta;
	size_t len;
	char *buf;
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret || !lokt__kind_ok(kind))
		return -EINVAL;
	if (s->be->attr)
		return s->be->attr(s, kind, name, ret);
	r = s->be->get(s, kind, name, &buf, &len, &meta);
	if (r < 0)
		return r;
	lokt__attr_of(buf, len, &meta, ret);
	free(buf);
	return 0;
}

LOKT_API int lokt_waiters(struct lokt_store *s, const char *name,
			  size_t *ret_n)
{
	struct lokt_queue q;
	int r = lokt_name_check(name);

	if (r < 0)
		return r;
	if (!s || !ret_n)
		return -EINVAL;
	r = s->be->waiters(s, name, &q);
	if (r < 0)
		return r;
	*ret_n = q.live;
	return 0;
}

struct walk {
	const struct lokt_who *who;
	const char *owner;
};

/* Remove the name if it is (still) a lock of w->owner. */
static int release_owned_in(struct lokt_txn *t, void *ud)
{
	struct walk *w = ud;
	struct lokt_info cur;
	char *json = NULL;
	int r;

	r = lokt__load_in(t, LOKT_LOCK, &cur, &json);
	if (r == 0 && (cur.slots || cur.shared)) {
		r = lokt__slots_release_owner_in(t, &cur, json, w->who,
						 w->owner);
		free(json);
		return r;
	}
	free(json);
	if (r == 0 && (cur.future || cur.stale == LOKT_STALE_CORRUPT ||
		       strcmp(cur.rec.owner, w->owner)))
		r = -LOKT_E_NOT_FOUND;
	if (r == 0)
		r = lokt__remove_audited(t, w->who, &cur,
					 strcmp(w->owner, w->who->owner) ?
						 "force-break" :
						 "release",
					 NULL);
	return r < 0 ? r : 1;
}

LOKT_API int lokt_release_all(struct lokt_store *s, const struct lokt_who *who,
			      const char *owner, size_t *ret_count)
{
	struct walk w = { .who = who };
	struct lokt_info *v;
	size_t n, i, count = 0;
	int r;

	if (!s || !who)
		return -EINVAL;
	w.owner = owner ? owner : who->owner;
	r = lokt_list(s, LOKT_LOCK, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++) {
		if (v[i].future || v[i].stale == LOKT_STALE_CORRUPT ||
		    strcmp(v[i].rec.owner, w.owner))
			continue;
		r = lokt__transition(s, LOKT_LOCK, v[i].rec.name,
				     release_owned_in, &w);
		if (r > 0) {
			count += (size_t)r; /* a lock, or places */
			r = 0;
		} else if (r == -LOKT_E_NOT_FOUND || r == -LOKT_E_FOREIGN)
			r = 0; /* gone, or a planted sidecar: the next name */
	}
	free(v);
	if (ret_count)
		*ret_count = count;
	return r < 0 ? r : 0;
}

/* Remove the name if it is (still) stale: 1 if removed, 0 if not; of a
 * name of several holders, the stale places: how many. */
static int prune_one_in(struct lokt_txn *t, void *ud)
{
	struct walk *w = ud;
	struct lokt_info cur;
	char *json = NULL;
	int r;

	r = lokt__load_in(t, t->kind, &cur, &json);
	if (r == 0 && (cur.slots || cur.shared)) {
		r = lokt__slots_prune_in(t, &cur, json, w->who);
		free(json);
		return r; /* how many places */
	}
	free(json);
	if (r == 0 && !cur.future && cur.stale != LOKT_LIVE) {
		if (cur.stale == LOKT_STALE_CORRUPT)
			r = lokt__remove_audited(t, w->who, &cur,
						 "corrupt-break", "corrupt");
		else
			r = lokt__remove_audited(t, w->who, &cur, "auto-prune",
						 lokt_stale_name(cur.stale));
		return r < 0 ? r : 1;
	}
	return r == -LOKT_E_NOT_FOUND ? 0 : r;
}

static int prune_kind(struct lokt_store *s, enum lokt_kind kind,
		      const struct lokt_who *who, size_t *count)
{
	struct walk w = { .who = who };
	struct lokt_info *v;
	size_t n, i;
	int r;

	r = lokt_list(s, kind, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++) {
		if (v[i].future || v[i].stale == LOKT_LIVE)
			continue;
		r = lokt__transition(s, kind, v[i].rec.name, prune_one_in, &w);
		if (r > 0) {
			*count += (size_t)r; /* a lock, or places */
			r = 0;
		} else if (r == -LOKT_E_FOREIGN || r == -LOKT_E_NOT_FOUND)
			r = 0; /* a planted sidecar, or gone: the next name */
	}
	free(v);
	return r < 0 ? r : 0;
}

LOKT_API int lokt_prune(struct lokt_store *s, const struct lokt_who *who,
			size_t *ret_count)
{
	size_t count = 0;
	int r;

	if (!s || !who)
		return -EINVAL;
	r = prune_kind(s, LOKT_LOCK, who, &count);
	if (r == 0)
		r = prune_kind(s, LOKT_FREEZE, who, &count);
	if (r == 0)
		r = s->be->tidy(s);
	if (ret_count)
		*ret_count = count;
	return r < 0 ? r : 0;
}
