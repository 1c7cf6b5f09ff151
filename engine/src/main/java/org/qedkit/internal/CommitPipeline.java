package org.qedkit.internal;

import org.qedkit.QedException;
import org.qedkit.QedFormatException;
import org.qedkit.QedHeader;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Makes new clusters durable in the order the format needs, for many concurrent writers,
 * with one {@code fdatasync} per step for a whole batch of them (group commit).
 *
 * <h2>Why entries wait in memory</h2>
 * The kernel writes dirty pages of a shared mapping back whenever it likes, in any order.
 * An L2 entry stored into the mapping before its data cluster is durable could reach the
 * disk first, and a crash would leave it pointing at garbage. So a new entry is not stored
 * into the mapped tables until its phase of a commit runs; until then it lives in an
 * in-memory overlay that every reader and writer of this process consults.
 *
 * <h2>The two sides</h2>
 * <b>Planning</b> (the writer's thread, under a short lock, no system call on the common
 * path): find which clusters the request needs, take fresh zeroed space for them from the
 * {@link ClusterAllocator}, copy the data in, publish the new entries in the overlay and
 * queue them. A write in write-back mode returns here.
 *
 * <p><b>Committing</b> (one thread per image): take everything queued as one batch, then
 * <ol>
 *   <li>{@code fdatasync}: the batch's data clusters and new, empty L2 tables are durable;</li>
 *   <li>store the batch's L2 entries into the mapped tables; {@code fdatasync};</li>
 *   <li>store the L1 entries of the batch's new tables; {@code fdatasync};</li>
 *   <li>drop the batch from the overlay (the mapping has it now) and wake its waiters.</li>
 * </ol>
 * While one batch syncs, the next one fills: the more writers, the bigger the batches.
 * The steps of consecutive batches share their syncs (see {@code advance}): one sync
 * makes the newest batch's data, the previous batch's L2 entries and the one before's L1
 * entries durable at once, so under load a batch costs one sync.
 * A durability request ({@code flush}, or a write-through write) is a ticket in the same
 * queue: it is done when the batch holding it is, and batches complete in order.
 *
 * <h2>When a batch starts</h2>
 * At once when someone waits for durability, when the engine is closing, when a batch is
 * in flight (its next sync happens anyway), or when
 * {@link org.qedkit.OpenOptions#MAX_QUEUED_ENTRIES} entries are queued. Otherwise (write-back
 * writes only) when the oldest queued entry is {@code commitInterval} old. Committing
 * write-back entries as they come would buy nothing a caller asked for, and it costs: each
 * batch's {@code fdatasync} writes the new pages back while the writers are still storing
 * into the next ones, taking a core and shooting down their TLB entries as it cleans each
 * page. Waiting lets the syncs, and the kernel's page write-back, come once per interval.
 *
 * <h2>Readers</h2>
 * Lock-free: mapping first (where every committed entry is); only when that says
 * unallocated or zero, the overlay, if anything is pending at all; then the mapping again,
 * because a commit may have moved the entry from overlay to mapping in between (it stores
 * into the mapping before it removes from the overlay).
 *
 * <h2>Failure</h2>
 * A failed {@code fdatasync} is final: Linux reports a write-back error once and then
 * forgets it, so retrying would claim safety that does not exist. No batch in flight is
 * stored any further, their waiters and every later durability request get the error, and
 * NEED_CHECK stays set so the next open checks the image.
 *
 * <h2>NEED_CHECK</h2>
 * Set durably before the first allocation after a clean state. Cleared when everything is
 * committed and nothing failed: after a second with nothing to commit, and at close.
 */
public final class CommitPipeline {
    private static final long IDLE_BEFORE_CLEAN_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** A future completed when {@code ticket} is durable, or failed with the commit's error. */
    private record Waiter(long ticket, java.util.concurrent.CompletableFuture<Void> future) {
    }

    /** One entry waiting to be committed; {@code newTable} is the L2 table to link with it, or 0. */
    private record Pending(long guestOffset, long value, long newTable) {
    }

    private final MappedImageFile file;
    private final ClusterMap map;
    private final Geometry g;
    private final ClusterAllocator allocator;
    private final AtomicReference<QedHeader> header;
    private final BackingFile backing; // null without a backing file

    private final ReentrantLock planLock = new ReentrantLock();
    private final ConcurrentHashMap<Long, Long> overlay = new ConcurrentHashMap<>(); // guest cluster -> entry
    private final AtomicInteger overlaySize = new AtomicInteger();
    private final ConcurrentHashMap<Long, Long> newTables = new ConcurrentHashMap<>(); // L1 index -> table

