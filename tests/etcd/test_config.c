// SPDX-License-Identifier: MIT
/*
 * The etcd store's root URL and settings (core/etcd/config.c): endpoints,
 * IPv6, the prefix, refusals that say what is wrong, credentials from the
 * environment and from a file (the environment wins), and a password file
 * or configuration file with a password that others could read refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char why[256];

static void clear_env(void)
{
	const char *vars[] = { "LOKT_ETCD_CACERT", "LOKT_ETCD_CERT",
			       "LOKT_ETCD_KEY", "LOKT_ETCD_USER",
			       "LOKT_ETCD_PASSWORD", "LOKT_ETCD_PASSWORD_FILE",
			       "LOKT_ETCD_LEASE", "LOKT_ETCD_TIMEOUT",
			       "LOKT_ETCD_CONFIG" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
}

TestSuite(config, .init = clear_env);

Test(config, url)
{
	struct lokt_etcd_config c;

	cr_assert_eq(lokt__etcd_parse_url(
			     "etcd://a.example:2379,10.0.0.2:2379,[::1]:23790/lokt/",
			     &c, why, sizeof(why)),
		     0, "%s", why);
	cr_assert_eq(c.n_endpoints, 3);
	cr_assert_str_eq(c.endpoints[0], "a.example:2379");
	cr_assert_str_eq(c.endpoints[2], "[::1]:23790");
	cr_assert_str_eq(c.prefix, "/lokt");
	cr_assert_eq(c.lease_sec, LOKT_ETCD_DEFAULT_LEASE_SEC);
	lokt__etcd_config_free(&c);
	cr_assert(lokt__etcd_is_url("etcd://h:1/p"));
	cr_assert_not(lokt__etcd_is_url("/srv/lokt"));
	/* The scheme in any case (RFC 3986), never a relative directory
	 * named ETCD:. */
	cr_assert(lokt__etcd_is_url("ETCD://h:1/p"));
	cr_assert_eq(lokt__etcd_parse_url("ETCD://h:2379/lokt", &c, why,
					  sizeof(why)),
		     0, "%s", why);
	cr_assert_str_eq(c.endpoints[0], "h:2379");
	lokt__etcd_config_free(&c);
}

static void refused(const char *url, const char *says)
{
	struct lokt_etcd_config c;

	cr_assert_eq(lokt__etcd_parse_url(url, &c, why, sizeof(why)), -EINVAL,
		     "%s accepted", url);
	cr_assert(strstr(why, says), "%s: \"%s\" does not say \"%s\"", url,
		  why, says);
}

Test(config, bad_urls)
{
	refused("etcd://h:2379", "prefix is missing");
	refused("etcd://h:2379/", "prefix is missing");
	refused("etcd://h/lokt", "port is missing");
	refused("etcd://h:0/lokt", "1 to 65535");
	refused("etcd://h:99999/lokt", "1 to 65535");
	refused("etcd://h:12x/lokt", "1 to 65535");
	refused("etcd://h:1,/lokt", "empty");
	refused("etcd://h:1,,h:2/lokt", "empty");
	refused("etcd:///lokt", "no endpoint");
	refused("etcd://:1/lokt", "host is missing");
	refused("etcd://h@x:1/lokt", "LOKT_ETCD_USER");
	/* The password is not repeated (it was, as a bad IPv6 address). */
	refused("etcd://lokt:s3cretPW@h:1/lokt", "LOKT_ETCD_PASSWORD_FILE");
	cr_assert_null(strstr(why, "s3cretPW"), "%s", why);
	refused("etcd://::1:2379/lokt", "[ADDR]:PORT");
	refused("etcd://[::1]/lokt", "[ADDR]:PORT");
	refused("etcd://h:1/lo kt", "letters, digits");
	refused("etcd://h:1/a//b", "empty, '.' or '..'");
	refused("etcd://h:1/a/../b", "empty, '.' or '..'");
	refused("http://h:1/lokt", "not an etcd:// URL");
}

static char *write_file(const char *text, mode_t mode)
{
	char *path = strdup("/tmp/lokt-etcd-conf.XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
	return path;
}

Test(config, environment_then_file)
{
	struct lokt_etcd_config c;
	char *file = write_file("# settings\n user = fileuser \n"
				"password = s3cret\ncacert=/etc/ca.pem\n"
				"lease = 30s\n",
				0600);

	cr_assert_eq(lokt__etcd_parse_url("etcd://h:1/p", &c, why, sizeof(why)),
		     0);
	setenv("LOKT_ETCD_USER", "envuser", 1);
	setenv("LOKT_ETCD_LEASE", "5s", 1);
	setenv("LOKT_ETCD_CONFIG", file, 1);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), 0, "%s",
		     why);
	cr_assert_str_eq(c.user, "envuser", "the environment wins");
	cr_assert_str_eq(c.password, "s3cret");
	cr_assert_str_eq(c.cacert, "/etc/ca.pem");
	cr_assert_eq(c.lease_sec, 5);
	lokt__etcd_config_free(&c);
	unlink(file);
	free(file);
}

Test(config, secrets_readable_by_others)
{
	struct lokt_etcd_config c;
	char *file = write_file("user = u\npassword = s3cret\n", 0644);
	char *pw = write_file("s3cret\n", 0644);

	cr_assert_eq(lokt__etcd_parse_url("etcd://h:1/p", &c, why, sizeof(why)),
		     0);
	setenv("LOKT_ETCD_CONFIG", file, 1);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), -EPERM);
	cr_assert(strstr(why, "chmod 600"), "%s", why);
	lokt__etcd_config_free(&c);

	cr_assert_eq(lokt__etcd_parse_url("etcd://h:1/p", &c, why, sizeof(why)),
		     0);
	unsetenv("LOKT_ETCD_CONFIG");
	setenv("LOKT_ETCD_USER", "u", 1);
	setenv("LOKT_ETCD_PASSWORD_FILE", pw, 1);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), -EPERM);
	chmod(pw, 0600);
	lokt__etcd_config_free(&c);
	cr_assert_eq(lokt__etcd_parse_url("etcd://h:1/p", &c, why, sizeof(why)),
		     0);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), 0, "%s",
		     why);
	cr_assert_str_eq(c.password, "s3cret", "the first line, no newline");
	lokt__etcd_config_free(&c);
	unlink(file);
	unlink(pw);
	free(file);
	free(pw);
}

Test(config, bad_settings)
{
	struct lokt_etcd_config c;
	char *file = write_file("colour = blue\n", 0600);

	cr_assert_eq(lokt__etcd_parse_url("etcd://h:1/p", &c, why, sizeof(why)),
		     0);
	setenv("LOKT_ETCD_CONFIG", file, 1);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, ":1: unknown setting \"colour\""), "%s", why);
	unsetenv("LOKT_ETCD_CONFIG");
	setenv("LOKT_ETCD_LEASE", "soon", 1);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "bad duration \"soon\""), "%s", why);
	unsetenv("LOKT_ETCD_LEASE");
	setenv("LOKT_ETCD_CERT", "/c.pem", 1);
	cr_assert_eq(lokt__etcd_load_settings(&c, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "needs its key"), "%s", why);
	lokt__etcd_config_free(&c);
	unlink(file);
	free(file);
}
