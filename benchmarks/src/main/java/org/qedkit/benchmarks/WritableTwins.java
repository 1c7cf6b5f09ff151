package org.qedkit.benchmarks;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The state the write benchmarks share: a QED image written in full and open read-write,
 * a raw file with the same bytes mapped read-write, a 4 KiB buffer for each, and the
 * random offsets they all write at. One 4 KiB overwrite is defined here once per way
 * ({@link #qedkitWrite}, {@link #rawMmapWrite}, {@link #fileChannelWrite}), so
 * {@link OverwriteBenchmark} and {@link FlushBenchmark} time the same writes. Both files
 * are synced once before measuring, so every run starts with no dirty page.
 */
@State(Scope.Thread)
public class WritableTwins {
    static final int BLOCK = 4096;

    /** Guest size in MiB. */
    @Param("256")
    public int sizeMiB;

    private TwinFiles files;
    QedImage image;
    RawMapping raw;
    MemorySegment buffer;
    ByteBuffer byteBuffer;
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

    /** {@link QedImage#write}: a table lookup, no lock, one copy into the mapping. */
    void qedkitWrite() throws IOException {
        image.write(offsets.next(), buffer);
    }

    /** One copy into the raw file's mapping. */
    void rawMmapWrite() {
        MemorySegment.copy(buffer, 0, raw.map, offsets.next(), BLOCK);
    }

    /** One pwrite of the raw file from a direct buffer. */
    void fileChannelWrite() throws IOException {
        byteBuffer.clear();
        raw.channel.write(byteBuffer, offsets.next());
    }
}
