package org.qedkit.stress;

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
    enum Kind { WRITE, ZERO, FLUSH, REOPEN }

    /** One operation; {@code data} is derived from {@code dataSeed} on demand. */
    record Op(Kind kind, long offset, int length, long dataSeed) {
        byte[] data() {
            byte[] b = new byte[length];
            if (kind == Kind.WRITE) {
                new SplittableRandom(dataSeed).nextBytes(b);
            }
            return b;
        }
    }

    private final SplittableRandom random;
    private final long regionStart;
    private final long regionLength;
    private final int clusterSize;

    Workload(long seed, int worker, long regionStart, long regionLength, int clusterSize) {
        this.random = new SplittableRandom(seed * 1_000_003L + worker);
        this.regionStart = regionStart;
        this.regionLength = regionLength;
        this.clusterSize = clusterSize;
    }

    Op next() {
        int roll = random.nextInt(100);
        Kind kind = roll < 70 ? Kind.WRITE : roll < 85 ? Kind.ZERO : roll < 98 ? Kind.FLUSH : Kind.REOPEN;
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
        return new Op(kind, offset, length, random.nextLong());
    }
}
