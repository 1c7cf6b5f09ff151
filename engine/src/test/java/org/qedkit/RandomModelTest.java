package org.qedkit;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Property: whatever sequence of writes, zero-writes, reads, flushes and reopens runs at
 * whatever offsets and lengths, the image reads back exactly what a plain byte array
 * given the same operations holds.
 *
 * <p>Each case is one seed; the seed decides the geometry and every operation, so a
 * failure names its seed and replays exactly with {@code -Dqedkit.model.seed=N}. More
 * cases: {@code -Dqedkit.model.cases=N}.
 */
class RandomModelTest {
    private static final int[][] GEOMETRIES = {
            {4096, 1}, {4096, 2}, {8192, 1}, {65536, 4}, {16384, 16}};

    @TempDir
    Path dir;

    static LongStream seeds() {
        String one = System.getProperty("qedkit.model.seed");
        if (one != null) {
            return LongStream.of(Long.parseLong(one));
        }
        int cases = Integer.getInteger("qedkit.model.cases", 60);
        return new SplittableRandom(0x9ed).longs(cases);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void imageMatchesAByteArrayModel(long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] geometry = GEOMETRIES[rnd.nextInt(GEOMETRIES.length)];
        int cs = geometry[0];
        int ts = geometry[1];
        long perL2 = (long) ts * cs / 8 * cs;
        // Span two or three L2 tables where that stays small, and end on an odd sector.
        long size = Math.min(perL2 * 2 + rnd.nextInt(1, 64) * 512L, 8L << 20);
        byte[] model = new byte[(int) size];
        Path p = dir.resolve("model.qed");
        QedImage.create(p, CreateOptions.ofSize(size).withClusterSize(cs).withTableSize(ts));

        QedImage image = QedImage.open(p);
        try {
            int ops = rnd.nextInt(20, 60);
            for (int i = 0; i < ops; i++) {
                int kind = rnd.nextInt(100);
                long off = randomOffset(rnd, size, cs);
                int len = (int) Math.min(size - off, rnd.nextInt(1, 3 * cs));
                String where = "seed " + seed + " op " + i + " at " + off + "+" + len;
                if (kind < 45) {
                    byte[] data = new byte[len];
                    rnd.nextBytes(data);
                    image.write(off, data);
                    System.arraycopy(data, 0, model, (int) off, len);
                } else if (kind < 60) {
                    if (rnd.nextBoolean()) { // whole aligned clusters
                        off -= off % cs;
                        len = (int) Math.min(size - off, (long) cs * rnd.nextInt(1, 4));
                    }
                    image.writeZeroes(off, len);
                    java.util.Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
                } else if (kind < 90) {
                    byte[] back = new byte[len];
                    image.read(off, back);
                    assertThat(back).as(where).isEqualTo(java.util.Arrays.copyOfRange(model, (int) off, (int) off + len));
                } else if (kind < 95) {
                    image.flush();
                } else {
                    image.close();
                    image = QedImage.open(p, rnd.nextInt(4) == 0 ? OpenOptions.READ_ONLY : OpenOptions.READ_WRITE);
                    if (image.isReadOnly()) {
                        assertWhole(image, model, "seed " + seed + " read-only reopen at op " + i);
                        image.close();
                        image = QedImage.open(p);
                    }
                }
            }
        } finally {
            image.close();
        }
        try (QedImage reopened = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertWhole(reopened, model, "seed " + seed + " final");
        }
    }

    /** Offsets cluster near the interesting places: cluster edges, table edges, the end. */
    private static long randomOffset(SplittableRandom rnd, long size, int cs) {
        return switch (rnd.nextInt(4)) {
            case 0 -> rnd.nextLong(size);
            case 1 -> Math.max(0, Math.min(size - 1, (rnd.nextLong(size / cs + 1) * cs) + rnd.nextInt(-8, 8)));
            case 2 -> Math.max(0, size - rnd.nextInt(1, 2 * cs));
            default -> rnd.nextLong(size) & ~511L;
        };
    }

    private static void assertWhole(QedImage image, byte[] model, String where) throws IOException {
        byte[] all = new byte[model.length];
        image.read(0, all);
        int diff = java.util.Arrays.mismatch(all, model);
        assertThat(diff).as(where + ": first difference at byte " + diff).isEqualTo(-1);
    }
}
