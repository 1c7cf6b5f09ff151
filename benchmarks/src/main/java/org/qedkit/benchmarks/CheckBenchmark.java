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
import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * {@code qed check} (report only) of an image holding {@code clusters} allocated 4 KiB
 * clusters spread over a 64 GiB guest, tables in the page cache. The check reads the L1
 * table and every L2 table once, in order; the target is under a second for 100,000
 * clusters. {@code benchmarks/check-speed} times {@code qemu-img check} on the same image.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
public class CheckBenchmark extends EngineBenchmark {
    @Param("100000")
    public int clusters;

    private Path dir;
    private Path image;

    @Setup(Level.Trial)
    public void build() throws IOException {
        dir = Files.createTempDirectory("qedkit-check");
        image = dir.resolve("check.qed");
        CheckImages.build(image, clusters);
        CheckResult r = QedImage.check(image, CheckMode.REPORT);
        if (!r.isClean() || r.allocatedClusters() != clusters) {
            throw new IllegalStateException("benchmark image is not what it should be: " + r);
        }
    }

    @TearDown(Level.Trial)
    public void remove() throws IOException {
        Files.deleteIfExists(image);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public CheckResult check() throws IOException {
        return QedImage.check(image, CheckMode.REPORT);
    }
}
