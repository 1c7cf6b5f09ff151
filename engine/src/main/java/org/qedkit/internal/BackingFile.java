package org.qedkit.internal;

import org.qedkit.MapEntry;

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

    /**
     * The state of the run at {@code offset} (below {@link #size()}), at most
     * {@code length} bytes long, with {@code depth} as this file's place in the chain.
     */
    MapEntry map(long offset, long length, int depth) throws IOException;

    @Override
    void close() throws IOException;

    /** A raw backing file, read through a read-only mapping. */
    final class Raw implements BackingFile {
        private final MappedImageFile file;

        /** @param file the raw file, opened read-only */
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

        /** Data or hole as the file system reports them ({@code SEEK_DATA}, {@code SEEK_HOLE}). */
        @Override
        public MapEntry map(long offset, long length, int depth) throws IOException {
            long data = file.seekData(offset);
            boolean isData = data == offset;
            long end = isData ? file.seekHole(offset) : (data < 0 ? file.size() : data);
            long n = Math.min(length, end - offset);
            return MapEntry.raw(offset, n, depth, isData);
        }

        @Override
        public void close() throws IOException {
            file.close();
        }
    }
}
