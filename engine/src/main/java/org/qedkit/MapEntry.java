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

    /** True when the run starts at a place in a file ({@link #offset()} is set). */
    public boolean hasOffset() {
        return offset >= 0;
    }
}
