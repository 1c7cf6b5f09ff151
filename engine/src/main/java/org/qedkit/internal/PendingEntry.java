package org.qedkit.internal;

/**
 * One table entry waiting to be committed.
 *
 * @param guestOffset a guest offset inside the cluster the entry maps
 * @param value       the entry: a data cluster's file offset, or {@link ClusterMap#ZERO}
 * @param newTable    the file offset of the new, empty L2 table to link into L1 with this
 *                    entry, or 0 when the table exists already
 */
record PendingEntry(long guestOffset, long value, long newTable) {
}
