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
import java.nio.channels.FileChannel;
import java.util.concurrent.TimeUnit;

/**
 * {@code writes} 4 KiB overwrites at random offsets of existing clusters, then a flush,
 * as one operation, three ways over the same bytes: {@code qedkit} (write-back writes,
 * then {@link QedImage#flush}: one {@code fdatasync} on the commit thread, as nothing new
 * is allocated), {@code rawMmap} (copies into a mapping of a raw file, then
 * {@link FileChannel#force force(false)}, i.e. {@code fdatasync}, which also writes back
 * the mapping's dirty pages) and {@code fileChannel} (pwrites, then {@code force(false)}).
 * The files live in the temp directory, which must be on the disk under test for the syncs
 * to mean anything (on the machine of docs/performance.md it is ext4 on the disk).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx1g"})
public class FlushBenchmark {
    private static final int BLOCK = 4096;

    /** Overwrites per flush. */
    @Param({"1", "16", "256"})
    public int writes;

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
        image.flush();
        raw = RawMapping.open(files.raw(), size, true);
        raw.channel.force(false);
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
        for (int i = 0; i < writes; i++) {
            image.write(nextOffset(), buffer);
        }
        image.flush();
        return buffer;
    }

    @Benchmark
    public MemorySegment rawMmap() throws IOException {
        for (int i = 0; i < writes; i++) {
            MemorySegment.copy(buffer, 0, raw.map, nextOffset(), BLOCK);
        }
        raw.channel.force(false);
        return buffer;
    }

    @Benchmark
    public ByteBuffer fileChannel() throws IOException {
        for (int i = 0; i < writes; i++) {
            byteBuffer.clear();
            raw.channel.write(byteBuffer, nextOffset());
        }
        raw.channel.force(false);
        return byteBuffer;
    }
}
