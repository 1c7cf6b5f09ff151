package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.qedkit.QedHeader;

import static org.assertj.core.api.Assertions.assertThat;

/** Address translation: how a guest offset splits into L1 index, L2 index and byte in cluster. */
class GeometryTest {

    private static Geometry geometry(int clusterSize, int tableSize, long imageSize) {
        return Geometry.of(new QedHeader(clusterSize, tableSize, 1, 0, 0, 0,
                clusterSize, imageSize, 0, 0, null));
    }

    @Test
    void qemuDefaultsSplitAnOffsetAsTheSpecificationSays() {
        Geometry g = geometry(64 * 1024, 4, 10L << 30);
        // 64 KiB clusters, 4-cluster tables: 32768 entries, each L2 table covers 2 GiB.
        assertThat(g.bytesPerL2Table()).isEqualTo(2L << 30);
        long offset = (3L << 31) + 5 * 65536L + 123;
        assertThat(g.l1Index(offset)).isEqualTo(3);
        assertThat(g.l2Index(offset)).isEqualTo(5);
        assertThat(g.inCluster(offset)).isEqualTo(123);
        assertThat(g.l1EntryOffset(offset)).isEqualTo(65536 + 3 * 8);
    }

    @Test
    void theLastByteOfTheSmallestGeometryMapsToTheLastEntryOfBothTables() {
        // 4 KiB clusters and 1-cluster tables: 512 entries, at most 512 * 512 * 4 KiB = 1 GiB.
        Geometry g = geometry(4096, 1, 1L << 30);
        long last = (1L << 30) - 1;
        assertThat(g.l1Index(last)).isEqualTo(511);
        assertThat(g.l2Index(last)).isEqualTo(511);
        assertThat(g.inCluster(last)).isEqualTo(4095);
    }

    @Test
    void theLargestGeometryStillSplitsWithoutOverflow() {
        // 64 MiB clusters, 16-cluster tables: 2^27 entries; the image may be as large as a long allows.
        long size = Long.MAX_VALUE & ~((64L << 20) - 1); // the most whole 64 MiB clusters a long holds
        Geometry g = geometry(64 << 20, 16, size);
        long last = size - 1;
        assertThat(g.l2Bits()).isEqualTo(27);
        assertThat(g.l1Index(last)).isEqualTo(last >>> 53);
        assertThat(g.l1Index(last)).isLessThan(1L << 27);
        assertThat(g.inCluster(last)).isEqualTo((64 << 20) - 1);
    }

    @Test
    void largestImageSizeIsExactWhereItFitsAndSaturatesWhereItDoesNot() {
        assertThat(QedHeader.maxImageSize(4096, 1)).isEqualTo(1L << 30);
        assertThat(QedHeader.maxImageSize(65536, 4)).isEqualTo(64L << 40);
        // QEMU's own arithmetic overflows on these (its defect 2); the format allows them.
        assertThat(QedHeader.maxImageSize(8 << 20, 2)).isEqualTo(Long.MAX_VALUE);
        assertThat(QedHeader.maxImageSize(4 << 20, 16)).isEqualTo(Long.MAX_VALUE);
        assertThat(QedHeader.maxImageSize(64 << 20, 1)).isEqualTo(Long.MAX_VALUE);
        // 2^62 fits exactly: 1 MiB clusters, 16-cluster tables.
        assertThat(QedHeader.maxImageSize(1 << 20, 16)).isEqualTo(1L << 62);
    }
}
