package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Open (and close) of an image holding {@code dataMiB} of data, for a 1 GiB and a 1 TiB
 * guest: the time must not depend on the guest size (an open reads the header and maps
 * the file; no table is read). Baseline in the same run: opening the file and mapping it
 * with {@code FileChannel}, the least any mmap engine must do. Read-only and read-write
 * opens are both measured (read-write also takes QEMU's locks for writing and starts the
 * commit thread; its close gives preallocated space back).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class OpenBenchmark extends EngineBenchmark {
    @Param({"1G", "1T"})
    public String guest;

    @Param("1024")
    public int dataMiB;

    private Path dir;
    private Path image;

    @Setup(Level.Trial)
    public void build() throws IOException {
        dir = Files.createTempDirectory("qedkit-open");
        image = dir.resolve("open.qed");
        long size = guest.equals("1T") ? 1L << 40 : 1L << 30;
        QedImage.create(image, CreateOptions.ofSize(size));
        byte[] chunk = new byte[1 << 20];
        java.util.Arrays.fill(chunk, (byte) 0x5a);
        try (QedImage img = QedImage.open(image)) {
            long stride = size / dataMiB; // data spread over the whole guest: many L2 tables on 1 TiB
            for (int i = 0; i < dataMiB; i++) {
                img.write(i * stride / (1 << 20) * (1 << 20), chunk);
            }
        }
    }

    @TearDown(Level.Trial)
    public void remove() throws IOException {
        Files.deleteIfExists(image);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public long openReadOnly() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY)) {
            return img.size();
        }
    }

    @Benchmark
    public long openReadWrite() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.READ_WRITE)) {
            return img.size();
        }
    }

    /** The floor: open the file and map its first GiB read-only, nothing else. */
    @Benchmark
    public long baselineFileChannelMap() throws IOException {
        try (FileChannel ch = FileChannel.open(image);
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, Math.min(ch.size(), 1L << 30), arena).byteSize();
        }
    }
}
