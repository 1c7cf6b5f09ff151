package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * 4 KiB writes at random 4 KiB-aligned offsets of clusters that exist (a QED image
 * written in full), write-back, three ways over the same bytes: {@code qedkit}
 * ({@link QedImage#write}: a table lookup, no lock, one copy into the mapping),
 * {@code rawMmap} (one copy into a read-write mapping of a raw file: the ceiling) and
 * {@code fileChannel} (pwrite of the raw file from a direct buffer). Nothing is synced
 * here; {@link FlushBenchmark} adds the flush. The files and writes: {@link WritableTwins}.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class OverwriteBenchmark extends EngineBenchmark {

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
