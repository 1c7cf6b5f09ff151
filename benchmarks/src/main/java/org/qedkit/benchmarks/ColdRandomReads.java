package org.qedkit.benchmarks;

import org.qedkit.AccessPattern;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Random 4 KiB reads of an image that is not in the page cache, with one
 * {@link AccessPattern}: time per read and bytes the process made the kernel read from
 * disk ({@code read_bytes} in {@code /proc/self/io}), which shows the readahead the hint
 * allows. The caller empties the page cache first ({@code benchmarks/cold-reads} does).
 *
 * <p>Usage: {@code ColdRandomReads IMAGE PATTERN READS}.
 */
public final class ColdRandomReads {
    private ColdRandomReads() {
    }

    public static void main(String[] args) throws IOException {
        Path image = Path.of(args[0]);
        AccessPattern pattern = AccessPattern.valueOf(args[1]);
        int reads = Integer.parseInt(args[2]);
        try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY.withAccessPattern(pattern));
             Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(4096, 4096);
            SplittableRandom rnd = new SplittableRandom(1);
            long before = readBytes();
            long t0 = System.nanoTime();
            for (int i = 0; i < reads; i++) {
                img.read(rnd.nextLong(img.size() / 4096) * 4096, buffer);
            }
            long nanos = System.nanoTime() - t0;
            long disk = readBytes() - before;
            System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.1f |%n", pattern, reads, nanos / 1e3 / reads, disk / 1048576.0);
        }
    }

    private static long readBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
            if (line.startsWith("read_bytes:")) {
                return Long.parseLong(line.substring("read_bytes:".length()).strip());
            }
        }
        return -1;
    }
}
