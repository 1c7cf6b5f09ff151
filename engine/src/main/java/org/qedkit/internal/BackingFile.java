package org.qedkit.internal;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * What an overlay reads where it holds no cluster: a raw file or another QED image (which
 * may have a backing file of its own). Reads past its end return zeros, as the format says
 * of a backing file shorter than the overlay.
 */
public interface BackingFile extends AutoCloseable {

    /** Guest bytes it holds; reads past this return zeros. */
    long size();

    /** Fills {@code length} bytes of {@code dst} from {@code dstOffset} with the bytes at {@code offset}. */
    void read(long offset, MemorySegment dst, long dstOffset, long length) throws IOException;

    @Override
    void close() throws IOException;

    /** A raw backing file, read through a read-only mapping. */
    final class Raw implements BackingFile {
        private final MappedImageFile file;

        public Raw(MappedImageFile file) {
            this.file = file;
        }

        @Override
        public long size() {
            return file.size();
        }

        @Override
        public void read(long offset, MemorySegment dst, long dstOffset, long length) {
            long inFile = Math.max(0, Math.min(length, file.size() - offset));
            if (inFile > 0) {
                file.copyOut(offset, dst, dstOffset, inFile);
            }
            if (inFile < length) {
                dst.asSlice(dstOffset + inFile, length - inFile).fill((byte) 0);
            }
        }

        @Override
        public void close() throws IOException {
            file.close();
        }
    }
}
