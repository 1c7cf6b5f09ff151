package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The engine under raw mmap's own pattern (issue 16, docs/performance.md §13, "A fifth look"):
 * {@code THREADS} threads each make synchronous write-through writes ({@link QedImage#write}),
 * 4 KiB into a new cluster each, taking the next cluster from one shared counter, as
 * {@code RawMmapBench -d THREADS} takes the next slot, where {@code qed bench} keeps its depth
 * in flight from one thread. {@code IMAGES} fresh 1 TiB images are written in turn in one JVM
 * (the later ones on compiled code); prints writes per second for each.
 *
 * <p>Usage: {@code WriterThreads THREADS WRITES IMAGES DIR}.
 */
public final class WriterThreads {
    private WriterThreads() {
    }

    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        long writes = Long.parseLong(args[1]);
        int images = Integer.parseInt(args[2]);
        Path dir = Path.of(args[3]);
        for (int image = 0; image < images; image++) {
            Path path = dir.resolve("writer-threads-" + image + ".qed");
            Files.deleteIfExists(path);
            QedImage.create(path, CreateOptions.ofSize(1L << 40));
            try (QedImage qed = QedImage.open(path, OpenOptions.READ_WRITE.withDurability(Durability.WRITE_THROUGH))) {
                AtomicLong next = new AtomicLong();
                Thread[] writers = new Thread[threads];
                long begin = System.nanoTime();
                for (int t = 0; t < threads; t++) {
                    writers[t] = Thread.ofPlatform().start(() -> {
                        MemorySegment page = Arena.ofAuto().allocate(4096, 4096);
                        page.fill((byte) 0x5a);
                        try {
                            for (long i; (i = next.getAndIncrement()) < writes; ) {
                                qed.write(i * 65536, page);
                            }
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    });
                }
                for (Thread w : writers) {
                    w.join();
                }
                System.out.printf("image %d: %d threads, %.0f writes/s%n", image + 1, threads,
                        writes / ((System.nanoTime() - begin) / 1e9));
            }
            Files.delete(path);
        }
    }
}
