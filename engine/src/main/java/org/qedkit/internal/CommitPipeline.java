package org.qedkit.internal;

import org.agrona.concurrent.AgentRunner;
import org.qedkit.QedException;
import org.qedkit.QedHeader;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;

/**
 * Makes new clusters durable in the order the format needs, for many concurrent writers,
 * with one {@code fdatasync} per step for a whole batch of them (group commit). This class
 * is the front: the queue of entries the {@link WritePlanner} hands over, the tickets of
 * durability requests and their waiters, and the image's way in and out (admission and
 * close). The steps themselves are the {@link Committer}'s.
 *
 * <h2>Why entries wait in memory</h2>
 * The kernel writes dirty pages of a shared mapping back whenever it likes, in any order.
 * An L2 entry stored into the mapping before its data cluster is durable could reach the
 * disk first, and a crash would leave it pointing at garbage. So a new entry is not stored
 * into the mapped tables until its step of a commit runs; until then it lives in the
 * {@link PendingOverlay}, which every lookup of this process consults.
 *
 * <h2>Tickets</h2>
 * Every enqueue, and every durability request ({@code flush}, a write-through write), gets
 * the next ticket. The committer takes everything queued as one batch, which carries every
 * ticket issued so far; batches complete in order, so "ticket t is durable" is one compare
 * against the last completed batch's ticket. Waiters either park on a condition
 * ({@link #awaitDurable}) or hold a future ({@link #whenDurable}) completed by the committer.
 *
 * <h2>When a batch starts</h2>
 * At once when someone waits for durability, when the image is closing, when a batch is
 * in flight (its next sync happens anyway), or when {@code maxQueuedEntries} entries are
 * queued. Otherwise (write-back writes only) when the oldest queued entry is
 * {@code commitInterval} old. Committing write-back entries as they come would buy nothing
 * a caller asked for, and it costs: each batch's {@code fdatasync} writes the new pages
 * back while the writers are still storing into the next ones, taking a core and shooting
 * down their TLB entries as it cleans each page.
 *
 * <h2>Who makes the sync</h2>
 * The commit thread, unless the one who asked for it waits for it at once
 * ({@link Request#SYNC_BY_CALLER}: a synchronous write-through write, {@code flush()}) and
 * finds the pipeline idle: no batch in flight, no one else's sync request waiting, no round
 * running, and at most one sync request in the last batch (no other thread has been syncing
 * alongside this one). Such a caller runs the committer's rounds itself, on its own thread,
 * until its ticket is durable, and the commit thread is not woken for it at all: at depth 1
 * a hand-off to the commit thread and back costs two wake-ups (on this project's machine,
 * tens of microseconds each, on a write whose sync takes a few hundred). With several
 * threads syncing, the commit thread keeps the work: it takes the next batch as soon as a
 * sync ends, where callers taking turns with it would each have to wake it again (four
 * writer threads made about a tenth fewer writes that way: docs/performance.md §13, "An
 * eighth look"). Rounds run under {@link #roundLock}, one thread at a time, so the
 * committer's state has one owner at any moment. A caller that finds a round running after
 * all does not wait for the lock: it wakes the commit thread, which takes the caller's batch
 * in its next round, and waits like everyone else. A caller that ran rounds hands whatever
 * is left (entries queued meanwhile) back to the commit thread. Virtual threads never run
 * rounds: a sync would pin their carrier.
 *
 * <h2>Admission and close</h2>
 * Every write and flush of the image runs admitted: it holds a read stamp of
 * {@link #admission} from before it plans until it returns (for a durable request, until it
 * is durable). {@link #close} takes the write stamp, which waits for every admitted request
 * and refuses any later one, and only then drains the queue and stops the committer. So
 * every request that returned before close began is committed by it, and every request
 * that races close either runs to its end before close drains, or fails at once with an
 * exception; none can slip in after the committer has stopped and wait forever.
 *
 * <h2>Failure</h2>
 * A failed {@code fdatasync} (or any failure of a commit step) is final. It is recorded in
 * one place, the {@link MappedImageFile} ({@link MappedImageFile#recordFailure}); every
 * check here asks the file. No batch in flight is stored any further, their waiters and
 * every later request get the error, and NEED_CHECK stays set.
 */
