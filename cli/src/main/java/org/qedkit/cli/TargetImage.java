package org.qedkit.cli;

import org.qedkit.QedImage;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Where the tools write guest bytes: a QED image open read-write, or a raw file. What
 * {@code convert} and {@code commit} write into; closing makes everything durable.
 */
abstract class TargetImage implements AutoCloseable {
    private static final int ZERO_CHUNK = 1 << 20;

    /** Writes {@code length} bytes of {@code data} at guest {@code offset}. */
    abstract void write(long offset, byte[] data, int length) throws IOException;

    /** Makes {@code length} bytes at {@code offset} read as zeros. */
    abstract void writeZeroes(long offset, long length) throws IOException;

    @Override
    public abstract void close() throws IOException;

    /** An open QED image; closing closes it (and so flushes it). */
    static TargetImage of(QedImage image) {
        return new TargetImage() {
            @Override
            void write(long offset, byte[] data, int length) throws IOException {
                image.write(offset, data, 0, length);
            }

            @Override
            void writeZeroes(long offset, long length) throws IOException {
                image.writeZeroes(offset, length);
            }

            @Override
            public void close() throws IOException {
                image.close();
            }
        };
    }

    /**
     * A raw file at least {@code size} bytes long (grown sparsely if shorter); with
     * {@code fresh}, emptied first, so that everything not written reads as zeros.
     */
    static TargetImage raw(Path file, long size, boolean fresh) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            if (fresh) {
                f.setLength(0);
            }
            if (f.length() < size) {
                f.setLength(size); // a hole: reads as zeros, takes no space
            }
        }
        FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE);
        return new TargetImage() {
            private final boolean zeroed = fresh;

            @Override
            void write(long offset, byte[] data, int length) throws IOException {
                ByteBuffer b = ByteBuffer.wrap(data, 0, length);
                while (b.hasRemaining()) {
                    ch.write(b, offset + b.position());
                }
            }

            @Override
            void writeZeroes(long offset, long length) throws IOException {
                if (zeroed) {
                    return; // a fresh file reads as zeros already
                }
                byte[] zeros = new byte[(int) Math.min(length, ZERO_CHUNK)];
                for (long p = offset; p < offset + length; p += zeros.length) {
                    write(p, zeros, (int) Math.min(zeros.length, offset + length - p));
                }
            }

            @Override
            public void close() throws IOException {
                try (ch) {
                    ch.force(false);
                }
            }
        };
    }
}
