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
import java.time.Duration;

/**
 * 4 KiB reads of clusters that are not allocated, on a writable image while writes to other
 * clusters wait to be committed (a one-hour commit interval keeps them pending): every
 * read misses the mapped tables and must ask the engine's overlay of uncommitted entries.
 * The path a reader takes beside a busy writer; with {@code -prof gc} it shows whether that
 * path allocates. Half the image's clusters are pending, half unallocated; the reads go to
 * the unallocated half.
 */
@State(Scope.Thread)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class PendingReadBenchmark extends EngineBenchmark {
    private static final int CLUSTER = 64 * 1024;
    private static final int BLOCK = 4096;
    private static final int CLUSTERS = 1024;

    private Path dir;
    private QedImage image;
    private final byte[] buffer = new byte[BLOCK];
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("qedkit-pending");
        Path path = dir.resolve("pending.qed");
        QedImage.create(path, CreateOptions.ofSize((long) CLUSTERS * CLUSTER));
        image = QedImage.open(path, OpenOptions.READ_WRITE.withCommitInterval(Duration.ofHours(1)));
        for (int c = 0; c < CLUSTERS; c += 2) {
            image.write((long) c * CLUSTER, buffer); // pending until the interval or close
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
    public byte[] unallocatedWhileWritesPending() throws IOException {
        next = (next + 2) & (CLUSTERS - 1);
        image.read((long) (next + 1) * CLUSTER, buffer);
        return buffer;
    }
}
