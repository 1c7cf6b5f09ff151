package org.qedkit.internal;

import org.qedkit.Extent;
import org.qedkit.QedFormatException;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * Translates guest offsets to file offsets by walking the L1 and L2 tables in the mapping.
 *
 * <p>Every entry is validated as it is read, against the file's current length: an entry
 * that is misaligned, points into the header, or points (wholly or partly) past the end of
 * the file is reported as a {@link QedFormatException} naming the entry, instead of being
 * followed into a SIGBUS. The checks are a few compares, cheap enough for every read.
 *
 * <p>Entries are read with acquire ordering; writers store them with release ordering
 * after the data they point to, so a reader that sees an entry also sees its data.
 *
 * <p>L2 tables are found through an {@link L2Cache} when the image has one: a hit reads
 * the L2 entry off a view of the table, skipping the L1 entry; a miss walks the L1 table
 * as without a cache and installs what it found.
 *
 * <p>A writable image's map also consults its {@link PendingOverlay}, so that
 * {@link #lookup} answers for entries written but not yet committed: mapping first (where
 * every committed entry is); only when that says unallocated or zero, the overlay, if
 * anything is pending at all; then the mapping again, because a commit may have moved the
 * entry from overlay to mapping in between (it stores into the mapping before it drops
 * the entry from the overlay). {@link #committed} and {@link #l2Table} see the mapping
 * alone, as the committer and the checker need.
 */
public final class ClusterMap {
    /** L2 entry: no cluster in this image. */
    public static final long UNALLOCATED = 0;
    /** L2 entry: reads as zeros and hides the backing file. */
    public static final long ZERO = 1;

    private final MappedImageFile file;
    private final Geometry geometry;
    private final L2Cache cache;           // null: no cache
    private final PendingOverlay overlay;  // null: nothing is ever pending (read-only, offline)

    /** A map of the committed tables alone that walks the L1 table for every lookup. */
    public ClusterMap(MappedImageFile file, Geometry geometry) {
        this(file, geometry, 0, null);
    }

    /**
     * A map that keeps up to {@code cachedTables} L2 tables in an {@link L2Cache} (0: none)
     * and answers for the entries pending in {@code overlay} (null: none).
     */
    ClusterMap(MappedImageFile file, Geometry geometry, int cachedTables, PendingOverlay overlay) {
        if (cachedTables < 0) {
            throw new IllegalArgumentException("cachedTables must not be negative: " + cachedTables);
        }
        this.file = file;
        this.geometry = geometry;
        this.cache = cachedTables == 0 ? null : new L2Cache(cachedTables);
        this.overlay = overlay;
        long tables = (geometry.imageSize() + geometry.bytesPerL2Table() - 1) / geometry.bytesPerL2Table();
        this.cleanTables = new java.util.concurrent.atomic.AtomicLongArray(
                cachedTables == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, (tables + 63) >>> 6));
    }

    /** Tables the cache holds at most (0 without one). */
    public int cacheCapacity() {
        return cache == null ? 0 : cache.capacity();
    }

    /** How guest offsets split into table indexes for this image. */
    public Geometry geometry() {
        return geometry;
    }

    /**
     * The entry for {@code guestOffset}, committed or pending: {@link #UNALLOCATED},
     * {@link #ZERO}, or the validated file offset of a data cluster. Lock-free and
     * allocation-free.
     */
    public long lookup(long guestOffset) throws QedFormatException {
        long entry = committed(guestOffset);
        // Kept small, so that it inlines into every read loop; the overlay is out of line.
        return entry > ZERO || overlay == null ? entry : pendingOrCommitted(guestOffset);
    }

    private long pendingOrCommitted(long guestOffset) throws QedFormatException {
        long pending = overlay.entry(guestOffset >>> geometry.clusterBits());
        return pending != PendingOverlay.MISSING ? pending : committed(guestOffset);
    }

    /**
     * The run of guest bytes from {@code guestOffset} (inside the image) that shares one
     * state, committed and pending entries alike: unallocated, zero clusters, or data
     * clusters that are also contiguous in the file. A range with no L2 table (and nothing
     * pending) is skipped a table at a time, so an empty image's extent costs what is
     * allocated, not what is addressable.
     */
    public Extent extentAt(long guestOffset) throws QedFormatException {
        return extentAt(guestOffset, geometry.imageSize() - guestOffset);
    }

    /**
     * The run from {@code guestOffset} with one state, at most {@code maxLength} bytes long:
     * the walk stops there, so a caller that needs only a request's range pays for that
     * range, not for a run that may go on through the whole image.
     */
    public Extent extentAt(long guestOffset, long maxLength) throws QedFormatException {
        long size = maxLength >= geometry.imageSize() - guestOffset ? geometry.imageSize()
                : guestOffset + Math.max(1, maxLength);
        long clusterSize = geometry.clusterSize();
        long first = lookup(guestOffset);
        Extent.Kind kind = kindOf(first);
        long fileStart = kind == Extent.Kind.DATA ? first + geometry.inCluster(guestOffset) : -1;
        long pos = (guestOffset & ~geometry.clusterMask()) + clusterSize;
        long expectedNext = kind == Extent.Kind.DATA ? first + clusterSize : 0;
        while (pos < size) {
            if (kind == Extent.Kind.UNALLOCATED && isTableRangeEmpty(pos)) {
                pos = (pos | (geometry.bytesPerL2Table() - 1)) + 1;
                continue;
            }
            if (kind == Extent.Kind.UNALLOCATED && (overlay == null || overlay.isEmpty())) {
                // Empty entries of a committed table are skipped in one scan, not looked up
                // one by one: a 64 MiB-cluster table holds 2^27 of them.
                long table = l2Table(pos);
                long from = table + (geometry.l2Index(pos) << 3);
                long next = file.skipZeroEntries(from, table + geometry.tableBytes());
                pos += ((next - from) >>> 3) * clusterSize;
                if (next == table + geometry.tableBytes()) {
                    continue;
                }
            }
            if (pos >= size) {
                break;
            }
            long entry = lookup(pos);
            if (kindOf(entry) != kind || (kind == Extent.Kind.DATA && entry != expectedNext)) {
                break;
            }
            expectedNext += clusterSize;
            pos += clusterSize;
        }
        return new Extent(guestOffset, Math.min(pos, size) - guestOffset, kind, fileStart);
    }

    private static Extent.Kind kindOf(long entry) {
        if (entry == UNALLOCATED) {
            return Extent.Kind.UNALLOCATED;
        }
        return entry == ZERO ? Extent.Kind.ZERO : Extent.Kind.DATA;
    }

    /**
     * True when nothing in the L2 table range of {@code guestOffset} can be allocated: no
     * committed table covers it and nothing is pending anywhere. Callers skip the whole
     * range then.
     */
    public boolean isTableRangeEmpty(long guestOffset) throws QedFormatException {
        return (overlay == null || overlay.isEmpty()) && l2Table(guestOffset) == 0;
    }

    /**
     * The L2 entry for {@code guestOffset} in the mapped tables alone: {@link #UNALLOCATED},
     * {@link #ZERO}, or the validated file offset of a data cluster.
     */
    public long committed(long guestOffset) throws QedFormatException {
        long l1Index = geometry.l1Index(guestOffset);
        long l2Index = geometry.l2Index(guestOffset);
        long entry;
        L2Cache.Table cached = cache == null ? null : cache.get(l1Index);
        boolean checkMetadata;
        if (cached != null) {
            entry = file.getEntryAcquire(cached.entries(), l2Index << 3);
            checkMetadata = cached.suspect();
        } else {
            long table = walkL1(l1Index, guestOffset);
            if (table == 0) {
                return UNALLOCATED;
            }
            entry = file.getEntryAcquire(table + (l2Index << 3));
            checkMetadata = true; // an uncached table was not looked over: check each entry
        }
        if (entry == UNALLOCATED || entry == ZERO) {
            return entry;
        }
        if (!isValidCluster(entry, geometry.clusterSize())) {
            throw corruptEntry("L2[" + l1Index + "][" + l2Index + "]", entry,
                    geometry.clusterSize());
        }
        if (checkMetadata) {
            String inside = metadataAt(entry);
            if (inside != null) {
                throw overlapsMetadata("L2[" + l1Index + "][" + l2Index + "]", entry, inside);
            }
        }
        return entry;
    }

    /** The validated file offset of the L2 table covering {@code guestOffset}, or 0. */
    public long l2Table(long guestOffset) throws QedFormatException {
        long l1Index = geometry.l1Index(guestOffset);
        if (cache != null) {
            L2Cache.Table cached = cache.get(l1Index);
            if (cached != null) {
                return cached.offset();
            }
        }
        return walkL1(l1Index, guestOffset);
    }

    /**
     * The validated file offset of the L2 table the L1 table links for {@code guestOffset}
     * now, or 0, past the cache: for the planner and the committer, which must not act on a
     * record a racing lookup may have left in the cache for a moment (see {@link L2Cache}).
     */
    public long linkedTable(long guestOffset) throws QedFormatException {
        long entry = file.getEntryAcquire(geometry.l1EntryOffset(guestOffset));
        if (entry != 0 && !isValidCluster(entry, geometry.tableBytes())) {
            throw corruptEntry("L1[" + geometry.l1Index(guestOffset) + "]", entry, geometry.tableBytes());
        }
        return entry;
    }

    /**
     * The L2 entry for {@code guestOffset} in the table at {@code table} (from
     * {@link #linkedTable}), validated as {@link #committed} validates it.
     */
    public long entryIn(long table, long guestOffset) throws QedFormatException {
        long entry = file.getEntryAcquire(l2EntryOffset(table, guestOffset));
        if (entry == UNALLOCATED || entry == ZERO) {
            return entry;
        }
        String field = "L2[" + geometry.l1Index(guestOffset) + "][" + geometry.l2Index(guestOffset) + "]";
        if (!isValidCluster(entry, geometry.clusterSize())) {
            throw corruptEntry(field, entry, geometry.clusterSize());
        }
        String inside = metadataAt(entry);
        if (inside != null) {
            throw overlapsMetadata(field, entry, inside);
        }
        return entry;
    }

    /**
     * After the L1 entry of {@code l1Index} was set to 0: the cache forgets the table, and
     * the list of table offsets the metadata test uses is built again on its next use.
     */
    void forgetTable(long l1Index) {
        if (cache != null) {
            cache.forget(l1Index);
        }
        tablesUnlinked++;
        tableStarts = null;
    }

    /** {@link #l2Table} past the cache: reads and validates the L1 entry, and caches a table it names. */
    private long walkL1(long l1Index, long guestOffset) throws QedFormatException {
        long entry = file.getEntryAcquire(geometry.l1EntryOffset(guestOffset));
        if (entry == 0) {
            return 0; // not cached: a commit may link a table here at any time
        }
        if (!isValidCluster(entry, geometry.tableBytes())) {
            throw corruptEntry("L1[" + l1Index + "]", entry, geometry.tableBytes());
        }
        if (cache != null) {
            MemorySegment view = file.readOnlyView(entry, geometry.tableBytes());
            if (view != null) { // null: the table straddles two mapped chunks; walk it every time
                boolean suspect = !lookedOverAndClean(l1Index) && pointsIntoMetadata(entry);
                if (!suspect) {
                    rememberClean(l1Index);
                }
                L2Cache.Table record = new L2Cache.Table(l1Index, entry, view, suspect);
                cache.install(record);
                // A discard may have unlinked the table after the read above and forgotten it
                // before the install: then take the record out again (see L2Cache).
                VarHandle.fullFence();
                if (file.getEntryAcquire(geometry.l1EntryOffset(guestOffset)) != entry) {
                    cache.withdraw(record);
                }
            }
        }
        return entry;
    }

    /*
     * Data entries that point into metadata (issue 13, bug 2). A corrupt L2 entry can name a
     * cluster of the header, of the L1 table or of an L2 table (its own, another, or one that
     * names it back): a write through it would overwrite tables. Every L2 table is looked
     * over once, when it enters the cache, against the tables the L1 table names (a sorted
     * array built on first need); a table with such an entry is marked suspect, and lookups
     * through it, and through any table that is not cached, test the entry they return.
     * Lookups through a clean cached table pay one field read. Entries this process writes
     * point at clusters its allocator handed out, which are never metadata, and tables it
     * creates come from space that no valid entry referenced (past the file's end at open, or
     * freed and reclaimed: FreeSpace). With space reuse a freed table's space can become a
     * data cluster: the list of table offsets is dropped whenever a table is unlinked
     * (forgetTable), so it never names a table that is gone.
     */
    private volatile long[] tableStarts; // sorted file offsets of the L2 tables the L1 table names
    private volatile int tablesUnlinked; // written under the plan lock; a list built across a change is not kept
    // One bit per L1 index inside the image: the table there was looked over and is clean, so
    // a table evicted from the cache and installed again is not looked over again.
    private final java.util.concurrent.atomic.AtomicLongArray cleanTables;

    private boolean lookedOverAndClean(long l1Index) {
        return l1Index < (long) cleanTables.length() * 64
                && (cleanTables.get((int) (l1Index >>> 6)) & (1L << l1Index)) != 0;
    }

    private void rememberClean(long l1Index) {
        if (l1Index < (long) cleanTables.length() * 64) {
            cleanTables.getAndAccumulate((int) (l1Index >>> 6), 1L << l1Index, (a, b) -> a | b);
        }
    }

    private boolean pointsIntoMetadata(long table) {
        long end = table + geometry.tableBytes();
        for (long at = file.skipZeroEntries(table, end); at < end; at = file.skipZeroEntries(at + 8, end)) {
            long entry = file.getEntryAcquire(at);
            if (entry != ZERO && isValidCluster(entry, geometry.clusterSize()) && metadataAt(entry) != null) {
                return true;
            }
        }
        return false;
    }

    /** What metadata the cluster at {@code offset} belongs to ("the L1 table", "the L2 table at …"), or null. */
    private String metadataAt(long offset) {
        long l1 = geometry.l1Offset();
        if (offset >= l1 && offset < l1 + geometry.tableBytes()) {
            return "the L1 table";
        }
        long[] starts = tableStarts();
        int i = java.util.Arrays.binarySearch(starts, offset);
        int floor = i >= 0 ? i : -i - 2;
        if (floor >= 0 && offset < starts[floor] + geometry.tableBytes()) {
            return "the L2 table at 0x" + Long.toHexString(starts[floor]);
        }
        return null;
    }

    private long[] tableStarts() {
        long[] starts = tableStarts;
        if (starts == null) {
            synchronized (this) {
                starts = tableStarts;
                if (starts == null) {
                    int version;
                    do { // a table unlinked while the list was read: read it again
                        version = tablesUnlinked;
                        starts = readTableStarts();
                    } while (version != tablesUnlinked);
                    tableStarts = starts;
                }
            }
        }
        return starts;
    }

    private long[] readTableStarts() {
        long l1 = geometry.l1Offset();
        long end = l1 + geometry.tableBytes();
        long[] starts = new long[16];
        int n = 0;
        for (long at = file.skipZeroEntries(l1, end); at < end; at = file.skipZeroEntries(at + 8, end)) {
            long table = file.getEntryAcquire(at);
            if (isValidCluster(table, geometry.tableBytes())) {
                if (n == starts.length) {
                    starts = java.util.Arrays.copyOf(starts, n * 2);
                }
                starts[n++] = table;
            }
        }
        starts = java.util.Arrays.copyOf(starts, n);
        java.util.Arrays.sort(starts);
        return starts;
    }

    private QedFormatException overlapsMetadata(String field, long value, String inside) {
        file.noteCorruption();
        return new QedFormatException(field, "0x" + Long.toHexString(value),
                "a data cluster must not overlap the image's metadata, and this one lies in " + inside
                        + "; the image is corrupt (qed check -r all repairs it)");
    }

    /** File offset of the L2 entry for {@code guestOffset} in the table at {@code table}. */
    public long l2EntryOffset(long table, long guestOffset) {
        return table + (geometry.l2Index(guestOffset) << 3);
    }

    private boolean isValidCluster(long offset, long extent) {
        long size = file.size();
        return (offset & geometry.clusterMask()) == 0
                && offset >= geometry.headerBytes() // also false for offsets past 2^63 (negative)
                && offset <= size - extent;
    }

    private QedFormatException corruptEntry(String field, long value, long extent) {
        file.noteCorruption();
        return new QedFormatException(field, "0x" + Long.toHexString(value),
                "an entry must be 0, 1 (L2 only) or a cluster-aligned offset at or after the header ("
                        + geometry.headerBytes() + ") whose " + extent + " bytes lie inside the file ("
                        + file.size() + " bytes); the image is corrupt");
    }
}
