package org.qedkit.internal;

import java.io.IOException;
import java.util.BitSet;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Finds the free space an image had when it was opened, in the background, so that a
 * read-write open costs what it cost before discard existed (the free space is not stored in
 * the image: QEMU would not keep such a list up to date, and rebuilding it from the tables
 * is cheap next to the data).
 *
 * <h2>What is free</h2>
 * Every cluster below the file's length at open that no table names: not the header, the L1
 * table, an L2 table the L1 table links, or a data cluster an L2 entry names. On a clean image
 * those are the holes earlier discards punched (a crash's leaks were reclaimed by the repair
 * at open, before this runs). Each run found is punched again (a no-op for a hole; a leak's
 * blocks go back) and added to the {@link FreeSpace}.
 *
 * <h2>Running beside writes and discards</h2>
 * The tables change while the scan reads them, and it reads them without the plan lock:
 * <ul>
 *   <li>A cluster unlinked by a discard during the scan may be missed as "used" (its entry
 *       was read after the discard); it is on its way to the free space through the
 *       {@link SpaceReclaimer}, which records every range retired while a scan runs, and the
 *       scan leaves those alone. A discard unlinks entries and then retires their clusters,
 *       both in one hold of the plan lock; the scan takes that lock for the one step in which
 *       it stops the recording and marks what it recorded
 *       ({@link SpaceReclaimer#markRetiredSinceOpen}). So a cluster unlinked before that step
 *       was retired before it too, and is marked. Without the lock, a discard could unlink a
 *       cluster before the scan read its entry and retire it just after that step: the scan
 *       would free it, and the reclaimer free it again, to two new owners (the process-crash
 *       campaign found this: docs/crash-consistency.md).</li>
 *   <li>A cluster that gets an entry during the scan comes from the end of the file (past
 *       what the scan covers) or from the free space, where only retired ranges can be: never
 *       from a range the scan will call free.</li>
 *   <li>A table read while a discard unlinks it and its space is reused yields entries that
 *       mean nothing; they can only mark more clusters as used (the scan then finds less),
 *       never fewer. Table reads run inside a {@link ReaderEpochs} section like any lookup.</li>
 * </ul>
 * An entry that is not a valid cluster offset ends the scan without adding anything: the
 * check at the next open with NEED_CHECK is the place for a corrupt image.
 */
public final class FreeSpaceScan implements Runnable {
    /** Scans larger than this many clusters (32 MiB of bitmap) are not made: the space stays unused. */
    private static final long MAX_CLUSTERS = 1L << 28;

    private final MappedImageFile file;
    private final Geometry geometry;
    private final ReaderEpochs epochs;
    private final SpaceReclaimer reclaimer;
    private final FreeSpace free;
    private final long scanEnd;
    private final ReentrantLock planLock; // null for a read-only count: nothing is retired there
    private volatile boolean stopped;
    private Thread thread;

    FreeSpaceScan(MappedImageFile file, Geometry geometry, ReaderEpochs epochs, SpaceReclaimer reclaimer,
                  FreeSpace free, ReentrantLock planLock) {
        this.file = file;
        this.planLock = planLock;
        this.geometry = geometry;
        this.epochs = epochs;
        this.reclaimer = reclaimer;
        this.free = free;
        this.scanEnd = file.size() - file.size() % geometry.clusterSize();
    }

    /**
     * Starts the scan on a daemon thread, or does nothing when the file has no hole below
     * its end (then nothing was discarded, and nothing is to be found cheaply).
     */
    static void startIfWorthwhile(MappedImageFile file, Geometry geometry, ReaderEpochs epochs,
                                  SpaceReclaimer reclaimer, FreeSpace free, ReentrantLock planLock)
            throws IOException {
        long hole = file.seekHole(geometry.headerBytes());
        if (hole < 0 || hole >= file.size() || file.size() / geometry.clusterSize() > MAX_CLUSTERS) {
            return;
        }
        FreeSpaceScan scan = new FreeSpaceScan(file, geometry, epochs, reclaimer, free, planLock);
        reclaimer.startRecording(scan);
        scan.thread = Thread.ofPlatform().daemon().name("qedkit-free-space " + file.path().getFileName()).start(scan);
    }

    /**
     * Stops the scan and waits for its thread (a few table reads at most): before the image
     * closes, so that no system call of the scan can reach the file's descriptor after it is
     * closed (and perhaps reused for another file).
     */
    void stopAndJoin() {
        stopped = true;
        boolean interrupted = false;
        while (thread != null && thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The free space of an image nothing writes to (a read-only open): the clusters below the
     * file's end that no table names and that are holes, in bytes. One read of the tables,
     * and none at all when the file has no hole.
     */
    public static long countFreeBytes(MappedImageFile file, Geometry geometry) throws IOException {
        long hole = file.seekHole(geometry.headerBytes());
        if (hole < 0 || hole >= file.size() || file.size() / geometry.clusterSize() > MAX_CLUSTERS) {
            return 0;
        }
        FreeSpaceScan scan = new FreeSpaceScan(file, geometry, new ReaderEpochs(), null, null, null);
        BitSet used = scan.usedClusters();
        if (used == null) {
            return 0;
        }
        int clusterSize = geometry.clusterSize();
        int clusters = (int) (scan.scanEnd / clusterSize);
        long freeClusters = 0;
        for (int c = used.nextClearBit(0); c < clusters; c = used.nextClearBit(c)) {
            int runEnd = used.nextSetBit(c) < 0 ? clusters : Math.min(clusters, used.nextSetBit(c));
            freeClusters += file.holeClusters(c, runEnd, clusterSize);
            c = runEnd;
        }
        return freeClusters * clusterSize;
    }

    @Override
    public void run() {
        try {
            BitSet used = usedClusters();
            if (used != null) {
                release(used);
            }
        } catch (IOException | RuntimeException e) {
            // The image closed under the scan, or the file failed: the space stays unused.
        } finally {
            reclaimer.stopRecording();
        }
    }

    /** The clusters below the scan's end that the tables name, or null when an entry is invalid. */
    private BitSet usedClusters() {
        int clusterSize = geometry.clusterSize();
        int clusters = (int) (scanEnd / clusterSize);
        BitSet used = new BitSet(clusters);
        used.set(0, (int) Math.min(clusters, geometry.headerBytes() / clusterSize));
        long tableClusters = geometry.tableBytes() / clusterSize;
        markRun(used, geometry.l1Offset() / clusterSize, tableClusters);
        long l1 = geometry.l1Offset();
        long l1End = l1 + geometry.tableBytes();
        for (long at = file.skipZeroEntries(l1, l1End); at < l1End; at = file.skipZeroEntries(at + 8, l1End)) {
            long table = file.getEntryAcquire(at);
            if (table == 0) {
                continue; // unlinked since skipZeroEntries looked
            }
            if (stopped || !valid(table, geometry.tableBytes())) {
                return null;
            }
            markRun(used, table / clusterSize, tableClusters);
            int token = epochs.enter();
            try {
                long end = table + geometry.tableBytes();
                for (long e = file.skipZeroEntries(table, end); e < end; e = file.skipZeroEntries(e + 8, end)) {
                    long entry = file.getEntryAcquire(e);
                    if (entry > ClusterMap.ZERO) {
                        if (!valid(entry, clusterSize)) {
                            return null;
                        }
                        markRun(used, entry / clusterSize, 1);
                    }
                }
            } finally {
                epochs.exit(token);
            }
        }
        return used;
    }

    private boolean valid(long offset, long extent) {
        return (offset & geometry.clusterMask()) == 0 && offset >= geometry.headerBytes()
                && offset <= file.size() - extent;
    }

    private void markRun(BitSet used, long first, long count) {
        long end = Math.min(first + count, scanEnd / geometry.clusterSize());
        if (first < end) {
            used.set((int) first, (int) end);
        }
    }

    /** Adds every unused run, less what was retired meanwhile, to the free space. */
    private void release(BitSet used) throws IOException {
        int clusterSize = geometry.clusterSize();
        int clusters = (int) (scanEnd / clusterSize);
        planLock.lock(); // no discard between its unlinks and its retire (see the class comment)
        try {
            reclaimer.markRetiredSinceOpen(used, clusterSize); // also stops the recording, atomically with it
        } finally {
            planLock.unlock();
        }
        for (int c = used.nextClearBit(0); c < clusters && !stopped; c = used.nextClearBit(c)) {
            int runEnd = Math.min(clusters, used.nextSetBit(c) < 0 ? clusters : used.nextSetBit(c));
            file.punchHole((long) c * clusterSize, (long) (runEnd - c) * clusterSize);
            free.add((long) c * clusterSize, (long) (runEnd - c) * clusterSize);
            c = runEnd;
        }
    }
}
