package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * 4 KiB writes that each need a new 64 KiB cluster (stride 64 KiB, as
 * {@code qemu-img bench -w -S 65536}), write-through: every write is durable when it
 * returns, data and table entries. With more writer threads the commit pipeline puts more
 * writes in each batch, so they share each {@code fdatasync}; this is what the thread
 * counts show. A fresh image is made for every iteration, so every write allocates.
 *
 * <p>The QEMU side of the comparison runs in {@code benchmarks/allocating-writes}, in the
 * same session.
 */
@State(Scope.Benchmark)
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 3)
public class AllocatingWriteBenchmark extends EngineBenchmark {
    private static final int CLUSTER = 64 * 1024;
    private static final int BLOCK = 4096;

    @Param("WRITE_THROUGH")
    public Durability durability;

    /** Where images go; JMH's -p dir=... puts them on the disk under test. */
    @Param("")
    public String dir;

    private Path workDir;
    private Path path;
    private QedImage image;
    private final AtomicLong next = new AtomicLong();

    /** Each writer thread's buffer, allocated once. */
    @State(Scope.Thread)
    public static class Buffer {
        final byte[] bytes = new byte[BLOCK];
    }

    @Setup(Level.Iteration)
    public void freshImage() throws IOException {
        workDir = dir.isEmpty() ? Files.createTempDirectory("qedkit-alloc") : Files.createTempDirectory(Path.of(dir), "qedkit-alloc");
        path = workDir.resolve("alloc.qed");
        QedImage.create(path, CreateOptions.ofSize(1L << 40)); // QEMU's defaults: 64 KiB clusters
        image = QedImage.open(path, OpenOptions.READ_WRITE.withDurability(durability));
        next.set(0);
    }

    @TearDown(Level.Iteration)
    public void dropImage() throws IOException {
        image.close();
        Files.deleteIfExists(path);
        Files.deleteIfExists(workDir);
    }

    private void writeNewCluster(Buffer b) throws IOException {
        image.write(next.getAndIncrement() * CLUSTER, b.bytes);
    }

    @Benchmark
    @Threads(1)
    public void threads01(Buffer b) throws IOException {
        writeNewCluster(b);
    }

    @Benchmark
    @Threads(2)
    public void threads02(Buffer b) throws IOException {
        writeNewCluster(b);
    }

    @Benchmark
    @Threads(8)
    public void threads08(Buffer b) throws IOException {
        writeNewCluster(b);
    }

    @Benchmark
    @Threads(32)
    public void threads32(Buffer b) throws IOException {
        writeNewCluster(b);
    }
}
