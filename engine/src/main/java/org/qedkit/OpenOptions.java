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
 * @param limits     bounds for images from untrusted sources: size, chain depth, metadata
 *                   memory, check time ({@link Limits#DEFAULT} unless set)
 * @param openBackingChain open the backing chain too (the default); without it, the image
 *                   opens even when its backing file is missing (as {@code qemu-img info}
 *                   does), and reading what only the chain holds fails with an exception
 */
public record OpenOptions(boolean readOnly, Durability durability, boolean forceShare, Limits limits,
                          boolean openBackingChain) {

    /** Read and write, write-back; unknown auto-clear bits are cleared. */
    public static final OpenOptions READ_WRITE =
            new OpenOptions(false, Durability.WRITE_BACK, false, Limits.DEFAULT, true);
    /** Read only; the file is never modified. */
    public static final OpenOptions READ_ONLY =
            new OpenOptions(true, Durability.WRITE_BACK, false, Limits.DEFAULT, true);

    public OpenOptions {
        Objects.requireNonNull(durability, "durability");
        Objects.requireNonNull(limits, "limits");
        if (forceShare && !readOnly) {
            throw new IllegalArgumentException("force-share is only for read-only opens, as in QEMU");
        }
    }

    public OpenOptions withDurability(Durability newDurability) {
        return new OpenOptions(readOnly, newDurability, forceShare, limits, openBackingChain);
    }

    /** With {@code true}, take no lock (read-only opens only), as {@code qemu-img -U}. */
    public OpenOptions withForceShare(boolean share) {
        return new OpenOptions(readOnly, durability, share, limits, openBackingChain);
    }

    /** With other bounds for untrusted images. */
    public OpenOptions withLimits(Limits newLimits) {
        return new OpenOptions(readOnly, durability, forceShare, newLimits, openBackingChain);
    }

    /** With another bound on backing chains (0: no backing file allowed at all). */
    public OpenOptions withMaxBackingDepth(int depth) {
        return withLimits(limits.withMaxBackingDepth(depth));
    }

    /** With {@code false}, open only this image, not its backing chain (for inspection). */
    public OpenOptions withBackingChain(boolean open) {
        return new OpenOptions(readOnly, durability, forceShare, limits, open);
    }
}
