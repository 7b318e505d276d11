// SPDX-License-Identifier: MIT
/*
 * /metrics in the Prometheus text format (version 0.0.4) and /healthz.
 * Counters live here, in this process (they start at 0 with loktd); the
 * gauges (locks held, freezes, waiters) are read from the store at each
 * scrape, so they count every door's locks, not only loktd's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loktd.h"

static const char *const outcome_names[OUT_N] = {
	[OUT_ACQUIRED] = "acquired",	 [OUT_RENEWED] = "renewed",
	[OUT_HELD] = "held",		 [OUT_FROZEN] = "frozen",
	[OUT_TIMEOUT] = "timeout",	 [OUT_NOT_OWNER] = "not_owner",
	[OUT_NOT_FOUND] = "not_found",	 [OUT_BAD_REQUEST] = "bad_request",
	[OUT_UNAUTHORIZED] = "unauthorized", [OUT_BUSY] = "busy",
	[OUT_ERROR] = "error",
};

/* The outcomes an acquisition can have (metrics_acquire); a refusal can
 * have any but acquired and renewed. */
#define ACQUISITION_OUTCOMES                                              \
	(1u << OUT_ACQUIRED | 1u << OUT_RENEWED | 1u << OUT_HELD |       \
	 1u << OUT_FROZEN | 1u << OUT_TIMEOUT | 1u << OUT_BAD_REQUEST |  \
	 1u << OUT_ERROR)
#define REFUSAL_OUTCOMES \
	(((1u << OUT_N) - 1) & ~(1u << OUT_ACQUIRED | 1u << OUT_RENEWED))

/* Wait-time histogram buckets, seconds. */
static const double buckets[] = { 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800 };
#define N_BUCKETS (sizeof(buckets) / sizeof(*buckets))

static atomic_ullong acquisitions[OUT_N], refusals[OUT_N];
static atomic_ullong wait_bucket[N_BUCKETS], wait_count, wait_sum_ms;

void metrics_acquire(int r, bool renewed)
{
	enum outcome o;

	if (r >= 0) {
		acquisitions[renewed ? OUT_RENEWED : OUT_ACQUIRED]++;
		return;
	}
	switch (-r) {
	case LOKT_E_HELD:
	case LOKT_E_MODE: /* held, in another mode: exit 2 of lokt too */
		o = OUT_HELD;
		break;
	case LOKT_E_FROZEN:
		o = OUT_FROZEN;
		break;
	case LOKT_E_TIMEOUT:
		o = OUT_TIMEOUT;
		break;
	case LOKT_E_BAD_NAME:
		o = OUT_BAD_REQUEST;
		break;
	default:
		o = OUT_ERROR;
		break;
	}
	acquisitions[o]++;
	refusals[o]++;
}

void metrics_refusal(enum outcome o)
{
	refusals[o]++;
}

void metrics_wait(int64_t ms)
{
	for (size_t i = 0; i < N_BUCKETS; i++)
		if (ms <= buckets[i] * 1000)
			wait_bucket[i]++;
	wait_count++;
	wait_sum_ms += (unsigned long long)(ms < 0 ? 0 : ms);
}

static void counters(FILE *f, const char *metric, const char *help,
		     atomic_ullong *v, unsigned outcomes)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", metric, help, metric);
	for (int o = 0; o < OUT_N; o++)
		if (outcomes & 1u << o)
			fprintf(f, "%s{outcome=\"%s\"} %llu\n", metric,
				outcome_names[o], (unsigned long long)v[o]);
}

static void gauge(FILE *f, const char *metric, const char *help, size_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %zu\n", metric, help,
		metric, metric, v);
}

/* Is name among the n listed? */
static bool listed(const struct lokt_info *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].rec.name, name))
			return true;
	return false;
}

enum MHD_Result metrics_route(struct req *q)
{
	struct lokt_info *all = NULL, *locks = NULL;
	size_t n = 0, n_locks = 0, held = 0, frozen = 0, waiters = 0, w,
	       len = 0;
	char *text = NULL;
	FILE *f;

	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD"))
		return reply_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method",
				   "%s is not allowed on /metrics", q->method);
	if (lokt_list(loktd.store, LOKT_LOCK, &locks, &n_locks) < 0) {
		locks = NULL;
		n_locks = 0;
	}
	for (size_t i = 0; i < n_locks; i++) {
		if (locks[i].stale == LOKT_LIVE)
			held++;
		/* A semaphore's holders are listed one after the other:
		 * its queue counts once. */
		if (i && !strcmp(locks[i].rec.name, locks[i - 1].rec.name))
			continue;
		if (lokt_waiters(loktd.store, locks[i].rec.name, &w) >= 0)
			waiters += w;
	}
	if (lokt_list(loktd.store, LOKT_FREEZE, &all, &n) >= 0)
		for (size_t i = 0; i < n; i++) {
			frozen += all[i].stale == LOKT_LIVE;
			/* Waiters of a frozen name nobody holds: not met
			 * above. */
			if (!listed(locks, n_locks, all[i].rec.name) &&
			    lokt_waiters(loktd.store, all[i].rec.name, &w) >= 0)
				waiters += w;
		}
	free(all);
	free(locks);

	f = open_memstream(&text, &len);
	if (!f)
		return MHD_NO;
	gauge(f, "lokt_locks_held", "Live locks in the store.", held);
	gauge(f, "lokt_freezes_active", "Active freezes in the store.", frozen);
	gauge(f, "lokt_waiters", "Waiters queued for locks, held or frozen (every door).",
	      waiters);
	gauge(f, "loktd_http_waits", "Requests of this loktd waiting for a lock.",
	      waits_active());
	gauge(f, "loktd_event_clients", "Open /v1/events streams.",
	      events_clients());
	counters(f, "loktd_acquisitions_total",
		 "Acquisitions asked of this loktd, by outcome.", acquisitions,
		 ACQUISITION_OUTCOMES);
	counters(f, "loktd_refusals_total",
		 "Requests this loktd refused, by outcome.", refusals,
		 REFUSAL_OUTCOMES);
	fputs("# HELP loktd_wait_seconds Time requests waited for a lock.\n"
	      "# TYPE loktd_wait_seconds histogram\n",
	      f);
	for (size_t i = 0; i < N_BUCKETS; i++)
		fprintf(f, "loktd_wait_seconds_bucket{le=\"%g\"} %llu\n",
			buckets[i], (unsigned long long)wait_bucket[i]);
	fprintf(f, "loktd_wait_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)wait_count);
	fprintf(f, "loktd_wait_seconds_sum %.3f\n",
		(double)wait_sum_ms / 1000.0);
	fprintf(f, "loktd_wait_seconds_count %llu\n",
		(unsigned long long)wait_count);
	if (fclose(f))
		return MHD_NO;
	return reply_text(q, MHD_HTTP_OK, "text/plain; version=0.0.4", text);
}

enum MHD_Result healthz_route(struct req *q)
{
	struct lokt_info in;
	int r;

	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD"))
		return reply_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method",
				   "%s is not allowed on /healthz", q->method);
	/* The store answers a read: a missing name is healthy. */
	r = lokt_get(loktd.store, LOKT_LOCK, "healthz", &in, NULL);
	if (r < 0 && r != -LOKT_E_NOT_FOUND)
		return reply_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy",
				   "the store does not answer: %s",
				   lokt_strerror(r));
	return reply_text(q, MHD_HTTP_OK, "text/plain", strdup("ok\n"));
}
