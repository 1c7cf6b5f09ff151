package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * 4 KiB writes at random 4 KiB-aligned offsets of clusters that exist (a QED image
 * written in full), write-back, three ways over the same bytes: {@code qedkit}
 * ({@link QedImage#write}: a table lookup, no lock, one copy into the mapping),
 * {@code rawMmap} (one copy into a read-write mapping of a raw file: the ceiling) and
 * {@code fileChannel} (pwrite of the raw file from a direct buffer). Nothing is synced
 * here; {@link FlushBenchmark} adds the flush.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx1g"})
public class OverwriteBenchmark {
    private static final int BLOCK = 4096;

    /** Guest size in MiB. */
    @Param("256")
    public int sizeMiB;

    private TwinFiles files;
    private QedImage image;
    private RawMapping raw;
    private MemorySegment buffer;
    private ByteBuffer byteBuffer;
    private BlockOffsets offsets;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        long size = (long) sizeMiB << 20;
        files = TwinFiles.create(size, "default");
        image = QedImage.open(files.qed(), OpenOptions.READ_WRITE);
        raw = RawMapping.open(files.raw(), size, true);
        buffer = Arena.ofAuto().allocate(BLOCK, BLOCK);
        buffer.fill((byte) 0x5a);
        byteBuffer = ByteBuffer.allocateDirect(BLOCK);
        offsets = new BlockOffsets(size, BLOCK);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        image.close();
        raw.close();
        files.delete();
    }

    private long nextOffset() {
        return offsets.next();
    }

    @Benchmark
    public MemorySegment qedkit() throws IOException {
        image.write(nextOffset(), buffer);
        return buffer;
    }

    @Benchmark
    public MemorySegment rawMmap() {
        MemorySegment.copy(buffer, 0, raw.map, nextOffset(), BLOCK);
        return buffer;
    }

    @Benchmark
    public ByteBuffer fileChannel() throws IOException {
        byteBuffer.clear();
        raw.channel.write(byteBuffer, nextOffset());
        return byteBuffer;
    }
}
