package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Zero-copy views of guest bytes: only inside one data cluster, read-only, dead after close. */
class ZeroCopyViewTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    @Test
    void aViewShowsTheClustersBytesWithoutCopyingAndDiesWithTheImage() throws Exception {
        Files.write(dir.resolve("view-base.raw"), Bytes.random(8, 4 * CS));
        Path p = dir.resolve("view.qed");
        QedImage.create(p, CreateOptions.ofSize(16 * CS).withClusterSize(CS).withBackingFile("view-base.raw", "raw"));
        QedImage image = QedImage.open(p);
        image.write(CS + 100, Bytes.random(9, 1000));
        byte[] cluster = new byte[CS];
        image.read(CS, cluster);

        MemorySegment view = image.view(CS + 50, 2000).orElseThrow();
        assertThat(view.byteSize()).isEqualTo(2000);
        assertThat(view.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(java.util.Arrays.copyOfRange(cluster, 50, 2050));
        assertThat(view.isReadOnly()).isTrue();
        assertThatThrownBy(() -> view.set(ValueLayout.JAVA_BYTE, 0, (byte) 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("read-only");

        image.write(CS + 50, Bytes.pattern(0x77, 4));            // live: a later write shows through
        assertThat(view.get(ValueLayout.JAVA_BYTE, 3)).isEqualTo((byte) 0x77);

        assertThat(image.view(CS - 10, 20)).as("across two clusters").isEmpty();
        assertThat(image.view(2 * CS, 10)).as("from the backing file").isEmpty();
        assertThat(image.view(8 * CS, 10)).as("unallocated past the backing file").isEmpty();
        image.writeZeroes(3 * CS, CS);
        assertThat(image.view(3 * CS, 10)).as("a zero cluster").isEmpty();
        assertThatThrownBy(() -> image.view(16 * CS - 5, 10)).isInstanceOf(QedRangeException.class);

        image.close();
        assertThatThrownBy(() -> view.get(ValueLayout.JAVA_BYTE, 0)).isInstanceOf(IllegalStateException.class);
    }
}
