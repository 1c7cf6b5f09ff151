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
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * 4 KiB reads at random 4 KiB-aligned offsets of data that is in the page cache, three
 * ways over the same bytes:
 * <ul>
 *   <li>{@code qedkit}: {@link QedImage#read} of a fully allocated QED image (table walk
 *       plus one copy out of the mapping);</li>
 *   <li>{@code rawMmap}: one copy out of a plain mapping of a raw file with the same
 *       content, the ceiling for any mmap-based engine;</li>
 *   <li>{@code fileChannel}: {@link FileChannel#read(ByteBuffer, long)} (pread) of the raw
 *       file.</li>
 * </ul>
 * All three use the same precomputed offsets and a buffer allocated once, so the only
 * difference is the read path. {@code qedkitNoL2Cache} is {@code qedkit} through a second
 * handle on the same image opened without the L2 table cache
 * ({@link OpenOptions#withL2CacheTables} 0), so every lookup walks the L1 table: the
 * cache's baseline, in the same run.
 *
 * <p>Two layouts: {@code default} (64 KiB clusters, 4-cluster tables: one L2 table maps
 * 2 GiB, so the whole image hangs off one L1 entry) and {@code small-tables} (4 KiB
 * clusters, 1-cluster tables: one table maps 2 MiB, so 256 MiB spread over 128 tables and
 * every read needs another table's entry).
 */
@State(Scope.Thread)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RandomReadBenchmark extends EngineBenchmark {
    private static final int BLOCK = 4096;

    /** Guest size in MiB; small enough to stay in the page cache on any machine. */
    @Param("256")
    public int sizeMiB;

    /** Table layout of the QED image: {@code default} or {@code small-tables}. */
    @Param({"default", "small-tables"})
    public String layout;

    private TwinFiles files;
    private QedImage image;
    private QedImage imageNoL2Cache;
    private RawMapping raw;
    private BlockOffsets offsets;
    private final byte[] buffer = new byte[BLOCK];
    private final ByteBuffer byteBuffer = ByteBuffer.allocateDirect(BLOCK);

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        long size = (long) sizeMiB << 20;
        files = TwinFiles.create(size, layout);
        image = QedImage.open(files.qed(), OpenOptions.READ_ONLY);
        imageNoL2Cache = QedImage.open(files.qed(), OpenOptions.READ_ONLY.withL2CacheTables(0));
        raw = RawMapping.open(files.raw(), size, false);
        offsets = new BlockOffsets(size, BLOCK);
        // Bring every page into the cache (and the mappings) before measuring.
        for (long off = 0; off < size; off += BLOCK) {
            image.read(off, buffer);
            imageNoL2Cache.read(off, buffer);
            MemorySegment.copy(raw.map, ValueLayout.JAVA_BYTE, off, buffer, 0, BLOCK);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        image.close();
        imageNoL2Cache.close();
        raw.close();
        files.delete();
    }

    private long nextOffset() {
        return offsets.next();
    }

    @Benchmark
    public byte[] qedkit() throws IOException {
        image.read(nextOffset(), buffer);
        return buffer;
    }

    @Benchmark
    public byte[] qedkitNoL2Cache() throws IOException {
        imageNoL2Cache.read(nextOffset(), buffer);
        return buffer;
    }

    @Benchmark
    public byte[] rawMmap() {
        MemorySegment.copy(raw.map, ValueLayout.JAVA_BYTE, nextOffset(), buffer, 0, BLOCK);
        return buffer;
    }

    @Benchmark
    public ByteBuffer fileChannel() throws IOException {
        byteBuffer.clear();
        raw.channel.read(byteBuffer, nextOffset());
        return byteBuffer;
    }
}
