package org.qedkit.testing;

import java.util.Arrays;

/** Small helpers for building and comparing test data. */
public final class Bytes {
    private Bytes() {
    }

    /** {@code length} bytes of the value {@code pattern}, as qemu-io's {@code -P} writes them. */
    public static byte[] pattern(int pattern, int length) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) pattern);
        return b;
    }

    /** Deterministic, non-repeating-looking bytes for a given seed. */
    public static byte[] random(long seed, int length) {
        byte[] b = new byte[length];
        new java.util.SplittableRandom(seed).nextBytes(b);
        return b;
    }

    /** Index of the first difference between two equal-length arrays, or -1. */
    public static int firstDifference(byte[] a, byte[] b) {
        return Arrays.mismatch(a, b);
    }
}
