package org.qedkit;

import java.time.Duration;
import java.util.Objects;

/**
 * How an image is opened. Immutable; start from {@link #READ_WRITE} or {@link #READ_ONLY}
 * and adjust one option with a {@code with…} method, or several with {@link #toBuilder()}:
 * <pre>{@code
 * OpenOptions daemon = OpenOptions.READ_WRITE.toBuilder()
 *         .accessPattern(AccessPattern.RANDOM)
 *         .backingPolicy(BackingPolicy.untrusted(root))
 *         .build();
 * }</pre>
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
 * @param maxQueuedEntries uncommitted new clusters after which a commit starts whatever the
 *                   interval ({@link #MAX_QUEUED_ENTRIES} unless set): the bound on the memory
 *                   write-back entries may hold, about 100 bytes each
 * @param firstBlocksWrittenAhead store zeros, a little ahead of the writers, into the 4 KiB
 *                   block of each fresh cluster where new clusters' first writes have been
 *                   landing (the default): a small write-through write into a new cluster
 *                   then finds that block already written, and its sync skips the file
 *                   system's conversion of an unwritten extent. It pays while each sync
 *                   carries few new clusters: a lone write-through writer made 1.1 to 1.6
 *                   times the writes at about half the median latency, its p99 the same or
 *                   a little higher. What it costs is one 4 KiB write per cluster and, in
 *                   one sync in four, the pages of the clusters ahead: when the disk has a
 *                   slow spell, those syncs are that writer's slowest (p99.9 1.7-5.8 ms
 *                   against 1.0-1.4 ms without, where on a calm disk both were 0.4-1.2 ms).
 *                   Off, for a daemon that values that tail over throughput: each sync
 *                   converts its own clusters' extents (docs/design.md, "First blocks
 *                   written ahead"; docs/performance.md, section 13, "A tenth look")
 */
