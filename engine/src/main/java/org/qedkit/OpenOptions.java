package org.qedkit;

import java.util.Objects;

/**
 * How an image is opened. Immutable; start from {@link #READ_WRITE} or {@link #READ_ONLY}
 * and adjust with the {@code with…} methods.
 *
 * @param readOnly   open without write access: the file is mapped read-only and nothing is
 *                   ever written to it, not even the header
 * @param durability when a write counts as done (ignored for read-only images)
 * @param forceShare take no lock, so an image another process uses can be inspected, as
 *                   {@code qemu-img -U} does; only with {@code readOnly}
 */
public record OpenOptions(boolean readOnly, Durability durability, boolean forceShare) {

    /** Read and write, write-back; unknown auto-clear bits are cleared. */
    public static final OpenOptions READ_WRITE = new OpenOptions(false, Durability.WRITE_BACK, false);
    /** Read only; the file is never modified. */
    public static final OpenOptions READ_ONLY = new OpenOptions(true, Durability.WRITE_BACK, false);

    public OpenOptions {
        Objects.requireNonNull(durability, "durability");
        if (forceShare && !readOnly) {
            throw new IllegalArgumentException("force-share is only for read-only opens, as in QEMU");
        }
    }

    public OpenOptions withDurability(Durability newDurability) {
        return new OpenOptions(readOnly, newDurability, forceShare);
    }

    /** With {@code true}, take no lock (read-only opens only), as {@code qemu-img -U}. */
    public OpenOptions withForceShare(boolean share) {
        return new OpenOptions(readOnly, durability, share);
    }
}
