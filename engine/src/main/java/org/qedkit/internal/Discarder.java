package org.qedkit.internal;

import java.io.IOException;
import java.util.Arrays;

/**
 * Discards: the one place that decides which entries stop being allocated, and hands the
 * space they held to the {@link SpaceReclaimer}.
 *
 * <h2>The decision</h2>
 * Only whole clusters are discarded; the partial clusters at the ends of a range are left
 * as they are (a discard may leave any of its range's content) or, for a write of zeros
 * with unmap, get zeros from the {@link WritePlanner}. For each whole cluster of the range:
 * <ul>
 *   <li>a data cluster: its entry becomes 0 without a backing file, the zero entry with one
 *       (so the backing file does not show through), and the cluster is retired;</li>
 *   <li>a zero entry: without a backing file it becomes 0 (both read as zeros, and an L2
 *       table of nothing but zeros can go); with one it stays;</li>
 *   <li>unallocated: nothing without a backing file; with one, a zero entry, placed by the
 *       planner like a write of zeros.</li>
 * </ul>
 * An L2 table whose entries are then all 0, with nothing pending in its range, is unlinked
 * (its L1 entry becomes 0) and retired too.
 *
 * <h2>Why the new entries are stored at once</h2>
 * A new data entry waits in the overlay until its data is durable; a discard's entry need
 * not: whichever of the old and the new entry a crash keeps, the range reads either what it
 * held or zeros, both fine for a discard not yet flushed, because the old cluster is not
 * punched or reused until the new entry is durable (the reclaimer's rule). Storing at once
 * keeps the read path as it is: the overlay only ever holds entries that are more
 * allocated than the mapping's, which is why lookups consult it only for unallocated and
 * zero entries. A cluster whose entry is still pending is therefore not discarded under
 * the overlay's feet: the discard commits what is pending in its range first, then looks
 * again.
 *
 * <p>Runs under the plan lock, inside a {@link ReaderEpochs} section (it reads tables the
 * way a lookup does). Afterwards the pipeline is asked for a commit within its interval, so
 * a sync makes the change durable and the reclaimer can free the space; a discard that
 * freed {@value #RECLAIM_AT_ONCE_BYTES} bytes or more syncs at once and frees the space
 * before it returns, so that the writes a guest makes after a trim reuse it (the space
 * cannot be reused before the change is durable, and a write cannot wait for that inside
 * its own epoch section).
 */
public final class Discarder {
    private final MappedImageFile file;
    private final ClusterMap map;
    private final Geometry geometry;
    private final PendingOverlay overlay;
    private final WritePlanner planner;
    private final CommitPipeline pipeline;
    private final SpaceReclaimer reclaimer;
    private final ReaderEpochs epochs;
    private final boolean overBacking;
    // Scratch, used only under the plan lock: file ranges freed by one call, as offset/length pairs.
    private long[] freedRuns = new long[32];
    private int freedCount;
    private long[] freedTables = new long[8];
    private int freedTableCount;

    Discarder(MappedImageFile file, ClusterMap map, PendingOverlay overlay, WritePlanner planner,
              CommitPipeline pipeline, SpaceReclaimer reclaimer, ReaderEpochs epochs, boolean overBacking) {
        this.file = file;
        this.map = map;
        this.geometry = map.geometry();
        this.overlay = overlay;
        this.planner = planner;
        this.pipeline = pipeline;
        this.reclaimer = reclaimer;
        this.epochs = epochs;
        this.overBacking = overBacking;
    }

    /**
     * Discards the whole clusters of {@code [offset, offset + length)}; with
     * {@code zeroEnds}, the partial clusters at its ends get zeros (a write of zeros with
     * unmap). Returns when the new entries are visible to every reader.
     */
    public void discard(long offset, long length, boolean zeroEnds) throws IOException {
        long first = Math.min(offset + length, (offset + geometry.clusterMask()) & ~geometry.clusterMask());
        long end = Math.max(first, (offset + length) & ~geometry.clusterMask());
        if (zeroEnds) {
            planner.write(offset, first - offset, null, 0);
            planner.write(end, offset + length - end, null, 0);
        }
        if (first == end) {
            return;
        }
        pipeline.throwIfFailed();
        long freed;
        while ((freed = tryDiscard(first, end)) < 0) {
            // Entries in the range are still pending: commit them, then look again.
            pipeline.awaitDurable(pipeline.requestSync(CommitPipeline.Request.SYNC_BY_CALLER));
        }
        if (freed >= RECLAIM_AT_ONCE_BYTES) {
            // Enough to matter for the writes that follow (a guest that trims, then writes
            // again): make the change durable now and free the space on this thread, outside
            // any epoch section, so those writes reuse it instead of growing the file.
            pipeline.awaitDurable(pipeline.requestSync(CommitPipeline.Request.SYNC_BY_CALLER));
            reclaimer.reclaimDue();
        } else {
            pipeline.commitSoon();
        }
    }

