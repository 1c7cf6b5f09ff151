package org.qedkit;

import java.time.Duration;
import java.util.Objects;

/**
 * Bounds on what an image may make the engine do, for daemons that open images from
 * untrusted sources. An image past one is refused with a {@link QedLimitException} that
 * names the limit; nothing is written to it. Immutable; start from {@link #DEFAULT} and
 * adjust with the {@code with…} methods.
 *
 * <p>The defaults admit every image of a sensible size while keeping one hostile file from
 * taking the host's memory or the open's time: a sparse file of a few terabytes costs
 * nothing to upload, yet a check needs memory for each of its clusters.
 *
 * @param maxVirtualSize    largest guest size (the header's {@code image_size}) accepted;
 *                          by default any: a size alone costs the engine nothing (nothing
 *                          is allocated in proportion to it, and unwritten space reads as
 *                          zeros), so this is for a daemon's own policy on what it serves
 * @param maxBackingDepth   how many backing files deep a chain may go (0: no backing file
 *                          at all); default 16
 * @param maxMetadataMemory largest amount of memory the engine allocates for metadata:
 *                          a check's bookkeeping (a bit per cluster of the file, and eight
 *                          bytes and a bit more per cluster when it repairs); default
 *                          256 MiB, enough to repair a 2 TiB file of 64 KiB clusters. The
 *                          tables themselves are read through the file's mapping, in the
 *                          page cache, and are not counted.
 * @param maxCheckTime      longest a check may run, on its own or at an open that repairs
 *                          an image left with NEED_CHECK; default 60 seconds
 */
public record Limits(long maxVirtualSize, int maxBackingDepth, long maxMetadataMemory, Duration maxCheckTime) {

    /** The defaults named above. */
    public static final Limits DEFAULT = new Limits(Long.MAX_VALUE, 16, 256L << 20, Duration.ofSeconds(60));

    /** Refuses negative bounds and a check time that is not positive. */
    public Limits {
        Objects.requireNonNull(maxCheckTime, "maxCheckTime");
        if (maxVirtualSize < 0) {
            throw new IllegalArgumentException("maxVirtualSize must not be negative: " + maxVirtualSize);
        }
        if (maxBackingDepth < 0) {
            throw new IllegalArgumentException("maxBackingDepth must not be negative: " + maxBackingDepth);
        }
        if (maxMetadataMemory <= 0) {
            throw new IllegalArgumentException("maxMetadataMemory must be positive: " + maxMetadataMemory);
        }
        if (maxCheckTime.isNegative() || maxCheckTime.isZero()) {
            throw new IllegalArgumentException("maxCheckTime must be positive: " + maxCheckTime);
        }
    }

    /**
     * Returns these limits with another bound.
     *
     * @param bytes the largest guest size accepted
     * @return the limits
     */
    public Limits withMaxVirtualSize(long bytes) {
        return new Limits(bytes, maxBackingDepth, maxMetadataMemory, maxCheckTime);
    }

    /**
     * Returns these limits with another bound.
     *
     * @param depth the longest backing chain accepted
     * @return the limits
     */
    public Limits withMaxBackingDepth(int depth) {
        return new Limits(maxVirtualSize, depth, maxMetadataMemory, maxCheckTime);
    }

    /**
     * Returns these limits with another bound.
     *
     * @param bytes the most memory a check may use for its metadata
     * @return the limits
     */
    public Limits withMaxMetadataMemory(long bytes) {
        return new Limits(maxVirtualSize, maxBackingDepth, bytes, maxCheckTime);
    }

    /**
     * Returns these limits with another bound.
     *
     * @param time the longest a check may run
     * @return the limits
     */
    public Limits withMaxCheckTime(Duration time) {
        return new Limits(maxVirtualSize, maxBackingDepth, maxMetadataMemory, time);
    }
}
