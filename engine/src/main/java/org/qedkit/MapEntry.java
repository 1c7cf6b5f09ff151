package org.qedkit;

/**
 * A run of guest bytes with one state through the whole backing chain, as
 * {@code qemu-img map} reports it (its JSON keys are these components' names).
 *
 * @param start   guest offset where the run starts
 * @param length  bytes in the run
 * @param depth   how many backing files down the bytes come from (0: this image)
 * @param present whether some image in the chain defines the bytes (false past the end of
 *                a shorter backing file and where no image has anything)
 * @param zero    whether the bytes read as zeros for certain (zero clusters, holes)
 * @param data    whether the bytes are stored data
 * @param offset  where the run starts in the file at {@code depth}, or -1 when it has no
 *                place in a file (zero clusters, nothing present)
 */
public record MapEntry(long start, long length, int depth, boolean present, boolean zero, boolean data,
                       long offset) {

    /**
     * Returns a run of stored data.
     *
     * @param start  guest offset
     * @param length bytes
     * @param depth  image in the chain
     * @param offset where the run starts in that image's file
     * @return a run of stored data
     */
    public static MapEntry data(long start, long length, int depth, long offset) {
        return new MapEntry(start, length, depth, true, false, true, offset);
    }

    /**
     * Returns a run of zero clusters: present, zeros, no place in a file.
     *
     * @param start  guest offset
     * @param length bytes
     * @param depth  image in the chain
     * @return a run of zero clusters: present, zeros, no place in a file
     */
    public static MapEntry zeroCluster(long start, long length, int depth) {
        return new MapEntry(start, length, depth, true, true, false, -1);
    }

    /**
     * Returns a run no image defines: reads as zeros, not present.
     *
     * @param start  guest offset
     * @param length bytes
     * @param depth  the last image in the chain that reaches this far
     * @return a run no image defines: reads as zeros, not present
     */
    public static MapEntry absent(long start, long length, int depth) {
        return new MapEntry(start, length, depth, false, true, false, -1);
    }

    /**
     * Returns a run of a raw file, as its file system reports it.
     *
     * @param start  guest offset, which is also the offset in the raw file
     * @param length bytes
     * @param depth  the raw file's place in the chain
     * @param data   true for data, false for a hole (reads as zeros)
     * @return a run of a raw file, as its file system reports it
     */
    public static MapEntry raw(long start, long length, int depth, boolean data) {
        return new MapEntry(start, length, depth, true, !data, data, start);
    }

    /**
     * Returns this run as seen from further up the chain.
     *
     * @param depthBelow how many images lie above the one this entry was made for
     * @param maxLength  the longest the run may be
     * @return this run as seen from further up the chain
     */
    public MapEntry below(int depthBelow, long maxLength) {
        return new MapEntry(start, Math.min(length, maxLength), depth + depthBelow, present, zero, data, offset);
    }

    /** {@return true when the run starts at a place in a file ({@link #offset()} is set)} */
    public boolean hasOffset() {
        return offset >= 0;
    }
}
