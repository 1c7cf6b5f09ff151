package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

import java.util.concurrent.TimeUnit;

/**
 * What every benchmark of the engine shares, said once (JMH reads its annotations from
 * superclasses, as its sample 24 shows): one fork with the engine's native access allowed,
 * JMH's own use of {@code sun.misc.Unsafe} allowed quietly, a 1 GiB heap, and throughput
 * in operations per second unless a benchmark says otherwise.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx1g"})
public abstract class EngineBenchmark {
}
