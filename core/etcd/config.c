// SPDX-License-Identifier: MIT
/*
 * The etcd store's settings: the root URL (members and key prefix), and
 * the credentials, TLS files and timings that must not be on a command
 * line, from the environment or a configuration file (config.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "lokt.h"

#define SCHEME "etcd://"
#define FILE_MAX (64 * 1024) /* a configuration file; a password file */

/* A URL's scheme is case-insensitive (RFC 3986): ETCD:// is one too,
 * never a directory of that name made relative to where lokt runs. */
bool lokt__etcd_is_url(const char *root)
{
	return root && !strncasecmp(root, SCHEME, strlen(SCHEME));
}

__attribute__((format(printf, 3, 4))) static int why_not(char *why,
							  size_t size,
							  const char *fmt, ...)
{
	va_list ap;

	if (why && size) {
		va_start(ap, fmt);
		vsnprintf(why, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* One "HOST:PORT" of length len at p, checked, into c. */
static int add_endpoint(struct lokt_etcd_config *c, const char *p, size_t len,
			char *why, size_t ws)
{
	const char *colon, *q;
	long port;
	char *end;

	if (len == 0)
		return why_not(why, ws, "an endpoint is empty");
	if (c->n_endpoints == LOKT_ETCD_MAX_ENDPOINTS)
		return why_not(why, ws, "more than %d endpoints",
			       LOKT_ETCD_MAX_ENDPOINTS);
	if (p[0] == '[') {
		colon = memchr(p, ']', len);
		if (!colon || colon + 1 >= p + len || colon[1] != ':')
			return why_not(why, ws,
				       "\"%.*s\": write an IPv6 address as "
				       "[ADDR]:PORT",
				       (int)len, p);
		for (q = p + 1; q < colon; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' &&
			    *q != '.')
				return why_not(why, ws, "\"%.*s\" is not an "
					       "IPv6 address", (int)len, p);
		colon++;
	} else {
		colon = memchr(p, ':', len);
		if (colon && memchr(colon + 1, ':', len - (size_t)(colon - p) - 1))
			return why_not(why, ws,
				       "\"%.*s\": write an IPv6 address as "
				       "[ADDR]:PORT",
				       (int)len, p);
		if (!colon)
			return why_not(why, ws,
				       "a port is missing after \"%.*s\" "
				       "(HOST:PORT, e.g. %.*s:2379)",
				       (int)len, p, (int)len, p);
		for (q = p; q < colon; q++)
			if (!host_char(*q))
				return why_not(why, ws,
					       "\"%.*s\" is not a host name",
					       (int)(colon - p), p);
		if (colon == p)
			return why_not(why, ws, "a host is missing before "
				       "\":%.*s\"", (int)(len - 1), p + 1);
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (end != p + len || end == colon + 1 || errno || port < 1 ||
	    port > 65535)
		return why_not(why, ws, "\"%.*s\": the port must be a number "
			       "from 1 to 65535", (int)len, p);
	c->endpoints[c->n_endpoints] = strndup(p, len);
	if (!c->endpoints[c->n_endpoints])
		return -ENOMEM;
	c->n_endpoints++;
	return 0;
}

static int check_prefix(const char *prefix, char *why, size_t ws)
{
	const char *p;

	if (!prefix[0] || !prefix[1])
		return why_not(why, ws, "a key prefix is missing: "
			       "etcd://HOST:PORT/PREFIX, e.g. /lokt");
	for (p = prefix; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-/", *p))
			return why_not(why, ws,
				       "the prefix \"%s\" may hold only "
				       "letters, digits, '.', '_', '-' and '/'",
				       prefix);
	if (strstr(prefix, "//") || strstr(prefix, "/./") ||
	    strstr(prefix, "/../"))
		return why_not(why, ws, "the prefix \"%s\" has an empty, "
			       "'.' or '..' part", prefix);
	return 0;
}

int lokt__etcd_parse_url(const char *url, struct lokt_etcd_config *c,
			 char *why, size_t ws)
{
	const char *p, *slash, *comma;
	size_t len;
	int r;

	memset(c, 0, sizeof(*c));
	c->lease_sec = LOKT_ETCD_DEFAULT_LEASE_SEC;
	if (!lokt__etcd_is_url(url))
		return why_not(why, ws, "not an etcd:// URL");
	p = url + strlen(SCHEME);
	slash = strchr(p, '/');
	if (!slash)
		return why_not(why, ws, "a key prefix is missing: "
			       "etcd://HOST:PORT/PREFIX, e.g. /lokt");
	/* etcd://USER:PASSWORD@HOST:PORT/...: said without repeating it. */
	if (memchr(p, '@', (size_t)(slash - p)))
		return why_not(why, ws,
			       "a user or password does not go in the root "
			       "(command lines and messages show it): give them "
			       "in LOKT_ETCD_USER and LOKT_ETCD_PASSWORD_FILE");
	while (p < slash) {
		comma = memchr(p, ',', (size_t)(slash - p));
		len = comma ? (size_t)(comma - p) : (size_t)(slash - p);
		r = add_endpoint(c, p, len, why, ws);
		if (r < 0)
			goto err;
		p += len + (comma ? 1 : 0);
		if (comma && p == slash) {
			r = why_not(why, ws, "an endpoint is empty");
			goto err;
		}
	}
	if (!c->n_endpoints) {
		r = why_not(why, ws, "no endpoint: etcd://HOST:PORT/PREFIX");
		goto err;
	}
	c->prefix = strdup(slash);
	if (!c->prefix) {
		r = -ENOMEM;
		goto err;
	}
	for (len = strlen(c->prefix); len > 1 && c->prefix[len - 1] == '/';
	     len--)
		c->prefix[len - 1] = '\0';
	r = check_prefix(c->prefix, why, ws);
	if (r < 0)
		goto err;
	return 0;
err:
	lokt__etcd_config_free(c);
	return r;
}

/* ---- settings ------------------------------------------------------------ */

/* The whole of a small regular file (NUL-terminated, malloc'd); its mode
 * in *ret_mode. A symlink is followed: the user names the file, and a
 * Kubernetes secret or config map is a symlink. */
static int read_small(const char *path, char **ret, mode_t *ret_mode)
{
	struct stat st;
	ssize_t n;
	char *buf;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > FILE_MAX) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0)
		r = -errno;
	close(fd);
	if (n < 0) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*ret = buf;
	if (ret_mode)
		*ret_mode = st.st_mode;
	return 0;
}

/* Set *dst to a copy of v unless already set (the environment wins). */
static int set_once(char **dst, const char *v)
{
	if (*dst || !v || !*v)
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

int lokt__etcd_password_read(const char *path, char **ret, char *why,
			     size_t ws)
{
	char *buf;
	mode_t mode;
	int r;

	r = read_small(path, &buf, &mode);
	if (r < 0)
		return why_not(why, ws, "cannot read the password file %s: %s",
			       path, strerror(-r));
	if (mode & 077) {
		explicit_bzero(buf, strlen(buf));
		free(buf);
		why_not(why, ws, "the password file %s is readable by others: "
			"chmod 600 it", path);
		return -EPERM;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	*ret = buf;
	return 0;
}

/* The password in a file: its first line. */
static int password_from_file(struct lokt_etcd_config *c, const char *path,
			      char *why, size_t ws)
{
	int r;

	if (c->password)
		return 0;
	r = lokt__etcd_password_read(path, &c->password, why, ws);
	if (r == 0 && !(c->password_file = strdup(path)))
		r = -ENOMEM;
	return r;
}

static int set_duration(int64_t *dst, bool *given, const char *v,
			const char *what, bool seconds, char *why, size_t ws)
{
	int64_t ms;

	if (*given || !v || !*v)
		return 0;
	if (lokt_duration_parse(v, &ms) < 0 || ms <= 0)
		return why_not(why, ws, "bad duration \"%s\" for %s", v, what);
	*dst = seconds ? (ms + 999) / 1000 : ms;
	*given = true;
	return 0;
}

struct given {
	bool lease, timeout;
};

/* One "key = value" setting, from the environment or the file. */
static int apply(struct lokt_etcd_config *c, struct given *g, const char *k,
		 const char *v, char *why, size_t ws)
{
	if (!strcmp(k, "cacert"))
		return set_once(&c->cacert, v);
	if (!strcmp(k, "cert"))
		return set_once(&c->cert, v);
	if (!strcmp(k, "key"))
		return set_once(&c->key, v);
	if (!strcmp(k, "user"))
		return set_once(&c->user, v);
	if (!strcmp(k, "password"))
		return set_once(&c->password, v);
	if (!strcmp(k, "password_file"))
		return v && *v ? password_from_file(c, v, why, ws) : 0;
	if (!strcmp(k, "lease"))
		return set_duration(&c->lease_sec, &g->lease, v,
				    "the etcd lease", true, why, ws);
	if (!strcmp(k, "timeout"))
		return set_duration(&c->timeout_ms, &g->timeout, v,
				    "the etcd timeout", false, why, ws);
	return why_not(why, ws, "unknown setting \"%s\"", k);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int load_file(struct lokt_etcd_config *c, struct given *g,
		     const char *path, char *why, size_t ws)
{
	char *buf, *line, *save = NULL, *eq, *k, *v;
	bool has_password = false;
	mode_t mode;
	int r, n = 0;

	r = read_small(path, &buf, &mode);
	if (r < 0)
		return why_not(why, ws, "cannot read %s (LOKT_ETCD_CONFIG): %s",
			       path, strerror(-r));
	for (line = strtok_r(buf, "\n", &save); line && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		n++;
		k = trim(line);
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			r = why_not(why, ws, "%s:%d: not \"key = value\"",
				    path, n);
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		has_password |= !strcmp(k, "password");
		r = apply(c, g, k, v, why, ws);
		if (r == -EINVAL && why && strncmp(why, path, strlen(path))) {
			char tmp[256];

			snprintf(tmp, sizeof(tmp), "%s", why);
			why_not(why, ws, "%s:%d: %s", path, n, tmp);
		}
	}
	if (r == 0 && has_password && (mode & 077)) {
		why_not(why, ws, "%s holds a password and is readable by "
			"others: chmod 600 it", path);
		r = -EPERM;
	}
	explicit_bzero(buf, strlen(buf));
	free(buf);
	return r;
}

int lokt__etcd_load_settings(struct lokt_etcd_config *c, char *why,
			     size_t ws)
{
	static const struct {
		const char *env, *key;
	} vars[] = {
		{ "LOKT_ETCD_CACERT", "cacert" },
		{ "LOKT_ETCD_CERT", "cert" },
		{ "LOKT_ETCD_KEY", "key" },
		{ "LOKT_ETCD_USER", "user" },
		{ "LOKT_ETCD_PASSWORD", "password" },
		{ "LOKT_ETCD_PASSWORD_FILE", "password_file" },
		{ "LOKT_ETCD_LEASE", "lease" },
		{ "LOKT_ETCD_TIMEOUT", "timeout" },
	};
	struct given g = { false, false };
	const char *file = getenv("LOKT_ETCD_CONFIG");
	int r = 0;

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars) && r == 0; i++)
		r = apply(c, &g, vars[i].key, getenv(vars[i].env), why, ws);
	if (r == 0 && file && *file)
		r = load_file(c, &g, file, why, ws);
	if (r == 0 && (c->cert != NULL) != (c->key != NULL))
		r = why_not(why, ws, "a client certificate needs its key and "
			    "the reverse (LOKT_ETCD_CERT, LOKT_ETCD_KEY)");
	if (r == 0 && c->password && !c->user)
		r = why_not(why, ws, "a password without a user "
			    "(LOKT_ETCD_USER)");
	return r;
}

void lokt__etcd_config_free(struct lokt_etcd_config *c)
{
	for (size_t i = 0; i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->prefix);
	free(c->cacert);
	free(c->cert);
	free(c->key);
	free(c->user);
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->password_file);
	memset(c, 0, sizeof(*c));
}
