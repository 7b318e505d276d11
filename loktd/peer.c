// SPDX-License-Identifier: MIT
/*
 * Which local user is at the other end of a connection.
 *
 * DESIGN
 *
 * Without --tokens loktd listens on loopback only, so every client is a
 * process of this host, and the kernel knows whose: the client's end of
 * the connection is a socket of this host, owned by the user who made
 * it. loktd asks the kernel for that socket by its four addresses and
 * ports (NETLINK_SOCK_DIAG, an exact lookup, as `ss -e` shows the uid),
 * and acts for that user as loktfs does for its callers: the uid goes into
 * the records it writes and the audit, and one user may not release,
 * renew or force another user's lock (core/identity.c, lokt__owns).
 * Otherwise any local user would act with loktd's own rights over the
 * store (root's, as the shipped unit runs it).
 *
 * The answer counts only when the client still holds its socket (an
 * inode number): a socket its process has closed is kept by the kernel
 * without an owner (as a time-wait socket its uid reads 0, root's), and
 * a client gone has nobody to answer anyway. No answer: the request is
 * refused (callers that cannot be told apart must not act as loktd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loktd.h"

/* The IPv4 address of an IPv4-mapped IPv6 one (::ffff:a.b.c.d). */
static bool v4_mapped(const struct sockaddr_in6 *a, struct sockaddr_in *ret)
{
	if (!IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
		return false;
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = a->sin6_port;
	memcpy(&ret->sin_addr, &a->sin6_addr.s6_addr[12], 4);
	return true;
}

/* The request for the socket whose own end is `at` and whose other end
 * is `to` (both of one family). */
static void diag_id(struct inet_diag_req_v2 *r, const struct sockaddr *at,
		    const struct sockaddr *to)
{
	r->sdiag_family = (__u8)at->sa_family;
	r->sdiag_protocol = IPPROTO_TCP;
	r->idiag_states = ~0U;
	r->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	r->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (at->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)at;
		const struct sockaddr_in *b = (const void *)to;

		r->id.idiag_sport = a->sin_port;
		r->id.idiag_dport = b->sin_port;
		memcpy(r->id.idiag_src, &a->sin_addr, 4);
		memcpy(r->id.idiag_dst, &b->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *a = (const void *)at;
		const struct sockaddr_in6 *b = (const void *)to;

		r->id.idiag_sport = a->sin6_port;
		r->id.idiag_dport = b->sin6_port;
		memcpy(r->id.idiag_src, &a->sin6_addr, 16);
		memcpy(r->id.idiag_dst, &b->sin6_addr, 16);
	}
}

static bool loopback(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)a)
				      ->sin_addr.s_addr) >>
			24) == 127;
	return a->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(
		       &((const struct sockaddr_in6 *)(const void *)a)
				->sin6_addr);
}

int loktd_peer_uid(int fd, uid_t *ret)
{
	struct sockaddr_storage ours, theirs;
	struct sockaddr_in o4, t4;
	const struct sockaddr *o = (const void *)&ours;
	const struct sockaddr *t = (const void *)&theirs;
	socklen_t ol = sizeof(ours), tl = sizeof(theirs);
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { 0 };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char buf[8192];
	} ans;
	const struct inet_diag_msg *m;
	const struct nlmsgerr *e;
	ssize_t n;
	int nl, r;

	if (getsockname(fd, (struct sockaddr *)&ours, &ol) < 0 ||
	    getpeername(fd, (struct sockaddr *)&theirs, &tl) < 0)
		return -errno;
	if (o->sa_family == AF_INET6 && t->sa_family == AF_INET6 &&
	    v4_mapped((const void *)&ours, &o4) &&
	    v4_mapped((const void *)&theirs, &t4)) {
		o = (const void *)&o4;
		t = (const void *)&t4;
	}
	if ((o->sa_family != AF_INET && o->sa_family != AF_INET6) ||
	    o->sa_family != t->sa_family)
		return -EAFNOSUPPORT;
	if (!loopback(t))
		return -EADDRNOTAVAIL; /* its socket is not this host's */
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	diag_id(&req.r, t, o); /* the client's socket: its end is theirs */

	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	r = -EIO;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) != (ssize_t)sizeof(req)) {
		r = -errno;
		goto out;
	}
	do
		n = recv(nl, &ans, sizeof(ans), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (!NLMSG_OK(&ans.h, (size_t)n))
		goto out;
	if (ans.h.nlmsg_type == NLMSG_ERROR) {
		e = NLMSG_DATA(&ans.h);
		if (ans.h.nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error)
			r = e->error;
		goto out;
	}
	if (ans.h.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    ans.h.nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		goto out;
	m = NLMSG_DATA(&ans.h);
	if (!m->idiag_inode) {
		r = -ENOTCONN; /* closed by its process: no owner left */
		goto out;
	}
	*ret = (uid_t)m->idiag_uid;
	r = 0;
out:
	close(nl);
	return r;
}
