package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Another program truncates an image while it is open (issue 13, bug 12). Pages of the
 * mapping past the new end fault (SIGBUS), which the JVM raises as an InternalError; the
 * engine must turn that into an IOException for the request (EIO), mark the image failed so
 * nothing more is written or committed, and leave NEED_CHECK set. The JVM goes on.
 */
class ShrunkUnderUsTest {
    private static final int EIO = 5;

    @TempDir
    Path dir;

    private Path imageWithData() throws IOException {
        Path p = dir.resolve("s.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20));
        try (QedImage image = QedImage.open(p)) {
            byte[] data = new byte[4 << 20];
            Arrays.fill(data, (byte) 0x5a);
            image.write(0, data);
        }
        return p;
    }

    private static void shrink(Path p, long length) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(length);
        }
    }

    @Test
    void aReadOfBytesPastTheNewEndFailsWithEioAndTheJvmGoesOn() throws IOException {
        Path p = imageWithData();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            shrink(p, 100_000);
            byte[] into = new byte[4 << 20];
            assertThatThrownBy(() -> image.read(0, into)).isInstanceOfSatisfying(QedIoException.class,
                    e -> assertThat(e.errno()).isEqualTo(EIO));
            assertThatThrownBy(() -> image.read(0, java.lang.foreign.MemorySegment.ofArray(into)))
                    .isInstanceOf(QedIoException.class);
        }
    }

    @Test
    void aWriteFaultFailsTheImageAndLeavesNeedCheckSet() throws IOException {
        Path p = imageWithData();
        QedImage image = QedImage.open(p);
        shrink(p, 100_000);
        // A write into a new cluster: NEED_CHECK is made durable first, then the data faults.
        assertThatThrownBy(() -> image.write(8 << 20, new byte[4096])).isInstanceOfSatisfying(QedIoException.class,
                e -> assertThat(e.errno()).isEqualTo(EIO));
        assertThatThrownBy(() -> image.write(0, new byte[4096])).as("nothing more is written")
                .isInstanceOf(QedException.class);
        assertThatThrownBy(image::close).isInstanceOf(IOException.class);
        // The header (in the first 100000 bytes) still says NEED_CHECK: the next open checks.
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "r")) {
            f.seek(16); // features
            long features = Long.reverseBytes(f.readLong());
            assertThat(features & QedHeader.FEATURE_NEED_CHECK).isNotZero();
        }
    }

    @Test
    void anInPlaceWriteFaultFailsWithEioToo() throws IOException {
        Path p = imageWithData();
        QedImage image = QedImage.open(p);
        shrink(p, 100_000);
        assertThatThrownBy(() -> image.write(1 << 20, new byte[4096])).isInstanceOfSatisfying(QedIoException.class,
                e -> assertThat(e.errno()).isEqualTo(EIO));
        assertThatThrownBy(image::close).isInstanceOf(IOException.class);
    }

    @Test
    void extentLookupsThroughAShrunkTableFailWithEio() throws IOException {
        Path p = imageWithData();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            shrink(p, 4096);
            assertThatThrownBy(() -> image.extentAt(0)).isInstanceOf(QedIoException.class);
        }
    }
}
