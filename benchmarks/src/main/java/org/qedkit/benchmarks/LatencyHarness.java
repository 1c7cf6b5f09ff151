package org.qedkit.benchmarks;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogWriter;
import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Tail latency, measured one operation at a time with HdrHistogram: 4 KiB random reads of
 * cached data by one reader thread while 0, 1, 4 and 16 writer threads allocate (4 KiB
 * write-through writes, one new cluster each), and the writers' own latencies. Every
 * operation is timed (no sampling, no coordinated-omission correction: each thread issues
 * its next operation when the last returns, and the table says so).
 *
 * <p>Each run gets a fresh image: 256 MiB of data written and flushed for the reader (so
 * reads hit mapped, cached clusters), and a 1 TiB guest for the writers to allocate in.
 * Histograms are saved in HdrHistogram's log format next to the printed table.
 *
 * <p>Usage: {@code LatencyHarness DIR OUT [SECONDS]}; the script is {@code benchmarks/latency}.
 */
public final class LatencyHarness {
    private static final int IO = 4096;
    private static final long READ_SPAN = 256L << 20;

    private LatencyHarness() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Path out = Files.createDirectories(Path.of(args[1]));
        int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        PrintStream table = new PrintStream(Files.newOutputStream(out.resolve("latency.md")), true, "UTF-8");
        String header = "| allocating writers | reads | read p50 µs | p99 µs | p99.9 µs | max µs | writes | write p50 µs | p99 µs | p99.9 µs | max µs |";
        String rule = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
        System.out.println(header);
        System.out.println(rule);
        table.println(header);
        table.println(rule);
        for (int writers : new int[]{0, 1, 4, 16}) {
            String row = run(dir, out, writers, seconds);
            System.out.println(row);
            table.println(row);
        }
    }

    static String run(Path dir, Path out, int writers, int seconds) throws Exception {
        Files.createDirectories(out);
        Path image = dir.resolve("latency.qed");
        Files.deleteIfExists(image);
        QedImage.create(image, CreateOptions.ofSize(1L << 40));
        Histogram reads = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        List<Histogram> writes = new ArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        try (QedImage img = QedImage.open(image, OpenOptions.READ_WRITE.withDurability(Durability.WRITE_THROUGH))) {
            byte[] fill = new byte[1 << 20];
            java.util.Arrays.fill(fill, (byte) 0x5a);
            for (long off = 0; off < READ_SPAN; off += fill.length) {
                img.write(off, fill, 0, fill.length);
            }
            img.flush();
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
                writes.add(h);
                long region = (1L << 30) + w * (16L << 30); // each writer its own 16 GiB, past the reader's data
                threads.add(Thread.ofPlatform().name("writer-" + w).start(() -> write(img, region, h, stop)));
            }
            Thread reader = Thread.ofPlatform().name("reader").start(() -> read(img, reads, stop));
            threads.add(reader);
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
        } finally {
            Files.deleteIfExists(image);
        }
        Histogram allWrites = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        writes.forEach(allWrites::add);
        save(out.resolve("read-" + writers + "-writers.hlog"), reads);
        if (writers > 0) {
            save(out.resolve("write-" + writers + "-writers.hlog"), allWrites);
        }
        return String.format(Locale.ROOT, "| %d | %d | %s | %d | %s |", writers, reads.getTotalCount(), percentiles(reads),
                allWrites.getTotalCount(), writers == 0 ? "– | – | – | –" : percentiles(allWrites));
    }

    private static void read(QedImage img, Histogram h, AtomicBoolean stop) {
        SplittableRandom rnd = new SplittableRandom(1);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(IO, IO);
            while (!stop.get()) {
                long off = rnd.nextLong(READ_SPAN / IO) * IO;
                long t0 = System.nanoTime();
                img.read(off, buffer);
                h.recordValue(System.nanoTime() - t0);
            }
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static void write(QedImage img, long region, Histogram h, AtomicBoolean stop) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(IO, IO);
            buffer.fill((byte) 0x33);
            for (long i = 0; !stop.get(); i++) {
                long t0 = System.nanoTime();
                img.write(region + i * 65536, buffer); // a new 64 KiB cluster each time
                h.recordValue(System.nanoTime() - t0);
            }
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static String percentiles(Histogram h) {
        return String.format(Locale.ROOT, "%.1f | %.1f | %.1f | %.1f", h.getValueAtPercentile(50) / 1e3,
                h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3);
    }

    private static void save(Path file, Histogram h) throws IOException {
        try (PrintStream ps = new PrintStream(Files.newOutputStream(file), true, "UTF-8")) {
            HistogramLogWriter writer = new HistogramLogWriter(ps);
            writer.outputLogFormatVersion();
            writer.outputLegend();
            writer.outputIntervalHistogram(h);
        }
    }
}
