package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.PageCache;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The largest layout QED allows: 64 MiB clusters, tables of 16 clusters (one L2 table is
 * 1 GiB, 2^27 entries), 7 EiB addressable. Walking it must cost what is allocated, not what
 * is addressable (issue 13, bug 6: a map after two small writes looked up 2^27 entries one
 * by one and took 25 to 70 s), in time and in the page cache it fills. The timeout is a guard against that walk coming back, with a
 * hundredfold margin over the second the walk takes now; the speed itself is not the
 * subject.
 */
class HugeLayoutTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aMapAndACheckOfAHugeSparseImageWalkOnlyWhatIsAllocated() throws Exception {
        Path p = dir.resolve("huge.qed");
        long size = 7L << 60;
        QedImage.create(p, CreateOptions.ofSize(size).withClusterSize(64 << 20).withTableSize(16));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[4096]);
            image.write(1L << 40, new byte[4096]);
        }
        PageCache.drop(p);
        assertThat(PageCache.residentBytes(p)).as("page cache before the walk").isLessThan(1L << 20);
        List<Extent> extents = new ArrayList<>();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            for (long at = 0; at < size; ) {
                Extent e = image.extentAt(at);
                extents.add(e);
                at += e.length();
            }
        }
        assertThat(extents).extracting(Extent::kind).containsExactly(Extent.Kind.DATA, Extent.Kind.UNALLOCATED,
                Extent.Kind.DATA, Extent.Kind.UNALLOCATED);
        assertThat(extents.get(2).offset()).isEqualTo(1L << 40);
        // Nor may it read what it skips: before, the kernel's read-around made SEEK_DATA
        // call every page it had read "data", and the walk read both 1 GiB tables whole.
        assertThat(PageCache.residentBytes(p)).as("page cache the map left").isLessThan(32L << 20);
        assertThat(QedImage.check(p, CheckMode.REPORT).isClean()).isTrue();
        assertThat(PageCache.residentBytes(p)).as("page cache the check left").isLessThan(32L << 20);
    }
}