    /** A discard that frees this much syncs and reclaims before it returns; smaller ones wait for the commit interval. */
    static final long RECLAIM_AT_ONCE_BYTES = 8L << 20;

    /** Discards {@code [first, end)} if nothing in it is pending; returns the bytes freed, or -1 when something is. */
    private long tryDiscard(long first, long end) throws IOException {
        int token = epochs.enter();
        pipeline.planLock().lock();
        try {
            if (overlay.anyPendingIn(first >>> geometry.clusterBits(), end >>> geometry.clusterBits(),
                    geometry.l1Index(first), geometry.l1Index(end - 1) + 1)) {
                return -1;
            }
            pipeline.header().markNeedCheck();
            freedCount = 0;
            freedTableCount = 0;
            for (long pos = first; pos < end; ) {
                long tableEnd = Math.min(end, (pos | (geometry.bytesPerL2Table() - 1)) + 1);
                discardInTable(pos, tableEnd);
                pos = tableEnd;
            }
            reclaimer.retire(freedRuns, freedCount, false);
            reclaimer.retire(freedTables, freedTableCount, true);
            if (overBacking) {
                // Unallocated clusters would show the backing file: zero entries hide it.
                planner.write(first, end - first, null, 0);
            }
            long freed = 0;
            for (int i = 0; i < freedCount; i++) {
                freed += freedRuns[2 * i + 1];
            }
            for (int i = 0; i < freedTableCount; i++) {
                freed += freedTables[2 * i + 1];
            }
            return freed;
        } finally {
            pipeline.planLock().unlock();
            epochs.exit(token);
        }
    }

    /** Discards {@code [from, to)}, which lies inside one L2 table's range. */
    private void discardInTable(long from, long to) throws IOException {
        long table = map.linkedTable(from);
        if (table == 0) {
            return;
        }
        long newEntry = overBacking ? ClusterMap.ZERO : ClusterMap.UNALLOCATED;
        long entriesFrom = map.l2EntryOffset(table, from);
        long entriesTo = entriesFrom + (((to - from) >>> geometry.clusterBits()) << 3);
        for (long at = file.skipZeroEntries(entriesFrom, entriesTo); at < entriesTo;
             at = file.skipZeroEntries(at + 8, entriesTo)) {
            long guest = from + (((at - entriesFrom) >>> 3) << geometry.clusterBits());
            long entry = map.entryIn(table, guest); // validated: a corrupt entry fails the discard, names itself
            if (entry == ClusterMap.ZERO) {
                if (!overBacking) {
                    file.setEntryRelease(at, ClusterMap.UNALLOCATED);
                }
                continue;
            }
            file.setEntryRelease(at, newEntry);
            addRun(entry, geometry.clusterSize());
        }
        long tableBytes = geometry.tableBytes();
        if (!overBacking && file.skipZeroEntries(table, table + tableBytes) == table + tableBytes) {
            long l1Index = geometry.l1Index(from);
            long rangeStart = l1Index * geometry.bytesPerL2Table();
            long rangeEnd = rangeStart + geometry.bytesPerL2Table();
            if (!overlay.anyPendingIn(rangeStart >>> geometry.clusterBits(), rangeEnd >>> geometry.clusterBits(),
                    l1Index, l1Index + 1)) {
                file.setEntryRelease(geometry.l1EntryOffset(from), 0);
                map.forgetTable(l1Index);
                if (2 * freedTableCount + 2 > freedTables.length) {
                    freedTables = Arrays.copyOf(freedTables, freedTables.length * 2);
                }
                freedTables[2 * freedTableCount] = table;
                freedTables[2 * freedTableCount + 1] = tableBytes;
                freedTableCount++;
            }
        }
    }

    /** Adds a freed cluster, as part of the last run when it continues it. */
    private void addRun(long offset, long length) {
        if (freedCount > 0 && freedRuns[2 * freedCount - 2] + freedRuns[2 * freedCount - 1] == offset) {
            freedRuns[2 * freedCount - 1] += length;
            return;
        }
        if (2 * freedCount + 2 > freedRuns.length) {
            freedRuns = Arrays.copyOf(freedRuns, freedRuns.length * 2);
        }
        freedRuns[2 * freedCount] = offset;
        freedRuns[2 * freedCount + 1] = length;
        freedCount++;
    }
}
