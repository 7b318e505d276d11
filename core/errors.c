// SPDX-License-Identifier: MIT
/*
 * Outcomes: the names of lock outcomes that are not system errors, and the
 * one place where any result is mapped to a CLI exit code and to the errno
 * the mount returns. A change here is a change of the CLI's and the mount's
 * contract: mirror it in the README's exit-code table and in tests/unit.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

LOKT_API const char *lokt_strerror(int r)
{
	if (r >= 0)
		return "success";
	switch (-r) {
	case LOKT_E_HELD:
		return "held";
	case LOKT_E_FROZEN:
		return "frozen";
	case LOKT_E_NOT_FOUND:
		return "not found";
	case LOKT_E_NOT_OWNER:
		return "not owner";
	case LOKT_E_BAD_NAME:
		return "bad name";
	case LOKT_E_FUTURE_VERSION:
		return "written by a newer protocol version";
	case LOKT_E_CORRUPT:
		return "corrupted";
	case LOKT_E_TIMEOUT:
		return "timed out";
	case LOKT_E_LOST:
		return "lock lost";
	case LOKT_E_NETFS:
		return "on a network filesystem";
	case LOKT_E_CANCELED:
		return "canceled";
	case LOKT_E_FOREIGN:
		return "a foreign file (symlink, FIFO, directory...; on etcd, "
		       "a key of something else) is in the store where a "
		       "lock, sidecar or queue belongs — run lokt doctor to "
		       "see which, and remove it";
	case LOKT_E_NO_ETCD:
		return "this lokt has no etcd store (liblokt-etcd.so is not "
		       "installed; Debian: it is in package liblokt0, built "
		       "with libcurl)";
	case LOKT_E_BAD_ROOT:
		return "the etcd:// root or its settings do not parse (the "
		       "form is etcd://HOST:PORT[,HOST:PORT...]/PREFIX; see "
		       "LOKT_ETCD_* and $LOKT_ETCD_CONFIG in lokt(1))";
	case LOKT_E_UNAVAILABLE:
		return "the etcd cluster did not answer (no member reachable, "
		       "or none with a leader); run lokt doctor";
	case LOKT_E_MODE:
		return "held in another mode (exclusive, shared, or a "
		       "semaphore of another size)";
	case LOKT_E_NO_KEEPER:
		return "lokt-keeper, which keeps the lease of an etcd lock "
		       "once lokt has exited, could not be run (" LOKT_LIBEXECDIR
		       "/lokt-keeper, or $LOKT_KEEPER); run lokt doctor to see "
		       "why, reinstall it (Debian: package liblokt0), or hold "
		       "the lock with lokt guard";
	case LOKT_E_LOGIN:
		return "etcd refused the login: a wrong user or password "
		       "(LOKT_ETCD_USER, and LOKT_ETCD_PASSWORD_FILE or "
		       "LOKT_ETCD_PASSWORD; see lokt(1))";
	case LOKT_E_DENIED:
		return "etcd denied the user access to the root's prefix: "
		       "its role needs readwrite on PREFIX/ (etcdctl role "
		       "grant-permission ROLE --prefix=true readwrite "
		       "PREFIX/; see lokt(1))";
	}
	/* strerror() of glibc returns a static string for every known errno
	 * (and "Unknown error N" from a thread-local buffer otherwise). */
	return strerror(-r);
}

LOKT_API int lokt_exit_code(int r)
{
	if (r >= 0)
		return 0;
	switch (-r) {
	case LOKT_E_HELD:
	case LOKT_E_FROZEN:
	case LOKT_E_TIMEOUT:
	case LOKT_E_MODE:
		return 2;
	case LOKT_E_NOT_FOUND:
		return 3;
	case LOKT_E_NOT_OWNER:
		return 4;
	case LOKT_E_BAD_NAME:
		return 64;
	}
	return 1;
}

LOKT_API int lokt_errno(int r)
{
	if (r >= 0)
		return 0;
	if (r == INT_MIN) /* no -r */
		return EIO;
	switch (-r) {
	case LOKT_E_HELD:
	case LOKT_E_FROZEN:
	case LOKT_E_TIMEOUT:
	case LOKT_E_MODE:
		return EBUSY;
	case LOKT_E_NOT_FOUND:
		return ENOENT;
	case LOKT_E_NOT_OWNER:
		return EPERM;
	case LOKT_E_BAD_NAME:
		return EINVAL;
	case LOKT_E_FUTURE_VERSION:
		return EPROTO;
	case LOKT_E_CORRUPT:
	case LOKT_E_FOREIGN:
	case LOKT_E_UNAVAILABLE:
	case LOKT_E_NO_KEEPER:
		return EIO;
	case LOKT_E_NO_ETCD:
		return EPROTONOSUPPORT;
	case LOKT_E_BAD_ROOT:
		return EINVAL;
	case LOKT_E_LOST:
		return ESTALE;
	case LOKT_E_NETFS:
		return EREMOTE;
	case LOKT_E_CANCELED:
		return EINTR;
	case LOKT_E_LOGIN:
	case LOKT_E_DENIED:
		return EACCES;
	}
	/* -errno; anything else (a LOKT_E_* of a newer liblokt, garbage)
	 * is an I/O error, never a negated INT_MIN or a number errno
	 * does not have. */
	return r >= -4095 ? -r : EIO;
}

LOKT_API const char *lokt_stale_name(enum lokt_stale s)
{
	switch (s) {
	case LOKT_LIVE:
		return "live";
	case LOKT_STALE_EXPIRED:
		return "expired";
	case LOKT_STALE_DEAD:
		return "dead";
	case LOKT_STALE_REUSED:
		return "reused";
	case LOKT_STALE_CORRUPT:
		return "corrupt";
	}
	return "unknown";
}

LOKT_API const char *lokt_version(void)
{
	return LOKT_VERSION;
}