public final class CommitPipeline implements AutoCloseable {

    /** What an enqueue asks of the committer. */
    public enum Request {
        /** Entries for a later batch, due within the commit interval (write-back). */
        QUEUE,
        /** A sync of everything enqueued so far, made by the commit thread, which is woken for it. */
        SYNC,
        /**
         * A sync of everything enqueued so far, which the calling thread awaits at once with
         * {@link #awaitDurable}: it makes the sync itself when the pipeline is idle (see the
         * class comment). It must not be asked for by one thread and awaited by another.
         */
        SYNC_BY_CALLER
    }

    /** A future completed when {@code ticket} is durable, or failed with the commit's error. */
    private record Waiter(long ticket, CompletableFuture<Void> future) {
    }

    private final MappedImageFile file;
    private final HeaderState header;
    private final CommitSettings settings;
    private final long commitIntervalNanos;
    private final ReentrantLock planLock = new ReentrantLock();
    /** Held while a round of the committer runs, by the commit thread or a caller (see the class comment). */
    private final ReentrantLock roundLock = new ReentrantLock();
    private final StampedLock admission = new StampedLock();

    private final ReentrantLock queueLock = new ReentrantLock();
    private final Condition workArrived = queueLock.newCondition();
    private final Condition batchDone = queueLock.newCondition();
    private ArrayList<PendingEntry> queue = new ArrayList<>(); // under queueLock
    private long ticketsIssued;   // under queueLock
    private long ticketsTaken;    // under queueLock: tickets the committer has taken in batches
    private long syncWanted;      // under queueLock: the latest ticket someone waits to be durable
    private int syncsQueued;      // under queueLock: sync requests since the last batch was taken
    private int syncsInLastBatch; // under queueLock: sync requests the last batch carried
    private long firstQueuedAt;   // under queueLock: clock reading when the oldest queued entry came
    private boolean workSignalled; // under queueLock: the committer has something new to decide
    private boolean closing;      // under queueLock
    private boolean drained;      // under queueLock: closing, and nothing left to commit
    private volatile long ticketsDone;
    /**
     * The last ticket whose caller makes its own sync (written under queueLock). At most one
     * such ticket is pending at a time: the next is only given on an idle pipeline, once
     * this one is done.
     */
    private volatile long callerRunsTicket;
    /** Futures waiting for their ticket to be durable, lowest ticket first (under queueLock). */
    private final PriorityQueue<Waiter> waiters = new PriorityQueue<>(Comparator.comparingLong(Waiter::ticket));

    private final Committer committer;
    private final AgentRunner runner; // null: the committer is driven by hand (unit tests)

    /**
     * A pipeline for {@code file}, whose committer runs on a thread of its own when
     * {@code startThread}, and is driven by calls of {@link #committer()}'s
     * {@code doWork()} otherwise (then {@link #close} drives it to the end itself).
     */
    CommitPipeline(MappedImageFile file, ClusterMap map, PendingOverlay overlay, ClusterAllocator allocator,
                   SpaceReclaimer reclaimer, HeaderState header, CommitSettings settings, boolean startThread) {
        this.file = file;
        this.header = header;
        this.settings = settings;
        this.commitIntervalNanos = settings.commitIntervalNanos();
        this.committer = new Committer(this, file, map, overlay, allocator, reclaimer, settings.clock());
        if (startThread) {
            this.runner = new AgentRunner(new Committer.IdleUntilWork(committer),
                    file::recordFailure,
                    null, committer);
            AgentRunner.startOnThread(runner, task -> Thread.ofPlatform().daemon()
                    .name("qedkit-commit " + file.path().getFileName()).unstarted(task));
        } else {
            this.runner = null;
        }
    }

    /** The header as it stands now (NEED_CHECK comes and goes as writes come and go). */
    public QedHeader currentHeader() {
        return header.current();
    }

