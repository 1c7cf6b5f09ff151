package org.qedkit.internal;

import java.io.IOException;
import java.util.Arrays;

/**
 * Hands out space for new clusters and tables: freed space first, lowest offset first
 * ({@link FreeSpace}), then fresh space at the end of the file. Either way the space reads
 * as zeros and is backed by real blocks before a page of it is touched. Space is taken in
 * large steps, so most allocations make no system call: at the end, the file grows with
 * {@code fallocate} by 8 MiB at a time; from the free space, a run of up to 8 MiB is
 * reserved again with {@code fallocate} (it was punched) and becomes the window that the
 * next allocations come from. At a clean close the unused window goes back to the free
 * space, free space at the end of the file is cut off, and the file ends at its last used
 * cluster, as a clean QED image must.
 *
 * <h2>Space the disk holds as zeros</h2>
 * The commit pipeline may store a new entry before its cluster is durable when a crash
 * could only expose zeros through it (docs/design.md, "One sync per batch"). That needs
 * more than "reads as zeros here": the disk must hold zeros there whatever a crash keeps.
 * Each change that could leave handed-out space holding something else on disk, or lying
 * past a file length a crash may undo, takes a sync ticket: growing the file (its new
 * length is not durable yet; this one unsettles only the space the growth added, and the
 * space below stays settled), reserving a window of punched space (the punch may not be
 * durable yet), taking allocations back (their zeros are stores not yet durable). Space
 * handed out once a sync that began after the latest such change has completed is
 * <em>settled</em>: {@link #settledSinceMark()} says whether every allocation since
 * {@link #mark()} was. A block device is never settled: what lies in its unused space is
 * whatever was there.
 *
 * <h2>Growing ahead</h2>
 * At the end of the file the settled part ends at the last length known durable. So the
 * file does not wait to grow until a write needs the space: once less than half a step is
 * left, the allocation that noticed grows it by the next step, and the syncs of the batches
 * that still use the old step make the new length durable before anything is handed out
 * past it. A write that must grow the file itself (a burst faster than the syncs) gets
 * unsettled space, as before. A growth ahead that fails (a full disk) is not that
 * allocation's failure: the allocation that needs the space tries again and reports it.
 *
 * <h2>First blocks written ahead</h2>
 * Space from {@code fallocate} is held by the file system as unwritten extents. The first
 * store into such a block costs the sync that writes it more than the page: ext4 must
 * convert the extent (a kernel worker, once the page is written), then write the extent
 * block and the inode, each in turn, before the flush; a store into a block written once
 * costs the page and the flush. So zeros are written into one 4 KiB block of each cluster a
 * little ahead of the allocations, a chunk of clusters at a time, while fewer than two such
 * chunks ahead of the latest allocation are written: the next sync writes a chunk's blocks
 * and converts their extents at once, one larger sync per chunk instead of a conversion in
 * every write's sync. They are written with {@code pwrite}, not stored through the mapping:
 * a store would map each page twice (once for the zeros, and again for the data after the
 * chunk's sync has write-protected it, with a TLB shootdown on every CPU running this
 * process), where through the page cache only the data's store maps it; with eight writes
 * in flight that made 5 to 13 % more writes a second (docs/performance.md, section 13,
 * "An eleventh look"). A chunk holds about {@link #FIRST_BLOCKS_SYNCS_PER_CHUNK} syncs' worth
 * of new clusters ({@link #FIRST_BLOCKS_MIN_CHUNK_CLUSTERS} to
 * {@link #FIRST_BLOCKS_MAX_CHUNK_CLUSTERS}): a lone writer's 4, a few writers' 16. The writes
 * that wait for a chunk's sync wait for every page of it, so the chunk is as small as still
 * shares its conversions among several syncs: one sync in four carries a few pages more,
 * where fixed chunks of 16 made a lone writer's one sync in 16 carry 16 pages, and whole
 * 8 MiB steps made it a sync of several milliseconds (docs/performance.md, section 13).
 * <p>The block is the one where the latest first stores into new clusters landed, when the
 * last {@link #FIRST_STORES_TO_AGREE} of them each fit in one block and agree on it (a
 * writer that fills clusters in order, or writes 4 KiB at the same place in each, as
 * {@code qemu-img bench} does); until a first store is seen, the first block. Writes that
 * cover a whole cluster (every write, with 4 KiB clusters) or land anywhere get nothing
 * written ahead: the block would only be written twice. The price is one 4 KiB write per
 * cluster, paid for nothing when a sync carries many new clusters anyway (its conversions
 * are then shared by all of them). So chunks are written only while the syncs carry at most
 * {@link #FIRST_BLOCKS_MAX_CLUSTERS_PER_SYNC} new clusters each, counted over samples of at
 * least {@link #FIRST_BLOCKS_SAMPLE_CLUSTERS} new clusters: depth-1 and depth-8 write-through
 * writers, not a write-back stream or 32 writes in flight. When a writer speeds up, the
 * blocks of about a sample's worth of clusters are written before the rate shows
 * (docs/performance.md, section 13, "A ninth look" and "A tenth look"). An image opened
 * with {@code OpenOptions.firstBlocksWrittenAhead} false gets none: a daemon may prefer
 * that tail to the throughput.
 *
 * <p>Not thread-safe: callers hold the pipeline's plan lock.
 */