    private final ReentrantLock queueLock = new ReentrantLock();
    private final Condition workArrived = queueLock.newCondition();
    private final Condition batchDone = queueLock.newCondition();
    private ArrayList<Pending> queue = new ArrayList<>();
    private long ticketsIssued;          // under queueLock
    private long ticketsTaken;           // under queueLock: tickets the committer has drained
    private long syncWanted;             // under queueLock: the latest ticket someone waits to be durable
    private long firstQueuedAt;          // under queueLock: System.nanoTime() of the oldest queued entry
    private final long commitIntervalNanos;
    private volatile long ticketsDone;
    private volatile IOException failure;
    private boolean closing;             // under queueLock
    /** Futures waiting for their ticket to be durable, lowest ticket first (under queueLock). */
    private final java.util.PriorityQueue<Waiter> waiters =
            new java.util.PriorityQueue<>(java.util.Comparator.comparingLong(Waiter::ticket));
    private final Thread committer;

    public CommitPipeline(MappedImageFile file, ClusterMap map, AtomicReference<QedHeader> header,
                          BackingFile backing, java.time.Duration commitInterval) {
        this.file = file;
        this.commitIntervalNanos = saturatedNanos(commitInterval);
        this.backing = backing;
        this.map = map;
        this.g = map.geometry();
        this.header = header;
        this.allocator = new ClusterAllocator(file, g.clusterSize());
        this.committer = Thread.ofPlatform().daemon().name("qedkit-commit " + file.path().getFileName())
                .start(this::commitLoop);
    }

