package org.qedkit.internal;

import org.qedkit.internal.CommitPipeline.Request;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where each piece of a write goes: the one place that answers "is this cluster allocated,
 * and if not, what do we do".
 *
 * <h2>The decision</h2>
 * A request is split at cluster boundaries ({@link Geometry#pieceLength}); for each piece,
 * with the cluster's entry as the {@link ClusterMap} sees it (committed or pending):
 * <ul>
 *   <li>a data cluster (committed, or pending: its data is in place already): the bytes go
 *       straight into the file (see "Data through the page cache" for how);</li>
 *   <li>zeros over a whole cluster that reads as zeros already (a zero entry): nothing;</li>
 *   <li>zeros over a whole unallocated cluster: a zero entry (no data cluster is spent,
 *       and a backing file is hidden);</li>
 *   <li>otherwise a new cluster from the {@link ClusterAllocator} (fresh, zeroed space); when
 *       the piece covers part of an unallocated cluster over a backing file, the rest of the
 *       cluster is copied from the backing file first, so it becomes durable with the data.</li>
 * </ul>
 * The first two need no lock and no system call: a request whose clusters all exist is
 * placed without ever taking the plan lock. From the first piece that needs an entry, the
 * rest of the request is planned under the plan lock in one go, so its new clusters travel
 * in one batch: NEED_CHECK is made durable first (once, after a clean state), new entries
 * are published in the {@link PendingOverlay} (readers see them at once) and handed to the
 * {@link CommitPipeline}.
 *
 * <p>New clusters are taken slice by slice: the data clusters of a slice first, then its
 * new L2 tables (QEMU's order), and only then are its entries published. If a step fails (a
 * full disk, a backing file that cannot be read), nothing references the slice's new
 * clusters yet: they are given back, or a clean close would leave a leak. Slices published
 * before the failure are visible already and their data is in place: they are committed
 * like any others.
 *
 * <h2>Data through the page cache</h2>
 * The bytes of an overwrite (a piece whose cluster exists), and of every piece of a write
 * that asks for a sync (write-through, FUA), go into the file with {@code pwrite}
 * ({@link MappedImageFile#pwrite}; from the heap, through a native buffer); only the bytes
 * of a write-back write into a new cluster, and of any write into a new cluster over a
 * backing file (whose copy of the backing data has gone through the mapping already), are
 * stored through the mapping. Both land in the same page cache, so readers through the
 * mapping see them either way, and the sync that makes them durable is the same. What
 * differs is what that sync writes and what it must do first:
 * <ul>
 *   <li>A store through a mapping marks dirty the whole folio it lands in, and the page
 *       cache holds a file that was written with {@code write} or read ahead (by QEMU, by
 *       {@code cp}, by a sequential reader, this engine's own reads included) in folios of
 *       up to 2 MiB: a 4 KiB overwrite then makes the next sync write back up to 2 MiB (512
 *       overwrites 2 MiB apart, write-back, then a flush: 1,022 MiB written, against QEMU's
 *       2), and a store into a folio that is not cached reads it in first. A {@code pwrite}
 *       marks only the blocks it covers, and writes whole blocks without reading them.</li>
 *   <li>A stored page is mapped writable in this process; the sync write-protects it again
 *       before writing it back, a TLB shootdown on every CPU that runs this process
 *       ({@link Committer}, "Pages dropped before a sync"). A {@code pwrite} maps nothing.</li>
 * </ul>
 * A new cluster lies in space this image has just taken (grown into, or punched and
 * reused), and what of it is cached, this engine put there a page at a time: the first
 * blocks the allocator writes ahead ({@link ClusterAllocator}), and its own faults in space
 * advised {@code MADV_RANDOM} ({@link MappedImageFile}), which read in no neighbours. A
 * store there marks only the page it lands in. So write-back writes into new clusters
 * keep the mapping: they are many and small and wait for no sync, and a store into a page
 * already mapped costs no system call (a cached overwrite by {@code pwrite} makes about a
 * third as many writes a second as one through the mapping). The bytes of a failed
 * {@code pwrite} are stored through the mapping (the store then reports the fault, if
 * any). Measured in docs/performance.md, section 13 ("A thirteenth look", "A fourteenth
 * look").
 */
public final class WritePlanner {
    private enum Placement { IN_PLACE, NOTHING, ZERO_ENTRY, NEW_CLUSTER, NEW_CLUSTER_OVER_BACKING }

    private final MappedImageFile file;
    private final ClusterMap map;
    private final Geometry geometry;
    private final PendingOverlay overlay;
    private final ClusterAllocator allocator;
    private final BackingFile backing; // null without a backing file
    private final CommitPipeline pipeline;
    private final ReaderEpochs epochs;
    private final AtomicLong copyOnReadFailures = new AtomicLong();

    WritePlanner(MappedImageFile file, ClusterMap map, PendingOverlay overlay, ClusterAllocator allocator,
                 BackingFile backing, CommitPipeline pipeline, ReaderEpochs epochs) {
        this.file = file;
        this.map = map;
        this.geometry = map.geometry();
        this.overlay = overlay;
        this.allocator = allocator;
        this.backing = backing;
        this.pipeline = pipeline;
        this.epochs = epochs;
    }

    private Placement decide(long entry, boolean zeros, long pieceLength) {
        if (entry > ClusterMap.ZERO) {
            return Placement.IN_PLACE;
        }
        boolean whole = pieceLength == geometry.clusterSize();
        if (zeros && whole) {
            return entry == ClusterMap.ZERO ? Placement.NOTHING : Placement.ZERO_ENTRY;
        }
        return entry == ClusterMap.UNALLOCATED && backing != null && !whole
                ? Placement.NEW_CLUSTER_OVER_BACKING : Placement.NEW_CLUSTER;
    }

    /**
     * Writes {@code length} bytes at guest {@code offset}, from {@code src} at
     * {@code srcOffset}, or zeros when {@code src} is null. Returns when the data is in the
     * mapping and any new entries are published and queued.
     */
    public void write(long offset, long length, MemorySegment src, long srcOffset) throws IOException {
        write(offset, length, src, srcOffset, Request.QUEUE);
    }

    /**
     * {@link #write(long, long, MemorySegment, long)}, with its new entries, if it has any,
     * queued as {@code request} says ({@link CommitPipeline#enqueue(List, Request)}): a sync
     * request travels with them.
     *
     * @return the ticket that makes this write durable when {@code request} asks for a sync
     *         and the write queued new entries; 0 otherwise (then a sync, if wanted, must be
     *         requested apart)
     */
    public long write(long offset, long length, MemorySegment src, long srcOffset, Request request)
            throws IOException {
        int token = epochs.enter(); // the clusters looked up stay ours until exit (ReaderEpochs)
        try {
            return placeAll(offset, length, src, srcOffset, request);
        } finally {
            epochs.exit(token);
        }
    }

    private long placeAll(long offset, long length, MemorySegment src, long srcOffset, Request request)
            throws IOException {
        long done = 0;
        while (done < length) { // lock-free while every cluster exists
            long pos = offset + done;
            long n = geometry.pieceLength(pos, length - done);
            long entry = map.lookup(pos);
            Placement placement = decide(entry, src == null, n);
            if (placement == Placement.IN_PLACE) {
                store(src, srcOffset + done, entry + geometry.inCluster(pos), n, true);
            } else if (placement != Placement.NOTHING) {
                break;
            }
            done += n;
        }
        if (done < length) {
            return plan(offset + done, length - done, src, src == null ? 0 : srcOffset + done, request);
        }
        return 0;
    }

    /**
     * Puts {@code n} bytes of {@code src} from {@code srcOffset} (zeros when {@code src} is
     * null) into the file at {@code fileOffset}: with {@code pwrite} when {@code viaPwrite}
     * and that works, else through the mapping (class comment, "Data through the page
     * cache"). Returns true when they went through the mapping.
     */
    private boolean store(MemorySegment src, long srcOffset, long fileOffset, long n, boolean viaPwrite) {
        if (src == null) {
            if (viaPwrite && file.pwriteZeros(fileOffset, n)) {
                return false;
            }
            file.fillZero(fileOffset, n);
        } else {
            if (viaPwrite && file.pwrite(src, srcOffset, fileOffset, n)) {
                return false;
            }
            file.copyIn(src, srcOffset, fileOffset, n);
        }
        return true;
    }

    private long plan(long offset, long length, MemorySegment src, long srcOffset, Request request)
            throws IOException {
        pipeline.throwIfFailed();
        List<PendingEntry> planned = new ArrayList<>();
        long ticket = 0;
        pipeline.planLock().lock();
        try {
            pipeline.header().markNeedCheck();
            boolean durable = request != Request.QUEUE;
            for (long done = 0; done < length; ) {
                done += placeSlice(offset + done, length - done, src, src == null ? 0 : srcOffset + done, durable,
                        planned);
            }
        } finally {
            if (!planned.isEmpty()) {
                // Queued even when a step failed: the slices published before it are visible.
                ticket = pipeline.enqueue(planned, request);
            }
            pipeline.planLock().unlock();
        }
        return request == Request.QUEUE ? 0 : ticket;
    }

    /** Pieces placed in one go; bounds the scratch arrays for a huge zero write. */
    private static final int SLICE_PIECES = 4096;
    // Scratch for placeSlice, used only under the plan lock: a write allocates no arrays.
    private long[] slicePositions = new long[16];
    private long[] sliceValues = new long[16];
    private long[] sliceTables = new long[16];
    private boolean[] sliceMapped = new boolean[16];

    /**
     * Places up to {@link #SLICE_PIECES} pieces from {@code offset}; returns the bytes placed.
     * Two steps, the layout QEMU's QED driver gives a write: first a data cluster for every
     * piece that needs one, in guest order (one write's new clusters lie together in the
     * file, and an image written the same way by both tools has the same layout), then an L2
     * table for each range that has none. Only then is anything published, so a failure in
     * either step (a full disk, an unreadable backing file) gives back every cluster this
     * slice took, and nothing references them. {@code durable}: the write asks for a sync
     * ({@link #store}).
     */
    private long placeSlice(long offset, long length, MemorySegment src, long srcOffset, boolean durable,
                            List<PendingEntry> planned) throws IOException {
        int pieces = (int) Math.min(SLICE_PIECES, geometry.clusterCount(offset, length));
        if (slicePositions.length < pieces) { // scratch of the plan lock's holder: grown, never shrunk
            slicePositions = new long[pieces];
            sliceValues = new long[pieces];
            sliceTables = new long[pieces];
            sliceMapped = new boolean[pieces];
        }
        long[] positions = slicePositions;
        long[] values = sliceValues;
        long[] tables = sliceTables;
        boolean[] mapped = sliceMapped;
        java.util.Arrays.fill(tables, 0, pieces, 0L);
        int count = 0;
        allocator.mark();
        long done = 0;
        try {
            for (int piece = 0; piece < pieces && done < length; piece++) {
                long pos = offset + done;
                long n = geometry.pieceLength(pos, length - done);
                long entry = map.lookup(pos);
                Placement placement = decide(entry, src == null, n);
                switch (placement) {
                    case IN_PLACE -> store(src, srcOffset + done, entry + geometry.inCluster(pos), n, true);
                    case NOTHING -> { }
                    case ZERO_ENTRY -> {
                        positions[count] = pos;
                        mapped[count] = false;
                        values[count++] = ClusterMap.ZERO;
                    }
                    case NEW_CLUSTER, NEW_CLUSTER_OVER_BACKING -> {
                        long cluster = allocator.allocate(geometry.clusterSize());
                        positions[count] = pos;
                        mapped[count] = fillNewCluster(cluster, pos, n, src, src == null ? 0 : srcOffset + done,
                                placement == Placement.NEW_CLUSTER_OVER_BACKING, durable);
                        values[count++] = cluster;
                    }
                }
                done += n;
            }
            long l1Taken = -1;
            for (int i = 0; i < count; i++) {
                long l1Index = geometry.l1Index(positions[i]);
                if (l1Index != l1Taken && tableMissing(positions[i])) {
                    tables[i] = allocator.allocate(geometry.tableBytes());
                    l1Taken = l1Index;
                }
            }
        } catch (IOException | RuntimeException e) {
            allocator.rollBack();
            throw e;
        }
        // Over a backing file, zeros where the data should be would hide what the guest saw
        // there; elsewhere only space that is not settled needs the strict order.
        boolean ordered = backing != null || !allocator.settledSinceMark();
        for (int i = 0; i < count; i++) {
            publish(planned, positions[i], values[i], tables[i], ordered, mapped[i]);
        }
        return done;
    }

    /**
     * Puts the bytes of the piece at {@code pos} into {@code cluster}, a fresh one; returns
     * whether any went through the mapping ({@link #store}).
     */
    private boolean fillNewCluster(long cluster, long pos, long n, MemorySegment src, long srcOffset,
                                   boolean overBacking, boolean durable) throws IOException {
        long inCluster = geometry.inCluster(pos);
        if (overBacking) {
            // The rest of the cluster is what the backing file holds there. That copy went
            // through the mapping and dirtied every page of the cluster, so the piece goes
            // the same way: a pwrite would be one more system call and save nothing.
            fillFromBacking(pos - inCluster, cluster);
            store(src, srcOffset, cluster + inCluster, n, false);
            allocator.firstStoreLanded(0, geometry.clusterSize());
            return true;
        }
        if (src == null) {
            return false; // fresh space reads as zeros already
        }
        // Fresh space reads as zeros: the rest of the cluster already holds what an
        // unallocated or zero cluster reads as.
        boolean mapped = store(src, srcOffset, cluster + inCluster, n, durable);
        allocator.firstStoreLanded(inCluster, n);
        return mapped;
    }

    /**
     * Copy-on-read of the cluster holding guest offset {@code pos}, just read from the
     * backing file. Best effort by design: the read has its bytes already, and a guest read
     * must not fail because the image could not keep a copy (a full disk, a failed commit);
     * a failure is counted ({@link #copyOnReadFailures()}) and the cluster stays unallocated.
     */
    public void copyOnRead(long pos) {
        if (backing != null && pos < backing.size()) {
            try {
                populateFromBacking(pos - geometry.inCluster(pos));
            } catch (IOException | RuntimeException e) {
                copyOnReadFailures.incrementAndGet();
            }
        }
    }

    /** @return how many copy-on-read copies could not be made */
    public long copyOnReadFailures() {
        return copyOnReadFailures.get();
    }

    /**
     * Copy-on-read: when the cluster at {@code clusterGuestOffset} is still unallocated
     * (a write may have taken it since the caller read it), fills a new cluster with what
     * the backing file holds there and publishes its entry, in the same order as any write.
     * Zeros become a zero entry, as QEMU's copy-on-read writes them.
     */
    public void populateFromBacking(long clusterGuestOffset) throws IOException {
        pipeline.throwIfFailed();
        List<PendingEntry> planned = new ArrayList<>(1);
        pipeline.planLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            if (map.lookup(clusterGuestOffset) != ClusterMap.UNALLOCATED) {
                return;
            }
            pipeline.header().markNeedCheck();
            MemorySegment buffer = arena.allocate(geometry.clusterSize());
            backing.read(clusterGuestOffset, buffer, 0, geometry.clusterSize());
            boolean zeros = buffer.mismatch(arena.allocate(geometry.clusterSize())) < 0;
            // Placed as a write of the whole cluster is: zeros become a zero entry, data a new
            // cluster (and its table, if the range has none).
            placeSlice(clusterGuestOffset, geometry.clusterSize(), zeros ? null : buffer, 0, false, planned);
        } finally {
            if (!planned.isEmpty()) {
                pipeline.enqueue(planned);
            }
            pipeline.planLock().unlock();
        }
    }

    private void fillFromBacking(long clusterGuestOffset, long cluster) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(geometry.clusterSize());
            backing.read(clusterGuestOffset, buffer, 0, geometry.clusterSize());
            file.copyIn(buffer, 0, cluster, geometry.clusterSize());
        }
    }

    /**
     * Makes {@code value} the entry of the cluster at {@code pos}: readers see it from here
     * on. {@code newTable} is the L2 table taken for its range, or 0 when it has one;
     * {@code ordered}: the commit must keep data, L2, L1 apart; {@code dataMapped}: some of
     * its data was stored through the mapping ({@link PendingEntry}).
     */
    private void publish(List<PendingEntry> planned, long pos, long value, long newTable, boolean ordered,
                         boolean dataMapped) {
        if (newTable != 0) {
            overlay.putNewTable(geometry.l1Index(pos), newTable);
        }
        overlay.put(pos >>> geometry.clusterBits(), value);
        planned.add(new PendingEntry(pos, value, newTable, ordered, dataMapped));
    }

    /** True when no L2 table, committed or pending, covers guest offset {@code pos}. */
    private boolean tableMissing(long pos) throws IOException {
        return overlay.newTable(geometry.l1Index(pos)) == 0 && map.linkedTable(pos) == 0; // past the cache: see L2Cache
    }
}
