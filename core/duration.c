// SPDX-License-Identifier: MIT
/*
 * Durations ("90", "1.5s", "500ms", "1h30m") and RFC 3339 times, the two
 * kinds of value a user types or reads. Durations are kept in milliseconds
 * (int64_t). Times are written as UTC with exactly nine fractional digits;
 * they are read with any number of fractional digits from 0 to 9 and with
 * 'Z' or a ±hh:mm offset, because lokt 1.x (Go) drops trailing zeros and a
 * hand-edited file may carry a local offset.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The longest duration accepted (lokt.h). */
#define DURATION_MAX_MS (LOKT_TTL_MAX_SEC * 1000)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Milliseconds per unit at the start of *s; advances *s. 0 if unknown. */
static int64_t unit_ms(const char **s)
{
	const char *p = *s;

	if (p[0] == 'm' && p[1] == 's') {
		*s = p + 2;
		return 1;
	}
	*s = p + 1;
	switch (p[0]) {
	case 's':
		return 1000;
	case 'm':
		return 60 * 1000;
	case 'h':
		return 3600 * 1000;
	case 'd':
		return 86400 * 1000;
	}
	*s = p;
	return 0;
}

/* One "<digits>[.<digits>]<unit>" term; unit may be absent only when the
 * term is the whole string (plain seconds). A value too big for int64_t
 * saturates at INT64_MAX: the syntax is still checked to the end, so a
 * huge number is "too long" (-ERANGE) and a typo stays -EINVAL. */
static int parse_term(const char **sp, bool whole, int64_t *ret_ms)
{
	const char *s = *sp;
	int64_t ipart = 0, frac = 0, scale = 1, unit, ms;
	int ndigits = 0;
	bool big = false;

	while (is_digit(*s)) {
		if (__builtin_mul_overflow(ipart, 10, &ipart) ||
		    __builtin_add_overflow(ipart, *s - '0', &ipart))
			big = true;
		s++;
		ndigits++;
	}
	if (*s == '.') {
		s++;
		while (is_digit(*s)) {
			/* Nine digits are finer than a millisecond. */
			if (scale < 1000000000) {
				frac = frac * 10 + (*s - '0');
				scale *= 10;
			}
			s++;
			ndigits++;
		}
		if (scale == 1 && !is_digit(s[-1]))
			return -EINVAL; /* "1." or "." */
	}
	if (ndigits == 0)
		return -EINVAL;
	if (*s == '\0' && whole) {
		unit = 1000;
	} else {
		unit = unit_ms(&s);
		if (!unit)
			return -EINVAL;
	}
	if (big || __builtin_mul_overflow(ipart, unit, &ms) ||
	    __builtin_add_overflow(ms, frac * unit / scale, &ms))
		ms = INT64_MAX;
	*sp = s;
	*ret_ms = ms;
	return 0;
}

LOKT_API int lokt_duration_parse(const char *s, int64_t *ret_ms)
{
	int64_t total = 0, ms;
	const char *p = s;
	int r;

	if (!s || !*s || !ret_ms)
		return -EINVAL;
	while (*p) {
		r = parse_term(&p, p == s, &ms);
		if (r < 0)
			return r;
		if (__builtin_add_overflow(total, ms, &total))
			total = INT64_MAX;
	}
	if (total > DURATION_MAX_MS)
		return -ERANGE;
	*ret_ms = total;
	return 0;
}

/* "1.5s", "12.25s": seconds with the fraction, trailing zeros trimmed. */
static int format_seconds(const char *sign, uint64_t u, char *buf, size_t size)
{
	unsigned long long sec = u / 1000, f = u % 1000;
	int digits = 3;

	if (f % 100 == 0) {
		f /= 100;
		digits = 1;
	} else if (f % 10 == 0) {
		f /= 10;
		digits = 2;
	}
	return snprintf(buf, size, "%s%llu.%0*llus", sign, sec, digits, f);
}

LOKT_API int lokt_duration_format(int64_t ms, char *buf, size_t size)
{
	const char *sign = "";
	uint64_t u = (uint64_t)ms;
	int n;

	if (!buf || size == 0)
		return 0;
	if (ms < 0) {
		sign = "-";
		u = -(uint64_t)ms;
	}
	if (u < 1000)
		n = snprintf(buf, size, "%s%llums", sign,
			     (unsigned long long)u);
	else if (u < 60000 && u % 1000 == 0)
		n = snprintf(buf, size, "%s%llus", sign,
			     (unsigned long long)(u / 1000));
	else if (u < 60000)
		n = format_seconds(sign, u, buf, size);
	else if (u < 3600000ULL)
		n = snprintf(buf, size, "%s%llum%llus", sign,
			     (unsigned long long)(u / 60000),
			     (unsigned long long)(u / 1000 % 60));
	else if (u < 86400000ULL)
		n = snprintf(buf, size, "%s%lluh%llum", sign,
			     (unsigned long long)(u / 3600000),
			     (unsigned long long)(u / 60000 % 60));
	else
		n = snprintf(buf, size, "%s%llud%lluh", sign,
			     (unsigned long long)(u / 86400000),
			     (unsigned long long)(u / 3600000 % 24));
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < size ? n : (int)size - 1;
}