final class ClusterAllocator {
    /** Reserve at least this much at a time, and at least {@link #MIN_STEP_CLUSTERS} clusters. */
    private static final long STEP_BYTES = 8L << 20;
    private static final long MIN_STEP_CLUSTERS = 16;

    /** The size of the block written ahead in each new cluster (see "First blocks written ahead"). */
    private static final int FIRST_BLOCK_BYTES = 4096;
    /** A chunk of first blocks holds about this many syncs' worth of new clusters; two chunks are kept ahead. */
    private static final long FIRST_BLOCKS_SYNCS_PER_CHUNK = 4;
    /** The fewest clusters in a chunk: a lone writer's four syncs. */
    static final long FIRST_BLOCKS_MIN_CHUNK_CLUSTERS = 4;
    /** The most clusters in a chunk: more pages in one sync only lengthen the wait of the writes behind it. */
    static final long FIRST_BLOCKS_MAX_CHUNK_CLUSTERS = 16;
    /** Write a block ahead only where this many of the latest first stores each landed. */
    private static final int FIRST_STORES_TO_AGREE = 8;
    /** Write first blocks ahead only while the syncs carry at most this many new clusters each. */
    private static final long FIRST_BLOCKS_MAX_CLUSTERS_PER_SYNC = 8;
    /** The syncs that new clusters come with are counted over at least this many of them. */
    static final long FIRST_BLOCKS_SAMPLE_CLUSTERS = 16;

    private final MappedImageFile file;
    private final FreeSpace free; // null: no reuse (offline tools)
    private final int clusterSize;
    private final long step;
    private final boolean firstBlocksAhead; // false: turned off by the open options, or a block device
    private long usedEnd;
    /** Space at the end of the file below this lies inside a durable length. */
    private long settledEnd;
    /** The length of the latest growth not yet known durable, or -1; durable once growthTicket is. */
    private long growthEnd = -1;
    private long growthTicket;
    // First blocks written ahead (the class comment): up to where, at the end of the file and
    // in the window; the chunk size last decided; the new clusters and syncs of the latest
    // full sample, and the clusters and first sync ticket of the one being taken. Until a
    // sample is full: a sync for each cluster.
    private long endAhead;
    private long windowAhead;
    private long chunkClusters = FIRST_BLOCKS_MIN_CHUNK_CLUSTERS; // at least the least, also when none is written
    private long sampleClusters = 1;
    private long sampleSyncs = 1;
    private long clustersInSample;
    private long syncTicketAtSample;
    // Where the latest first stores into new clusters landed: a block index, or -1 when the
    // latest spanned blocks; and how many in a row landed there, up to FIRST_STORES_TO_AGREE.
    // Until one is seen: a cluster's first block, where a writer filling clusters begins.
    private long firstStoreBlock;
    private int firstStoresAgreeing = FIRST_STORES_TO_AGREE;
    private long windowNext;      // the reuse window: [windowNext, windowEnd) is reserved, zeroed, unused
    private long windowEnd;
    // What was handed out since the last mark(), as offset/length pairs, for rollBack().
    private long[] log = new long[32];
    private int logged;
    /** The sync ticket of the latest change that unsettled the space handed out (see the class comment). */
    private long unsettledAt = -1;
    /** Some allocation since the last mark() was not in settled space. */
    private boolean unsettledSinceMark;

