package org.qedkit.internal;

import java.lang.invoke.VarHandle;
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
 * <h2>Algorithm: two-parity epoch counting</h2>
 * A global epoch number; two sets of counters, one per parity of the epoch, each striped
 * over padded cells so that threads rarely share a cache line.
 * <ul>
 *   <li>{@link #enter()}: read the epoch, increment the own cell of its parity (a volatile
 *       read-modify-write, a full fence), then look entries up. {@link #exit} decrements the
 *       same cell.</li>
 *   <li>Whoever unlinks stores the new entries, then {@link #retireEpoch()}: a full fence
 *       and a read of the epoch, {@code e}. The space is safe once the epoch is
 *       {@code e + 2}.</li>
 *   <li>{@link #tryAdvance()} (one caller at a time) moves the epoch from {@code E} to
 *       {@code E + 1} only when every cell of the parity of {@code E + 1} (the operations
 *       that entered at {@code E - 1}) reads zero, each read being a read-modify-write so
 *       that it is ordered with the increments.</li>
 * </ul>
 * Why {@code e + 2} suffices: an operation that can see the old entry looked it up before
 * the unlinking store, so it incremented its cell, having read an epoch {@code x <= e},
 * before the unlinker read {@code e}. Reaching {@code e + 2} takes the advances
 * {@code e -> e + 1} and {@code e + 1 -> e + 2}, both after that read, which check the two
 * parities in turn; the one that checks {@code x}'s parity sees the increment and waits
 * until the operation has exited. An operation that entered later looks entries up after
 * the store and cannot see the old one. Readers never wait: only the advance does, and it
 * just tries again later.
 *
 * <p>Cost on the hot path: one volatile read and two uncontended atomic adds on a cell of
 * the thread's own (allocation-free, lock-free).
 */
final class ReaderEpochs {
    private static final int STRIPES = 32;            // power of two
    private static final int PAD = 16;                // longs per cell: 128 bytes, two cache lines
    private final AtomicLongArray cells = new AtomicLongArray(2 * STRIPES * PAD);
    private final AtomicLong epoch = new AtomicLong();

    /** Registers an operation that is about to look entries up; returns the token for {@link #exit}. */
    int enter() {
        long e = epoch.get();
        int cell = ((int) (e & 1) * STRIPES + stripe()) * PAD;
        cells.getAndIncrement(cell);
        return cell;
    }

    /** Ends what {@link #enter} began. */
    void exit(int token) {
        cells.getAndDecrement(token);
    }

    private static int stripe() {
        long id = Thread.currentThread().threadId();
        return (int) ((id * 0x9E3779B97F4A7C15L) >>> 59) & (STRIPES - 1);
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
        long e = epoch.get();
        int base = (int) ((e + 1) & 1) * STRIPES * PAD;
        for (int stripe = 0; stripe < STRIPES; stripe++) {
            if (cells.getAndAdd(base + stripe * PAD, 0) != 0) {
                return false;
            }
        }
        epoch.set(e + 1);
        return true;
    }
}