    private static long saturatedNanos(java.time.Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE / 4; // centuries; keeps firstQueuedAt + interval from overflowing
        }
    }

    // ------------------------------------------------------------------ lookups

    /** The entry for {@code guestOffset}, committed or not (see the class comment). */
    public long lookup(long guestOffset) throws QedFormatException {
        long entry = map.lookup(guestOffset);
        if (entry > ClusterMap.ZERO) {
            return entry;
        }
        if (overlaySize.get() != 0) {
            Long pending = overlay.get(guestOffset >>> g.clusterBits());
            if (pending != null) {
                return pending;
            }
        }
        return map.lookup(guestOffset);
    }

    /** True while some written entries are not yet in the mapped tables. */
    public boolean hasPending() {
        return overlaySize.get() != 0;
    }

    // ------------------------------------------------------------------ planning

    /**
     * Writes {@code length} bytes at {@code offset}, from {@code src} at {@code srcOffset}
     * or zeros when {@code src} is null, taking new clusters where needed. Returns when the
     * data is in the mapping and the new entries are queued; {@link #requestSync} and
     * {@link #awaitDurable} make it durable.
     */
    public void write(long offset, long length, MemorySegment src, long srcOffset) throws IOException {
        throwIfFailed();
        List<Pending> planned = new ArrayList<>();
        planLock.lock();
        try {
            markNeedCheck();
            for (long done = 0; done < length; ) {
                long pos = offset + done;
                long inCluster = g.inCluster(pos);
                long n = Math.min(length - done, g.clusterSize() - inCluster);
                long entry = lookup(pos);
                if (entry > ClusterMap.ZERO) {
                    // Exists (committed, or pending: its data is already in place).
                    if (src == null) {
                        file.fillZero(entry + inCluster, n);
                    } else {
                        file.copyIn(src, srcOffset + done, entry + inCluster, n);
                    }
                } else if (src == null && n == g.clusterSize()) {
                    if (entry == ClusterMap.UNALLOCATED) {
                        publish(planned, pos, ClusterMap.ZERO);
                    }
                } else {
                    // If this piece fails before publish() completes (a full disk taking the
                    // L2 table, a backing file that cannot be read), nothing references its
                    // new clusters yet: give them back, or a clean close would leave a leak.
                    long mark = allocator.usedEnd();
                    try {
                        long cluster = allocator.allocate(g.clusterSize());
                        boolean copyOnWrite = entry == ClusterMap.UNALLOCATED && backing != null
                                && n != g.clusterSize();
                        if (copyOnWrite) {
                            // The rest of the cluster is what the backing file holds there. It
                            // becomes durable with the data, before the entry that exposes it.
                            fillFromBacking(pos - inCluster, cluster);
                        }
                        // Otherwise fresh space reads as zeros: the rest of the cluster already
                        // holds what an unallocated or zero cluster reads as.
                        if (src != null) {
                            file.copyIn(src, srcOffset + done, cluster + inCluster, n);
                        } else if (copyOnWrite) {
                            file.fillZero(cluster + inCluster, n);
                        }
                        publish(planned, pos, cluster);
                    } catch (IOException | RuntimeException e) {
                        allocator.rollBackTo(mark);
                        throw e;
                    }
                }
                done += n;
            }
        } finally {
            // Entries planned before a failure (a full disk, say) are visible already and
            // their data is in place: they are committed like any others.
            if (!planned.isEmpty()) {
                enqueue(planned, false);
            }
            planLock.unlock();
        }
    }

    /**
     * Copy-on-read: when the cluster at {@code clusterGuestOffset} is still unallocated
     * (a write may have taken it since the caller read it), fills a new cluster with what
     * the backing file holds there and queues its entry, in the same order as any write:
     * the data is durable before the entry that exposes it. Zeros become a zero entry, as
     * QEMU's copy-on-read writes them.
     */
    public void populateFromBacking(long clusterGuestOffset) throws IOException {
        throwIfFailed();
        List<Pending> planned = new ArrayList<>(1);
        planLock.lock();
        try {
            if (lookup(clusterGuestOffset) != ClusterMap.UNALLOCATED) {
                return;
            }
            markNeedCheck();
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                MemorySegment buffer = arena.allocate(g.clusterSize());
                backing.read(clusterGuestOffset, buffer, 0, g.clusterSize());
                if (buffer.mismatch(arena.allocate(g.clusterSize())) < 0) {
                    // Zeros take no cluster: a zero entry reads the same and hides the backing file.
                    publish(planned, clusterGuestOffset, ClusterMap.ZERO);
                    return;
                }
                long mark = allocator.usedEnd();
                try {
                    long cluster = allocator.allocate(g.clusterSize());
                    file.copyIn(buffer, 0, cluster, g.clusterSize());
                    publish(planned, clusterGuestOffset, cluster);
                } catch (IOException | RuntimeException e) {
                    allocator.rollBackTo(mark);
                    throw e;
                }
            }
        } finally {
            if (!planned.isEmpty()) {
                enqueue(planned, false);
            }
            planLock.unlock();
        }
    }

    private void fillFromBacking(long clusterGuestOffset, long cluster) throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(g.clusterSize());
            backing.read(clusterGuestOffset, buffer, 0, g.clusterSize());
            file.copyIn(buffer, 0, cluster, g.clusterSize());
        }
    }

    private void publish(List<Pending> planned, long pos, long value) throws IOException {
        long l1Index = g.l1Index(pos);
        long newTable = 0;
        if (!newTables.containsKey(l1Index) && map.l2Table(pos) == 0) {
            newTable = allocator.allocate(g.tableBytes());
            newTables.put(l1Index, newTable);
        }
        if (overlay.put(pos >>> g.clusterBits(), value) == null) {
            overlaySize.incrementAndGet();
        }
        planned.add(new Pending(pos, value, newTable));
    }

    private void markNeedCheck() throws IOException {
        QedHeader h = header.get();
        if (!h.needsCheck()) {
            QedHeader dirty = h.withFeatures(h.features() | QedHeader.FEATURE_NEED_CHECK);
            HeaderCodec.write(dirty, file);
            file.sync();
            header.set(dirty);
        }
    }

    // ------------------------------------------------------------------ tickets

    private long enqueue(List<Pending> items, boolean durabilityWanted) {
        queueLock.lock();
        try {
            boolean wasEmpty = queue.isEmpty();
            if (wasEmpty && !items.isEmpty()) {
                firstQueuedAt = System.nanoTime();
            }
            queue.addAll(items);
            long ticket = ++ticketsIssued;
            if (durabilityWanted) {
                syncWanted = ticket;
            }
            // Wake the committer only when it has something new to decide: a durability
            // request, a first entry (its wait for the interval starts), a full queue.
            if (durabilityWanted || wasEmpty || queue.size() >= org.qedkit.OpenOptions.MAX_QUEUED_ENTRIES) {
                workArrived.signal();
            }
            return ticket;
        } finally {
            queueLock.unlock();
        }
    }

    /** A ticket for a sync of everything written so far (flush, write-through overwrite). */
    public long requestSync() throws IOException {
        throwIfFailed();
        return enqueue(List.of(), true);
    }

    /** Waits until the batch holding {@code ticket} is durable. */
    public void awaitDurable(long ticket) throws IOException {
        if (ticketsDone >= ticket) {
            return;
        }
        queueLock.lock();
        try {
            while (ticketsDone < ticket) {
                throwIfFailed();
                batchDone.awaitUninterruptibly();
            }
        } finally {
            queueLock.unlock();
        }
    }

    /**
     * A future completed when the batch holding {@code ticket} is durable, or completed
     * exceptionally when a commit failed: the asynchronous {@link #awaitDurable}. It
     * completes on the commit thread, so what runs on completion should be short (or run
     * with an executor of its own, through the {@code …Async} methods).
     */
    public java.util.concurrent.CompletableFuture<Void> whenDurable(long ticket) {
        java.util.concurrent.CompletableFuture<Void> future = new java.util.concurrent.CompletableFuture<>();
        queueLock.lock();
        try {
            if (failure != null) {
                future.completeExceptionally(failedException());
            } else if (ticketsDone >= ticket) {
                future.complete(null);
            } else {
                waiters.add(new Waiter(ticket, future));
            }
        } finally {
            queueLock.unlock();
        }
        return future;
    }

    /** Takes the waiters that are done (all of them after a failure); call under queueLock. */
    private List<Waiter> takeFinishedWaiters() {
        List<Waiter> done = new ArrayList<>();
        while (!waiters.isEmpty() && (failure != null || waiters.peek().ticket() <= ticketsDone)) {
            done.add(waiters.poll());
        }
        return done;
    }

    private void complete(List<Waiter> done) {
        for (Waiter w : done) {
            if (failure != null && w.ticket() > ticketsDone) {
                w.future().completeExceptionally(failedException());
            } else {
                w.future().complete(null);
            }
        }
    }

    private QedException failedException() {
        IOException f = failure;
        return new QedException(file.path() + ": an earlier commit failed, so nothing since can be "
                + "made durable; reopen the image (it will be checked): " + f.getMessage(), f);
    }

    private void throwIfFailed() throws IOException {
        if (failure != null) {
            throw failedException();
        }
    }

    // ------------------------------------------------------------------ committing

    /** One batch on its way through the steps; {@code done} once every step it needs has a sync behind it. */
    private static final class Batch {
        final List<Pending> entries;
        final long upTo;               // the last ticket it carries
        final boolean linksTables;     // it has an L1 step
        boolean done;

        Batch(List<Pending> entries, long upTo) {
            this.entries = entries;
            this.upTo = upTo;
            boolean links = false;
            for (Pending p : entries) {
                links |= p.newTable() != 0;
            }
            this.linksTables = links;
        }
    }

    // The committer's own state (only its thread touches it).
    private final java.util.ArrayDeque<Batch> inFlight = new java.util.ArrayDeque<>(); // oldest first
    private Batch awaitingL2;   // its data is durable: its L2 entries go in next
    private Batch awaitingL1;   // its L2 entries are durable: its L1 entries go in next

    private void commitLoop() {
        long idleSince = System.nanoTime();
        boolean markedClean = false;
        while (true) {
            Batch fresh = null;
            queueLock.lock();
            try {
                boolean nothingQueued = queue.isEmpty() && ticketsTaken == ticketsIssued;
                if (nothingQueued && inFlight.isEmpty()) {
                    if (closing) {
                        return;
                    }
                    long idle = System.nanoTime() - idleSince;
                    if (markedClean || idle < IDLE_BEFORE_CLEAN_NANOS) {
                        workArrived.awaitNanos(markedClean ? IDLE_BEFORE_CLEAN_NANOS : IDLE_BEFORE_CLEAN_NANOS - idle);
                        continue;
                    }
                } else if (!nothingQueued) {
                    long now = System.nanoTime();
                    long dueAt = firstQueuedAt + commitIntervalNanos;
                    boolean due = closing || syncWanted > ticketsTaken || !inFlight.isEmpty()
                            || queue.size() >= org.qedkit.OpenOptions.MAX_QUEUED_ENTRIES || now - dueAt >= 0;
                    if (!due) {
                        workArrived.awaitNanos(dueAt - now);
                        continue; // write-back entries only, and not due yet
                    }
                    fresh = new Batch(queue, ticketsIssued);
                    queue = new ArrayList<>();
                    ticketsTaken = ticketsIssued;
                } // else: nothing new, but batches in flight still need their next steps
            } catch (InterruptedException e) {
                continue; // only close stops the committer
            } finally {
                queueLock.unlock();
            }
            if (fresh == null && inFlight.isEmpty()) {
                markClean(); // idle long enough
                markedClean = true;
                continue;
            }
            advance(fresh);
            idleSince = System.nanoTime();
            markedClean = false;
        }
    }

    /**
     * One sync moves every batch in flight one step on. Before it: the L1 entries of the
     * batch whose L2 entries are durable, and the L2 entries of the batch whose data is
     * durable, are stored into the mapping; the fresh batch's data is there already. After
     * it, each of the three is one step further. Every batch still sees data, sync, L2
     * entries, sync, L1 entries, sync, in that order; but a sync serves up to three batches,
     * so under load a batch costs one sync, not two or three, and the next batch fills while
     * this one is only a step along. A batch with nothing to commit (a flush) is done at its
     * first sync, but, like every batch, completes only after those before it.
     */
    private void advance(Batch fresh) {
        if (fresh != null) {
            inFlight.addLast(fresh);
        }
        try {
            if (failure == null) {
                if (awaitingL1 != null) {
                    for (Pending p : awaitingL1.entries) {
                        if (p.newTable() != 0) {
                            file.setEntryRelease(g.l1EntryOffset(p.guestOffset()), p.newTable());
                        }
                    }
                }
                if (awaitingL2 != null) {
                    for (Pending p : awaitingL2.entries) {
                        long table = tableOf(p.guestOffset());
                        file.setEntryRelease(map.l2EntryOffset(table, p.guestOffset()), p.value());
                    }
                }
                file.sync();
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
                    if (fresh.entries.isEmpty()) {
                        fresh.done = true;
                    } else {
                        awaitingL2 = fresh;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            failure = e instanceof IOException io ? io : new IOException(e);
        }
        List<Batch> finished = new ArrayList<>();
        if (failure != null) {
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
            for (Pending p : b.entries) {
                if (p.newTable() != 0) {
                    newTables.remove(g.l1Index(p.guestOffset()), p.newTable());
                }
                if (overlay.remove(p.guestOffset() >>> g.clusterBits(), p.value())) {
                    overlaySize.decrementAndGet();
                }
            }
        }
        List<Waiter> done;
        queueLock.lock();
        try {
            if (failure == null) {
                ticketsDone = finished.getLast().upTo;
            }
            batchDone.signalAll();
            done = takeFinishedWaiters();
        } finally {
            queueLock.unlock();
        }
        complete(done); // outside the lock: completion runs the futures' dependents
    }

    private long tableOf(long guestOffset) throws QedFormatException {
        Long fresh = newTables.get(g.l1Index(guestOffset));
        return fresh != null ? fresh : map.l2Table(guestOffset);
    }

    /** Clears NEED_CHECK when everything is committed and nothing failed. */
    private void markClean() {
        planLock.lock();
        try {
            QedHeader h = header.get();
            if (failure != null || !h.needsCheck() || overlaySize.get() != 0 || ticketsIssued() != ticketsDone) {
                return;
            }
            // A clean image ends at its last used cluster: give the reservation back first,
            // or a crash after this would leave leaks that nothing is told to reclaim.
            allocator.trimToUsed();
            file.sync();
            QedHeader clean = h.withFeatures(h.features() & ~QedHeader.FEATURE_NEED_CHECK);
            HeaderCodec.write(clean, file);
            file.sync();
            header.set(clean);
        } catch (IOException | RuntimeException e) {
            failure = e instanceof IOException io ? io : new IOException(e);
        } finally {
            planLock.unlock();
        }
    }

    private long ticketsIssued() {
        queueLock.lock();
        try {
            return ticketsIssued;
        } finally {
            queueLock.unlock();
        }
    }

    /**
     * Commits everything queued, stops the committer, and, if nothing failed, gives the
     * reserved space back and clears NEED_CHECK: a clean image. Throws the failure, if any.
     */
    public void close() throws IOException {
        queueLock.lock();
        try {
            closing = true;
            workArrived.signal();
        } finally {
            queueLock.unlock();
        }
        boolean interrupted = false;
        while (committer.isAlive()) {
            try {
                committer.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        List<Waiter> left;
        List<Waiter> stranded = new ArrayList<>();
        queueLock.lock();
        try {
            left = takeFinishedWaiters();
            stranded.addAll(waiters); // none: the committer drained every ticket issued
            waiters.clear();
        } finally {
            queueLock.unlock();
        }
        complete(left);
        stranded.forEach(w -> w.future().completeExceptionally(new QedException(file.path() + ": closed")));
        throwIfFailed();
        markClean();
        throwIfFailed();
    }
}
