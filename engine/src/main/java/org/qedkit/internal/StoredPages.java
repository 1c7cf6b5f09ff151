package org.qedkit.internal;

import java.util.Arrays;

/**
 * The file ranges one round of the {@link Committer} has stored into through the mappings
 * and is about to sync: the data of the new clusters in its batch, the table entries it
 * stores. Ranges are widened to whole pages ({@link Posix#PAGE_ALIGNMENT}) and kept in the
 * order they came, each merged into the one before it when the two overlap or touch: the
 * allocator hands out clusters in ascending order and entries of one table share its
 * pages, so a batch's ranges mostly collapse into a few. No sort: the kernel takes the
 * ranges in any order, and a page named twice is dropped once and then found empty.
 *
 * <p>Reused round after round by the commit thread alone (not thread-safe); it grows to the
 * largest round seen and allocates nothing after that.
 */
final class StoredPages {
    private long[] starts = new long[64];
    private long[] ends = new long[64];
    private int count;
    private int places;

    /** Forgets every range: a new round begins. */
    void clear() {
        count = 0;
        places = 0;
    }

    /** Adds {@code [from, to)}, widened to whole pages. */
    void add(long from, long to) {
        long start = from & -Posix.PAGE_ALIGNMENT;
        long end = (to + Posix.PAGE_ALIGNMENT - 1) & -Posix.PAGE_ALIGNMENT;
        if (count > 0 && start >= starts[count - 1] && end <= ends[count - 1]) {
            return; // another entry in a page already named
        }
        places++;
        if (count > 0 && start <= ends[count - 1] && end >= starts[count - 1]) {
            starts[count - 1] = Math.min(starts[count - 1], start);
            ends[count - 1] = Math.max(ends[count - 1], end);
            return;
        }
        if (count == starts.length) {
            starts = Arrays.copyOf(starts, count * 2);
            ends = Arrays.copyOf(ends, count * 2);
        }
        starts[count] = start;
        ends[count] = end;
        count++;
    }

    /** Ranges, after merging. */
    int count() {
        return count;
    }

    /**
     * Separate places stored into: every add that did not fall inside the range before it
     * (the entries of one table page count once, each new cluster once, adjacent or not).
     */
    int places() {
        return places;
    }

    /** The first byte of range {@code i}, a page boundary. */
    long start(int i) {
        return starts[i];
    }

    /** The byte after range {@code i}, a page boundary. */
    long end(int i) {
        return ends[i];
    }
}
