/* SPDX-License-Identifier: MIT */
/*
 * Private to the etcd backend: where the store is and how to reach it.
 * The root URL names the cluster and the prefix; credentials and TLS files
 * never appear in it (a command line is readable by every user of the
 * host): they come from the environment or from a configuration file.
 */
#ifndef LOKT_ETCD_CONFIG_H
#define LOKT_ETCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOKT_ETCD_MAX_ENDPOINTS 16
#define LOKT_ETCD_DEFAULT_LEASE_SEC 10

struct lokt_etcd_config {
	char *endpoints[LOKT_ETCD_MAX_ENDPOINTS]; /* "HOST:PORT" */
	size_t n_endpoints;
	char *prefix; /* "/lokt": starts with '/', no trailing '/' */
	char *cacert, *cert, *key; /* PEM files, or NULL */
	char *user, *password; /* or NULL */
	/* The file the password was read from (password_file), read again
	 * when a login is refused (a password changed with etcdctl); NULL
	 * for a password given as such. */
	char *password_file;
	int64_t lease_sec; /* a holder's liveness lease */
	int64_t timeout_ms; /* one request; 0: the gateway's default */
};

/* Is root an etcd URL (etcd://...)? */
bool lokt__etcd_is_url(const char *root);

/* Parse etcd://HOST:PORT[,HOST:PORT...]/PREFIX into c (zeroed first).
 * HOST is a name, an IPv4 address or [IPv6]. -EINVAL with a reason in
 * why (for the message), e.g. "a port is missing after \"h\"". */
int lokt__etcd_parse_url(const char *url, struct lokt_etcd_config *c,
			 char *why, size_t why_size);

/* Fill credentials and settings from the environment, then from the file
 * named by $LOKT_ETCD_CONFIG (if set), the environment winning:
 *   LOKT_ETCD_CACERT, LOKT_ETCD_CERT, LOKT_ETCD_KEY (files),
 *   LOKT_ETCD_USER, LOKT_ETCD_PASSWORD or LOKT_ETCD_PASSWORD_FILE,
 *   LOKT_ETCD_LEASE (a duration, default 10s), LOKT_ETCD_TIMEOUT.
 * The file has "key = value" lines (cacert, cert, key, user, password,
 * password_file, lease, timeout) and '#' comments; a file holding a
 * password must not be readable by others (-EPERM). -EINVAL with why. */
int lokt__etcd_load_settings(struct lokt_etcd_config *c, char *why,
			     size_t why_size);

void lokt__etcd_config_free(struct lokt_etcd_config *c);

/* The password in the file at path: its first line, malloc'd. The file
 * may be a symlink (a Kubernetes secret is one), and must be a regular
 * file not readable by others (-EPERM). -errno with why. */
int lokt__etcd_password_read(const char *path, char **ret, char *why,
			     size_t why_size);

#endif /* LOKT_ETCD_CONFIG_H */
