package org.qedkit.internal;

import org.qedkit.MapEntry;
import org.qedkit.QedException;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Stands in for a backing chain the caller chose not to open ({@code OpenOptions}'s
 * {@code openBackingChain} false, as {@code qemu-img info} does): reading it is an error.
 */
final class UnopenedBackingFile implements BackingFile {
    private final Path overlay;
    private final String name;

    UnopenedBackingFile(Path overlay, String name) {
        this.overlay = overlay;
        this.name = name;
    }

    @Override
    public long size() {
        return Long.MAX_VALUE;
    }

    @Override
    public void read(long offset, MemorySegment dst, long dstOffset, long length) throws QedException {
        throw notOpened("reading", offset);
    }

    @Override
    public MapEntry map(long offset, long length, int depth) throws QedException {
        throw notOpened("mapping", offset);
    }

    private QedException notOpened(String what, long offset) {
        return new QedException(what + " offset " + offset + " of " + overlay + " needs its backing file '"
                + name + "', which this open left closed (OpenOptions.withBackingChain)");
    }

    @Override
    public void close() {
    }
}
