package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * 4 KiB writes at random 4 KiB-aligned offsets of clusters that exist (a QED image
 * written in full), write-back, three ways over the same bytes: {@code qedkit}
 * ({@link QedImage#write}: a table lookup, no lock, one copy into the mapping),
 * {@code rawMmap} (one copy into a read-write mapping of a raw file: the ceiling) and
 * {@code fileChannel} (pwrite of the raw file from a direct buffer). Nothing is synced
 * here; {@link FlushBenchmark} adds the flush. The files and writes: {@link WritableTwins}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx1g"})
public class OverwriteBenchmark {

    @Benchmark
    public MemorySegment qedkit(WritableTwins t) throws IOException {
        t.qedkitWrite();
        return t.buffer;
    }

    @Benchmark
    public MemorySegment rawMmap(WritableTwins t) {
        t.rawMmapWrite();
        return t.buffer;
    }

    @Benchmark
    public ByteBuffer fileChannel(WritableTwins t) throws IOException {
        t.fileChannelWrite();
        return t.byteBuffer;
    }
}
