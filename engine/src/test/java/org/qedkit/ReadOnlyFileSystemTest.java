package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.HeaderBits;
import org.qedkit.testing.TmpfsMount;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A read-only open writes nothing, not even to an image left with NEED_CHECK (which a
 * read-write open would repair): proven on a file system remounted read-only, where any
 * write would fail, and by the bytes and modification time afterwards. Root only
 * ({@link TmpfsMount}); a file mode would not stop root.
 */
class ReadOnlyFileSystemTest {
    @TempDir
    Path dir;

    @Test
    void readOnlyOpensChecksAndReadsWorkOnAReadOnlyFileSystemAndChangeNothing() throws Exception {
        try (TmpfsMount fs = TmpfsMount.mount(dir, "64m")) {
            Path base = fs.path().resolve("base.raw");
            Files.write(base, Bytes.random(3, 1 << 20));
            Path p = fs.path().resolve("crashed.qed");
            QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2)
                    .withBackingFile("base.raw", "raw"));
            try (QedImage image = QedImage.open(p)) {
                image.write(8192, Bytes.random(4, 4096));
            }
            markNeedCheckAndAddAPartialCluster(p); // what a crash leaves: a read-write open would repair it
            byte[] before = Files.readAllBytes(p);
            FileTime modified = Files.getLastModifiedTime(p);

            fs.remount(false);
            try {
                try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
                    assertThat(image.checkAtOpen()).isPresent(); // checked in memory only
                    byte[] back = new byte[4096];
                    image.read(8192, back);
                    assertThat(back).isEqualTo(Bytes.random(4, 4096));
                    image.read(0, back); // from the backing file
                    assertThat(back).isEqualTo(java.util.Arrays.copyOf(Bytes.random(3, 1 << 20), 4096));
                    assertThatThrownBy(() -> image.write(0, new byte[1])).isInstanceOf(QedReadOnlyException.class);
                }
                assertThat(QedImage.check(p, CheckMode.REPORT).corruptions()).isZero();
                // A read-write open fails with an error that says why, not a crash.
                assertThatThrownBy(() -> QedImage.open(p, OpenOptions.READ_WRITE))
                        .isInstanceOf(QedIoException.class).hasMessageContaining("Read-only file system");
            } finally {
                fs.remount(true);
            }
            assertThat(Files.readAllBytes(p)).isEqualTo(before);
            assertThat(Files.getLastModifiedTime(p)).isEqualTo(modified);
        }
    }

    private static void markNeedCheckAndAddAPartialCluster(Path p) throws Exception {
        HeaderBits.set(p, QedHeader.FEATURE_NEED_CHECK);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(f.length() + 100);
        }
    }
}