/* Parsing refuses what lies outside RFC3339_FIRST_SEC..RFC3339_LAST_SEC
 * (an offset can push a written date across either end), formatting too,
 * so that whatever one accepts the other gives back. */

/*
 * Days between 1970-01-01 and a date of the proleptic Gregorian calendar,
 * and back, by arithmetic: gmtime_r and timegm would load the time zone
 * file (/etc/localtime) at their first call, six system calls and a parse
 * in every lokt process, for a UTC conversion that needs no zone. The
 * year is counted from March, so that a leap day ends it; 400 years
 * ("an era") are 146097 days; 719468 days lie between 0000-03-01 and
 * 1970-01-01.
 */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_date(int year, int mon, int day)
{
	int64_t y = year - (mon <= 2), era = floor_div(y, 400);
	int64_t yoe = y - era * 400; /* year of the era, 0..399 */
	int64_t doy = (153 * (mon > 2 ? mon - 3 : mon + 9) + 2) / 5 + day - 1;

	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void date_from_days(int64_t days, int *year, int *mon, int *day)
{
	int64_t z = days + 719468, era = floor_div(z, 146097);
	int64_t doe = z - era * 146097; /* day of the era, 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153; /* month from March, 0..11 */

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (*mon <= 2));
}

LOKT_API int lokt_time_format(const struct timespec *t, char *buf, size_t size)
{
	int64_t sec, days, rem;
	int year, mon, day, n;

	if (!t || !buf || t->tv_nsec < 0 || t->tv_nsec > 999999999)
		return -EINVAL;
	sec = (int64_t)t->tv_sec;
	if (sec < RFC3339_FIRST_SEC || sec > RFC3339_LAST_SEC)
		return -EOVERFLOW;
	days = floor_div(sec, 86400);
	rem = sec - days * 86400;
	date_from_days(days, &year, &mon, &day);
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", year,
		     mon, day, (int)(rem / 3600), (int)(rem / 60 % 60),
		     (int)(rem % 60), (long)t->tv_nsec);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

/* Exactly n decimal digits at *s into *ret; advances *s. */
static bool take_digits(const char **s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*ret = v;
	return true;
}

static bool take_char(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

static int days_in_month(int year, int mon)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : days[mon - 1];
}

LOKT_API int lokt_time_parse(const char *s, struct timespec *ret)
{
	int year, mon, day, hour, min, sec, oh = 0, om = 0;
	long nsec = 0;
	int offset = 0, sign = 1, nfrac = 0;
	int64_t t;

	if (!s || !ret)
		return -EINVAL;
	if (!take_digits(&s, 4, &year) || !take_char(&s, '-') ||
	    !take_digits(&s, 2, &mon) || !take_char(&s, '-') ||
	    !take_digits(&s, 2, &day) ||
	    !(take_char(&s, 'T') || take_char(&s, 't')) ||
	    !take_digits(&s, 2, &hour) || !take_char(&s, ':') ||
	    !take_digits(&s, 2, &min) || !take_char(&s, ':') ||
	    !take_digits(&s, 2, &sec))
		return -EINVAL;
	if (take_char(&s, '.')) {
		/* Any number of digits (RFC 3339 sets no limit); those past
		 * the nanosecond are read and dropped. */
		while (is_digit(*s)) {
			if (nfrac++ < 9)
				nsec = nsec * 10 + (*s - '0');
			s++;
		}
		if (nfrac == 0)
			return -EINVAL;
		for (int i = nfrac; i < 9; i++)
			nsec *= 10;
	}
	if (take_char(&s, 'Z') || take_char(&s, 'z')) {
		offset = 0;
	} else {
		if (take_char(&s, '-'))
			sign = -1;
		else if (!take_char(&s, '+'))
			return -EINVAL;
		if (!take_digits(&s, 2, &oh) || !take_char(&s, ':') ||
		    !take_digits(&s, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
		offset = sign * (oh * 3600 + om * 60);
	}
	if (*s || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 59)
		return -EINVAL;
	t = days_from_date(year, mon, day) * 86400 + hour * 3600 + min * 60 +
	    sec - offset;
	if (t < RFC3339_FIRST_SEC || t > RFC3339_LAST_SEC)
		return -EINVAL;
	ret->tv_sec = (time_t)t;
	ret->tv_nsec = nsec;
	return 0;
}

void lokt__now(struct timespec *ret)
{
	clock_gettime(CLOCK_REALTIME, ret);
}

int64_t lokt__ms_between(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)a->tv_sec - (int64_t)b->tv_sec) * 1000 +
	       ((int64_t)a->tv_nsec - (int64_t)b->tv_nsec) / 1000000;
}
