// SPDX-License-Identifier: MIT
/*
 * loktd: parse the command line, check it (a listener beyond loopback
 * needs --tokens), open the store, listen, serve until SIGTERM or SIGINT,
 * then stop in reverse: waits canceled, event streams ended, the daemon
 * stopped, the store closed; exit 0.
 *
 * Threads: libmicrohttpd's pool (THREADS, epoll) serves requests and
 * never blocks on a lock; waits.c adds one thread per waiting request
 * (bounded); events.c two. Signals are blocked in all of them and taken
 * by the main thread with sigwait, which does nothing else.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loktd.h"
#include "nofile.h"

#define THREADS 4
#define CONN_TIMEOUT_S 30 /* an idle connection is closed */
/* Beyond loopback, the connections one address may hold at once: a
 * client that sends a byte now and then is never idle, and could hold
 * every connection loktd has. As many as the waits loktd serves. */
#define PER_IP_MAX 256
#define CONN_MAX 10000
#define FDS_KEPT 64 /* the store's, the audit log, listen, epoll, threads */
#define FDS_PER_WAIT 4 /* a waiter's ticket, bell, watch and pidfd */
#define LOCK_WAIT_MS 2000 /* a transition stuck behind another: 503 */
#define EXIT_REFUSED 2
#define EXIT_USAGE 64

struct loktd loktd;

enum { OPT_LISTEN = 256, OPT_ROOT, OPT_TOKENS, OPT_CERT, OPT_KEY, OPT_TTL };

struct args {
	const char *listen, *root, *tokens, *cert, *key, *ttl;
};

static void usage(FILE *f)
{
	fputs("Usage: loktd [options]\n"
	      "Serve a lokt lock store over HTTP: a JSON API (/v1), the\n"
	      "Tracker-compatible API (/api/v1alpha1), /metrics, /healthz\n"
	      "and a live dashboard at /.\n\n"
	      "  --listen ADDR:PORT   where to listen (default 127.0.0.1:7070;\n"
	      "                       [::1]:PORT for IPv6); beyond loopback\n"
	      "                       only with --tokens\n"
	      "  --root DIR           the store (default: found as lokt finds\n"
	      "                       it: $LOKT_ROOT, <git common dir>/lokt,\n"
	      "                       the nearest .lokt/ above, the root of\n"
	      "                       /etc/lokt.conf or $LOKT_CONFIG, ./.lokt)\n"
	      "  --tokens FILE        lines \"TOKEN OWNER\": state-changing\n"
	      "                       requests need Authorization: Bearer TOKEN\n"
	      "  --tls-cert FILE      serve HTTPS with this certificate (PEM)\n"
	      "  --tls-key FILE       ... and this key (PEM)\n"
	      "  --default-ttl D      TTL of a lock taken without one (30m)\n"
	      "  -h, --help           this help\n"
	      "  -V, --version        loktd's version\n\n"
	      "See loktd(8).\n",
	      f);
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("loktd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'loktd --help'\n", stderr);
	return EXIT_USAGE;
}

static int parse(int argc, char **argv, struct args *a, int *ret_exit)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "tokens", required_argument, NULL, OPT_TOKENS },
		{ "tls-cert", required_argument, NULL, OPT_CERT },
		{ "tls-key", required_argument, NULL, OPT_KEY },
		{ "default-ttl", required_argument, NULL, OPT_TTL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			a->listen = optarg;
			break;
		case OPT_ROOT:
			a->root = optarg;
			break;
		case OPT_TOKENS:
			a->tokens = optarg;
			break;
		case OPT_CERT:
			a->cert = optarg;
			break;
		case OPT_KEY:
			a->key = optarg;
			break;
		case OPT_TTL:
			a->ttl = optarg;
			break;
		case 'h':
			usage(stdout);
			*ret_exit = 0;
			return -1;
		case 'V': /* as lokt -V and loktfs -V */
			printf("loktd %s\n", lokt_version());
			*ret_exit = 0;
			return -1;
		case ':':
			*ret_exit = usage_error("%s needs a value",
						argv[optind - 1]);
			return -1;
		default:
			*ret_exit = usage_error("unknown option %s",
						argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		*ret_exit = usage_error("unexpected argument \"%s\"",
					argv[optind]);
		return -1;
	}
	return 0;
}

/* "127.0.0.1:7070", "[::1]:7070", "localhost:7070" into *ret; the host
 * part, without brackets, in host. */
