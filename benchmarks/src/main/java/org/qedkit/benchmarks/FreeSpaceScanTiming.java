package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Read-write open time, and how long the background scan takes to find the free space
 * earlier discards left, on a 1 TiB image (64 KiB clusters, 512 L2 tables) with 32,768
 * clusters written at random: once with every second one discarded (holes: the scan runs),
 * and, as the baseline in the same run, the same image without discards (no hole: no scan).
 * Five opens each. Usage: {@code FreeSpaceScanTiming DIR}.
 */
public final class FreeSpaceScanTiming {
    private static final int CLUSTER = 65536;
    private static final int WRITES = 32768;

    private FreeSpaceScanTiming() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Path plain = build(dir.resolve("no-discards.qed"), false);
        Path holes = build(dir.resolve("half-discarded.qed"), true);
        report("without discards (no scan)", plain, 0);
        report("half discarded (scan)", holes, (WRITES / 2 - 64L) * CLUSTER);
        Files.delete(plain);
        Files.delete(holes);
    }

    private static Path build(Path p, boolean discardHalf) throws IOException {
        Files.deleteIfExists(p);
        QedImage.create(p, CreateOptions.ofSize(1L << 40));
        byte[] block = new byte[CLUSTER];
        Arrays.fill(block, (byte) 7);
        Random random = new Random(14);
        long clusters = (1L << 40) / CLUSTER;
        List<Long> written = new ArrayList<>();
        try (QedImage image = QedImage.open(p)) {
            for (int i = 0; i < WRITES; i++) {
                long c = (long) (random.nextDouble() * clusters);
                image.write(c * CLUSTER, block);
                written.add(c);
            }
            image.flush();
            for (int i = 0; discardHalf && i < written.size(); i += 2) {
                image.discard(written.get(i) * CLUSTER, CLUSTER);
            }
        }
        return p;
    }

    /** Five opens: the open's time, then the time until {@code expectFree} bytes are found free. */
    private static void report(String what, Path p, long expectFree) throws IOException {
        System.out.printf("%s: file %d bytes%n", what, Files.size(p));
        for (int round = 0; round < 5; round++) {
            long t0 = System.nanoTime();
            try (QedImage image = QedImage.open(p)) {
                long t1 = System.nanoTime();
                while (image.freeBytes() < expectFree) {
                    Thread.onSpinWait();
                }
                long t2 = System.nanoTime();
                System.out.printf("  open %.3f ms, free space (%d bytes) found %.1f ms after it%n",
                        (t1 - t0) / 1e6, image.freeBytes(), (t2 - t1) / 1e6);
            }
        }
    }
}