    /** The header as this pipeline keeps it (it sets and clears NEED_CHECK). */
    HeaderState header() {
        return header;
    }

    /** The committer, for driving it by hand when the pipeline was made without a thread. */
    Committer committer() {
        return committer;
    }

    /** Held while a round of the committer runs; see the class comment. */
    ReentrantLock roundLock() {
        return roundLock;
    }

    /** Held while planning and while the header changes; see {@link WritePlanner}. */
    ReentrantLock planLock() {
        return planLock;
    }

    /** Throws the failure recorded on the file, if any: nothing can be made durable after one. */
    void throwIfFailed() throws IOException {
        file.throwIfFailed();
    }

    // ------------------------------------------------------------------ admission

    /**
     * Admits one write or flush: returns a stamp for {@link #release}, or throws
     * {@link IllegalStateException} when the image is closing (see the class comment).
     */
    public long admit() {
        long stamp = admission.tryReadLock();
        if (stamp == 0) {
            throw new IllegalStateException(file.path() + " is closed");
        }
        return stamp;
    }

    /** Ends what {@link #admit} began. */
    public void release(long stamp) {
        admission.unlockRead(stamp);
    }

    // ------------------------------------------------------------------ tickets

    /** Queues {@code entries} (already visible in the overlay) for the next batch. */
    void enqueue(List<PendingEntry> entries) {
        enqueue(entries, Request.QUEUE);
    }

    /**
     * Queues {@code entries} and returns their ticket; unless {@code request} is
     * {@link Request#QUEUE}, the ticket is also a sync request, as {@link #requestSync}
     * would issue next. A write-through write that has new entries asks this way: one
     * enqueue, where an enqueue and then a request would wake the committer twice, and the
     * second time the writer would find it holding the queue lock and have to wait for it.
     */
    long enqueue(List<PendingEntry> entries, Request request) {
        boolean sync = request != Request.QUEUE;
        boolean mayRun = request == Request.SYNC_BY_CALLER && mayRunRounds();
        queueLock.lock();
        try {
            // The caller makes its sync only on an idle pipeline (see the class comment).
            boolean callerRuns = mayRun && ticketsDone == ticketsTaken && syncWanted <= ticketsTaken
                    && syncsInLastBatch <= 1 && !roundLock.isLocked();
            boolean wasEmpty = nothingQueuedLocked();
            if (wasEmpty) {
                firstQueuedAt = settings.clock().nanoTime(); // the interval starts with the first work
            }
            queue.addAll(entries);
            long ticket = ++ticketsIssued;
            if (sync) {
                syncWanted = ticket;
                syncsQueued++;
            }
            if (callerRuns) {
                callerRunsTicket = ticket;
            }
            // Wake the committer only when it has something new to decide that nobody else
            // will: a sync request its caller does not make itself, a first entry (its wait
            // for the interval starts), a full queue.
            if (sync ? !callerRuns : wasEmpty || queue.size() >= settings.maxQueuedEntries()) {
                signalWorkLocked();
            }
            return ticket;
        } finally {
            queueLock.unlock();
        }
    }

    private void signalWorkLocked() {
        workSignalled = true;
        workArrived.signal();
    }

    /**
     * Wakes the commit thread to look for work: for a {@link Request#SYNC_BY_CALLER} whose
     * caller will not make the sync itself after all (a round was running, or the request
     * failed after its entries were queued).
     */
    public void wakeCommitter() {
        queueLock.lock();
        try {
            signalWorkLocked();
        } finally {
            queueLock.unlock();
        }
    }

    /**
     * Asks for a commit within the commit interval, without waiting for it: for a discard,
     * whose stored entries need a sync before the space they freed can be reclaimed.
     */
    void commitSoon() {
        enqueue(List.of(), Request.QUEUE);
    }

    /**
     * A ticket for a sync of everything written so far (flush, write-through write), made
     * by the commit thread; admitted like a write, so it fails with
     * {@link IllegalStateException} once close has begun.
     */
    public long requestSync() throws IOException {
        return requestSync(Request.SYNC);
    }

