package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.CommitPipeline.Request;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * How the bytes of a write reach the file (WritePlanner, "Data through the page cache"): a
 * write that asks for a sync, and any overwrite of a cluster that exists, writes them with
 * {@code pwrite}, past this process's page tables (from the heap through a native buffer);
 * a write-back write into a new cluster stores them through the mapping. Either way a
 * reader through the mapping sees them.
 */
class WritePlannerTest {
    private static final int CLUSTER = PipelineRig.CLUSTER;

    @TempDir
    Path dir;

    private static MemorySegment filled(Arena arena, int fill) {
        return arena.allocate(CLUSTER).fill((byte) fill);
    }

    private static byte[] bytesAt(PipelineRig rig, long fileOffset) {
        return rig.file.readOnlyView(fileOffset, CLUSTER).toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * Takes the page at {@code fileOffset} out of this process's page tables, after a lookup
     * of guest offset 0 has faulted in the table pages a write there reads: a read fault maps
     * cached neighbours of the page it reads too (fault-around, read-only), which would hide
     * whether a write mapped the page.
     */
    private static void unmapAfterALookup(PipelineRig rig, long fileOffset) throws IOException {
        rig.map.lookup(0);
        StoredPages page = new StoredPages();
        page.add(fileOffset, fileOffset + CLUSTER);
        rig.file.dropFromPageTables(page);
        assertThat(PageTables.mappedHere(rig.file, fileOffset)).as("unmapped before the write").isFalse();
    }

    /** Writes guest cluster {@code index} and commits it, then unmaps its data; returns the data cluster's offset. */
    private static long committedAndUnmapped(PipelineRig rig, int index) throws IOException {
        rig.writeCluster(index, (byte) 1);
        rig.pipeline.requestSync();
        rig.runUntilIdle();
        long cluster = rig.map.lookup((long) index * CLUSTER);
        unmapAfterALookup(rig, cluster);
        return cluster;
    }

    @Test
    void aDurableWriteFromNativeMemoryLeavesItsDataUnmappedAndReadersSeeIt() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            rig.planner.write(0, CLUSTER, filled(arena, 1), 0, Request.SYNC);
            long cluster = rig.map.lookup(0);
            assertThat(PageTables.mappedHere(rig.file, cluster)).as("a new cluster's data").isFalse();
            rig.runUntilIdle();
            unmapAfterALookup(rig, cluster);

            rig.planner.write(0, CLUSTER, filled(arena, 2), 0, Request.SYNC); // in place now

            assertThat(rig.map.lookup(0)).as("the same cluster, overwritten").isEqualTo(cluster);
            assertThat(PageTables.mappedHere(rig.file, cluster)).as("an overwrite's data").isFalse();
            assertThat(bytesAt(rig, cluster)).containsOnly((byte) 2);
        }
    }

    @Test
    void aWriteBackOverwriteIsPwrittenTooAndReadersSeeIt() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            long cluster = committedAndUnmapped(rig, 0);

            rig.planner.write(0, CLUSTER, filled(arena, 2), 0, Request.QUEUE);

            assertThat(PageTables.mappedHere(rig.file, cluster)).isFalse();
            assertThat(bytesAt(rig, cluster)).containsOnly((byte) 2);
        }
    }

    @Test
    void aWriteBackOverwriteOfAPendingClusterIsPwrittenToo() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            rig.planner.write(0, CLUSTER, filled(arena, 1), 0, Request.QUEUE); // new, not yet committed
            long cluster = rig.map.lookup(0);
            unmapAfterALookup(rig, cluster);

            rig.planner.write(0, CLUSTER, filled(arena, 2), 0, Request.QUEUE); // in place, planned under no lock

            assertThat(rig.map.lookup(0)).as("the same cluster").isEqualTo(cluster);
            assertThat(PageTables.mappedHere(rig.file, cluster)).isFalse();
            assertThat(bytesAt(rig, cluster)).containsOnly((byte) 2);
        }
    }

    @Test
    void inOneWriteBackWriteTheNewClusterIsStoredThroughTheMappingAndTheExistingOnePwritten() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            long existing = committedAndUnmapped(rig, 1);

            // Cluster 0 needs a new cluster, so the whole write is planned under the plan lock.
            MemorySegment two = arena.allocate(2L * CLUSTER).fill((byte) 4);
            rig.planner.write(0, 2L * CLUSTER, two, 0, Request.QUEUE);

            long fresh = rig.map.lookup(0);
            assertThat(PageTables.mappedHere(rig.file, fresh)).as("the new cluster's data").isTrue();
            assertThat(PageTables.mappedHere(rig.file, existing)).as("the existing cluster's data").isFalse();
            assertThat(bytesAt(rig, fresh)).containsOnly((byte) 4);
            assertThat(bytesAt(rig, existing)).containsOnly((byte) 4);
        }
    }

    @Test
    void aWriteBackWriteIntoANewClusterStoresThroughTheMapping() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            rig.planner.write(0, CLUSTER, filled(arena, 3), 0, Request.QUEUE);
            long cluster = rig.map.lookup(0);
            assertThat(PageTables.mappedHere(rig.file, cluster)).isTrue();
            assertThat(bytesAt(rig, cluster)).containsOnly((byte) 3);
        }
    }

    @Test
    void aDurableWriteFromTheHeapIsPwrittenThroughANativeBufferInPieces() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            int clusters = (int) (2 * MappedImageFile.HEAP_BOUNCE_BYTES / CLUSTER) + 1; // three pieces
            byte[] heap = new byte[clusters * CLUSTER];
            for (int i = 0; i < clusters; i++) {
                java.util.Arrays.fill(heap, i * CLUSTER, (i + 1) * CLUSTER, (byte) (i + 1));
            }
            rig.planner.write(0, heap.length, MemorySegment.ofArray(heap), 0, Request.SYNC);
            for (int i = 0; i < clusters; i++) { // before any read: a read fault maps cached neighbours too
                assertThat(PageTables.mappedHere(rig.file, rig.map.lookup((long) i * CLUSTER))).as("cluster %d", i)
                        .isFalse();
            }
            for (int i = 0; i < clusters; i++) {
                assertThat(bytesAt(rig, rig.map.lookup((long) i * CLUSTER))).as("cluster %d", i)
                        .containsOnly((byte) (i + 1));
            }
        }
    }

    @Test
    void durableZerosOverDataArePwrittenToo() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            rig.planner.write(0, 2L * CLUSTER, arena.allocate(2L * CLUSTER).fill((byte) 5), 0, Request.SYNC);
            rig.runUntilIdle();
            long cluster = rig.map.lookup(0);
            unmapAfterALookup(rig, cluster);

            rig.planner.write(100, 1000, null, 0, Request.SYNC); // part of a cluster: its bytes are zeroed in place

            assertThat(PageTables.mappedHere(rig.file, cluster)).isFalse();
            byte[] back = bytesAt(rig, cluster);
            for (int i = 0; i < CLUSTER; i++) {
                assertThat(back[i]).as("byte %d", i).isEqualTo(i >= 100 && i < 1100 ? (byte) 0 : (byte) 5);
            }
        }
    }

    @Test
    void onlyDataStoredThroughTheMappingCountsAsAPlaceToDropBeforeTheSync() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000); Arena arena = Arena.ofConfined()) {
            rig.writeCluster(0, (byte) 1); // the table, linked now
            rig.pipeline.requestSync();
            rig.runUntilIdle();
            long table = rig.map.l2Table(0);
            int n = Committer.DROP_WORTHWHILE + 2;
            rig.planner.write(CLUSTER, (long) n * CLUSTER, arena.allocate((long) n * CLUSTER).fill((byte) 6), 0,
                    Request.SYNC);
            java.util.List<Boolean> tableMappedAtSync = new java.util.ArrayList<>();
            rig.atEachSync = () -> tableMappedAtSync.add(PageTables.mappedHere(rig.file, table));

            assertThat(rig.runUntilIdle()).as("one round").isOne();

            assertThat(tableMappedAtSync).as("%d pwritten clusters and one table page: one place, no drop", n)
                    .containsExactly(true);
            for (int i = 1; i <= n; i++) {
                assertThat(bytesAt(rig, rig.map.lookup((long) i * CLUSTER))).containsOnly((byte) 6);
            }
        }
    }
}