static int parse_listen(const char *text, struct sockaddr_storage *ret,
			char *host, size_t size)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ret;
	const char *colon = strrchr(text, ':'), *h = text;
	size_t hlen;
	char *end;
	long port;

	if (!colon)
		return -EINVAL;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= size)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!strcmp(host, "localhost"))
		snprintf(host, size, "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

static int listen_on(const struct sockaddr_storage *sa)
{
	socklen_t len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
						   sizeof(struct sockaddr_in6);
	int fd, one = 1, r;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				 sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, len) < 0 ||
	    listen(fd, 1024) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re"), *m;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	while (m && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	if (!m || fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The open-file limit, shared: FDS_KEPT for loktd itself, then up to
 * half of the rest for waits (FDS_PER_WAIT each, MAX_WAITS at most),
 * and the others for connections, a quarter of which (MAX_STREAMS at
 * most) may be event streams. The connection limit to give
 * libmicrohttpd; waits and streams in loktd. */
static unsigned plan_fds(unsigned limit)
{
	unsigned avail = limit > 2 * FDS_KEPT ? limit - FDS_KEPT : limit / 2;
	size_t waits = avail / 2 / FDS_PER_WAIT;
	unsigned conns;

	if (waits > MAX_WAITS)
		waits = MAX_WAITS;
	conns = avail - (unsigned)waits * FDS_PER_WAIT;
	if (conns > CONN_MAX)
		conns = CONN_MAX;
	loktd.max_waits = waits;
	loktd.max_streams = conns / 4 < MAX_STREAMS ? conns / 4 : MAX_STREAMS;
	return conns;
}

static int open_store(const char *root_arg)
{
	const char *max = getenv("LOKT_AUDIT_MAX");
	char *root = NULL, why[320];
	uint64_t bytes = 0;
	int r;

	if (root_arg)
		root = realpath(root_arg, NULL);
	if (root_arg && !root && !(root = strdup(root_arg)))
		return -ENOMEM;
	if (!root_arg && (r = lokt_root_find(NULL, &root)) < 0) {
		if (r == -ENOENT && getenv("LOKT_CONFIG") &&
		    access(lokt_config_path(), F_OK) < 0)
			fprintf(stderr, "loktd: LOKT_CONFIG names %s, which does "
				"not exist; fix the name, set "
				"LOKT_CONFIG=/dev/null for no host-wide store, "
				"or give the store with --root DIR\n",
				lokt_config_path());
		else
			fprintf(stderr, "loktd: cannot find the lock root: "
				"%s\n", lokt_strerror(r));
		return r;
	}
	if (max && *max && lokt_audit_max_parse(max, &bytes) < 0) {
		fprintf(stderr, "loktd: bad LOKT_AUDIT_MAX \"%s\"\n", max);
		free(root);
		return -EINVAL;
	}
	r = lokt_store_open_why(root, &loktd.store, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "loktd: cannot open lock root %s: %s\n", root,
			why[0] ? why : lokt_strerror(r));
		free(root);
		return r;
	}
	if (max && *max)
		lokt_store_set_audit_max(loktd.store, bytes);
	lokt_store_set_lock_wait(loktd.store, LOCK_WAIT_MS);
	loktd.root = root;
	return 0;
}

static int hex_digit(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* %XX decoded in paths and query values as libmicrohttpd would, but for
 * %00: a NUL would end the string there and cut a name or a lock_id
 * short (locks/m1%00junk would act on m1). Left as it is, it makes a
 * name or a value that is refused. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;

	(void)cls;
	(void)c;
	while (*r) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) &&
		    isxdigit((unsigned char)r[2]) &&
		    (r[1] != '0' || r[2] != '0')) {
			*w++ = (char)(hex_digit(r[1]) << 4 | hex_digit(r[2]));
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static struct MHD_Daemon *start(int fd, const char *cert, const char *key,
				unsigned conns, unsigned per_ip)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(
		flags, 0, NULL, NULL, loktd_handle, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_COMPLETED, loktd_completed, NULL,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
		MHD_OPTION_CONNECTION_LIMIT, conns,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, /* 0: none */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		MHD_OPTION_ARRAY, cert ? tls : tls + 2, MHD_OPTION_END);
}

static void stop(void)
{
	struct timespec t = { 0, 10 * 1000 * 1000 };

	loktd.stopping = true;
	waits_stop();
	events_stop();
	/* The ended streams complete in the daemon's threads: the daemon
	 * must not be stopped with a connection still suspended. */
	for (int i = 0; i < 300 && events_clients(); i++)
		nanosleep(&t, NULL);
	MHD_stop_daemon(loktd.mhd);
}

