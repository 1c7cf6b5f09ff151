package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Semaphore;

/**
 * Cold against warm (issue 16, docs/performance.md §13, "On a faster disk"): the requests of
 * {@code benchmarks/compare}'s allocating write-through rows (4 KiB writes 64 KiB apart, so each
 * takes a new cluster, {@code DEPTH} in flight through {@code writeAsync}) written into
 * {@code IMAGES} fresh 1 TiB images one after the other in one JVM. The first image is what a
 * fresh {@code qed bench} process measures; the later ones run on code the JIT has compiled.
 * Prints writes per second for each image, and the mean microseconds per write (issue to
 * completion) of each 500 writes in turn.
 *
 * <p>Usage: {@code FreshImageWrites WRITES DEPTH IMAGES DIR}.
 */
public final class FreshImageWrites {
    private FreshImageWrites() {
    }

    public static void main(String[] args) throws Exception {
        int writes = Integer.parseInt(args[0]);
        int depth = Integer.parseInt(args[1]);
        int images = Integer.parseInt(args[2]);
        Path dir = Path.of(args[3]);
        MemorySegment buffer = Arena.global().allocate(4096);
        buffer.fill((byte) 0x5a);
        for (int image = 0; image < images; image++) {
            Path path = dir.resolve("fresh-" + image + ".qed");
            Files.deleteIfExists(path);
            QedImage.create(path, CreateOptions.ofSize(1L << 40));
            try (QedImage qed = QedImage.open(path, OpenOptions.READ_WRITE)) {
                Semaphore slots = new Semaphore(depth);
                StringBuilder each500 = new StringBuilder();
                long start = System.nanoTime();
                long sliceStart = start;
                for (int i = 0; i < writes; i++) {
                    slots.acquire();
                    qed.writeAsync((long) i * 65536, buffer, Durability.WRITE_THROUGH)
                            .whenComplete((ok, failed) -> slots.release());
                    if ((i + 1) % 500 == 0) {
                        long now = System.nanoTime();
                        each500.append(String.format(" %.0f", (now - sliceStart) / 1e3 / 500));
                        sliceStart = now;
                    }
                }
                slots.acquire(depth);
                System.out.printf("image %d: %.0f writes/s; µs a write, each 500:%s%n", image + 1,
                        writes / ((System.nanoTime() - start) / 1e9), each500);
            }
            Files.delete(path);
        }
    }
}
