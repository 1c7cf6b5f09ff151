package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * 4 KiB reads at random offsets of committed data on an image opened read-write: the path a
 * storage daemon's reads take. Unlike {@link RandomReadBenchmark} (a read-only image), every
 * read here runs in the engine's epoch section, which a read-only image does not need (its
 * clusters are never freed under a read). Uses the public API only, so
 * {@code benchmarks/before-after} can run it against revisions older than itself.
 */
@State(Scope.Thread)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class WritableReadBenchmark extends EngineBenchmark {
    private static final int CLUSTER = 64 * 1024;
    private static final int BLOCK = 4096;
    private static final long SIZE = 256L << 20;
    private static final int OFFSETS = 1 << 16;

    private Path dir;
    private QedImage image;
    private final byte[] buffer = new byte[BLOCK];
    private final long[] offsets = new long[OFFSETS];
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("qedkit-writable-read");
        Path path = dir.resolve("data.qed");
        QedImage.create(path, CreateOptions.ofSize(SIZE));
        image = QedImage.open(path, OpenOptions.READ_WRITE);
        byte[] cluster = new byte[CLUSTER];
        new SplittableRandom(1).nextBytes(cluster);
        for (long at = 0; at < SIZE; at += CLUSTER) {
            image.write(at, cluster);
        }
        image.flush(); // committed: reads find every entry in the mapped tables
        SplittableRandom random = new SplittableRandom(2);
        for (int i = 0; i < OFFSETS; i++) {
            offsets[i] = random.nextLong(SIZE / BLOCK) * BLOCK;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        image.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    @Benchmark
    public byte[] cachedRandomReads() throws IOException {
        next = (next + 1) & (OFFSETS - 1);
        image.read(offsets[next], buffer);
        return buffer;
    }
}
