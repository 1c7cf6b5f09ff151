package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * {@code writes} 4 KiB overwrites at random offsets of existing clusters, then a flush,
 * as one operation, three ways over the same bytes: {@code qedkit} (write-back writes,
 * then {@link QedImage#flush}: one {@code fdatasync} on the commit thread, as nothing new
 * is allocated), {@code rawMmap} (copies into a mapping of a raw file, then
 * {@link FileChannel#force force(false)}, i.e. {@code fdatasync}, which also writes back
 * the mapping's dirty pages) and {@code fileChannel} (pwrites, then {@code force(false)}).
 * The files live in the temp directory, which must be on the disk under test for the syncs
 * to mean anything (on the machine of docs/performance.md it is ext4 on the disk). The
 * files and writes: {@link WritableTwins}.
 */
@State(Scope.Thread)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class FlushBenchmark extends EngineBenchmark {

    /** Overwrites per flush. */
    @Param({"1", "16", "256"})
    public int writes;

    @Benchmark
    public MemorySegment qedkit(WritableTwins t) throws IOException {
        for (int i = 0; i < writes; i++) {
            t.qedkitWrite();
        }
        t.image.flush();
        return t.buffer;
    }

    @Benchmark
    public MemorySegment rawMmap(WritableTwins t) throws IOException {
        for (int i = 0; i < writes; i++) {
            t.rawMmapWrite();
        }
        t.raw.channel.force(false);
        return t.buffer;
    }

    @Benchmark
    public ByteBuffer fileChannel(WritableTwins t) throws IOException {
        for (int i = 0; i < writes; i++) {
            t.fileChannelWrite();
        }
        t.raw.channel.force(false);
        return t.byteBuffer;
    }
}
