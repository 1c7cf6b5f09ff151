package org.qedkit.benchmarks;

import com.sun.nio.file.ExtendedOpenOption;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A question asked outside the engine (issue 16, docs/performance.md §13, "Space written
 * ahead with zeros, again" and "A fifth look"): how long does {@code fdatasync} take after one
 * 4 KiB store through a mapping into space that {@code fallocate} reserved (an unwritten
 * extent, converted at that sync), against space already holding written zeros? Each mode
 * stores {@code WRITES} pages 64 KiB apart into a mapping advised {@code MADV_RANDOM} (as the
 * engine advises the space it reserves), each store followed by a sync:
 * <ul>
 *   <li>{@code falloc}: the range reserved with {@code fallocate};</li>
 *   <li>{@code zero}: the range written with zeros through {@code O_DIRECT} and synced before
 *       the clock starts (on disk, not in the page cache, as zeroing ahead would leave it);</li>
 *   <li>{@code zero-ahead}: reserved with {@code fallocate}, while a second thread writes
 *       zeros through {@code O_DIRECT} in 8 MiB pieces ahead of the writer (at most two
 *       pieces or 16 MiB ahead; the writer waits where it catches up): what an engine could do
 *       in the background.</li>
 * </ul>
 * A mode with {@code -table} added also stores 8 bytes into an already written page before
 * each sync, as an L2 update does. Prints writes per second, the mean sync time, and for
 * {@code zero-ahead} how often the writer waited for zeros.
 *
 * <p>Usage: {@code ZeroedSpaceProbe WRITES DIR MODE[,MODE…] ROUNDS}.
 *
 * <p>Its first version (2026-12-07, first session) wrote the zeros through the page cache and
 * mapped without {@code MADV_RANDOM}; §13 quotes its figures as such.
 */
public final class ZeroedSpaceProbe {
    private static final int SPACING = 64 * 1024;
    private static final int ZERO_PIECE = 8 << 20;

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
                try {
                    probe(mode, writes, file);
                } finally {
                    Files.deleteIfExists(file);
                }
            }
        }
    }

    private static void probe(String mode, int writes, Path file) throws Exception {
        String space = mode.endsWith("-table") ? mode.substring(0, mode.length() - "-table".length()) : mode;
        boolean table = !space.equals(mode);
        // The first 64 KiB stand for the tables; the rest, rounded up to whole zeroing pieces, for the data.
        long dataBytes = ((long) writes * SPACING + ZERO_PIECE - 1) / ZERO_PIECE * ZERO_PIECE;
        long size = SPACING + dataBytes;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
             FileChannel direct = FileChannel.open(file, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
             Arena arena = Arena.ofShared()) {
            ByteBuffer zeros = ByteBuffer.allocateDirect(ZERO_PIECE + 4096).alignedSlice(4096);
            channel.write(zeros.slice(0, SPACING), 0);
            switch (space) {
                case "zero" -> {
                    for (long at = SPACING; at < size; at += ZERO_PIECE) {
                        writeZeros(direct, zeros, at);
                    }
                }
                case "falloc", "zero-ahead" -> {
                    Process p = new ProcessBuilder("fallocate", "-o", Integer.toString(SPACING), "-l",
                            Long.toString(dataBytes), file.toString()).inheritIO().start();
                    if (p.waitFor() != 0) {
                        throw new IllegalStateException("fallocate failed on " + file);
                    }
                }
                default -> throw new IllegalArgumentException("mode: falloc, zero or zero-ahead, each with -table or not");
            }
            channel.force(true);
            MemorySegment map = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            RandomAdvice.adviseRandom(map);
            MemorySegment page = arena.allocate(4096, 4096);
            page.fill((byte) 7);
            ZeroingAhead ahead = space.equals("zero-ahead") ? new ZeroingAhead(direct, zeros, SPACING, size) : null;
            long waits = 0;
            long syncNanos = 0;
            long start = System.nanoTime();
            for (int k = 0; k < writes; k++) {
                long at = SPACING + (long) k * SPACING;
                if (ahead != null && ahead.awaitZeroed(at, at + SPACING)) {
                    waits++;
                }
                MemorySegment.copy(page, 0, map, at, 4096);
                if (table) {
                    map.set(ValueLayout.JAVA_LONG_UNALIGNED, (k * 8L) % SPACING, k + 1);
                }
                long before = System.nanoTime();
                channel.force(false);
                syncNanos += System.nanoTime() - before;
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("%-16s %6.0f writes/s  sync mean %4.0f us%s%n", mode, writes / seconds,
                    syncNanos / 1e3 / writes, ahead == null ? "" : "  waited for zeros " + waits + " times");
        }
    }

    private static void writeZeros(FileChannel channel, ByteBuffer zeros, long at) throws IOException {
        zeros.clear().limit(ZERO_PIECE);
        while (zeros.hasRemaining()) {
            channel.write(zeros, at + zeros.position());
        }
    }

    /** The second thread of {@code zero-ahead}: zeros through {@code O_DIRECT}, ahead of the writer. */
    private static final class ZeroingAhead {
        private volatile long zeroedEnd;
        private volatile long writerAt;
        private volatile Exception failure; // the zeroing thread's, ends the writer's wait

        ZeroingAhead(FileChannel direct, ByteBuffer zeros, long from, long to) {
            this.zeroedEnd = from;
            this.writerAt = from;
            long lead = Math.max(16L << 20, 2L * ZERO_PIECE);
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (zeroedEnd < to) {
                        while (zeroedEnd > writerAt + lead) {
                            Thread.sleep(0, 200_000);
                        }
                        long at = zeroedEnd;
                        writeZeros(direct, zeros, at);
                        zeroedEnd = at + ZERO_PIECE;
                    }
                } catch (IOException | InterruptedException e) {
                    failure = e;
                }
            });
        }

        /** Waits until {@code [from, to)} holds zeros; true when it had to wait. */
        boolean awaitZeroed(long from, long to) throws IOException {
            writerAt = from;
            if (zeroedEnd >= to) {
                return false;
            }
            while (zeroedEnd < to) {
                if (failure != null) {
                    throw new IOException("zeroing ahead failed", failure);
                }
                Thread.onSpinWait();
            }
            return true;
        }
    }
}
