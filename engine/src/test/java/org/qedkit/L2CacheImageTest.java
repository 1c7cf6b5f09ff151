package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The L2 table cache changes how tables are found, never what is read: the same bytes with
 * no cache, a cache far smaller than the image's tables (evicting all the time) and the
 * default; a corrupt L1 entry is still reported; an empty L1 entry is never remembered, so
 * a table linked later is seen.
 */
class L2CacheImageTest {
    @TempDir
    Path dir;

    /** 4 KiB clusters, one-cluster tables: each L2 table maps 2 MiB, so 256 MiB needs 128 tables. */
    private Path manyTables(String name) throws IOException {
        Path p = dir.resolve(name);
        QedImage.create(p, CreateOptions.ofSize(256L << 20).withClusterSize(4096).withTableSize(1));
        return p;
    }

    @Test
    void everyCacheSizeReadsTheSameBytes() throws IOException {
        Path p = manyTables("sizes.qed");
        byte[] model = new byte[256 << 20];
        SplittableRandom rnd = new SplittableRandom(11);
        try (QedImage image = QedImage.open(p)) {
            for (int i = 0; i < 600; i++) {
                int at = rnd.nextInt(model.length - 8192);
                byte[] data = Bytes.random(i, 1 + rnd.nextInt(8192));
                image.write(at, data);
                System.arraycopy(data, 0, model, at, data.length);
            }
        }
        for (int tables : new int[]{0, 4, OpenOptions.DEFAULT_L2_CACHE_TABLES}) {
            try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY.withL2CacheTables(tables))) {
                SplittableRandom reads = new SplittableRandom(12);
                for (int i = 0; i < 3000; i++) {
                    int at = reads.nextInt(model.length - 4096);
                    byte[] back = new byte[4096];
                    image.read(at, back);
                    assertThat(back).as("4 KiB at %d with a cache of %d tables", at, tables)
                            .isEqualTo(java.util.Arrays.copyOfRange(model, at, at + 4096));
                }
            }
        }
    }

    @Test
    void aCorruptL1EntryIsReportedWithTheCacheOnAndNeverCached() throws IOException {
        Path p = manyTables("corrupt.qed");
        long l1;
        try (QedImage image = QedImage.open(p)) {
            image.write(0, Bytes.pattern(1, 4096));           // table of L1[0]
            image.write(2L << 20, Bytes.pattern(2, 4096));    // table of L1[1]
            l1 = image.header().l1TableOffset();
        }
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 41), l1 + 8);
        }
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] back = new byte[4096];
            image.read(0, back);
            assertThat(back).isEqualTo(Bytes.pattern(1, 4096));
            for (int attempt = 0; attempt < 2; attempt++) { // the second time too: nothing was cached
                assertThatThrownBy(() -> image.read(2L << 20, new byte[4096]))
                        .isInstanceOfSatisfying(QedFormatException.class,
                                e -> assertThat(e.field()).isEqualTo("L1[1]"));
            }
        }
    }

    @Test
    void aTableLinkedAfterAnotherHandleLookedAtItsEmptyEntryIsSeenByThatHandle() throws IOException {
        Path p = manyTables("linked.qed");
        try (QedImage writer = QedImage.open(p)) {
            // The first allocation reserves 8 MiB at the end of the file; the reader opened
            // after it knows the file that long, so the clusters taken below lie inside it.
            writer.write(0, Bytes.pattern(2, 4096));
            try (QedImage reader = QedImage.open(p, OpenOptions.READ_ONLY.withForceShare(true))) {
                byte[] back = new byte[4096];
                reader.read(4L << 20, back);
                assertThat(back).as("before: no table").isEqualTo(new byte[4096]);
                writer.write(4L << 20, Bytes.pattern(3, 4096));
                writer.flush(); // the commit links the new table into L1
                reader.read(4L << 20, back);
                assertThat(back).as("after the link").isEqualTo(Bytes.pattern(3, 4096));
            }
        }
    }

    @Test
    void aNegativeSizeIsRefused() {
        assertThatThrownBy(() -> OpenOptions.READ_ONLY.withL2CacheTables(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("l2CacheTables");
    }
}
