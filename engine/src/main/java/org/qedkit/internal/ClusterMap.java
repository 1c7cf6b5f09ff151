package org.qedkit.internal;

import org.qedkit.QedFormatException;

import java.lang.foreign.MemorySegment;

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
 */
public final class ClusterMap {
    /** L2 entry: no cluster in this image. */
    public static final long UNALLOCATED = 0;
    /** L2 entry: reads as zeros and hides the backing file. */
    public static final long ZERO = 1;

    private final MappedImageFile file;
    private final Geometry g;
    private final L2Cache cache; // null: no cache

    /** A map that walks the L1 table for every lookup. */
    public ClusterMap(MappedImageFile file, Geometry geometry) {
        this(file, geometry, 0);
    }

    /** A map that keeps up to {@code cachedTables} L2 tables in an {@link L2Cache} (0: none). */
    public ClusterMap(MappedImageFile file, Geometry geometry, int cachedTables) {
        if (cachedTables < 0) {
            throw new IllegalArgumentException("cachedTables must not be negative: " + cachedTables);
        }
        this.file = file;
        this.g = geometry;
        this.cache = cachedTables == 0 ? null : new L2Cache(cachedTables);
    }

    /** Tables the cache holds at most (0 without one). */
    public int cacheCapacity() {
        return cache == null ? 0 : cache.capacity();
    }

    public Geometry geometry() {
        return g;
    }

    /**
     * The L2 entry for {@code guestOffset}: {@link #UNALLOCATED}, {@link #ZERO}, or the
     * validated file offset of a data cluster.
     */
    public long lookup(long guestOffset) throws QedFormatException {
        long l1Index = g.l1Index(guestOffset);
        long l2Index = g.l2Index(guestOffset);
        long entry;
        L2Cache.Table cached = cache == null ? null : cache.get(l1Index);
        if (cached != null) {
            entry = MappedImageFile.getEntryAcquire(cached.entries(), l2Index << 3);
        } else {
            long table = walkL1(l1Index, guestOffset);
            if (table == 0) {
                return UNALLOCATED;
            }
            entry = file.getEntryAcquire(table + (l2Index << 3));
        }
        if (entry == UNALLOCATED || entry == ZERO) {
            return entry;
        }
        if (!isValidCluster(entry, g.clusterSize())) {
            throw corruptEntry("L2[" + l1Index + "][" + l2Index + "]", entry,
                    g.clusterSize());
        }
        return entry;
    }

    /** The validated file offset of the L2 table covering {@code guestOffset}, or 0. */
    public long l2Table(long guestOffset) throws QedFormatException {
        long l1Index = g.l1Index(guestOffset);
        if (cache != null) {
            L2Cache.Table cached = cache.get(l1Index);
            if (cached != null) {
                return cached.offset();
            }
        }
        return walkL1(l1Index, guestOffset);
    }

    /** {@link #l2Table} past the cache: reads and validates the L1 entry, and caches a table it names. */
    private long walkL1(long l1Index, long guestOffset) throws QedFormatException {
        long entry = file.getEntryAcquire(g.l1EntryOffset(guestOffset));
        if (entry == 0) {
            return 0; // not cached: a commit may link a table here at any time
        }
        if (!isValidCluster(entry, g.tableBytes())) {
            throw corruptEntry("L1[" + l1Index + "]", entry, g.tableBytes());
        }
        if (cache != null) {
            MemorySegment view = file.readOnlyView(entry, g.tableBytes());
            if (view != null) { // null: the table straddles two mapped chunks; walk it every time
                cache.install(new L2Cache.Table(l1Index, entry, view));
            }
        }
        return entry;
    }

    /** File offset of the L2 entry for {@code guestOffset} in the table at {@code table}. */
    public long l2EntryOffset(long table, long guestOffset) {
        return table + (g.l2Index(guestOffset) << 3);
    }

    private boolean isValidCluster(long offset, long extent) {
        long size = file.size();
        return (offset & g.clusterMask()) == 0
                && offset >= g.headerBytes() // also false for offsets past 2^63 (negative)
                && offset <= size - extent;
    }

    private QedFormatException corruptEntry(String field, long value, long extent) {
        return new QedFormatException(field, "0x" + Long.toHexString(value),
                "an entry must be 0, 1 (L2 only) or a cluster-aligned offset at or after the header ("
                        + g.headerBytes() + ") whose " + extent + " bytes lie inside the file ("
                        + file.size() + " bytes); the image is corrupt");
    }
}
