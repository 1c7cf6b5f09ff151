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
 * per sync, finds that block already written in the clusters ahead of it
 * (ClusterAllocator, "First blocks written ahead"): the engine tells the allocator where
 * each new cluster's first store lands. The blocks show as pages in the page cache, and
 * nothing else touches the pages of space that is only reserved. A daemon that prefers the
 * tail latency of syncs that carry no pages ahead turns it off with an open option.
 */
class FirstBlocksWrittenAheadTest {
    private static final int CLUSTER = 65536;
    private static final int BLOCK = 4096;
    private static final long CHUNK = 4; // a lone writer's: ClusterAllocator.FIRST_BLOCKS_MIN_CHUNK_CLUSTERS, package-private elsewhere
    private static final int WRITES = 100;

    @TempDir
    Path dir;

    @Test
    void theBlockEachNewClustersFirstWriteLandsInIsWrittenAheadOfTheWriter() throws Exception {
        assertThat(clustersWrittenAhead(OpenOptions.READ_WRITE)).as("two or three chunks ahead of the last write")
                .isBetween(2 * CHUNK, 3 * CHUNK);
    }

    @Test
    void aDaemonThatPrefersTheTailCanTurnItOff() throws Exception {
        assertThat(OpenOptions.READ_WRITE.firstBlocksWrittenAhead()).as("on by default").isTrue();
        assertThat(clustersWrittenAhead(OpenOptions.READ_WRITE.withFirstBlocksWrittenAhead(false)))
                .as("nothing stored ahead").isZero();
    }

    /**
     * Writes {@value #WRITES} clusters write-through, 4 KiB into the third block of each,
     * reads them back, and returns how many clusters hold a third block in the page cache,
     * of zeros, with their first two blocks untouched: clusters written ahead (data clusters
     * hold data there; tables start at block 0).
     */
    private long clustersWrittenAhead(OpenOptions options) throws Exception {
        Path image = dir.resolve("ahead.qed");
        Files.deleteIfExists(image);
        QedImage.create(image, CreateOptions.ofSize(1L << 30).withClusterSize(CLUSTER));
        long inCluster = 2 * BLOCK;
        try (QedImage qed = QedImage.open(image, options.withDurability(Durability.WRITE_THROUGH))) {
            for (int i = 0; i < WRITES; i++) {
                qed.write((long) i * CLUSTER + inCluster, Bytes.random(i, BLOCK));
            }
            long writtenAhead = PageCache.zeroBlocksAloneInCache(image, CLUSTER, inCluster);
            for (int i = 0; i < WRITES; i++) {
                byte[] back = new byte[BLOCK];
                qed.read((long) i * CLUSTER + inCluster, back);
                assertThat(back).as("write %d", i).isEqualTo(Bytes.random(i, BLOCK));
            }
            return writtenAhead;
        }
    }
}