    ClusterAllocator(MappedImageFile file, int clusterSize) {
        this(file, clusterSize, null);
    }

    ClusterAllocator(MappedImageFile file, int clusterSize, FreeSpace free) {
        this(file, clusterSize, free, true);
    }

    /**
     * With {@code firstBlocksAhead} false ({@code OpenOptions}), or on a block device (no
     * unwritten extents to convert), no first blocks are ever written ahead.
     */
    ClusterAllocator(MappedImageFile file, int clusterSize, FreeSpace free, boolean firstBlocksAhead) {
        this.file = file;
        this.firstBlocksAhead = firstBlocksAhead && !file.isBlockDevice();
        this.free = free;
        this.clusterSize = clusterSize;
        this.step = Math.max(STEP_BYTES, MIN_STEP_CLUSTERS * clusterSize);
        this.usedEnd = file.size();
        this.settledEnd = file.size(); // nothing is handed out below it: usedEnd starts there
        this.endAhead = file.size();
        this.syncTicketAtSample = file.syncTicket();
    }

    /**
     * Returns the file offset of {@code bytes} of zeroed space. A full disk fails here with an
     * exception and allocates nothing; at the end of the file a smaller reservation is tried
     * first.
     */
    long allocate(long bytes) throws IOException {
        long at = windowNext + bytes <= windowEnd ? windowNext : refillWindow(bytes);
        boolean settled;
        clustersInSample += bytes / clusterSize;
        if (at >= 0) {
            windowNext = at + bytes;
            settled = settled();
            windowAhead = writeAhead(Math.max(windowAhead, at + bytes), at + bytes, windowEnd);
        } else {
            at = allocateAtEnd(bytes);
            settled = settled() && at + bytes <= settledEnd();
            growAheadIfLow();
            endAhead = writeAhead(Math.max(endAhead, at + bytes), at + bytes, file.size());
        }
        if (!settled) {
            unsettledSinceMark = true;
        }
        if (logged + 2 > log.length) {
            log = Arrays.copyOf(log, log.length * 2); // grown, never shrunk: allocations allocate nothing
        }
        log[logged++] = at;
        log[logged++] = bytes;
        return at;
    }

    /**
     * Tells where the first store into the cluster just handed out landed: {@code bytes} at
     * {@code inCluster}. It decides which block of each cluster in new space is written ahead
     * (see "First blocks written ahead"); a cluster that is never stored into is not told.
     */
    void firstStoreLanded(long inCluster, long bytes) {
        long block = inCluster / FIRST_BLOCK_BYTES;
        if (bytes <= 0 || bytes >= clusterSize || (inCluster + bytes - 1) / FIRST_BLOCK_BYTES != block) {
            block = -1; // none, all of the cluster (a 4 KiB one too), or more than one block
        }
        if (block != firstStoreBlock) {
            firstStoreBlock = block;
            firstStoresAgreeing = 1;
        } else if (firstStoresAgreeing < FIRST_STORES_TO_AGREE) {
            firstStoresAgreeing++;
        }
    }

    /** A new window of freed space holding {@code bytes}, reserved again; -1 when there is none. */
    private long refillWindow(long bytes) throws IOException {
        if (free == null) {
            return -1;
        }
        long[] run = free.takeLowest(bytes, Math.max(bytes, step));
        if (run == null) {
            return -1;
        }
        try {
            file.reserve(run[0], run[1]);
        } catch (IOException | RuntimeException e) {
            free.add(run[0], run[1]);
            throw e;
        }
        unsettledAt = file.syncTicket(); // a punch not yet durable could bring old bytes back
        returnWindow();
        windowNext = run[0];
        windowEnd = run[0] + run[1];
        windowAhead = run[0];
        return windowNext;
    }

