package org.qedkit.benchmarks;

import org.HdrHistogram.Histogram;
import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What {@link OpenOptions#firstBlocksWrittenAhead()} trades, for a daemon that weighs it
 * (issue 16, docs/performance.md §13, "A tenth look"): one thread makes {@code WRITES}
 * write-through writes of 4 KiB, each into a new 64 KiB cluster of a fresh 1 TiB image,
 * through the synchronous {@code write}, with first blocks written ahead off and on in turn,
 * {@code ROUNDS} times. Every write is timed (HdrHistogram); prints writes per second and
 * the p50, p99, p99.9 and maximum latency of each run. The JVM is warmed by a first run of
 * each kind that is not printed.
 *
 * <p>Usage: {@code LoneWriterTail WRITES DIR ROUNDS}.
 */
public final class LoneWriterTail {
    private LoneWriterTail() {
    }

    public static void main(String[] args) throws Exception {
        int writes = Integer.parseInt(args[0]);
        Path image = Path.of(args[1]).resolve("lone-writer-tail.qed");
        int rounds = Integer.parseInt(args[2]);
        MemorySegment buffer = Arena.global().allocate(4096, 4096);
        buffer.fill((byte) 0x5a);
        for (int round = -1; round < rounds; round++) {
            for (boolean ahead : new boolean[] {false, true}) {
                String line = run(image, buffer, round < 0 ? Math.min(writes, 2000) : writes, ahead);
                if (round >= 0) {
                    System.out.println(line);
                }
            }
        }
    }

    private static String run(Path image, MemorySegment buffer, int writes, boolean ahead) throws Exception {
        Files.deleteIfExists(image);
        QedImage.create(image, CreateOptions.ofSize(1L << 40));
        Histogram latency = new Histogram(1, 60_000_000_000L, 3);
        OpenOptions options = OpenOptions.READ_WRITE.withFirstBlocksWrittenAhead(ahead);
        long start;
        long end;
        try (QedImage qed = QedImage.open(image, options)) {
            start = System.nanoTime();
            for (int i = 0; i < writes; i++) {
                long began = System.nanoTime();
                qed.write((long) i * 65536, buffer, Durability.WRITE_THROUGH);
                latency.recordValue(System.nanoTime() - began);
            }
            end = System.nanoTime();
        } finally {
            Files.deleteIfExists(image);
        }
        return String.format(Locale.ROOT, "first blocks ahead %-5s %6.0f writes/s  p50 %5.0f us  p99 %5.0f us  p99.9 %6.0f us  max %6.0f us",
                ahead ? "on:" : "off:", writes / ((end - start) / 1e9), latency.getValueAtPercentile(50) / 1e3,
                latency.getValueAtPercentile(99) / 1e3, latency.getValueAtPercentile(99.9) / 1e3, latency.getMaxValue() / 1e3);
    }
}
