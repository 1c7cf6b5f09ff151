package org.qedkit.internal;

import org.qedkit.QedHeader;

/**
 * Address translation for one image: how a guest offset splits into an L1 index, an L2
 * index and a byte within the cluster. All shifts and masks are computed once at open.
 *
 * @param clusterSize bytes per cluster
 * @param clusterBits log2(clusterSize)
 * @param tableBytes  bytes per L1 or L2 table
 * @param l2Bits      log2(entries per table)
 * @param headerBytes bytes of the header area; no table or data cluster lies below it
 * @param l1Offset    file offset of the L1 table
 * @param imageSize   guest-visible size
 */
public record Geometry(int clusterSize, int clusterBits, long tableBytes, int l2Bits,
                       long headerBytes, long l1Offset, long imageSize) {

    /** The geometry of an image with header {@code h} (already validated). */
    public static Geometry of(QedHeader h) {
        int clusterBits = Integer.numberOfTrailingZeros(h.clusterSize());
        int l2Bits = Long.numberOfTrailingZeros(h.entriesPerTable());
        return new Geometry(h.clusterSize(), clusterBits, h.tableBytes(), l2Bits,
                Integer.toUnsignedLong(h.headerSize()) * h.clusterSize(), h.l1TableOffset(),
                h.imageSize());
    }

    /** {@code clusterSize - 1}: the bits of an offset within its cluster. */
    public long clusterMask() {
        return clusterSize - 1L;
    }

    /** Index of the L1 entry covering {@code guestOffset}. */
    public long l1Index(long guestOffset) {
        return guestOffset >>> (clusterBits + l2Bits);
    }

    /** Index, within its L2 table, of the entry covering {@code guestOffset}. */
    public long l2Index(long guestOffset) {
        return (guestOffset >>> clusterBits) & ((1L << l2Bits) - 1);
    }

    /** Offset of {@code guestOffset} within its cluster. */
    public long inCluster(long guestOffset) {
        return guestOffset & clusterMask();
    }

    /**
     * How many of {@code remaining} bytes from {@code guestOffset} lie in its cluster: the
     * length of the next piece when a request is split at cluster boundaries. Every loop
     * over a request's clusters steps by this.
     */
    public long pieceLength(long guestOffset, long remaining) {
        return Math.min(remaining, clusterSize - inCluster(guestOffset));
    }

    /** How many clusters the {@code length} bytes from {@code guestOffset} touch (length above 0). */
    public long clusterCount(long guestOffset, long length) {
        return ((guestOffset + length - 1) >>> clusterBits) - (guestOffset >>> clusterBits) + 1;
    }

    /** File offset of the L1 entry that covers {@code guestOffset}. */
    public long l1EntryOffset(long guestOffset) {
        return l1Offset + (l1Index(guestOffset) << 3);
    }

    /** Guest bytes covered by one L2 table. */
    public long bytesPerL2Table() {
        return 1L << (clusterBits + l2Bits);
    }
}