    private long allocateAtEnd(long bytes) throws IOException {
        long end = usedEnd + bytes;
        if (end > file.size()) {
            try {
                file.extend(Math.max(end, file.size() + step));
            } catch (IOException stepTooBig) {
                file.extend(end); // a nearly full disk may still hold what is needed now
            }
            grown();
        }
        long at = usedEnd;
        usedEnd = end;
        return at;
    }

    /** Grows the file by a step when less than half a step is left past the used end (see "Growing ahead"). */
    private void growAheadIfLow() {
        long from = file.size();
        if (from - usedEnd >= step / 2 || file.isBlockDevice()) {
            return;
        }
        try {
            file.extend(from + step);
        } catch (IOException | RuntimeException notNow) {
            return; // the allocation that needs the space grows the file, and reports what fails
        }
        grown();
    }

    /** After the file grew: a sync ticket for the new length. */
    private void grown() {
        growthEnd = file.size();
        growthTicket = file.syncTicket(); // until synced, a crash may keep the old length
    }

    /** The end of the space at the end of the file that lies inside a durable length. */
    private long settledEnd() {
        if (growthEnd >= 0 && file.durableSince(growthTicket)) {
            settledEnd = growthEnd;
            growthEnd = -1;
        }
        return settledEnd;
    }

    /**
     * Writes first blocks a chunk at a time from {@code ahead} on, until two chunks past
     * {@code next} (the end of the latest allocation) are covered or {@code limit} is reached;
     * returns how far they now go (see "First blocks written ahead"). Chunks that are not
     * worthwhile are passed over; with first blocks off, nothing is written or decided.
     */
    private long writeAhead(long ahead, long next, long limit) {
        if (!firstBlocksAhead || ahead - next >= 2 * chunkClusters * clusterSize || ahead >= limit) {
            return ahead;
        }
        long clusters = firstBlocksChunkClusters(); // one decision for the chunks written now
        chunkClusters = Math.max(clusters, FIRST_BLOCKS_MIN_CHUNK_CLUSTERS);
        long chunk = chunkClusters * clusterSize;
        while (ahead - next < 2 * chunk && ahead < limit) {
            long to = Math.min(ahead + chunk, limit);
            if (clusters > 0) {
                writeFirstBlocks(ahead, to);
            }
            ahead = to;
        }
        return ahead;
    }

    /**
     * The clusters in the next chunk of first blocks, or 0 when none is worth writing: the
     * latest first stores must agree on a block, and the syncs of the latest full sample must
     * have carried few new clusters each; the chunk then holds
     * {@link #FIRST_BLOCKS_SYNCS_PER_CHUNK} syncs' worth of that sample's clusters. A sample
     * that has reached {@link #FIRST_BLOCKS_SAMPLE_CLUSTERS} is closed here.
     */
    private long firstBlocksChunkClusters() {
        if (clustersInSample >= FIRST_BLOCKS_SAMPLE_CLUSTERS) {
            long ticket = file.syncTicket();
            sampleClusters = clustersInSample;
            sampleSyncs = ticket - syncTicketAtSample;
            clustersInSample = 0;
            syncTicketAtSample = ticket;
        }
        boolean few = sampleClusters <= FIRST_BLOCKS_MAX_CLUSTERS_PER_SYNC * sampleSyncs;
        if (firstStoreBlock < 0 || firstStoresAgreeing < FIRST_STORES_TO_AGREE || !few) {
            return 0;
        }
        // Rounded to the nearest: a sample closes at an allocation whose own sync is yet to come.
        long perSync = (sampleClusters + sampleSyncs / 2) / sampleSyncs;
        return Math.clamp(FIRST_BLOCKS_SYNCS_PER_CHUNK * perSync, FIRST_BLOCKS_MIN_CHUNK_CLUSTERS,
                FIRST_BLOCKS_MAX_CHUNK_CLUSTERS);
    }

