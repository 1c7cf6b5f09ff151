package org.qedkit.benchmarks;

import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A question asked outside the engine (issue 16, docs/performance.md §13, "Space written
 * ahead with zeros, again"): how long does {@code fdatasync} take after one 4 KiB store
 * through a mapping into space that {@code fallocate} reserved (an unwritten extent, converted
 * at that sync), against space already written with zeros (and synced) before the clock
 * starts? Each mode stores {@code WRITES} pages 64 KiB apart, each followed by a sync; modes
 * ending in {@code -table} also store 8 bytes into an already written page, as an L2 update
 * does. Prints writes per second and the mean sync time.
 *
 * <p>Usage: {@code ZeroedSpaceProbe WRITES DIR MODE[,MODE…] ROUNDS}, modes {@code falloc},
 * {@code falloc-table}, {@code zero}, {@code zero-table}.
 */
public final class ZeroedSpaceProbe {
    private static final int SPACING = 64 * 1024;

    private ZeroedSpaceProbe() {
    }

    public static void main(String[] args) throws Exception {
        int writes = Integer.parseInt(args[0]);
        Path dir = Path.of(args[1]);
        String[] modes = args[2].split(",");
        int rounds = Integer.parseInt(args[3]);
        for (int round = 0; round < rounds; round++) {
            for (String mode : modes) {
                Path file = dir.resolve("zeroed-space-probe-" + mode);
                Files.deleteIfExists(file);
                long size = (long) (writes + 1) * SPACING; // the first 64 KiB stand for the tables
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
                    channel.write(zeros.slice(0, SPACING), 0);
                    if (mode.startsWith("zero")) {
                        for (long at = SPACING; at < size; ) {
                            zeros.clear().limit((int) Math.min(zeros.capacity(), size - at));
                            at += channel.write(zeros, at);
                        }
                    } else {
                        Process p = new ProcessBuilder("fallocate", "-o", Integer.toString(SPACING), "-l",
                                Long.toString(size - SPACING), file.toString()).inheritIO().start();
                        if (p.waitFor() != 0) {
                            throw new IllegalStateException("fallocate failed on " + file);
                        }
                    }
                    channel.force(true);
                    MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_WRITE, 0, size);
                    boolean table = mode.endsWith("-table");
                    byte[] page = new byte[4096];
                    Arrays.fill(page, (byte) 7);
                    long syncNanos = 0;
                    long start = System.nanoTime();
                    for (int k = 0; k < writes; k++) {
                        map.put(SPACING + k * SPACING, page);
                        if (table) {
                            map.putLong((k * 8) % SPACING, k + 1);
                        }
                        long before = System.nanoTime();
                        channel.force(false);
                        syncNanos += System.nanoTime() - before;
                    }
                    double seconds = (System.nanoTime() - start) / 1e9;
                    System.out.printf("%-12s %6.0f writes/s  sync mean %4.0f us%n", mode, writes / seconds,
                            syncNanos / 1e3 / writes);
                }
                Files.delete(file);
            }
        }
    }
}