public record OpenOptions(boolean readOnly, Durability durability, boolean forceShare, Limits limits,
                          boolean openBackingChain, BackingPolicy backingPolicy, boolean copyOnRead,
                          AccessPattern accessPattern, Duration commitInterval, int l2CacheTables,
                          int maxQueuedEntries, boolean firstBlocksWrittenAhead) {

    /** 4096 tables: see {@link #l2CacheTables}. */
    public static final int DEFAULT_L2_CACHE_TABLES = 4096;

    /** One second: the default {@link #commitInterval}, as a file system's journal commits every few seconds. */
    public static final Duration DEFAULT_COMMIT_INTERVAL = Duration.ofSeconds(1);
    /**
     * The default {@link #maxQueuedEntries}: uncommitted new clusters after which a commit
     * starts whatever the interval (about 100 bytes of memory each, so about 7 MiB at most).
     */
    public static final int MAX_QUEUED_ENTRIES = 65536;

    /** Read and write, write-back; unknown auto-clear bits are cleared. */
    public static final OpenOptions READ_WRITE = new Builder(false).build();
    /** Read only; the file is never modified. */
    public static final OpenOptions READ_ONLY = new Builder(true).build();

    /** Checks each option and the rules between them. */
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
        if (maxQueuedEntries < 1) {
            throw new IllegalArgumentException("maxQueuedEntries must be positive: " + maxQueuedEntries);
        }
        if (copyOnRead && readOnly) {
            throw new IllegalArgumentException("copy-on-read writes into the image: only for read-write opens");
        }
        if (forceShare && !readOnly) {
            throw new IllegalArgumentException("force-share is only for read-only opens, as in QEMU");
        }
    }

    /** {@return a builder holding these options, to change several at once} */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /**
     * Returns these options with another durability.
     *
     * @param newDurability when a write counts as done
     * @return these options with another durability
     */
    public OpenOptions withDurability(Durability newDurability) {
        return toBuilder().durability(newDurability).build();
    }

    /**
     * Returns these options with force-share on or off.
     *
     * @param share true to take no lock (read-only opens only), as {@code qemu-img -U}
     * @return these options with force-share on or off
     */
    public OpenOptions withForceShare(boolean share) {
        return toBuilder().forceShare(share).build();
    }

    /**
     * Returns these options with other limits.
     *
     * @param newLimits bounds for untrusted images
     * @return these options with other limits
     */
    public OpenOptions withLimits(Limits newLimits) {
        return toBuilder().limits(newLimits).build();
    }

    /**
     * Returns these options with that bound.
     *
     * @param depth another bound on backing chains (0: no backing file allowed at all)
     * @return these options with that bound
     */
    public OpenOptions withMaxBackingDepth(int depth) {
        return withLimits(limits.withMaxBackingDepth(depth));
    }

    /**
     * Returns these options with that policy.
     *
     * @param policy which backing files the chain may name
     * @return these options with that policy
     */
    public OpenOptions withBackingPolicy(BackingPolicy policy) {
        return toBuilder().backingPolicy(policy).build();
    }

    /**
     * Returns these options with copy-on-read as given.
     *
     * @param copy copy-on-read on or off (read-write opens of images with a backing file)
     * @return these options with copy-on-read as given
     */
    public OpenOptions withCopyOnRead(boolean copy) {
        return toBuilder().copyOnRead(copy).build();
    }

    /**
     * Returns these options with that access pattern.
     *
     * @param pattern how the image and its chain will be read, for the kernel's readahead
     * @return these options with that access pattern
     */
    public OpenOptions withAccessPattern(AccessPattern pattern) {
        return toBuilder().accessPattern(pattern).build();
    }

    /**
     * Returns these options with the chain opened or not.
     *
     * @param open false to open only this image, not its backing chain (for inspection)
     * @return these options with the chain opened or not
     */
    public OpenOptions withBackingChain(boolean open) {
        return toBuilder().openBackingChain(open).build();
    }

    /**
     * Returns these options with that interval.
     *
     * @param interval another {@link #commitInterval} for write-back writes (zero: commit at once)
     * @return these options with that interval
     */
    public OpenOptions withCommitInterval(Duration interval) {
        return toBuilder().commitInterval(interval).build();
    }

    /**
     * Returns these options with that bound.
     *
     * @param tables another bound on the L2 table cache, in tables (0: no cache)
     * @return these options with that bound
     */
    public OpenOptions withL2CacheTables(int tables) {
        return toBuilder().l2CacheTables(tables).build();
    }

    /**
     * Returns these options with first blocks written ahead or not.
     *
     * @param ahead another {@link #firstBlocksWrittenAhead}: false to leave fresh space alone
     * @return these options with that choice
     */
    public OpenOptions withFirstBlocksWrittenAhead(boolean ahead) {
        return toBuilder().firstBlocksWrittenAhead(ahead).build();
    }

    /**
     * Changes several options at once; {@link #build()} checks them together. Each setter's
     * meaning is the record component's of the same name.
     */
    public static final class Builder {
        private final boolean readOnly;
        private Durability durability = Durability.WRITE_BACK;
        private boolean forceShare;
        private Limits limits = Limits.DEFAULT;
        private boolean openBackingChain = true;
        private BackingPolicy backingPolicy = BackingPolicy.PERMISSIVE;
        private boolean copyOnRead;
        private AccessPattern accessPattern = AccessPattern.NORMAL;
        private Duration commitInterval = DEFAULT_COMMIT_INTERVAL;
        private int l2CacheTables = DEFAULT_L2_CACHE_TABLES;
        private int maxQueuedEntries = MAX_QUEUED_ENTRIES;
        private boolean firstBlocksWrittenAhead = true;

        private Builder(boolean readOnly) {
            this.readOnly = readOnly;
        }

        private Builder(OpenOptions o) {
            this.readOnly = o.readOnly;
            this.durability = o.durability;
            this.forceShare = o.forceShare;
            this.limits = o.limits;
            this.openBackingChain = o.openBackingChain;
            this.backingPolicy = o.backingPolicy;
            this.copyOnRead = o.copyOnRead;
            this.accessPattern = o.accessPattern;
            this.commitInterval = o.commitInterval;
            this.l2CacheTables = o.l2CacheTables;
            this.maxQueuedEntries = o.maxQueuedEntries;
            this.firstBlocksWrittenAhead = o.firstBlocksWrittenAhead;
        }

        /**
         * Sets {@link OpenOptions#durability()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder durability(Durability value) {
            this.durability = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#forceShare()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder forceShare(boolean value) {
            this.forceShare = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#limits()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder limits(Limits value) {
            this.limits = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#openBackingChain()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder openBackingChain(boolean value) {
            this.openBackingChain = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#backingPolicy()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder backingPolicy(BackingPolicy value) {
            this.backingPolicy = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#copyOnRead()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder copyOnRead(boolean value) {
            this.copyOnRead = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#accessPattern()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder accessPattern(AccessPattern value) {
            this.accessPattern = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#commitInterval()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder commitInterval(Duration value) {
            this.commitInterval = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#l2CacheTables()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder l2CacheTables(int value) {
            this.l2CacheTables = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#maxQueuedEntries()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder maxQueuedEntries(int value) {
            this.maxQueuedEntries = value;
            return this;
        }

        /**
         * Sets {@link OpenOptions#firstBlocksWrittenAhead()}.
         *
         * @param value the new value
         * @return this builder
         */
        public Builder firstBlocksWrittenAhead(boolean value) {
            this.firstBlocksWrittenAhead = value;
            return this;
        }

        /**
         * Returns the options, checked together.
         *
         * @return the options, checked together
         * @throws IllegalArgumentException when an option or a combination is not allowed
         */
        public OpenOptions build() {
            return new OpenOptions(readOnly, durability, forceShare, limits, openBackingChain, backingPolicy,
                    copyOnRead, accessPattern, commitInterval, l2CacheTables, maxQueuedEntries,
                    firstBlocksWrittenAhead);
        }
    }
}
