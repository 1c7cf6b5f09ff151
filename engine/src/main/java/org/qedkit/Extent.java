package org.qedkit;

/**
 * A run of guest bytes that share one allocation state, as {@link QedImage#extentAt}
 * reports it.
 *
 * @param offset     guest offset where the run starts
 * @param length     bytes in the run
 * @param kind       what backs the run
 * @param fileOffset for {@link Kind#DATA}, the file offset of the run's first byte (the run
 *                   is contiguous in the file too); otherwise -1
 */
public record Extent(long offset, long length, Kind kind, long fileOffset) {

    /** What backs a run of guest bytes. */
    public enum Kind {
        /** Data clusters in this image. */
        DATA,
        /** Zero-cluster entries: reads return zeros, the backing file is hidden. */
        ZERO,
        /** Nothing in this image: reads go to the backing file, or return zeros. */
        UNALLOCATED
    }

    /** {@return true for runs this image defines (data or zero clusters), as qemu-io's map says "allocated"} */
    public boolean isAllocated() {
        return kind != Kind.UNALLOCATED;
    }
}
