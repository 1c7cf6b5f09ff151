package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.PageCache;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A write-through writer that puts 4 KiB in the same block of each new cluster, one write
 * per sync, finds that block already written in the space the file grows ahead into
 * (ClusterAllocator, "First blocks written ahead"): the engine tells the allocator where
 * each new cluster's first store lands. The blocks show as pages in the page cache, and
 * nothing else touches the pages of space that is only reserved.
 */
class FirstBlocksWrittenAheadTest {
    private static final int CLUSTER = 65536;
    private static final long STEP = 8L << 20;
    private static final int WRITES = 100; // past half of the first step: the file grows ahead once

    @TempDir
    Path dir;

    @Test
    void theBlockEachNewClustersFirstWriteLandsInIsWrittenAheadInTheNextStep() throws Exception {
        Path image = dir.resolve("ahead.qed");
        QedImage.create(image, CreateOptions.ofSize(1L << 30).withClusterSize(CLUSTER));
        long inCluster = 2 * 4096;
        try (QedImage qed = QedImage.open(image, OpenOptions.READ_WRITE.withDurability(Durability.WRITE_THROUGH))) {
            for (int i = 0; i < WRITES; i++) {
                qed.write((long) i * CLUSTER + inCluster, Bytes.random(i, 4096));
            }
            long size = Files.size(image);
            long used = 0;
            for (long cluster = size - STEP; cluster < size; cluster += CLUSTER) {
                assertThat(PageCache.resident(image, cluster + inCluster, 4096)).as("third block at %d", cluster)
                        .isTrue();
                assertThat(PageCache.resident(image, cluster, inCluster)).as("first blocks at %d", cluster).isFalse();
                used++;
            }
            assertThat(used).isEqualTo(STEP / CLUSTER);
            for (int i = 0; i < WRITES; i++) {
                byte[] back = new byte[4096];
                qed.read((long) i * CLUSTER + inCluster, back);
                assertThat(back).as("write %d", i).isEqualTo(Bytes.random(i, 4096));
            }
        }
    }
}
