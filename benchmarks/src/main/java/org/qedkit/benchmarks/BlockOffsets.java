package org.qedkit.benchmarks;

import java.util.SplittableRandom;

/**
 * A fixed, seeded sequence of random block-aligned offsets, handed out round and round:
 * every way a benchmark compares gets the same offsets, and making one costs an array
 * read, not a random draw, inside the measured code.
 */
final class BlockOffsets {
    private static final int COUNT = 1 << 16;

    private final long[] offsets = new long[COUNT];
    private int next;

    /** {@code block}-aligned offsets of whole blocks inside {@code size} bytes. */
    BlockOffsets(long size, int block) {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < COUNT; i++) {
            offsets[i] = rnd.nextLong(size / block) * block;
        }
    }

    long next() {
        long off = offsets[next];
        next = (next + 1) & (COUNT - 1);
        return off;
    }
}
