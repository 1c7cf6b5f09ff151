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
 * @param backingPolicy which backing files the chain may name ({@link BackingPolicy#PERMISSIVE},
 *                   as QEMU, unless set)
 * @param copyOnRead with a backing file, a read of a cluster the image does not hold also
 *                   copies that cluster into the image (read-write opens only), so later
 *                   reads need the backing file no more; best effort: when the image cannot
 *                   take the cluster (a full disk), the read still succeeds
 * @param accessPattern how the image (and its backing chain) will be read, for the
 *                   kernel's readahead ({@link AccessPattern#NORMAL} unless set)
 * @param commitInterval the longest new clusters written in write-back mode wait in memory
 *                   before the engine commits them on its own ({@link #DEFAULT_COMMIT_INTERVAL}
 *                   unless set; zero commits as soon as anything is written). A flush or a
 *                   write-through write commits at once whatever this says, and so does a
 *                   backlog of {@value #MAX_QUEUED_ENTRIES} uncommitted clusters. What it trades:
 *                   write-back writes not flushed within the interval are what a crash may
 *                   lose (never what a flush acknowledged); what it buys: the commit's syncs
 *                   and page write-back happen once per interval instead of beside every
 *                   write (section 1 of docs/performance.md)
 * @param l2CacheTables how many L2 tables the lock-free table cache holds at most
 *                   ({@link #DEFAULT_L2_CACHE_TABLES} unless set; 0: no cache, every lookup
 *                   walks the L1 table). It holds views of tables in the mapping, never
 *                   copies: about 70 bytes of heap per cached table and 4 per slot, about 300 KiB
 *                   at the default (measured: docs/performance.md, section 5).
 *                   The default holds every table of an 8 TiB image of 64 KiB clusters
 *                   (QEMU's default layout: one table maps 2 GiB)
 */
public record OpenOptions(boolean readOnly, Durability durability, boolean forceShare, Limits limits,
                          boolean openBackingChain, BackingPolicy backingPolicy, boolean copyOnRead,
                          AccessPattern accessPattern, java.time.Duration commitInterval, int l2CacheTables) {

    /** 4096 tables: see {@link #l2CacheTables}. */
    public static final int DEFAULT_L2_CACHE_TABLES = 4096;

    /** One second: the default {@link #commitInterval}, as a file system's journal commits every few seconds. */
    public static final java.time.Duration DEFAULT_COMMIT_INTERVAL = java.time.Duration.ofSeconds(1);
    /**
     * Uncommitted new clusters after which a commit starts whatever the interval (about
     * 100 bytes of memory each, so about 7 MiB at most).
     */
    public static final int MAX_QUEUED_ENTRIES = 65536;

    /** Read and write, write-back; unknown auto-clear bits are cleared. */
    public static final OpenOptions READ_WRITE =
            new OpenOptions(false, Durability.WRITE_BACK, false, Limits.DEFAULT, true, BackingPolicy.PERMISSIVE, false,
                    AccessPattern.NORMAL, DEFAULT_COMMIT_INTERVAL,
                    DEFAULT_L2_CACHE_TABLES);
    /** Read only; the file is never modified. */
    public static final OpenOptions READ_ONLY =
            new OpenOptions(true, Durability.WRITE_BACK, false, Limits.DEFAULT, true, BackingPolicy.PERMISSIVE, false,
                    AccessPattern.NORMAL, DEFAULT_COMMIT_INTERVAL,
                    DEFAULT_L2_CACHE_TABLES);

    public OpenOptions {
        Objects.requireNonNull(durability, "durability");
        Objects.requireNonNull(limits, "limits");
        Objects.requireNonNull(backingPolicy, "backingPolicy");
        Objects.requireNonNull(accessPattern, "accessPattern");
        Objects.requireNonNull(commitInterval, "commitInterval");
        if (commitInterval.isNegative()) {
            throw new IllegalArgumentException("commitInterval must not be negative: " + commitInterval);
        }
        if (l2CacheTables < 0) {
            throw new IllegalArgumentException("l2CacheTables must not be negative: " + l2CacheTables);
        }
        if (copyOnRead && readOnly) {
            throw new IllegalArgumentException("copy-on-read writes into the image: only for read-write opens");
        }
        if (forceShare && !readOnly) {
            throw new IllegalArgumentException("force-share is only for read-only opens, as in QEMU");
        }
    }

    public OpenOptions withDurability(Durability newDurability) {
        return new OpenOptions(readOnly, newDurability, forceShare, limits, openBackingChain, backingPolicy, copyOnRead, accessPattern, commitInterval, l2CacheTables);
    }

    /** With {@code true}, take no lock (read-only opens only), as {@code qemu-img -U}. */
    public OpenOptions withForceShare(boolean share) {
        return new OpenOptions(readOnly, durability, share, limits, openBackingChain, backingPolicy, copyOnRead, accessPattern, commitInterval, l2CacheTables);
    }

    /** With other bounds for untrusted images. */
    public OpenOptions withLimits(Limits newLimits) {
        return new OpenOptions(readOnly, durability, forceShare, newLimits, openBackingChain, backingPolicy, copyOnRead, accessPattern, commitInterval, l2CacheTables);
    }

    /** With another bound on backing chains (0: no backing file allowed at all). */
    public OpenOptions withMaxBackingDepth(int depth) {
        return withLimits(limits.withMaxBackingDepth(depth));
    }

    /** With another policy on the backing files the chain may name. */
    public OpenOptions withBackingPolicy(BackingPolicy policy) {
        return new OpenOptions(readOnly, durability, forceShare, limits, openBackingChain, policy, copyOnRead, accessPattern, commitInterval, l2CacheTables);
    }

    /** With copy-on-read on or off (read-write opens of images with a backing file). */
    public OpenOptions withCopyOnRead(boolean copy) {
        return new OpenOptions(readOnly, durability, forceShare, limits, openBackingChain, backingPolicy, copy, accessPattern, commitInterval, l2CacheTables);
    }

    /** With another access pattern for the kernel's readahead (this image and its chain). */
    public OpenOptions withAccessPattern(AccessPattern pattern) {
        return new OpenOptions(readOnly, durability, forceShare, limits, openBackingChain, backingPolicy, copyOnRead,
                pattern, commitInterval, l2CacheTables);
    }

    /** With {@code false}, open only this image, not its backing chain (for inspection). */
    public OpenOptions withBackingChain(boolean open) {
        return new OpenOptions(readOnly, durability, forceShare, limits, open, backingPolicy, copyOnRead, accessPattern, commitInterval, l2CacheTables);
    }

    /** With another {@link #commitInterval} for write-back writes (zero: commit at once). */
    public OpenOptions withCommitInterval(java.time.Duration interval) {
        return new OpenOptions(readOnly, durability, forceShare, limits, openBackingChain, backingPolicy, copyOnRead,
                accessPattern, interval, l2CacheTables);
    }

    /** With another bound on the L2 table cache, in tables (0: no cache). */
    public OpenOptions withL2CacheTables(int tables) {
        return new OpenOptions(readOnly, durability, forceShare, limits, openBackingChain, backingPolicy, copyOnRead,
                accessPattern, commitInterval, tables);
    }
}
