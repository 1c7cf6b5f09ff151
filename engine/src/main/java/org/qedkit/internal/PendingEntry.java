package org.qedkit.internal;

/**
 * One table entry waiting to be committed.
 *
 * @param guestOffset a guest offset inside the cluster the entry maps
 * @param value       the entry: a data cluster's file offset, or {@link ClusterMap#ZERO}
 * @param newTable    the file offset of the new, empty L2 table to link into L1 with this
 *                    entry, or 0 when the table exists already
 * @param ordered     true when the entry must not reach the disk before its data cluster and
 *                    its new table: the strict schedule (data, sync, L2, sync, L1, sync).
 *                    False when a crash that kept the entry but not what it points at would
 *                    read zeros, which the guest range read before: no backing file, and the
 *                    cluster and table lie in settled space ({@link ClusterAllocator})
 * @param dataMapped  true when some of the data cluster's bytes were stored through the
 *                    mapping, so its pages may be mapped in this process; false when they
 *                    were written with {@code pwrite} or there are none (a zero entry, zeros
 *                    in fresh space): see WritePlanner, "Data through the page cache"
 */
record PendingEntry(long guestOffset, long value, long newTable, boolean ordered, boolean dataMapped) {
}
