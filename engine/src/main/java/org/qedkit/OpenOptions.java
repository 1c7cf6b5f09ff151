package org.qedkit;

import java.util.Objects;

/**
 * How an image is opened. Immutable; start from {@link #READ_WRITE} or {@link #READ_ONLY}
 * and adjust with the {@code with…} methods.
 *
 * @param readOnly   open without write access: the file is mapped read-only and nothing is
 *                   ever written to it, not even the header
 * @param durability when a write counts as done (ignored for read-only images)
 */
public record OpenOptions(boolean readOnly, Durability durability) {

    /** Read and write, write-back; unknown auto-clear bits are cleared. */
    public static final OpenOptions READ_WRITE = new OpenOptions(false, Durability.WRITE_BACK);
    /** Read only; the file is never modified. */
    public static final OpenOptions READ_ONLY = new OpenOptions(true, Durability.WRITE_BACK);

    public OpenOptions {
        Objects.requireNonNull(durability, "durability");
    }

    public OpenOptions withDurability(Durability newDurability) {
        return new OpenOptions(readOnly, newDurability);
    }
}
