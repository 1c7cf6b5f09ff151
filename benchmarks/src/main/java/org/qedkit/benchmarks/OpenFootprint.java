package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
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
 * What opening and reading a big image costs in memory: the process's resident set from
 * {@code /proc/self/status}, anonymous (heap, the engine's own memory) and file-backed
 * (pages of the image mapped in) apart, before the open, after it, and after 100,000
 * random 4 KiB reads across 1 GiB of data in a 1 TiB guest. Also the open's wall time,
 * first (cold JVM) and as the median of 20 more. Tables are read through the mapping, so
 * anonymous memory should not grow with the image; the one thing the engine keeps per
 * table is the L2 cache's record, so the live heap after the same reads is measured with
 * the cache (the default) and without it ({@code withL2CacheTables(0)}), each after a
 * full GC with the image still open.
 *
 * <p>Usage: {@code OpenFootprint DIR} (script: {@code benchmarks/open-footprint}).
 */
public final class OpenFootprint {
    private OpenFootprint() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Path image = dir.resolve("footprint.qed");
        long guest = 1L << 40;
        long data = 1L << 30;
        QedImage.create(image, CreateOptions.ofSize(guest));
        byte[] chunk = new byte[1 << 20];
        java.util.Arrays.fill(chunk, (byte) 0x5a);
        long stride = guest / (data >> 20);
        try (QedImage img = QedImage.open(image)) {
            for (long i = 0; i < data >> 20; i++) {
                img.write(i * stride, chunk);
            }
        }
        System.gc();
        long[] before = rss();
        long t0 = System.nanoTime();
        QedImage img = QedImage.open(image, OpenOptions.READ_ONLY);
        long firstOpen = System.nanoTime() - t0;
        long[] opened = rss();
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(4096);
            for (int i = 0; i < 100_000; i++) {
                long mib = rnd.nextLong(data >> 20);
                img.read(mib * stride + rnd.nextLong(256) * 4096, buffer);
            }
        }
        long[] read = rss();
        long heapWithCache = liveHeapAfterGc();
        img.close();
        long heapWithoutCache;
        try (QedImage plain = QedImage.open(image, OpenOptions.READ_ONLY.withL2CacheTables(0));
             Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(4096);
            SplittableRandom again = new SplittableRandom(7);
            for (int i = 0; i < 100_000; i++) {
                long mib = again.nextLong(data >> 20);
                plain.read(mib * stride + again.nextLong(256) * 4096, buffer);
            }
            heapWithoutCache = liveHeapAfterGc();
        }
        long[] opens = new long[21];
        for (int i = 0; i < opens.length; i++) {
            long s = System.nanoTime();
            try (QedImage again = QedImage.open(image, OpenOptions.READ_ONLY)) {
                again.size();
            }
            opens[i] = System.nanoTime() - s;
        }
        java.util.Arrays.sort(opens);
        Files.delete(image);
        System.out.println("| moment | RSS anonymous MiB | RSS file-backed MiB |");
        System.out.println("|---|---:|---:|");
        row("before the open", before);
        row("after opening a 1 TiB image holding 1 GiB", opened);
        row("after 100,000 random 4 KiB reads over that 1 GiB", read);
        System.out.printf(Locale.ROOT, "%nlive heap after the reads, image open: %.1f KiB with the L2 cache (%d tables at most), "
                        + "%.1f KiB without; the cache holds %.1f KiB for the %d tables the reads touched%n",
                heapWithCache / 1024.0, OpenOptions.DEFAULT_L2_CACHE_TABLES, heapWithoutCache / 1024.0,
                (heapWithCache - heapWithoutCache) / 1024.0, (guest / (2L << 30)));
        System.out.printf(Locale.ROOT, "%nopen (read-only) of the 1 TiB image: first %.2f ms (cold JVM), then median %.3f ms of %d%n",
                firstOpen / 1e6, opens[opens.length / 2] / 1e6, opens.length);
    }

    private static void row(String what, long[] kib) {
        System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f |%n", what, kib[0] / 1024.0, kib[1] / 1024.0);
    }

    /** Bytes of heap in use after a full collection (System.gc runs one with G1's defaults). */
    private static long liveHeapAfterGc() {
        Runtime rt = Runtime.getRuntime();
        System.gc();
        System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }

    /** RssAnon and RssFile in KiB. */
    private static long[] rss() throws IOException {
        long anon = 0;
        long file = 0;
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("RssAnon:")) {
                anon = Long.parseLong(line.replaceAll("\\D", ""));
            } else if (line.startsWith("RssFile:")) {
                file = Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return new long[]{anon, file};
    }
}
