package org.qedkit.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Tells when no thread can still be using a cluster or table that was unlinked: the grace
 * period that must pass before freed space is punched or handed out again.
 *
 * <h2>Why</h2>
 * Reads and in-place writes take no lock: they look an entry up, then copy to or from the
 * cluster it names. A discard may unlink that cluster in between. The entry change is
 * harmless to them (they copy what was there, as if they had run just before), but if the
 * cluster were punched or reused at once, a reader would return zeros or another offset's
 * bytes, and a writer would destroy another offset's data. So a freed cluster waits until
 * every operation that could have seen the old entry has finished.
 *
 * <h2>Algorithm: epochs, announced per thread</h2>
 * A global epoch number, and for each operation in progress an announcement of the epoch it
 * read when it began.
 * <ul>
 *   <li>{@link #enter()}: read the epoch {@code x}, announce "active since {@code x}", then a
 *       full fence, then look entries up. {@link #exit} withdraws the announcement with a
 *       release store: every copy the operation made comes before it.</li>
 *   <li>Whoever unlinks stores the new entries, then {@link #retireEpoch()}: a full fence
 *       and a read of the epoch, {@code e}. The space is safe once the epoch is
 *       {@code e + 2}.</li>
 *   <li>{@link #tryAdvance()} (one caller at a time) moves the epoch from {@code E} to
 *       {@code E + 1} only when no operation announced since an epoch before {@code E} is
 *       still active.</li>
 * </ul>
 * Why {@code e + 2} suffices: the reader's announcement, fence, lookup and the unlinker's
 * store, fence, epoch read are Dekker's pattern, so an operation that saw the old entry made
 * its announcement visible to everything the unlinker does after its fence, having read an
 * epoch {@code x <= e}. The advance {@code e + 1 -> e + 2} needs every operation announced
 * before {@code e + 1} gone, which includes it; until it exits the epoch stays below
 * {@code e + 2}. An operation that began later looks entries up after the store and cannot
 * see the old one. Readers never wait: only the advance does, and it just tries again later.
 *
 * <h2>Where the announcement lives</h2>
 * A platform thread has a slot of its own (found through a {@link ThreadLocal}, padded to
 * its own cache lines). Only its owner writes it, so the announcement is a plain store and
 * the withdrawal a release store: one locked instruction per operation (the fence), not two.
 * That matters because the fence waits for the store buffer to drain, and a 4 KiB copy has
 * just filled it: with two locked adds the epoch section cost about a fifth of a cached 4 KiB
 * read (docs/performance.md, section 11). A section nested in another on the same thread
 * only counts a depth: the outer announcement, older, covers it. The slot of a thread that
 * has died is handed to the next thread that registers, so a daemon that makes threads over
 * years does not grow the list.
 * <p>Virtual threads move between carriers and come and go by the thousand, so they do not
 * get slots: they count themselves in two sets of striped counters, one per parity of the
 * epoch they read, with an atomic add on entry and exit. The advance {@code E -> E + 1}
 * then also needs every counter of the parity of {@code E + 1} (those that entered at
 * {@code E - 1}, or earlier at the same parity) at zero, read with a read-modify-write so
 * that the read is ordered with the increments.
 *
 * <p>Cost on the hot path of a platform thread: a thread-local lookup, one volatile read of
 * the epoch, a plain store, one fence and a release store; no allocation, no lock.
 */
final class ReaderEpochs {
    private static final int STRIPES = 32;            // power of two
    private static final int PAD = 16;                // longs per cell: 128 bytes, two cache lines
    private static final long IDLE = 0;               // a slot's state when its thread is in no section

    private final AtomicLongArray cells = new AtomicLongArray(2 * STRIPES * PAD);
    private final AtomicLong epoch = new AtomicLong();
    private final ThreadLocal<Slot> ownSlot = new ThreadLocal<>();
    /** Every slot ever registered; replaced (never changed in place) when one is added. */
    private volatile Slot[] slots = new Slot[0];

    /**
     * Registers an operation that is about to look entries up; returns the token for
     * {@link #exit}, which must be called on the same thread.
     */
    int enter() {
        Thread thread = Thread.currentThread();
        if (thread.isVirtual()) {
            long e = epoch.get();
            int cell = ((int) (e & 1) * STRIPES + stripe(thread)) * PAD;
            cells.getAndIncrement(cell);
            return cell;
        }
        Slot slot = ownSlot.get();
        if (slot == null) {
            slot = register(thread);
        }
        if (slot.depth++ == 0) {
            Slot.STATE.setOpaque(slot, announcement(epoch.get()));
            VarHandle.fullFence(); // the announcement before the lookups (Dekker, see above)
        }
        return -1 - slot.index;
    }

    /** Ends what {@link #enter} began. */
    void exit(int token) {
        if (token >= 0) {
            cells.getAndDecrement(token);
            return;
        }
        Slot slot = slots[-1 - token];
        if (--slot.depth == 0) {
            Slot.STATE.setRelease(slot, IDLE); // every copy of the section before the withdrawal
        }
    }

    private static long announcement(long epoch) {
        return (epoch << 1) | 1;
    }

    private static int stripe(Thread thread) {
        long id = thread.threadId();
        return (int) ((id * 0x9E3779B97F4A7C15L) >>> 59) & (STRIPES - 1);
    }

    /** Gives the calling thread a slot: a dead thread's, or a new one. */
    private synchronized Slot register(Thread thread) {
        Slot[] all = slots;
        Slot slot = null;
        for (Slot candidate : all) {
            // A dead thread's slot is idle: its sections ended before it did (try/finally).
            if (!candidate.owner.isAlive() && (long) Slot.STATE.getVolatile(candidate) == IDLE) {
                slot = candidate;
                break;
            }
        }
        if (slot == null) {
            slot = new Slot(all.length);
            Slot[] grown = Arrays.copyOf(all, all.length + 1);
            grown[all.length] = slot;
            slots = grown;
        }
        slot.owner = thread;
        slot.depth = 0;
        ownSlot.set(slot);
        return slot;
    }

    /** How many slots exist (for tests: dead threads' slots are reused). */
    synchronized int slotCount() {
        return slots.length;
    }

    /** The epoch to retire space at: call after the stores that unlinked it. */
    long retireEpoch() {
        VarHandle.fullFence(); // the unlinking stores come before the epoch read, for every thread
        return epoch.get();
    }

    /** The epoch now. */
    long current() {
        return epoch.get();
    }

    /** True when space retired at epoch {@code retiredAt} can no longer be in use. */
    boolean isSafe(long retiredAt) {
        return epoch.get() >= retiredAt + 2;
    }

    /**
     * Moves the epoch one on if the operations two epochs back have all exited; returns
     * whether it moved. One caller at a time (the image's commit thread, or close).
     */
    synchronized boolean tryAdvance() {
        VarHandle.fullFence();
        long e = epoch.get();
        int base = (int) ((e + 1) & 1) * STRIPES * PAD;
        for (int stripe = 0; stripe < STRIPES; stripe++) {
            if (cells.getAndAdd(base + stripe * PAD, 0) != 0) {
                return false;
            }
        }
        long before = announcement(e); // announcements of epochs below e are smaller
        for (Slot slot : slots) {
            long state = (long) Slot.STATE.getVolatile(slot);
            if (state != IDLE && state < before) {
                return false;
            }
        }
        epoch.set(e + 1);
        return true;
    }

    /** Left padding: keeps a slot's state off the cache lines of whatever was allocated before it. */
    @SuppressWarnings("unused")
    private static class SlotLeftPad {
        long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    /** What one platform thread announces. Fields of a subclass are laid out after its superclass's. */
    private static class SlotFields extends SlotLeftPad {
        final int index;
        /** {@link #IDLE}, or the announcement of the epoch its section began at; written by the owner only. */
        volatile long state;
        /** Sections of the owner open at once; the owner's alone. */
        int depth;
        /** The thread this slot belongs to; changed only under the registration lock, while idle. */
        Thread owner;

        SlotFields(int index) {
            this.index = index;
        }
    }

    /** A platform thread's slot, padded on both sides. */
    @SuppressWarnings("unused")
    private static final class Slot extends SlotFields {
        static final VarHandle STATE;

        static {
            try {
                STATE = MethodHandles.lookup().findVarHandle(SlotFields.class, "state", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        long q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;

        Slot(int index) {
            super(index);
        }
    }
}
