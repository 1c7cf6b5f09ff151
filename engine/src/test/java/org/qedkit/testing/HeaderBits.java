package org.qedkit.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The header's feature bits as the file holds them, read and set behind the engine's back:
 * what a test needs to see NEED_CHECK on disk, or to leave an image as a crash would.
 */
public final class HeaderBits {
    /** Offset of the little-endian 64-bit {@code features} field in a QED header. */
    private static final long FEATURES = 16;

    private HeaderBits() {
    }

    /** The {@code features} field of the image at {@code image}. */
    public static long features(Path image) throws IOException {
        try (FileChannel ch = FileChannel.open(image)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, FEATURES);
            return b.getLong(0);
        }
    }

    /** Sets {@code bits} in the {@code features} field of the image at {@code image}. */
    public static void set(Path image, long bits) throws IOException {
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, FEATURES);
            b.putLong(0, b.getLong(0) | bits).rewind();
            ch.write(b, FEATURES);
        }
    }
}
