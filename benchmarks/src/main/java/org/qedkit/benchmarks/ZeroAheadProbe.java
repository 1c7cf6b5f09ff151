package org.qedkit.benchmarks;

import com.sun.nio.file.ExtendedOpenOption;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Would space zeroed ahead of use make depth-1 write-through faster (issue 16, docs/performance.md
 * §13, "A fifth look")? A sync after a store into {@code fallocate}d space also converts the
 * unwritten extent there, a journal commit; into space holding written zeros it does not. One
 * thread stores 4 KiB 64 KiB apart into a mapping (advised {@code MADV_RANDOM}, as the engine's)
 * of a file reserved with {@code fallocate} and syncs after each store ({@code falloc}); the same after the whole range was written with zeros
 * through {@code O_DIRECT} before the clock ({@code prezeroed}: the ceiling); the same while a
 * second thread writes zeros through {@code O_DIRECT} in {@code CHUNK}-byte pieces (default 8 MiB)
 * ahead of the writer, at most two pieces or 16 MiB ahead ({@code zeroahead}: what an engine could do in the
 * background). Prints writes per second, and how often the writer found its space not yet zeroed
 * and waited.
 *
 * <p>Usage: {@code ZeroAheadProbe falloc|prezeroed|zeroahead WRITES FILE [CHUNK]}.
 */
public final class ZeroAheadProbe {
    private static final long SPACING = 64 * 1024;
    private static volatile long zeroedEnd;
    private static volatile long writerAt;

    private ZeroAheadProbe() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        int writes = Integer.parseInt(args[1]);
        Path file = Path.of(args[2]);
        int chunk = args.length > 3 ? Integer.parseInt(args[3]) : 8 << 20;
        long size = writes * SPACING + (64L << 20);
        Files.deleteIfExists(file);
        new ProcessBuilder("fallocate", "-l", Long.toString(size), file.toString()).inheritIO().start().waitFor();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
             FileChannel direct = FileChannel.open(file, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
             Arena arena = Arena.ofShared()) {
            ByteBuffer zeros = ByteBuffer.allocateDirect(chunk + 4096).alignedSlice(4096);
            zeroedEnd = 0;
            writerAt = 0;
            if (mode.equals("prezeroed")) {
                for (long at = 0; at < size; at += chunk) {
                    writeZeros(direct, zeros, chunk, at);
                }
                channel.force(false);
                zeroedEnd = size;
            } else if (mode.equals("zeroahead")) {
                long ahead = Math.max(16L << 20, 2L * chunk);
                Thread.ofPlatform().daemon().start(() -> {
                    try {
                        while (zeroedEnd < size) {
                            while (zeroedEnd > writerAt + ahead) {
                                Thread.sleep(0, 200_000);
                            }
                            long at = zeroedEnd;
                            writeZeros(direct, zeros, (int) Math.min(chunk, size - at), at);
                            zeroedEnd = at + chunk;
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
            } else if (!mode.equals("falloc")) {
                throw new IllegalArgumentException("mode: falloc, prezeroed or zeroahead");
            }
            MemorySegment map = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            RandomAdvice.adviseRandom(map);
            MemorySegment page = arena.allocate(4096, 4096);
            page.fill((byte) 0x5a);
            boolean waitForZeros = mode.equals("zeroahead");
            long waits = 0;
            long begin = System.nanoTime();
            for (int i = 0; i < writes; i++) {
                long at = i * SPACING;
                writerAt = at;
                if (waitForZeros && zeroedEnd < at + SPACING) {
                    waits++;
                    while (zeroedEnd < at + SPACING) {
                        Thread.onSpinWait();
                    }
                }
                MemorySegment.copy(page, 0, map, at, 4096);
                channel.force(false);
            }
            double seconds = (System.nanoTime() - begin) / 1e9;
            System.out.printf("%s: %.0f writes/s (%d writes, %.3f s; waited for zeros %d times)%n",
                    mode, writes / seconds, writes, seconds, waits);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void writeZeros(FileChannel direct, ByteBuffer zeros, int length, long at) throws java.io.IOException {
        zeros.clear().limit(length);
        while (zeros.hasRemaining()) {
            direct.write(zeros, at + zeros.position());
        }
    }
}
