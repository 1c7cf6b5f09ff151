package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
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

/**
 * 1 MiB reads front to back (wrapping at the end) of data in the page cache, three ways
 * over the same bytes: {@code qedkit} ({@link QedImage#read} of a QED image written in
 * full: a table lookup per cluster, sixteen at the default 64 KiB, then one copy each),
 * {@code rawMmap} (one copy out of a plain mapping of a raw file: the ceiling) and
 * {@code fileChannel} (pread of the raw file into a direct buffer). One buffer each,
 * allocated once; ops/s times 1 MiB is the bandwidth.
 */
@State(Scope.Thread)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class SequentialReadBenchmark extends EngineBenchmark {
    private static final int BLOCK = 1 << 20;

    /** Guest size in MiB; small enough to stay in the page cache on any machine. */
    @Param("256")
    public int sizeMiB;

    private TwinFiles files;
    private QedImage image;
    private RawMapping raw;
    private MemorySegment buffer;
    private ByteBuffer byteBuffer;
    private long size;
    private long next;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        size = (long) sizeMiB << 20;
        files = TwinFiles.create(size, "default");
        image = QedImage.open(files.qed(), OpenOptions.READ_ONLY);
        raw = RawMapping.open(files.raw(), size, false);
        buffer = Arena.ofAuto().allocate(BLOCK, 4096);
        byteBuffer = ByteBuffer.allocateDirect(BLOCK);
        for (long off = 0; off < size; off += BLOCK) { // into the page cache and the mappings
            image.read(off, buffer);
            MemorySegment.copy(raw.map, off, buffer, 0, BLOCK);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        image.close();
        raw.close();
        files.delete();
    }

    private long nextOffset() {
        long off = next;
        next = off + BLOCK == size ? 0 : off + BLOCK;
        return off;
    }

    @Benchmark
    public MemorySegment qedkit() throws IOException {
        image.read(nextOffset(), buffer);
        return buffer;
    }

    @Benchmark
    public MemorySegment rawMmap() {
        MemorySegment.copy(raw.map, nextOffset(), buffer, 0, BLOCK);
        return buffer;
    }

    @Benchmark
    public ByteBuffer fileChannel() throws IOException {
        byteBuffer.clear();
        long off = nextOffset();
        while (byteBuffer.hasRemaining()) {
            raw.channel.read(byteBuffer, off + byteBuffer.position());
        }
        return byteBuffer;
    }
}
