package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.HeaderBits;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Limits for untrusted images: each one refuses an image past it with a
 * {@link QedLimitException} that names it, before anything is written to the file.
 */
class LimitsTest {
    private static final long TIB = 1L << 40;

    @TempDir
    Path dir;

    @Test
    void anImageLargerThanMaxVirtualSizeIsRefusedAndLeftUntouched() throws Exception {
        Path p = dir.resolve("big.qed");
        QedImage.create(p, CreateOptions.ofSize(2 * TIB));
        Snapshot before = Snapshot.of(p);
        OpenOptions options = OpenOptions.READ_WRITE.withLimits(Limits.DEFAULT.withMaxVirtualSize(TIB));
        assertThatThrownBy(() -> QedImage.open(p, options))
                .isInstanceOfSatisfying(QedLimitException.class, e -> assertThat(e.limit()).isEqualTo("maxVirtualSize"))
                .hasMessageContaining("virtual size of " + 2 * TIB + " bytes is over the limit of " + TIB)
                .hasMessageContaining("Limits.maxVirtualSize");
        before.assertUnchanged(p);
        try (QedImage image = QedImage.open(p)) { // the default admits it
            assertThat(image.size()).isEqualTo(2 * TIB);
        }
    }

    /**
     * A sparse file costs an uploader nothing, yet a check needs memory for each of its
     * clusters: an 8 TiB file of 4 KiB clusters is 2^31 of them. Before the limit, the
     * repair at open died of an int overflow (NegativeArraySizeException).
     */
    @Test
    void aHugeSparseFileLeftWithNeedCheckIsRefusedBeforeTheOpenWritesAnything() throws Exception {
        Path p = dir.resolve("sparse.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 30).withClusterSize(4096));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, Bytes.random(1, 4096));
        }
        HeaderBits.set(p, QedHeader.FEATURE_NEED_CHECK);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(8 * TIB + 100); // sparse, with a partial cluster the open would cut
        }
        Snapshot before = Snapshot.of(p);
        assertThatThrownBy(() -> QedImage.open(p, OpenOptions.READ_WRITE))
                .isInstanceOfSatisfying(QedLimitException.class, e -> assertThat(e.limit()).isEqualTo("maxMetadataMemory"))
                .hasMessageContaining("a check of its 2147483648 clusters needs");
        assertThatThrownBy(() -> QedImage.check(p, CheckMode.REPAIR_ALL)).isInstanceOf(QedLimitException.class);
        assertThatThrownBy(() -> QedImage.check(p, CheckMode.REPORT)).isInstanceOf(QedLimitException.class);
        before.assertUnchanged(p);
    }

    @Test
    void aCheckThatRunsPastMaxCheckTimeStopsAndTheImageKeepsNeedCheck() throws Exception {
        Path p = dir.resolve("slow.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20).withClusterSize(4096).withTableSize(1));
        try (QedImage image = QedImage.open(p)) {
            for (int i = 0; i < 64; i++) {
                image.write((long) i << 20, Bytes.random(i, 4096));
            }
        }
        HeaderBits.set(p, QedHeader.FEATURE_NEED_CHECK);
        Limits instant = Limits.DEFAULT.withMaxCheckTime(Duration.ofNanos(1));
        assertThatThrownBy(() -> QedImage.check(p, CheckMode.REPORT, LockPolicy.LOCK, instant))
                .isInstanceOfSatisfying(QedLimitException.class, e -> assertThat(e.limit()).isEqualTo("maxCheckTime"))
                .hasMessageContaining("did not finish within the limit");
        assertThatThrownBy(() -> QedImage.open(p, OpenOptions.READ_WRITE.withLimits(instant)))
                .isInstanceOf(QedLimitException.class);
        assertThat((HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK) != 0).as("NEED_CHECK after a check that gave up").isTrue();
        try (QedImage image = QedImage.open(p)) { // with the default limit it completes
            assertThat(image.checkAtOpen()).isPresent();
            byte[] back = new byte[4096];
            image.read(63L << 20, back);
            assertThat(back).isEqualTo(Bytes.random(63, 4096));
        }
        assertThat((HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK) != 0).isFalse();
    }

    @Test
    void limitsRejectMeaninglessValues() {
        assertThatThrownBy(() -> Limits.DEFAULT.withMaxVirtualSize(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Limits.DEFAULT.withMaxMetadataMemory(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Limits.DEFAULT.withMaxCheckTime(Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Limits.DEFAULT.withMaxBackingDepth(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    /** Length, modification time and the first 64 KiB: what an open that wrote anything would change. */
    private record Snapshot(long length, FileTime modified, byte[] head) {
        static Snapshot of(Path p) throws IOException {
            byte[] head = new byte[65536];
            try (FileChannel ch = FileChannel.open(p)) {
                ch.read(ByteBuffer.wrap(head), 0);
            }
            return new Snapshot(Files.size(p), Files.getLastModifiedTime(p), head);
        }

        void assertUnchanged(Path p) throws IOException {
            Snapshot now = of(p);
            assertThat(now.length).as("length").isEqualTo(length);
            assertThat(now.modified).as("modification time").isEqualTo(modified);
            assertThat(now.head).as("header and tables").isEqualTo(head);
        }
    }
}
