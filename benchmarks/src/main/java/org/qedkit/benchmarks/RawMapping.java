package org.qedkit.benchmarks;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A raw file open as a {@link FileChannel} and mapped whole into one shared segment: the
 * two baselines the benchmarks put beside the engine (positional I/O through the channel,
 * copies through the mapping). Closing unmaps, then closes the channel.
 */
final class RawMapping implements AutoCloseable {
    final FileChannel channel;
    final MemorySegment map;
    private final Arena arena = Arena.ofShared();

    private RawMapping(FileChannel channel, long size, boolean writable) throws IOException {
        this.channel = channel;
        this.map = channel.map(writable ? FileChannel.MapMode.READ_WRITE : FileChannel.MapMode.READ_ONLY, 0, size, arena);
    }

    /** Opens {@code raw} (read-write when {@code writable}) and maps its first {@code size} bytes. */
    static RawMapping open(Path raw, long size, boolean writable) throws IOException {
        FileChannel ch = writable
                ? FileChannel.open(raw, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(raw, StandardOpenOption.READ);
        try {
            return new RawMapping(ch, size, writable);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        arena.close();
        channel.close();
    }
}