    /**
     * Writes zeros into the block where first stores land, in every cluster that begins in
     * {@code [from, to)}: with {@code pwrite}, so that only the data's store maps the page
     * ({@link MappedImageFile#pwriteZeros}); stored through the mapping where that fails.
     */
    private void writeFirstBlocks(long from, long to) {
        long inCluster = firstStoreBlock * FIRST_BLOCK_BYTES; // clusters are 4 KiB at least (HeaderCodec)
        for (long cluster = (from + clusterSize - 1) / clusterSize * clusterSize;
             cluster + inCluster + FIRST_BLOCK_BYTES <= to; cluster += clusterSize) {
            if (!file.pwriteZeros(cluster + inCluster, FIRST_BLOCK_BYTES)) {
                file.fillZero(cluster + inCluster, FIRST_BLOCK_BYTES);
            }
        }
    }

    /**
     * The rest of the window back to the free space (reserved, zeroed: still free). Where
     * first blocks were written ahead in it, the rest holds data now, which free space must
     * not (the checker would count those clusters as leaks, and so would QEMU's check): that
     * part is punched again. Best effort: the new window is reserved already, and a failed
     * punch must not fail the write that asked for it; it leaves zeros, which read as the
     * free space they are, and a check counts them as leaks and punches them.
     */
    private void returnWindow() {
        if (windowNext < windowEnd) {
            long writtenAhead = Math.min(windowAhead, windowEnd) - windowNext;
            if (writtenAhead > 0) {
                try {
                    file.punchHole(windowNext, writtenAhead);
                } catch (IOException | RuntimeException e) {
                    // zeros stay (see above)
                }
            }
            free.add(windowNext, windowEnd - windowNext);
        }
        windowNext = 0;
        windowEnd = 0;
    }

    /** End of the last cluster handed out at the end of the file. */
    long usedEnd() {
        return usedEnd;
    }

    /**
     * True when space handed out now is settled as far as the latest change that is not a
     * growth goes (a window, a rollback, a cut); space at the end must also lie below
     * {@link #settledEnd()}.
     */
    private boolean settled() {
        return !file.isBlockDevice() && file.durableSince(unsettledAt);
    }

    /** Starts a new record of what is handed out, for {@link #rollBack()} and {@link #settledSinceMark()}. */
    void mark() {
        logged = 0;
        unsettledSinceMark = false;
    }

    /**
     * True when everything handed out since {@link #mark()} lay in settled space (see the
     * class comment): a crash that keeps an entry pointing there, but not what was stored
     * there, reads zeros.
     */
    boolean settledSinceMark() {
        return !unsettledSinceMark;
    }

    /**
     * Takes back everything handed out since {@link #mark()}: for a piece of a write that
     * failed before anything referenced its new clusters, so they do not leak. The space is
     * zeroed again ({@link #allocate} promises zeroed space, and a partial write relies on it
     * for the rest of its cluster, else the failed write's bytes would show there) and stays
     * reserved for the next allocation.
     */
    void rollBack() {
        for (int i = logged - 2; i >= 0; i -= 2) {
            long at = log[i];
            long bytes = log[i + 1];
            file.fillZero(at, bytes);
            if (windowEnd > 0 && at + bytes == windowNext) {
                windowNext = at; // reserved and zeroed, just below the window: the window again
            } else if (at + bytes == usedEnd) {
                usedEnd = at;
            } else if (free != null) {
                free.add(at, bytes);
            }
        }
        logged = 0;
        unsettledAt = file.syncTicket(); // the zeros just stored are not durable yet
    }

    /**
     * Gives space back at a clean point: the unused window goes back to the free space and
     * is punched, free space at the end of the file is cut off, and reserved space past the
     * last used cluster is given back: the file ends at its last used cluster.
     */
    void trimToUsed() throws IOException {
        if (free != null) {
            long from = windowNext;
            long length = windowEnd - windowNext;
            windowNext = 0;
            windowEnd = 0;
            if (length > 0) {
                file.punchHole(from, length);
                free.add(from, length);
            }
            for (long cut = free.cutTail(usedEnd); cut != usedEnd; cut = free.cutTail(usedEnd)) {
                usedEnd = cut;
            }
        }
        if (file.size() > usedEnd) {
            file.truncate(usedEnd);
        }
        settledEnd = Math.min(settledEnd(), file.size());
        endAhead = Math.min(endAhead, file.size());
        growthEnd = -1; // cut: what lies past the end now is grown again, and synced again
        unsettledAt = file.syncTicket(); // punched and cut: settled again only after a sync
    }
}
