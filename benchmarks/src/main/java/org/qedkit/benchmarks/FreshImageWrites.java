package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Cold against warm (issue 16, docs/performance.md §13, "On a faster disk" and "A fifth look"):
 * the requests of {@code benchmarks/compare}'s allocating write-through rows (4 KiB writes
 * 64 KiB apart, so each takes a new cluster) written into {@code IMAGES} fresh 1 TiB images one
 * after the other in one JVM. The first image is what a fresh {@code qed bench} process
 * measures; the later ones run on code the JIT has compiled. {@code DEPTH} writes are in flight:
 * from one thread through {@code writeAsync}, as {@code qed bench} keeps them (at depth 1, as
 * {@code qed bench} makes them too, through the synchronous {@code write}), or with
 * {@code threads}, from {@code DEPTH} threads each making synchronous writes
 * ({@code write} with {@code WRITE_THROUGH}) and taking the next cluster from one shared counter, as
 * {@code RawMmapBench -d DEPTH} takes the next slot. Prints writes per second for each image,
 * and from one thread the mean microseconds per write (issue to completion) of each 500 writes
 * in turn.
 *
 * <p>Usage: {@code FreshImageWrites WRITES DEPTH IMAGES DIR [threads]}.
 */
public final class FreshImageWrites {
    private FreshImageWrites() {
    }

    public static void main(String[] args) throws Exception {
        int writes = Integer.parseInt(args[0]);
        int depth = Integer.parseInt(args[1]);
        int images = Integer.parseInt(args[2]);
        Path dir = Path.of(args[3]);
        boolean threads = args.length > 4 && args[4].equals("threads");
        MemorySegment buffer = Arena.global().allocate(4096);
        buffer.fill((byte) 0x5a);
        for (int image = 0; image < images; image++) {
            Path path = dir.resolve("fresh-" + image + ".qed");
            Files.deleteIfExists(path);
            QedImage.create(path, CreateOptions.ofSize(1L << 40));
            try (QedImage qed = QedImage.open(path, OpenOptions.READ_WRITE)) {
                long start = System.nanoTime();
                String detail = threads ? writeFromThreads(qed, buffer, writes, depth)
                        : writeFromOneThread(qed, buffer, writes, depth);
                System.out.printf("image %d: %.0f writes/s; %s%n", image + 1,
                        writes / ((System.nanoTime() - start) / 1e9), detail);
            }
            Files.delete(path);
        }
    }

    /**
     * {@code depth} writes in flight through {@code writeAsync} (at depth 1, {@code write});
     * returns the per-500 means.
     */
    private static String writeFromOneThread(QedImage qed, MemorySegment buffer, int writes, int depth)
            throws InterruptedException, IOException {
        Semaphore slots = new Semaphore(depth);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        StringBuilder each500 = new StringBuilder("µs a write, each 500:");
        long sliceStart = System.nanoTime();
        for (int i = 0; i < writes; i++) {
            if (depth == 1) {
                qed.write((long) i * 65536, buffer, Durability.WRITE_THROUGH);
            } else {
                slots.acquire();
                qed.writeAsync((long) i * 65536, buffer, Durability.WRITE_THROUGH)
                        .whenComplete((ok, failed) -> {
                            if (failed != null) {
                                failure.compareAndSet(null, failed);
                            }
                            slots.release();
                        });
            }
            if ((i + 1) % 500 == 0) {
                long now = System.nanoTime();
                each500.append(String.format(" %.0f", (now - sliceStart) / 1e3 / 500));
                sliceStart = now;
            }
        }
        slots.acquire(depth);
        throwIfFailed(failure);
        return each500.toString();
    }

    /** {@code depth} threads, each writing synchronously the next cluster the counter gives it. */
    private static String writeFromThreads(QedImage qed, MemorySegment buffer, int writes, int depth)
            throws InterruptedException, IOException {
        AtomicLong next = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] writers = new Thread[depth];
        for (int t = 0; t < depth; t++) {
            writers[t] = Thread.ofPlatform().start(() -> {
                try {
                    for (long i; (i = next.getAndIncrement()) < writes; ) {
                        qed.write(i * 65536, buffer, Durability.WRITE_THROUGH);
                    }
                } catch (IOException | RuntimeException e) {
                    failure.compareAndSet(null, e);
                }
            });
        }
        for (Thread w : writers) {
            w.join();
        }
        throwIfFailed(failure);
        return depth + " threads";
    }

    /** A write that failed fails the run: its rate would count writes that were not made. */
    private static void throwIfFailed(AtomicReference<Throwable> failure) throws IOException {
        Throwable t = failure.get();
        if (t != null) {
            throw new IOException("a write failed, so no rate is printed", t);
        }
    }
}
