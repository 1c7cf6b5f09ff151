package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link QedImage#extentAt(long, long)} and {@link QedImage#mapEntryAt(long, long)}: a run
 * is cut at the length asked for, so a caller that needs one request's range (the NBD
 * server, for every read) does not walk a run that goes on through the whole image.
 */
class BoundedExtentTest {
    private static final int CLUSTER = 65536;

    @TempDir
    Path dir;

    @Test
    void aRunIsCutAtTheLengthAskedForAndNeverLongerThanItIs() throws Exception {
        Path p = dir.resolve("b.qed");
        QedImage.create(p, CreateOptions.ofSize(64L << 20));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[8 * CLUSTER]); // eight clusters, contiguous in the file
            image.flush();
            Extent whole = image.extentAt(0);
            assertThat(whole.kind()).isEqualTo(Extent.Kind.DATA);
            assertThat(whole.length()).isEqualTo(8L * CLUSTER);

            Extent cut = image.extentAt(CLUSTER + 100, 2L * CLUSTER);
            assertThat(cut.offset()).isEqualTo(CLUSTER + 100);
            assertThat(cut.length()).isEqualTo(2L * CLUSTER);
            assertThat(cut.fileOffset()).isEqualTo(whole.fileOffset() + CLUSTER + 100);
            assertThat(image.extentAt(0, 1).length()).isEqualTo(1);
            assertThat(image.extentAt(0, 100L * CLUSTER).length()).as("a bound past the run's end").isEqualTo(8L * CLUSTER);

            MapEntry hole = image.mapEntryAt(8L * CLUSTER, 3L * CLUSTER);
            assertThat(hole.data()).isFalse();
            assertThat(hole.length()).isEqualTo(3L * CLUSTER);
            assertThat(image.mapEntryAt(8L * CLUSTER).length()).isEqualTo((64L << 20) - 8L * CLUSTER);
            assertThat(image.mapEntryAt(63L << 20, Long.MAX_VALUE).length()).as("no overflow at the end").isEqualTo(1L << 20);
        }
    }
}
