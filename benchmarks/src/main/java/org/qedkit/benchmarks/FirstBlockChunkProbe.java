package org.qedkit.benchmarks;

import org.HdrHistogram.Histogram;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * A question asked outside the engine (issue 16, docs/performance.md §13, "A tenth look"):
 * a lone write-through writer stores 4 KiB into a new 64 KiB cluster of {@code fallocate}d
 * space, one 8-byte table store, then a sync, over and over. How do its rate and its
 * latency percentiles change with the size of the chunks in which the first block of the
 * clusters ahead of it is written with zeros (as {@code ClusterAllocator} does, "First blocks
 * written ahead")? With a chunk of {@code C} clusters, every {@code C}-th write first stores
 * zeros into the first 4 KiB of the {@code C} clusters that begin {@code C} clusters ahead
 * (at the start, of the first {@code 2C}), so that the writer's next sync writes them and
 * converts their extents along with its own page; {@code 0} writes nothing ahead. Each chunk
 * size gets a fresh file in every round, the sizes in turn within a round; every write is
 * timed (HdrHistogram), store to the end of its sync.
 *
 * <p>Usage: {@code FirstBlockChunkProbe WRITES DIR CHUNK[,CHUNK…] ROUNDS}, for example
 * {@code FirstBlockChunkProbe 5000 /tmp 0,1,2,4,8,16 3}.
 */
public final class FirstBlockChunkProbe {
    private static final int CLUSTER = 64 * 1024;
    private static final int BLOCK = 4096;

    private FirstBlockChunkProbe() {
    }

    public static void main(String[] args) throws Exception {
        int writes = Integer.parseInt(args[0]);
        Path dir = Path.of(args[1]);
        String[] chunks = args[2].split(",");
        int rounds = Integer.parseInt(args[3]);
        for (int round = 0; round < rounds; round++) {
            for (String chunk : chunks) {
                Path file = dir.resolve("first-block-chunk-probe");
                Files.deleteIfExists(file);
                try {
                    probe(writes, Integer.parseInt(chunk), file);
                } finally {
                    Files.deleteIfExists(file);
                }
            }
        }
    }

    private static void probe(int writes, int chunk, Path file) throws Exception {
        // The first cluster stands for the tables, written once before the clock; the data follows.
        long size = CLUSTER + (long) (writes + 2 * chunk) * CLUSTER;
        Process p = new ProcessBuilder("fallocate", "-l", Long.toString(size), file.toString()).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("fallocate failed on " + file);
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
             Arena arena = Arena.ofShared()) {
            MemorySegment map = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            RandomAdvice.adviseRandom(map);
            map.asSlice(0, BLOCK).fill((byte) 0);
            channel.force(true);
            MemorySegment page = arena.allocate(BLOCK, BLOCK);
            page.fill((byte) 7);
            Histogram latency = new Histogram(1, 10_000_000_000L, 3);
            long start = System.nanoTime();
            for (int k = 0; k < writes; k++) {
                long began = System.nanoTime();
                if (chunk > 0 && k % chunk == 0) {
                    for (int c = k == 0 ? 0 : k + chunk; c < k + 2 * chunk; c++) {
                        map.asSlice(CLUSTER + (long) c * CLUSTER, BLOCK).fill((byte) 0);
                    }
                }
                MemorySegment.copy(page, 0, map, CLUSTER + (long) k * CLUSTER, BLOCK);
                map.set(ValueLayout.JAVA_LONG_UNALIGNED, (k * 8L) % BLOCK, k + 1);
                channel.force(false);
                latency.recordValue(System.nanoTime() - began);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(Locale.ROOT, "chunk %2d: %6.0f writes/s  p50 %5.0f us  p99 %5.0f us  p99.9 %5.0f us%n",
                    chunk, writes / seconds, latency.getValueAtPercentile(50) / 1e3,
                    latency.getValueAtPercentile(99) / 1e3, latency.getValueAtPercentile(99.9) / 1e3);
        }
    }
}
