package org.qedkit.benchmarks;

import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.Collection;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every benchmark builds and runs: one short iteration each, in this JVM, on a small image.
 * The numbers mean nothing here; full runs are {@code benchmarks/run} (docs/performance.md).
 */
class BenchmarkSmokeTest {

    @Test
    void everyBenchmarkRunsAndMeasuresSomething() throws RunnerException {
        assertRunsAndMeasures(RandomReadBenchmark.class.getName(), 4, "sizeMiB", "8", "layout", "small-tables");
        assertRunsAndMeasures(SequentialReadBenchmark.class.getName(), 3, "sizeMiB", "8");
        assertRunsAndMeasures(OverwriteBenchmark.class.getName(), 3, "sizeMiB", "8");
        assertRunsAndMeasures(FlushBenchmark.class.getName(), 3, "sizeMiB", "8", "writes", "16");
        assertRunsAndMeasures(AllocatingWriteBenchmark.class.getName() + ".threads0[18]", 2);
        assertRunsAndMeasures(CheckBenchmark.class.getName(), 1, "clusters", "2000");
        assertRunsAndMeasures(OpenBenchmark.class.getName(), 3, "guest", "1T", "dataMiB", "4");
        assertRunsAndMeasures(PendingReadBenchmark.class.getName(), 1);
    }

    @Test
    void theLatencyHarnessTimesReadsAndWritesAndSavesItsHistograms(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        String row = LatencyHarness.run(dir, dir.resolve("out"), 1, 1);
        String[] cells = row.split("\\|");
        assertThat(Long.parseLong(cells[2].strip())).as("reads in %s", row).isPositive();
        assertThat(Long.parseLong(cells[7].strip())).as("writes in %s", row).isPositive();
        assertThat(dir.resolve("out/read-1-writers.hlog")).isNotEmptyFile();
        assertThat(dir.resolve("out/write-1-writers.hlog")).isNotEmptyFile();
    }

    @Test
    void theRawMmapBaselineOfTheComparisonWritesAndReadsWhatItIsAsked(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Throwable {
        java.nio.file.Path raw = dir.resolve("raw.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(raw.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        double seconds = RawMmapBench.run(new String[]{"-c", "100", "-w", "-S", "65536", "-t", "writethrough", "-d", "4",
                raw.toString()});
        assertThat(seconds).isPositive();
        byte[] all = java.nio.file.Files.readAllBytes(raw);
        assertThat(all[99 * 65536]).as("the last request's first byte").isEqualTo((byte) 0x5a);
        assertThat(all[99 * 65536 + 4096]).as("past the request").isZero();
        assertThat(all[100 * 65536]).as("past the last request").isZero();
        assertThat(RawMmapBench.run(new String[]{"-c", "1000", "-d", "1", raw.toString()})).isPositive();
    }

    /** One short iteration of each benchmark matching {@code include}, in this JVM. */
    private static void assertRunsAndMeasures(String include, int benchmarks, String... params)
            throws RunnerException {
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(include)
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(200))
                .shouldFailOnError(true);
        for (int i = 0; i < params.length; i += 2) {
            options = options.param(params[i], params[i + 1]);
        }
        Collection<RunResult> results = new Runner(options.build()).run();
        assertThat(results).hasSize(benchmarks);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore()).as(r.getParams().getBenchmark()).isPositive();
        }
    }
}
