package org.qedkit.stress;

import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The operations one worker thread of a crash run performs, generated from a seed so that
 * the child that runs them and the parent that verifies them agree without talking.
 *
 * <p>Worker {@code t} of {@code n} owns the guest bytes {@code [t·region, (t+1)·region)}
 * of the image, so workers never race on a byte and each byte's possible contents after a
 * crash follow from one worker's sequence alone.
 */
final class Workload {
    enum Kind { WRITE, ZERO, DISCARD, FLUSH, REOPEN }

    /**
     * Whether a write at guest {@code offset} hands the engine its bytes in native memory (as
     * the NBD server and {@code qed bench} do) rather than a heap array: half the 4 KiB
     * blocks each way, so that one image gets both. A durable write or an overwrite puts
     * native bytes in with {@code pwrite} straight from them, heap bytes through a native
     * buffer, in pieces (WritePlanner, "Data through the page cache"); the campaigns must
     * see both.
     */
    static boolean fromNativeMemory(long offset) {
        return ((offset >>> 12) & 1) == 0;
    }

    /** Writes {@code data} at {@code offset}, from native memory or the heap as {@link #fromNativeMemory} says. */
    static void write(QedImage image, long offset, byte[] data) throws IOException {
        if (fromNativeMemory(offset)) {
            try (Arena arena = Arena.ofConfined()) {
                image.write(offset, arena.allocateFrom(ValueLayout.JAVA_BYTE, data));
            }
        } else {
            image.write(offset, data);
        }
    }

    /**
     * One operation; {@code data} is derived from {@code dataSeed} on demand. For a discard,
     * {@code offset} and {@code length} are the whole clusters it frees (what the model
     * zeroes); the request itself reaches {@code headSlack} bytes before and
     * {@code tailSlack} after them, into partial clusters that it leaves as they are.
     */
    record Op(Kind kind, long offset, int length, long dataSeed, int headSlack, int tailSlack) {
        Op(Kind kind, long offset, int length, long dataSeed) {
            this(kind, offset, length, dataSeed, 0, 0);
        }

        byte[] data() {
            byte[] b = new byte[length];
            if (kind == Kind.WRITE) {
                new SplittableRandom(dataSeed).nextBytes(b);
            }
            return b;
        }

        /** True for the operations that change guest bytes (a discard reads as zeros). */
        boolean changesBytes() {
            return kind == Kind.WRITE || kind == Kind.ZERO || kind == Kind.DISCARD;
        }

        /** The discard's request: its first byte. */
        long requestOffset() {
            return offset - headSlack;
        }

        /** The discard's request: its length. */
        long requestLength() {
            return (long) headSlack + length + tailSlack;
        }
    }

    private final SplittableRandom random;
    private final long regionStart;
    private final long regionLength;
    private final int clusterSize;
    private static final int RECENT = 6;
    private final long[] recent = filled(); // offset and length of the last writes, newest first; -1: none

    private static long[] filled() {
        long[] r = new long[2 * RECENT];
        java.util.Arrays.fill(r, -1);
        return r;
    }

    Workload(long seed, int worker, long regionStart, long regionLength, int clusterSize) {
        this.random = new SplittableRandom(seed * 1_000_003L + worker);
        this.regionStart = regionStart;
        this.regionLength = regionLength;
        this.clusterSize = clusterSize;
    }

    Op next() {
        int roll = random.nextInt(100);
        Kind kind = roll < 60 ? Kind.WRITE : roll < 72 ? Kind.ZERO : roll < 85 ? Kind.DISCARD
                : roll < 98 ? Kind.FLUSH : Kind.REOPEN;
        if (kind == Kind.FLUSH || kind == Kind.REOPEN) {
            return new Op(kind, 0, 0, 0);
        }
        long offset;
        int length;
        if (random.nextBoolean()) { // cluster-aligned, whole clusters
            long clusters = regionLength / clusterSize;
            offset = regionStart + random.nextLong(clusters) * clusterSize;
            length = (int) Math.min(regionStart + regionLength - offset, (long) clusterSize * random.nextInt(1, 3));
        } else {
            offset = regionStart + random.nextLong(regionLength);
            length = (int) Math.min(regionStart + regionLength - offset, random.nextInt(1, 2 * clusterSize));
        }
        if (kind == Kind.DISCARD && recent[0] >= 0 && random.nextInt(4) != 0) {
            // Mostly what was written lately (else a discard would rarely meet data, and freed
            // clusters would rarely be reused): that range, or its clusters whole.
            int pick = random.nextInt(RECENT);
            long[] r = recent[pick * 2] >= 0 ? new long[] {recent[pick * 2], recent[pick * 2 + 1]}
                    : new long[] {recent[0], recent[1]};
            offset = r[0];
            length = (int) r[1];
            if (random.nextBoolean()) {
                long start = offset / clusterSize * clusterSize;
                long end = Math.min(regionStart + regionLength, (offset + length + clusterSize - 1) / clusterSize * clusterSize);
                offset = Math.max(regionStart, start);
                length = (int) (end - offset);
            }
        }
        if (kind == Kind.WRITE) {
            System.arraycopy(recent, 0, recent, 2, recent.length - 2);
            recent[0] = offset;
            recent[1] = length;
        }
        if (kind == Kind.DISCARD) {
            long first = Math.min(offset + length, (offset + clusterSize - 1) / clusterSize * clusterSize);
            long end = Math.max(first, (offset + length) / clusterSize * clusterSize);
            return new Op(kind, first, (int) (end - first), 0, (int) (first - offset), (int) (offset + length - end));
        }
        return new Op(kind, offset, length, random.nextLong());
    }
}
