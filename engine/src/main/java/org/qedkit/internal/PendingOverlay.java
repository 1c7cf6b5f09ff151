package org.qedkit.internal;

import org.agrona.collections.Long2LongHashMap;

import java.util.List;
import java.util.concurrent.locks.StampedLock;

/**
 * Table entries that are written but not yet committed: the new cluster (or zero entry) of
 * each guest cluster, and the new L2 table of each L1 slot, until the commit stores them
 * into the mapped tables (see {@link CommitPipeline} for why they wait).
 *
 * <h2>Algorithm</h2>
 * Two Agrona {@link Long2LongHashMap}s (open addressing over one {@code long[]}: no boxing,
 * no node per entry) guarded by one {@link StampedLock}. Writers (the planner, under its
 * plan lock, and the committer dropping what it stored) take the write lock: short, never
 * around a system call. Readers take no lock: an optimistic stamp, the probe, then
 * {@code validate}; only when a writer ran in between do they retry under the read lock.
 * The probe reads a local copy of the map's array, so a concurrent resize or removal can
 * only make it return a wrong value, which {@code validate} then rejects.
 *
 * <h2>The count covers the entry</h2>
 * {@link #isEmpty()} is the fast path for readers while nothing is pending (one volatile
 * read). The count changes inside the same write-locked section as the map, before the
 * section's release: a reader whose validated probe found an entry has a stamp from after
 * that release, so it also sees a count that includes the entry, and a later
 * {@code isEmpty()} by that reader cannot skip an entry it has already seen (which would
 * make reads of one offset go backwards while the write is in flight).
 */
final class PendingOverlay {
    /** Returned by {@link #entry} when the cluster has no pending entry. */
    static final long MISSING = -1;
    private static final long NO_TABLE = 0;

    private final StampedLock lock = new StampedLock();
    private final Long2LongHashMap clusters = new Long2LongHashMap(MISSING); // guest cluster index -> entry
    private final Long2LongHashMap tables = new Long2LongHashMap(NO_TABLE);  // L1 index -> new table
    private volatile int pendingEntries; // clusters.size(), written under the write lock

    /** True when no entry is pending: readers then need not look further. */
    boolean isEmpty() {
        return pendingEntries == 0;
    }

    /** The pending entry of guest cluster {@code clusterIndex}, or {@link #MISSING}. Lock-free, allocation-free. */
    long entry(long clusterIndex) {
        if (pendingEntries == 0) {
            return MISSING;
        }
        return probe(clusters, clusterIndex);
    }

    /** The pending new L2 table for L1 slot {@code l1Index}, or 0. Lock-free, allocation-free. */
    long newTable(long l1Index) {
        return probe(tables, l1Index);
    }

    private long probe(Long2LongHashMap map, long key) {
        long stamp = lock.tryOptimisticRead(); // 0 while a writer holds the lock: validate fails then
        long value = map.get(key);
        return lock.validate(stamp) && stamp != 0 ? value : probeLocked(map, key);
    }

    /** The slow path, out of line so the fast one stays small enough to inline into every lookup. */
    private long probeLocked(Long2LongHashMap map, long key) {
        long stamp = lock.readLock();
        try {
            return map.get(key);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /** Makes {@code value} the pending entry of {@code clusterIndex}, visible to every reader when this returns. */
    void put(long clusterIndex, long value) {
        long stamp = lock.writeLock();
        try {
            clusters.put(clusterIndex, value);
            pendingEntries = clusters.size();
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** Records {@code table} as the new L2 table of {@code l1Index}. */
    void putNewTable(long l1Index, long table) {
        long stamp = lock.writeLock();
        try {
            tables.put(l1Index, table);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /**
     * Drops what a commit stored, for entries {@code from} to {@code to} of
     * {@code committed}: each cluster's entry if it is still the committed value (a later
     * write may have replaced it), and each new table if it is still the one committed. One
     * hold of the write lock for the slice: the committer drops batches of tens of thousands
     * of entries, and taking the lock once per entry made a writer's lookups fall back to
     * the read lock again and again meanwhile. Callers keep each slice short (see Committer).
     */
    void dropCommitted(List<PendingEntry> committed, int from, int to, Geometry geometry) {
        long stamp = lock.writeLock();
        try {
            for (int i = from; i < to; i++) {
                PendingEntry p = committed.get(i);
                long l1Index = geometry.l1Index(p.guestOffset());
                if (p.newTable() != NO_TABLE && tables.get(l1Index) == p.newTable()) {
                    tables.remove(l1Index);
                }
                long clusterIndex = p.guestOffset() >>> geometry.clusterBits();
                if (clusters.get(clusterIndex) == p.value()) {
                    clusters.remove(clusterIndex);
                }
            }
            pendingEntries = clusters.size();
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /**
     * True when a cluster entry in {@code [fromCluster, toCluster)} or a new table for an L1
     * index in {@code [fromL1, toL1)} is pending. Under the read lock; costs the smaller of
     * the range and what is pending. For discards, which leave pending entries to the commit.
     */
    boolean anyPendingIn(long fromCluster, long toCluster, long fromL1, long toL1) {
        long stamp = lock.readLock();
        try {
            return anyKeyIn(clusters, fromCluster, toCluster) || anyKeyIn(tables, fromL1, toL1);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    private static boolean anyKeyIn(Long2LongHashMap map, long from, long to) {
        if (map.isEmpty()) {
            return false;
        }
        if (to - from <= map.size()) {
            for (long key = from; key < to; key++) {
                if (map.containsKey(key)) {
                    return true;
                }
            }
            return false;
        }
        for (Long2LongHashMap.KeyIterator keys = map.keySet().iterator(); keys.hasNext(); ) {
            long key = keys.nextValue();
            if (key >= from && key < to) {
                return true;
            }
        }
        return false;
    }

    /** How many cluster entries are pending (for tests and the committer's idle check). */
    int size() {
        return pendingEntries;
    }
}
