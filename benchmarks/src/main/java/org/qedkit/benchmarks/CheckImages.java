package org.qedkit.benchmarks;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Builds the image {@link CheckBenchmark} checks, so other tools can be timed on the same
 * layout: {@code CheckImages FILE CLUSTERS} writes CLUSTERS allocated 4 KiB clusters spread
 * evenly over a 64 GiB guest (table_size 16).
 */
public final class CheckImages {
    private CheckImages() {
    }

    public static void main(String[] args) throws IOException {
        build(Path.of(args[0]), Integer.parseInt(args[1]));
    }

    static void build(Path image, int clusters) throws IOException {
        long guest = 64L << 30;
        QedImage.create(image, CreateOptions.ofSize(guest).withClusterSize(4096).withTableSize(16));
        byte[] block = new byte[4096];
        long stride = guest / clusters / 4096 * 4096;
        try (QedImage img = QedImage.open(image, OpenOptions.READ_WRITE)) {
            for (int i = 0; i < clusters; i++) {
                block[0] = (byte) i;
                img.write(i * stride, block);
            }
        }
    }
}
