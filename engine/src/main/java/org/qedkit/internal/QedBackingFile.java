package org.qedkit.internal;

import org.qedkit.MapEntry;
import org.qedkit.QedImage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** A QED image read as a backing file: zeros past its end, its map one level down. */
final class QedBackingFile implements BackingFile {
    private final QedImage base;

    QedBackingFile(QedImage base) {
        this.base = base;
    }

    @Override
    public long size() {
        return base.size();
    }

    @Override
    public MapEntry map(long offset, long length, int depth) throws IOException {
        return base.mapEntryAt(offset, length).below(depth, length);
    }

    @Override
    public void read(long offset, MemorySegment dst, long dstOffset, long length) throws IOException {
        long inImage = Math.max(0, Math.min(length, base.size() - offset));
        if (inImage > 0) {
            base.read(offset, dst.asSlice(dstOffset, inImage));
        }
        if (inImage < length) {
            dst.asSlice(dstOffset + inImage, length - inImage).fill((byte) 0);
        }
    }

    @Override
    public void close() throws IOException {
        base.close();
    }
}
