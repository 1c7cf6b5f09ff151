package org.qedkit.internal;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Freed space, on its way from "unlinked" to {@link FreeSpace}. A cluster or L2 table that a
 * discard unlinked is punched and handed out again only when both hold:
 * <ol>
 *   <li><b>the unlinking is durable</b>: a sync that began after the entry changed has
 *       completed ({@link MappedImageFile#durableSince}). Before that, a crash could bring
 *       back the old entry, and it must find its old data, not a hole or another offset's
 *       bytes. A crash in between leaves a leak, which the next read-write open reclaims;</li>
 *   <li><b>nobody can still be using it</b>: every read or write that may have looked up
 *       the old entry has finished ({@link ReaderEpochs}). An L2 table waits for two such
 *       grace periods: a reader that found it through the table cache may have put it back
 *       in the cache just after it was unlinked, and a second reader may have picked that up
 *       before the first removed it again (see {@link ClusterMap#forgetTable}).</li>
 * </ol>
 * Then it is punched ({@link MappedImageFile#punchHole}: the host gets the blocks back at
 * once; where that is not supported it is zeroed instead) and added to the free space.
 *
 * <p>{@link #retire} is called by discards under the plan lock; {@link #reclaimDue} on the
 * commit thread after its syncs, and at close ({@link #reclaimAll}).
 */
public final class SpaceReclaimer {
    private record Retired(long offset, long length, long syncTicket, long epoch, int gracePeriods) {
    }

    private final MappedImageFile file;
    private final FreeSpace free;
    private final ReaderEpochs epochs;
    private final ArrayDeque<Retired> waiting = new ArrayDeque<>(); // under this; oldest first
    private final Object reclaiming = new Object(); // held through a whole reclaimDue
    private volatile int waitingCount;
    private java.util.List<long[]> retiredWhileScanning; // under this; non-null while a FreeSpaceScan runs
    private FreeSpaceScan scan; // under this: the scan open started, if any
    private long punchedBytes;   // under this: for info and tests
    private long zeroedBytes;    // under this: punched not supported, zeroed instead

    SpaceReclaimer(MappedImageFile file, FreeSpace free, ReaderEpochs epochs) {
        this.file = file;
        this.free = free;
        this.epochs = epochs;
    }

    /**
     * Retires the ranges in {@code runs} ({@code count} pairs of offset and length), whose
     * entries the caller has just changed: call after the stores. {@code tables}: they are
     * L2 tables (two grace periods).
     */
    void retire(long[] runs, int count, boolean tables) {
        if (count == 0) {
            return;
        }
        long ticket = file.syncTicket();
        long epoch = epochs.retireEpoch();
        synchronized (this) {
            for (int i = 0; i < count; i++) {
                waiting.addLast(new Retired(runs[2 * i], runs[2 * i + 1], ticket, epoch, tables ? 2 : 1));
                if (retiredWhileScanning != null) {
                    retiredWhileScanning.add(new long[] {runs[2 * i], runs[2 * i + 1]});
                }
            }
            waitingCount = waiting.size();
        }
    }

    /** {@code scan} begins: every range retired from now on is recorded for it. */
    synchronized void startRecording(FreeSpaceScan scan) {
        retiredWhileScanning = new ArrayList<>();
        this.scan = scan;
    }

    /** Stops a scan still running, and waits for it: before the file closes. */
    void stopScan() {
        FreeSpaceScan running;
        synchronized (this) {
            running = scan;
        }
        if (running != null) {
            running.stopAndJoin();
        }
    }

    /** The scan is over (or failed): nothing is recorded any more. */
    synchronized void stopRecording() {
        retiredWhileScanning = null;
    }

    /**
     * Marks every range retired since the scan began as used in {@code used} (one bit per
     * cluster of {@code clusterSize}), and stops recording: in one step, so that a range is
     * either marked here or was retired after the scan had read its entry as used. The caller
     * holds the plan lock, under which a discard unlinks and retires together: a range
     * unlinked before this step is retired before it too ({@link FreeSpaceScan}).
     */
    synchronized void markRetiredSinceOpen(java.util.BitSet used, int clusterSize) {
        if (retiredWhileScanning != null) {
            for (long[] r : retiredWhileScanning) {
                used.set((int) Math.min(Integer.MAX_VALUE, r[0] / clusterSize),
                        (int) Math.min(Integer.MAX_VALUE, (r[0] + r[1]) / clusterSize));
            }
        }
        retiredWhileScanning = null;
    }

    /** True when retired space waits for a sync or a grace period. */
    boolean hasWaiting() {
        return waitingCount != 0;
    }

    /**
     * Moves what is due to the free space; returns how many ranges it freed (after merging
     * neighbours). Advances the epoch as far as the readers allow. Never blocks on a reader.
     */
    int reclaimDue() throws IOException {
        // One reclaim at a time (the committer, a large discard, close): when a call returns,
        // what was due when it began is in the free space, even if another call took it.
        synchronized (reclaiming) {
            return waitingCount == 0 ? 0 : reclaimDueLocked();
        }
    }

    private int reclaimDueLocked() throws IOException {
        epochs.tryAdvance();
        epochs.tryAdvance();
        List<Retired> due = new ArrayList<>();
        synchronized (this) {
            int n = waiting.size();
            for (int i = 0; i < n; i++) {
                Retired r = waiting.pollFirst();
                if (!file.durableSince(r.syncTicket) || !epochs.isSafe(r.epoch)) {
                    waiting.addLast(r);
                } else if (r.gracePeriods > 1) {
                    waiting.addLast(new Retired(r.offset, r.length, r.syncTicket, epochs.retireEpoch(),
                            r.gracePeriods - 1));
                } else {
                    due.add(r);
                }
            }
            waitingCount = waiting.size();
        }
        // A discard retires clusters in guest order, which is seldom file order: sorted and
        // merged, a discard of many clusters written together costs a few punches, not one each.
        due.sort(java.util.Comparator.comparingLong(Retired::offset));
        int freed = 0;
        for (int i = 0; i < due.size(); ) {
            long start = due.get(i).offset;
            long end = start + due.get(i).length;
            for (i++; i < due.size() && due.get(i).offset == end; i++) {
                end += due.get(i).length;
            }
            boolean punched = file.punchHole(start, end - start);
            synchronized (this) {
                if (punched) {
                    punchedBytes += end - start;
                } else {
                    zeroedBytes += end - start;
                }
            }
            free.add(start, end - start);
            freed++;
        }
        return freed;
    }

    /**
     * At close, once everything is committed: syncs if retired space still waits for one,
     * and waits (briefly) for readers racing the close, so that nothing freed is left as a
     * leak. What still waits after {@code timeoutNanos} stays a leak (the next open finds it).
     */
    void reclaimAll(long timeoutNanos) throws IOException {
        long deadline = System.nanoTime() + timeoutNanos;
        boolean synced = false;
        while (hasWaiting()) {
            if (!synced) {
                file.sync();
                synced = true;
            }
            reclaimDue();
            if (!hasWaiting() || System.nanoTime() - deadline > 0) {
                return;
            }
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(100));
        }
    }

    /** {@return bytes of the file that are free: punched (or zeroed) and ready to be handed out again} */
    public long freeBytes() {
        return free.bytes();
    }

    /** {@return bytes freed by discards that wait for a sync or for readers before they are free} */
    public synchronized long waitingBytes() {
        long bytes = 0;
        for (Retired r : waiting) {
            bytes += r.length;
        }
        return bytes;
    }

    /** Bytes given back with a hole punch so far. */
    synchronized long punchedBytes() {
        return punchedBytes;
    }

    /** Bytes zeroed instead, where the file system could not punch. */
    synchronized long zeroedBytes() {
        return zeroedBytes;
    }
}
