package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;

/**
 * A QED image, written in full, and a raw file holding the same bytes, in a fresh
 * directory: what the benchmarks compare the engine against (a plain mapping of the raw
 * file is the ceiling, {@code FileChannel} positional I/O the everyday alternative).
 *
 * @param dir the directory holding both, deleted by {@link #delete}
 * @param qed the QED image
 * @param raw the raw file
 */
record TwinFiles(Path dir, Path qed, Path raw) {

    /**
     * Makes both files: {@code size} bytes of seeded random content. {@code layout} is
     * {@code default} (64 KiB clusters, 4-cluster tables, QEMU's defaults) or
     * {@code small-tables} (4 KiB clusters, 1-cluster tables: a table maps 2 MiB).
     */
    static TwinFiles create(long size, String layout) throws IOException {
        Path dir = Files.createTempDirectory("qedkit-bench");
        Path qed = dir.resolve("image.qed");
        Path raw = dir.resolve("image.raw");
        CreateOptions create = CreateOptions.ofSize(size);
        if (layout.equals("small-tables")) {
            create = create.withClusterSize(4096).withTableSize(1);
        } else if (!layout.equals("default")) {
            throw new IllegalArgumentException("layout: default or small-tables, not " + layout);
        }
        QedImage.create(qed, create);
        byte[] chunk = new byte[1 << 20];
        SplittableRandom fill = new SplittableRandom(42);
        try (QedImage writer = QedImage.open(qed, OpenOptions.READ_WRITE);
             FileChannel rawWriter = FileChannel.open(raw, StandardOpenOption.CREATE,
                     StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long off = 0; off < size; off += chunk.length) {
                fill.nextBytes(chunk);
                int n = (int) Math.min(chunk.length, size - off);
                writer.write(off, chunk, 0, n);
                rawWriter.write(ByteBuffer.wrap(chunk, 0, n), off);
            }
        }
        return new TwinFiles(dir, qed, raw);
    }

    /** Deletes both files and their directory. */
    void delete() throws IOException {
        Files.deleteIfExists(qed);
        Files.deleteIfExists(raw);
        Files.deleteIfExists(dir);
    }
}
