package org.qedkit.internal;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.NanoClock;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The commit steps, as an Agrona {@link Agent}: each {@link #doWork()} takes the batch that
 * is due from the {@link CommitPipeline}, if any, and moves every batch in flight one step
 * on; when there is nothing to do for a second, it marks the image clean. An
 * {@link org.agrona.concurrent.AgentRunner} runs it on the image's commit thread, parking in
 * {@link IdleUntilWork} between calls; a unit test calls {@code doWork()} itself, with a
 * clock it moves by hand.
 *
 * <h2>The steps, and how consecutive batches share their syncs</h2>
 * Every batch sees, in this order:
 * <ol>
 *   <li>its data clusters and new, empty L2 tables are in the mapping (the planner put them
 *       there); {@code fdatasync};</li>
 *   <li>its L2 entries are stored into the mapped tables; {@code fdatasync};</li>
 *   <li>the L1 entries of its new tables are stored; {@code fdatasync};</li>
 *   <li>it is dropped from the overlay (the mapping has it now) and its waiters wake.</li>
 * </ol>
 * One sync serves three batches at once: before it, the L1 entries of the batch whose L2
 * entries are durable and the L2 entries of the batch whose data is durable are stored,
 * and the fresh batch's data is there already; after it, each is one step further. Under
 * load a batch so costs one sync, not three. Batches complete in order; a batch with
 * nothing to commit (a flush) is done at its first sync.
 *
 * <h2>One sync for a batch whose order cannot matter</h2>
 * A batch none of whose entries is {@linkplain PendingEntry#ordered ordered} (no backing
 * file; every cluster and table in settled space) takes all three steps before one sync:
 * its L2 and L1 entries are stored with its data, and it is done when that sync completes.
 * A crash before then may keep any of those stores without the others; whatever it keeps,
 * an entry that reached the disk without its data or table points at zeros, and zeros are
 * what that guest range read before the write (docs/design.md, "One sync per batch").
 * Such a batch still completes in order behind the strict batches before it.
 *
 * <h2>Pages dropped before a sync</h2>
 * Before its sync, a round takes the pages it stored into (the fresh batch's data clusters,
 * the table entries it stored) out of the process's page tables
 * ({@link MappedImageFile#dropFromPageTables}); the page cache keeps them, dirty. The sync
 * then finds none of them mapped, where it would have write-protected each one with an
 * interrupt to every other CPU running one of this process's threads. One drop costs about
 * what one page's write-protect does, and the next store or read of a dropped page faults
 * it back in; so a round drops its pages only when it stored into at least
 * {@link #DROP_WORTHWHILE} places. The data of durable writes is not mapped to begin with
 * (WritePlanner, "Data through the page cache"), so it is not counted: a
 * write-through round stores through the mapping only its table entries.
 *
 * <p>Rounds run under the pipeline's round lock, on the commit thread or on a caller that
 * waits for its own sync ({@link CommitPipeline}, "Who makes the sync"); the fields below are
 * touched only by the thread that holds it.
 */
final class Committer implements Agent {
    private static final long IDLE_BEFORE_CLEAN_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Entries dropped from the overlay per hold of its write lock: a few microseconds. */
    private static final int DROP_SLICE = 256;
    /**
     * Places a round must have stored into before its pages are dropped ahead of its sync.
     * A depth-1 write's round stores into two (its data cluster and its table page) and
     * syncs faster with them left mapped; rounds of about five (depth 8, four writers)
     * measured no gain; rounds of many (depth 32, write-back) gained 8 to 21 %
     * (docs/performance.md section 13, "A twelfth look").
     */
    static final int DROP_WORTHWHILE = 8;
    /** How often retired space waiting for readers to finish is looked at again. */
    private static final long RECLAIM_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    /** One batch on its way through the steps; {@code done} once every step it needs has a sync behind it. */
    static final class Batch {
        final List<PendingEntry> entries;
        final long upTo;           // the last ticket it carries
        final boolean linksTables; // it has an L1 step
        final boolean ordered;     // some entry needs the strict schedule; otherwise one sync for all steps
        boolean done;

        Batch(List<PendingEntry> entries, long upTo) {
            this.entries = entries;
            this.upTo = upTo;
            boolean links = false;
            boolean anyOrdered = false;
            for (PendingEntry p : entries) {
                links |= p.newTable() != 0;
                anyOrdered |= p.ordered();
            }
            this.linksTables = links;
            this.ordered = anyOrdered;
        }
    }

    private final CommitPipeline pipeline;
    private final MappedImageFile file;
    private final ClusterMap map;
    private final Geometry geometry;
    private final PendingOverlay overlay;
    private final ClusterAllocator allocator;
    private final SpaceReclaimer reclaimer;
    private final NanoClock clock;

    private final ArrayDeque<Batch> inFlight = new ArrayDeque<>(); // oldest first
    /** What this round stored into through the mappings (see "Pages dropped before a sync"). */
    private final StoredPages stored = new StoredPages();
    private Batch awaitingL2;   // its data is durable: its L2 entries go in next
    private Batch awaitingL1;   // its L2 entries are durable: its L1 entries go in next
    private long lastWorkAt;
    private boolean markedClean;

    Committer(CommitPipeline pipeline, MappedImageFile file, ClusterMap map, PendingOverlay overlay,
              ClusterAllocator allocator, SpaceReclaimer reclaimer, NanoClock clock) {
        this.pipeline = pipeline;
        this.file = file;
        this.map = map;
        this.geometry = map.geometry();
        this.overlay = overlay;
        this.allocator = allocator;
        this.reclaimer = reclaimer;
        this.clock = clock;
        this.lastWorkAt = clock.nanoTime();
    }

    @Override
    public String roleName() {
        return "qedkit-commit " + file.path().getFileName();
    }

    /** The commit thread's round: {@link #doRound()} under the round lock. */
    @Override
    public int doWork() {
        pipeline.roundLock().lock();
        try {
            return doRound();
        } finally {
            pipeline.roundLock().unlock();
        }
    }

    /**
     * One round: a step for every batch in flight, or the idle clean-up. Returns the work
     * done (0: none). Caller holds the round lock.
     */
    int doRound() {
        long now = clock.nanoTime();
        Batch fresh = pipeline.takeBatchIfDue(now, !inFlight.isEmpty());
        if (fresh != null || !inFlight.isEmpty()) {
            advance(fresh);
            reclaim();
            lastWorkAt = now;
            markedClean = false;
            return 1;
        }
        if (reclaimer.hasWaiting() && reclaim() > 0) {
            markedClean = false; // the clean-up may have waited for this: it tries again after its idle second
            return 1;
        }
        if (pipeline.settled() && !markedClean && now - lastWorkAt >= IDLE_BEFORE_CLEAN_NANOS) {
            markClean();
            markedClean = true;
            return 1;
        }
        return 0;
    }

    /**
     * Whether a round would have something to do now or soon: batches in flight, anything
     * queued, retired space waiting to be freed. Caller holds the round lock.
     */
    boolean hasWork() {
        return !inFlight.isEmpty() || pipeline.anythingQueued() || reclaimer.hasWaiting();
    }

    /**
     * How long the committer may park before {@link #doWork()} has something to do, if
     * nothing arrives. Caller holds the round lock.
     */
    long nanosUntilWork() {
        long now = clock.nanoTime();
        if (!inFlight.isEmpty()) {
            return 0;
        }
        long untilDue = pipeline.nanosUntilDue(now);
        long untilClean = markedClean ? IDLE_BEFORE_CLEAN_NANOS : Math.max(0, lastWorkAt + IDLE_BEFORE_CLEAN_NANOS - now);
        long untilReclaim = reclaimer.hasWaiting() ? RECLAIM_POLL_NANOS : Long.MAX_VALUE;
        return Math.min(Math.min(untilDue, untilClean), untilReclaim);
    }

    /**
     * Frees what retired space is due (synced, and past its readers); a failure to punch is
     * a failure of the image, like a failed commit step. Returns the ranges freed.
     */
    private int reclaim() {
        if (file.hasFailed()) {
            return 0;
        }
        try {
            return reclaimer.reclaimDue();
        } catch (IOException | RuntimeException e) {
            file.recordFailure(e);
            return 0;
        }
    }

    /** At the start of close: the free-space scan of this open stops, whatever happens next. */
    void stopScan() {
        reclaimer.stopScan();
    }

    /** At close, after the last commit: frees every retired range that readers allow within a second. */
    void reclaimAtClose() {
        if (file.hasFailed()) {
            return;
        }
        try {
            reclaimer.reclaimAll(TimeUnit.SECONDS.toNanos(1));
        } catch (IOException | RuntimeException e) {
            file.recordFailure(e);
        }
    }

    /** See the class comment: one sync moves every batch in flight one step on. */
    private void advance(Batch fresh) {
        if (fresh != null) {
            inFlight.addLast(fresh);
        }
        boolean failed = file.hasFailed();
        if (!failed) {
            try {
                stored.clear();
                storeEntries();
                if (fresh != null) {
                    if (!fresh.ordered) {
                        storeL2Entries(fresh);
                        storeL1Entries(fresh);
                    }
                    addDataClusters(fresh);
                }
                if (stored.places() >= DROP_WORTHWHILE) {
                    file.dropFromPageTables(stored);
                }
                file.sync();
                stepForward(fresh);
            } catch (IOException | RuntimeException e) {
                file.recordFailure(e);
                failed = true;
            }
        }
        List<Batch> finished = new ArrayList<>();
        if (failed) {
            // Nothing in flight will ever be durable: every batch fails, none is stored further.
            finished.addAll(inFlight);
            inFlight.clear();
            awaitingL1 = null;
            awaitingL2 = null;
        } else {
            while (!inFlight.isEmpty() && inFlight.peekFirst().done) {
                finished.add(inFlight.pollFirst());
            }
        }
        if (finished.isEmpty()) {
            return;
        }
        for (Batch b : finished) {
            for (int from = 0; from < b.entries.size(); from += DROP_SLICE) {
                overlay.dropCommitted(b.entries, from, Math.min(b.entries.size(), from + DROP_SLICE), geometry);
            }
        }
        pipeline.finished(finished.getLast().upTo, failed);
    }

    private void storeEntries() throws IOException {
        if (awaitingL1 != null) {
            storeL1Entries(awaitingL1);
        }
        if (awaitingL2 != null) {
            storeL2Entries(awaitingL2);
        }
    }

    private void storeL1Entries(Batch batch) {
        for (PendingEntry p : batch.entries) {
            if (p.newTable() != 0) {
                long at = geometry.l1EntryOffset(p.guestOffset());
                file.setEntryRelease(at, p.newTable());
                stored.add(at, at + Long.BYTES);
            }
        }
    }

    private void storeL2Entries(Batch batch) throws IOException {
        for (PendingEntry p : batch.entries) {
            long at = map.l2EntryOffset(tableOf(p.guestOffset()), p.guestOffset());
            file.setEntryRelease(at, p.value());
            stored.add(at, at + Long.BYTES);
        }
    }

    /** The clusters whose data the batch's writers stored through the mapping: its first sync is this round's. */
    private void addDataClusters(Batch batch) {
        long clusterSize = geometry.clusterSize();
        for (PendingEntry p : batch.entries) {
            if (p.value() > ClusterMap.ZERO && p.dataMapped()) {
                stored.add(p.value(), p.value() + clusterSize);
            }
        }
    }

    private void stepForward(Batch fresh) {
        if (awaitingL1 != null) {
            awaitingL1.done = true;
        }
        awaitingL1 = null;
        if (awaitingL2 != null) {
            if (awaitingL2.linksTables) {
                awaitingL1 = awaitingL2;
            } else {
                awaitingL2.done = true;
            }
        }
        awaitingL2 = null;
        if (fresh != null) {
            if (fresh.entries.isEmpty() || !fresh.ordered) {
                fresh.done = true; // nothing to store, or stored before this sync
            } else {
                awaitingL2 = fresh;
            }
        }
    }

    private long tableOf(long guestOffset) throws IOException {
        long fresh = overlay.newTable(geometry.l1Index(guestOffset));
        return fresh != 0 ? fresh : map.linkedTable(guestOffset); // past the cache: see L2Cache
    }

    /**
     * Clears NEED_CHECK when everything is committed and nothing failed. A clean image
     * ends at its last used cluster: the reservation goes back first, or a crash after
     * this would leave leaks that nothing is told to reclaim; for the same reason, space a
     * discard freed must be punched first (free space is a hole, not a leak).
     */
    void markClean() {
        pipeline.planLock().lock();
        try {
            if (file.hasFailed() || !pipeline.header().current().needsCheck() || !overlay.isEmpty()
                    || !pipeline.settled()) {
                return;
            }
            reclaim();
            if (reclaimer.hasWaiting()) {
                return; // freed space not yet punched would be a leak nothing is told to reclaim
            }
            allocator.trimToUsed();
            file.sync();
            pipeline.header().markClean();
        } catch (IOException | RuntimeException e) {
            file.recordFailure(e);
        } finally {
            pipeline.planLock().unlock();
        }
    }

    /**
     * The commit thread's idle strategy: parks until the pipeline signals new work or the
     * committer's next deadline (an interval falling due, the idle clean-up) comes. Agrona's
     * stock strategies spin or sleep for fixed periods; a write-through writer must not wait
     * for a sleep to end, and an idle image must not spin.
     */
    static final class IdleUntilWork implements IdleStrategy {
        private final Committer committer;

        IdleUntilWork(Committer committer) {
            this.committer = committer;
        }

        @Override
        public void idle(int workCount) {
            if (workCount == 0) {
                idle();
            }
        }

        @Override
        public void idle() {
            long nanos;
            committer.pipeline.roundLock().lock();
            try {
                nanos = committer.nanosUntilWork();
            } finally {
                committer.pipeline.roundLock().unlock();
            }
            committer.pipeline.awaitWork(nanos);
        }

        @Override
        public void reset() {
        }
    }
}
