package org.qedkit;

/**
 * How an image is opened. Immutable.
 *
 * @param readOnly open without write access: the file is mapped read-only and nothing is
 *                 ever written to it, not even the header
 */
public record OpenOptions(boolean readOnly) {

    /** Read and write; unknown auto-clear bits are cleared. */
    public static final OpenOptions READ_WRITE = new OpenOptions(false);
    /** Read only; the file is never modified. */
    public static final OpenOptions READ_ONLY = new OpenOptions(true);
}