    /**
     * {@link #requestSync()}, made as {@code request} says: {@link Request#SYNC_BY_CALLER}
     * when the caller awaits the ticket at once.
     */
    public long requestSync(Request request) throws IOException {
        if (request == Request.QUEUE) {
            throw new IllegalArgumentException("a sync request is SYNC or SYNC_BY_CALLER, not " + request);
        }
        long admitted = admit(); // the caller may hold a stamp already: read stamps nest
        try {
            throwIfFailed();
            return enqueue(List.of(), request);
        } finally {
            release(admitted);
        }
    }

    /**
     * Whether this thread may run rounds: not a virtual thread (a sync would pin its
     * carrier), and not a thread inside a round already (a future's completion on the
     * committer that writes again must not start a round within a round).
     */
    private boolean mayRunRounds() {
        return !Thread.currentThread().isVirtual() && !roundLock.isHeldByCurrentThread();
    }

    /**
     * Waits until the batch holding {@code ticket} is durable; throws the commit's failure.
     * The caller of a {@link Request#SYNC_BY_CALLER} given on an idle pipeline runs the
     * rounds itself (see the class comment).
     */
    public void awaitDurable(long ticket) throws IOException {
        if (ticketsDone >= ticket) {
            return;
        }
        if (ticket == callerRunsTicket && mayRunRounds()) {
            runRoundsUntil(ticket);
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
     * Runs the committer's rounds on this thread until {@code ticket} is durable (or a
     * commit failed), if no round is running; otherwise wakes the commit thread to run them.
     * Either way, what is left afterwards is the commit thread's.
     */
    private void runRoundsUntil(long ticket) {
        if (!roundLock.tryLock()) {
            wakeCommitter(); // the round running may be another caller's, which stops at its own ticket
            return;
        }
        boolean more = true;
        try {
            while (ticketsDone < ticket && !file.hasFailed()) {
                if (committer.doRound() == 0) {
                    break; // nothing due: not expected while the ticket is pending, but never spin
                }
            }
            more = committer.hasWork();
        } catch (RuntimeException e) {
            file.recordFailure(e); // as the commit thread's runner does with what escapes a round
        } finally {
            roundLock.unlock();
            if (more) {
                wakeCommitter();
            }
        }
    }

    /**
     * A future completed when the batch holding {@code ticket} is durable, or completed
     * exceptionally when a commit failed: the asynchronous {@link #awaitDurable}. It
     * completes on the thread that made the sync (the commit thread, or a caller that waited
     * for a later ticket of its own), so what runs on completion should be short.
     */
    public CompletableFuture<Void> whenDurable(long ticket) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        queueLock.lock();
        try {
            if (file.hasFailed()) {
                future.completeExceptionally(failure());
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

    private IOException failure() {
        try {
            file.throwIfFailed();
            return new QedException(file.path() + ": closed before the request was durable");
        } catch (QedException e) {
            return e;
        }
    }

    // ------------------------------------------------------------------ the committer's side

    /**
     * Everything queued, as one batch, if a batch is due at {@code now} (see the class
     * comment); null otherwise. {@code batchesInFlight}: the committer syncs anyway.
     */
    Committer.Batch takeBatchIfDue(long now, boolean batchesInFlight) {
        queueLock.lock();
        try {
            if (nanosUntilDueLocked(now, batchesInFlight) != 0 || nothingQueuedLocked()) {
                return null;
            }
            Committer.Batch batch = new Committer.Batch(queue, ticketsIssued);
            queue = new ArrayList<>();
            ticketsTaken = ticketsIssued;
            syncsInLastBatch = syncsQueued;
            syncsQueued = 0;
            return batch;
        } finally {
            queueLock.unlock();
        }
    }

    /** Whether anything is queued (entries, or a sync request) that no batch has taken yet. */
    boolean anythingQueued() {
        queueLock.lock();
        try {
            return !nothingQueuedLocked();
        } finally {
            queueLock.unlock();
        }
    }

    /** Nanoseconds from {@code now} until queued entries are due: 0 when due, {@code Long.MAX_VALUE} when none wait. */
    long nanosUntilDue(long now) {
        queueLock.lock();
        try {
            return nanosUntilDueLocked(now, false);
        } finally {
            queueLock.unlock();
        }
    }

    /** The rule for when a batch starts (see the class comment), in one place; under queueLock. */
    private long nanosUntilDueLocked(long now, boolean batchesInFlight) {
        if (nothingQueuedLocked()) {
            return closing ? 0 : Long.MAX_VALUE;
        }
        if (closing || syncWanted > ticketsTaken || batchesInFlight || queue.size() >= settings.maxQueuedEntries()) {
            return 0;
        }
        return Math.max(0, firstQueuedAt + commitIntervalNanos - now);
    }

    private boolean nothingQueuedLocked() {
        return queue.isEmpty() && ticketsTaken == ticketsIssued;
    }

    /**
     * True when nothing is queued or in a batch not yet finished: every ticket issued is
     * durable. When closing, it also tells {@link #close} that the committer is done.
     */
    boolean settled() {
        queueLock.lock();
        try {
            boolean settled = nothingQueuedLocked() && (ticketsDone == ticketsIssued || file.hasFailed());
            if (settled && closing && !drained) {
                drained = true;
                batchDone.signalAll();
            }
            return settled;
        } finally {
            queueLock.unlock();
        }
    }

    /** Parks the committer until work arrives or {@code nanos} pass (briefly, when closing). */
    void awaitWork(long nanos) {
        queueLock.lock();
        try {
            if (!workSignalled && nanos > 0) {
                workArrived.awaitNanos(closing ? Math.min(nanos, 100_000) : nanos);
            }
            workSignalled = false;
        } catch (InterruptedException e) {
            // Only AgentRunner interrupts, to stop the committer; its loop sees that next.
        } finally {
            queueLock.unlock();
        }
    }

    /** Records that batches up to ticket {@code upTo} are durable (or failed), and completes their waiters. */
    void finished(long upTo, boolean failed) {
        List<Waiter> done = new ArrayList<>();
        queueLock.lock();
        try {
            if (!failed) {
                ticketsDone = upTo;
            }
            batchDone.signalAll();
            while (!waiters.isEmpty() && (failed || waiters.peek().ticket() <= ticketsDone)) {
                done.add(waiters.poll());
            }
        } finally {
            queueLock.unlock();
        }
        for (Waiter w : done) { // outside the lock: completion runs the futures' dependents
            if (failed && w.ticket() > ticketsDone) {
                w.future().completeExceptionally(failure());
            } else {
                w.future().complete(null);
            }
        }
    }

    // ------------------------------------------------------------------ close

    /**
     * Waits for every admitted request, commits everything queued, stops the committer,
     * and, if nothing failed, gives the reserved space back and clears NEED_CHECK: a clean
     * image. Throws the failure, if any. Must not be called from a future's completion
     * (that runs on the committer, which close waits for).
     */
    @Override
    public void close() throws IOException {
        admission.writeLock(); // never released: nothing is admitted after close
        committer.stopScan();   // its system calls must not outlive the file's descriptor
        queueLock.lock();
        try {
            closing = true;
            workSignalled = true;
            workArrived.signal();
        } finally {
            queueLock.unlock();
        }
        if (runner == null) {
            while (!settled()) {
                committer.doWork();
            }
        } else {
            queueLock.lock();
            try {
                while (!drained) {
                    batchDone.awaitUninterruptibly();
                }
            } finally {
                queueLock.unlock();
            }
            runner.close();
        }
        List<Waiter> stranded;
        queueLock.lock();
        try {
            stranded = new ArrayList<>(waiters); // none: every ticket issued was drained
            waiters.clear();
        } finally {
            queueLock.unlock();
        }
        stranded.forEach(w -> w.future().completeExceptionally(failure()));
        throwIfFailed();
        roundLock.lock(); // a caller's last round may still be ending
        try {
            committer.reclaimAtClose();
            committer.markClean();
        } finally {
            roundLock.unlock();
        }
        throwIfFailed();
    }
}
