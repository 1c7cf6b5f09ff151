package org.qedkit.benchmarks;

import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
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
        Options options = new OptionsBuilder()
                .include(RandomReadBenchmark.class.getName())
                .param("sizeMiB", "8")
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(200))
                .shouldFailOnError(true)
                .build();
        Collection<RunResult> results = new Runner(options).run();
        assertThat(results).hasSize(3);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore()).as(r.getParams().getBenchmark()).isPositive();
        }
        Options allocating = new OptionsBuilder()
                .include(AllocatingWriteBenchmark.class.getName() + ".threads0[18]")
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(200))
                .shouldFailOnError(true)
                .build();
        results = new Runner(allocating).run();
        assertThat(results).hasSize(2);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore()).as(r.getParams().getBenchmark()).isPositive();
        }
        Options check = new OptionsBuilder()
                .include(CheckBenchmark.class.getName())
                .param("clusters", "2000")
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(200))
                .shouldFailOnError(true)
                .build();
        results = new Runner(check).run();
        assertThat(results).hasSize(1);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore()).as(r.getParams().getBenchmark()).isPositive();
        }
    }
}
