// SPDX-License-Identifier: MIT
/*
 * lokt-keeper: keeps one lock of the etcd store alive for its holder.
 * Started by liblokt (never by hand) when it takes a lock of a process:
 *   lokt-keeper ROOT NAME LOCK_ID LEASE HOLDER_PID HOLDER_START
 * It renews the lock's lease while the holder, or the keeper its record
 * names, lives; releases the lock when they are gone; and revokes the
 * lease when the lock is released or taken over (core/etcd/backend.c).
 */
#include "backend.h"

int main(int argc, char **argv)
{
	return lokt_etcd_keeper_main(argc, argv);
}
