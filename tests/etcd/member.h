/* SPDX-License-Identifier: MIT */
/*
 * Real etcd members for tests: started from the Debian etcd-server
 * package on loopback ports, with data in a temporary directory, and
 * stopped (SIGKILL, directory removed) at the end. Tests that need etcd
 * and do not find /usr/bin/etcd are skipped, with that reason.
 */
#ifndef LOKT_TEST_ETCD_MEMBER_H
#define LOKT_TEST_ETCD_MEMBER_H

#include <stdbool.h>
#include <sys/types.h>

#define ETCD_MAX_MEMBERS 3

struct etcd_cluster {
	size_t n;
	pid_t pid[ETCD_MAX_MEMBERS];
	int client_port[ETCD_MAX_MEMBERS], peer_port[ETCD_MAX_MEMBERS];
	char endpoint[ETCD_MAX_MEMBERS][32]; /* "127.0.0.1:PORT" */
	char dir[256];
};

/* Path of the etcd binary, or NULL when it is not installed. */
const char *etcd_binary(void);

/* Start n members (1..3) and wait until a leader is elected; 0 or -errno. */
int etcd_start(struct etcd_cluster *c, size_t n);

/* Stop member i (SIGKILL) / start it again on its ports and data. */
void etcd_kill(struct etcd_cluster *c, size_t i);
int etcd_restart(struct etcd_cluster *c, size_t i);

/* Kill every member and remove the data. */
void etcd_stop(struct etcd_cluster *c);

/* Wait until member i answers /v3/maintenance/status with a leader. */
int etcd_wait_ready(struct etcd_cluster *c, size_t i, int timeout_ms);

#endif