/* Open, listen, serve until SIGTERM or SIGINT, tear down: the exit code. */
static int serve(const struct args *a, const struct sockaddr_storage *sa,
		 bool loopback)
{
	char *cert = NULL, *key = NULL;
	unsigned conns;
	sigset_t sigs;
	int ex = 1, fd, r, sig;

	if (a->cert && (!(cert = slurp(a->cert)) || !(key = slurp(a->key)))) {
		fprintf(stderr, "loktd: cannot read %s: %s\n",
			cert ? a->key : a->cert, strerror(errno));
		goto out;
	}
	if (open_store(a->root) < 0)
		goto out;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = listen_on(sa);
	if (fd < 0) {
		fprintf(stderr, "loktd: cannot listen on %s: %s\n", a->listen,
			strerror(-fd));
		goto out;
	}
	conns = plan_fds(lokt_nofile_raise());
	loktd.beyond_loopback = !loopback;
	loktd.mhd = start(fd, cert, key, conns,
			  loopback ? 0 : (conns < PER_IP_MAX ? conns : PER_IP_MAX));
	if (!loktd.mhd) {
		fprintf(stderr, "loktd: cannot start the HTTP server on %s%s\n",
			a->listen,
			cert ? " (is the certificate valid PEM?)" : "");
		goto out;
	}
	r = waits_start();
	if (r < 0) {
		MHD_stop_daemon(loktd.mhd);
	} else if ((r = events_start()) < 0) {
		loktd.stopping = true;
		waits_stop();
		MHD_stop_daemon(loktd.mhd);
	}
	if (r < 0) {
		fprintf(stderr, "loktd: cannot start its threads: %s\n",
			strerror(-r));
		goto out;
	}
	/* Tests wait for this line: only now is the port ours. */
	fprintf(stderr, "loktd: serving %s on %s://%s (%s)\n", loktd.root,
		cert ? "https" : "http", a->listen,
		loktd.tokens ? "tokens required to change state" :
			       "no tokens: loopback only");

	while (sigwait(&sigs, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
		;
	fprintf(stderr, "loktd: signal %d, stopping\n", sig);
	stop(); /* closes fd too */
	ex = 0;
out:
	lokt_store_close(loktd.store);
	free((char *)loktd.root);
	free(cert);
	free(key);
	return ex;
}

int main(int argc, char **argv)
{
	struct args a = { .listen = "127.0.0.1:7070", .ttl = "30m" };
	char host[INET6_ADDRSTRLEN + 16];
	struct sockaddr_storage sa;
	int64_t ttl_ms;
	int ex = 0, r;

	if (parse(argc, argv, &a, &ex) < 0)
		return ex;
	if (parse_listen(a.listen, &sa, host, sizeof(host)) < 0)
		return usage_error("bad --listen \"%s\": give ADDR:PORT, e.g. "
				   "127.0.0.1:7070 or [::1]:7070",
				   a.listen);
	if (lokt_duration_parse(a.ttl, &ttl_ms) < 0 || ttl_ms <= 0)
		return usage_error("bad --default-ttl \"%s\": give a duration "
				   "such as 30m or 2h",
				   a.ttl);
	loktd.default_ttl_sec = ttl_ms / 1000 + (ttl_ms % 1000 ? 1 : 0);
	if (!a.cert != !a.key)
		return usage_error("%s: --tls-cert and --tls-key go together",
				   a.cert ? "--tls-cert" : "--tls-key");
	if (a.tokens) {
		r = loktd_tokens_load(a.tokens, &loktd.tokens, &loktd.n_tokens);
		if (r == -EINVAL) {
			fprintf(stderr,
				"loktd: %s, line %zu: give \"TOKEN OWNER\" "
				"(a token of 16 to 256 characters, an owner "
				"name)\n",
				a.tokens, loktd.n_tokens);
			return 1;
		}
		if (r < 0) {
			fprintf(stderr, "loktd: cannot use tokens file %s: %s\n",
				a.tokens,
				r == -ENODATA ? "it has no token" :
				r == -EPERM ? "every user may read it, or "
					      "others may write it: chmod 600 "
					      "it (or 640, for loktd's group)" :
					      strerror(-r));
			return 1;
		}
	}
	if (!loktd.tokens && !is_loopback_listen(host)) {
		fprintf(stderr,
			"loktd: refusing to listen on %s without --tokens: "
			"anyone who can reach it could take and release "
			"locks — give --tokens FILE, or listen on 127.0.0.1\n",
			a.listen);
		return EXIT_REFUSED;
	}
	ex = serve(&a, &sa, is_loopback_listen(host));
	loktd_tokens_free(loktd.tokens, loktd.n_tokens);
	return ex;
}
