package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.QedHeader;
import org.qedkit.internal.PipelineRig.SyncSnapshot;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.HeaderBits;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The committer, driven by hand: when a batch is due, the order its steps reach the disk,
 * how consecutive batches share syncs, which pages leave the page tables before a sync, that
 * a failure is final, and the idle clean-up. The clock moves only when a test moves it, so
 * nothing here sleeps.
 */
class CommitterTest {
    private static final Duration INTERVAL = Duration.ofSeconds(1);

    @TempDir
    Path dir;

    @Test
    void writeBackEntriesWaitForTheIntervalThenCommitDataThenL2ThenL1() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, INTERVAL, 1000)) {
            rig.writeCluster(0, (byte) 7);
            long dataCluster = rig.map.lookup(0);
            assertThat(dataCluster).as("the writer sees its pending entry").isGreaterThan(ClusterMap.ZERO);
            assertThat(rig.map.committed(0)).as("the tables do not have it yet").isZero();
            rig.syncs.clear(); // the header's NEED_CHECK sync

            assertThat(rig.pipeline.committer().doWork()).as("not due before the interval").isZero();
            rig.clock.advance(INTERVAL.minusNanos(1));
            assertThat(rig.pipeline.committer().doWork()).as("not due a nanosecond early").isZero();
            assertThat(rig.syncs).isEmpty();

            rig.clock.advance(Duration.ofNanos(1));
            assertThat(rig.runUntilIdle()).as("three steps, one sync each").isEqualTo(3);
            long table = rig.map.l2Table(0);
            assertThat(rig.syncs).as("what the tables held as each sync began").containsExactly(
                    new SyncSnapshot(0, 0, 0),                  // 1: the data (and the new, empty table)
                    new SyncSnapshot(0, dataCluster, 0),        // 2: the L2 entry, its table not linked yet
                    new SyncSnapshot(table, dataCluster, 0));   // 3: the L1 entry that links the table
            assertThat(rig.map.committed(0)).isEqualTo(dataCluster);
            assertThat(rig.overlay.isEmpty()).as("dropped from the overlay once stored").isTrue();
        }
    }

    @Test
    void aDurabilityRequestMakesTheBatchDueAtOnce() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            rig.writeCluster(0, (byte) 1);
            long ticket = rig.pipeline.requestSync();
            rig.runUntilIdle();
            rig.pipeline.awaitDurable(ticket); // returns at once: done
            assertThat(rig.map.committed(0)).isGreaterThan(ClusterMap.ZERO);
        }
    }

    @Test
    void aWriteThatWantsItsSyncAndAllocatesQueuesTheRequestWithItsEntries() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            MemorySegment cluster = MemorySegment.ofArray(new byte[PipelineRig.CLUSTER]);
            long ticket = rig.planner.write(0, PipelineRig.CLUSTER, cluster, 0, CommitPipeline.Request.SYNC);
            assertThat(ticket).as("the entries' ticket is the sync request").isPositive();
            assertThat(rig.runUntilIdle()).as("due at once, without the interval").isPositive();
            rig.pipeline.awaitDurable(ticket); // returns at once: done
            assertThat(rig.map.committed(0)).isGreaterThan(ClusterMap.ZERO);
            assertThat(rig.pipeline.requestSync()).as("no second ticket was spent on the request")
                    .isEqualTo(ticket + 1);
            rig.runUntilIdle(); // that request, done

            assertThat(rig.planner.write(0, PipelineRig.CLUSTER, cluster, 0, CommitPipeline.Request.SYNC))
                    .as("nothing queued when the cluster exists: the sync is requested apart").isZero();
            assertThat(rig.planner.write(PipelineRig.CLUSTER, PipelineRig.CLUSTER, cluster, 0, CommitPipeline.Request.QUEUE))
                    .as("a write-back write gets no ticket").isZero();
            rig.runUntilIdle();
            assertThat(rig.map.committed(PipelineRig.CLUSTER)).as("its entry waits for the interval").isZero();
        }
    }

    @Test
    // Nobody else drives this committer: a round the caller fails to run would hang the test.
    @Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aCallerThatAwaitsItsOwnSyncRunsTheRoundsItself() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            MemorySegment cluster = MemorySegment.ofArray(new byte[PipelineRig.CLUSTER]);
            long ticket = rig.planner.write(0, PipelineRig.CLUSTER, cluster, 0, CommitPipeline.Request.SYNC_BY_CALLER);
            long dataCluster = rig.map.lookup(0);
            rig.syncs.clear(); // the header's NEED_CHECK sync, and the file's growth
            rig.pipeline.awaitDurable(ticket);
            assertThat(rig.map.committed(0)).isEqualTo(dataCluster);
            assertThat(rig.syncs).as("the caller's rounds made the syncs").isNotEmpty();
            assertThat(rig.runUntilIdle()).as("nothing left for the committer").isZero();

            rig.writeCluster(1, (byte) 2); // write-back: waits for the interval
            rig.syncs.clear();
            rig.pipeline.awaitDurable(rig.pipeline.requestSync(CommitPipeline.Request.SYNC_BY_CALLER));
            assertThat(rig.map.committed(PipelineRig.CLUSTER)).as("a flush takes what was queued before it")
                    .isGreaterThan(ClusterMap.ZERO);
            assertThat(rig.syncs).isNotEmpty();
        }
    }

    @Test
    void aZeroIntervalCommitsAtTheNextRound() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ZERO, 1000)) {
            rig.writeCluster(0, (byte) 1);
            assertThat(rig.runUntilIdle()).isEqualTo(3);
            assertThat(rig.map.committed(0)).isGreaterThan(ClusterMap.ZERO);
        }
    }

    @Test
    void aBacklogOfMaxQueuedEntriesCommitsWithoutWaitingForTheInterval() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 4)) {
            for (int i = 0; i < 3; i++) {
                rig.writeCluster(i, (byte) i);
            }
            assertThat(rig.pipeline.committer().doWork()).as("3 of 4 queued: not due").isZero();
            rig.writeCluster(3, (byte) 3);
            assertThat(rig.runUntilIdle()).as("4 of 4: due").isGreaterThan(0);
            for (int i = 0; i < 4; i++) {
                assertThat(rig.map.committed((long) i * PipelineRig.CLUSTER)).isGreaterThan(ClusterMap.ZERO);
            }
        }
    }

    @Test
    void consecutiveBatchesShareTheirSyncs() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            rig.writeCluster(0, (byte) 1);               // batch 1: a data cluster and a new table
            long first = rig.pipeline.requestSync();
            rig.syncs.clear();
            assertThat(rig.pipeline.committer().doWork()).isOne(); // sync 1: batch 1's data
            rig.writeCluster(1, (byte) 2);               // batch 2: same table, no L1 step
            long secondCluster = rig.map.lookup(PipelineRig.CLUSTER);
            long second = rig.pipeline.requestSync();
            rig.runUntilIdle();
            // Alone: 3 syncs for batch 1 (the file grew for it: strict order), 1 for batch 2
            // (sync 1 made the new length durable: settled space). Pipelined: batch 2 is
            // stored whole before batch 1's L2 sync, and completes behind batch 1.
            assertThat(rig.syncs).as("syncs for two batches").hasSize(3);
            assertThat(rig.syncs.get(1).l2Entry1()).as("batch 2's entry, stored with its data").isEqualTo(secondCluster);
            rig.pipeline.awaitDurable(first);
            rig.pipeline.awaitDurable(second);
            assertThat(rig.map.committed(PipelineRig.CLUSTER)).isGreaterThan(ClusterMap.ZERO);
        }
    }

    @Test
    void aBatchInSettledSpaceWithoutABackingFileTakesEveryStepBeforeOneSync() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            rig.writeCluster(PipelineRig.CLUSTERS_PER_TABLE, (byte) 1); // another table's range: grows the file
            rig.pipeline.requestSync();
            assertThat(rig.runUntilIdle()).as("space just grown: the strict order").isEqualTo(3);
            rig.syncs.clear();

            rig.writeCluster(0, (byte) 2); // a data cluster and a new table, both in settled space
            long dataCluster = rig.map.lookup(0);
            long ticket = rig.pipeline.requestSync();
            assertThat(rig.runUntilIdle()).as("one round").isOne();
            rig.pipeline.awaitDurable(ticket);
            long table = rig.map.l2Table(0);
            assertThat(rig.syncs).as("the L1 and L2 entries were stored before the one sync")
                    .containsExactly(new SyncSnapshot(table, dataCluster, 0));
            assertThat(rig.overlay.isEmpty()).isTrue();
        }
    }

    @Test
    void aFailedSyncIsFinalNothingIsStoredAfterItAndEveryWaiterHearsOfIt() throws Exception {
        PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000);
        rig.writeCluster(0, (byte) 1);
        long ticket = rig.pipeline.requestSync();
        rig.failSyncsWith = StorageObserver.EIO;
        rig.runUntilIdle();
        assertThat(rig.file.hasFailed()).isTrue();
        assertThatThrownBy(() -> rig.pipeline.awaitDurable(ticket)).hasMessageContaining("Input/output error");
        assertThat(rig.pipeline.whenDurable(ticket)).isCompletedExceptionally();

        rig.failSyncsWith = StorageObserver.PROCEED; // the disk works again, the failure stays
        assertThat(rig.map.lookup(0)).as("the failed batch's entries are gone from the overlay").isZero();
        assertThatThrownBy(() -> rig.writeCluster(2, (byte) 2)).as("a write that needs a new cluster")
                .hasMessageContaining("an earlier fdatasync failed");
        assertThatThrownBy(rig.pipeline::requestSync).hasMessageContaining("an earlier fdatasync failed");
        rig.syncs.clear();
        rig.runUntilIdle();
        assertThat(rig.syncs).as("no sync after the failed one").isEmpty();
        assertThat(rig.map.committed(0)).as("never stored into the tables").isZero();
        assertThatThrownBy(rig::close).hasMessageContaining("an earlier fdatasync failed");
        assertThat(HeaderBits.features(rig.file.path()) & QedHeader.FEATURE_NEED_CHECK).isNotZero();
    }

    @Test
    void aSecondWithNothingToCommitMarksTheImageCleanAndGivesTheReservationBack() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ZERO, 1000)) {
            rig.writeCluster(0, (byte) 1);
            rig.runUntilIdle();
            assertThat(rig.pipeline.currentHeader().needsCheck()).isTrue();
            long used = Math.max(rig.map.committed(0) + PipelineRig.CLUSTER,
                    rig.map.l2Table(0) + rig.geometry.tableBytes()); // the data cluster and its new table
            assertThat(rig.file.size()).as("reserved ahead").isGreaterThan(used);

            rig.clock.advance(Duration.ofMillis(999));
            assertThat(rig.pipeline.committer().doWork()).isZero();
            rig.clock.advance(Duration.ofMillis(1));
            assertThat(rig.pipeline.committer().doWork()).isOne();
            assertThat(rig.pipeline.currentHeader().needsCheck()).isFalse();
            assertThat(HeaderCodec.read(rig.file).needsCheck()).isFalse();
            assertThat(rig.file.size()).as("the file ends at its last used cluster").isEqualTo(used);
        }
    }

    /** Grows the rig's file and commits that in the strict order, so that later batches lie in settled space. */
    private static void settle(PipelineRig rig) throws Exception {
        rig.writeCluster(PipelineRig.CLUSTERS_PER_TABLE, (byte) 9); // another table's range: grows the file
        rig.pipeline.requestSync();
        rig.runUntilIdle();
        rig.syncs.clear();
    }

    /** Whether each of {@code offsets} is mapped in this process right now. */
    private static List<Boolean> mapped(PipelineRig rig, long... offsets) throws IOException {
        List<Boolean> result = new ArrayList<>();
        for (long at : offsets) {
            result.add(PageTables.mappedHere(rig.file, at));
        }
        return result;
    }

    /** Writes guest clusters {@code from} to {@code from + count - 1}, cluster i filled with i + 1; their file offsets. */
    private static long[] writeClusters(PipelineRig rig, int from, int count) throws IOException {
        long[] data = new long[count];
        for (int i = 0; i < count; i++) {
            rig.writeCluster(from + i, (byte) (from + i + 1));
            data[i] = rig.map.lookup((long) (from + i) * PipelineRig.CLUSTER);
        }
        return data;
    }

    @Test
    void aRoundThatStoredIntoEnoughPlacesTakesThemOutOfThePageTablesBeforeItsSyncAndKeepsTheirBytes() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            settle(rig);
            int n = Committer.DROP_WORTHWHILE - 2; // n data clusters, an L2 page and an L1 page: just enough places
            long[] data = writeClusters(rig, 0, n);
            long table = rig.overlay.newTable(0);
            long l1 = rig.geometry.l1Offset();
            assertThat(mapped(rig, data)).as("the writers' stores mapped the data").containsOnly(true);
            List<List<Boolean>> atSync = new ArrayList<>();
            rig.atEachSync = () -> {
                atSync.add(mapped(rig, data));
                atSync.add(mapped(rig, table, l1));
            };
            rig.pipeline.requestSync();

            assertThat(rig.runUntilIdle()).as("one round").isOne();

            assertThat(atSync).as("data pages, then the L2 and L1 pages, when the sync began")
                    .containsExactly(Collections.nCopies(n, false), List.of(false, false));
            for (int i = 0; i < n; i++) {
                assertThat(rig.file.readOnlyView(data[i], PipelineRig.CLUSTER).toArray(ValueLayout.JAVA_BYTE))
                        .as("cluster %d, faulted back in", i).containsOnly((byte) (i + 1));
            }
            assertThat(rig.file.getEntryAcquire(table)).as("the first L2 entry, stored before the drop")
                    .isEqualTo(data[0]);
            assertThat(rig.file.getEntryAcquire(l1)).as("the L1 entry").isEqualTo(table);
        }
    }

    @Test
    void aRoundOfFewerPlacesLeavesThemMappedForTheSyncToWriteProtect() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            settle(rig);
            writeClusters(rig, 0, 1); // the table, linked now
            rig.pipeline.requestSync();
            rig.runUntilIdle();
            long[] data = writeClusters(rig, 1, Committer.DROP_WORTHWHILE - 2); // and one table page: one place short
            long table = rig.map.l2Table(0);
            List<List<Boolean>> atSync = new ArrayList<>();
            rig.atEachSync = () -> {
                atSync.add(mapped(rig, data));
                atSync.add(mapped(rig, table));
            };
            rig.pipeline.requestSync();

            assertThat(rig.runUntilIdle()).as("one round").isOne();

            assertThat(atSync).as("too few places for a drop to pay")
                    .containsExactly(Collections.nCopies(data.length, true), List.of(true));
        }
    }

    @Test
    void withoutProcessMadviseEachRangeIsTakenOutOnItsOwn() throws Exception {
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            settle(rig);
            long[] data = writeClusters(rig, 0, Committer.DROP_WORTHWHILE - 2); // and the new table's two pages
            long table = rig.overlay.newTable(0);
            List<List<Boolean>> atSync = new ArrayList<>();
            rig.atEachSync = () -> atSync.add(mapped(rig, data[0], data[data.length - 1], table));
            rig.pipeline.requestSync();
            rig.file.useProcessMadvise(false); // as on a kernel before 6.15
            rig.runUntilIdle();
            assertThat(atSync).containsExactly(List.of(false, false, false));
        }
    }

    @Test
    void onLinux615AndLaterTheKernelTakesTheDropAsOneProcessMadviseCall() throws Exception {
        String[] version = System.getProperty("os.version").split("[.-]");
        int major = Integer.parseInt(version[0]);
        int minor = Integer.parseInt(version[1]);
        assumeTrue(major > 6 || major == 6 && minor >= 15, "PIDFD_SELF and process_madvise for the caller: Linux 6.15");
        try (PipelineRig rig = new PipelineRig(dir, Duration.ofDays(1), 1000)) {
            settle(rig);
            writeClusters(rig, 0, Committer.DROP_WORTHWHILE - 2); // and the new table's two pages
            rig.pipeline.requestSync();
            rig.runUntilIdle();
            assertThat(rig.file.usesProcessMadvise()).as("kernel %s", System.getProperty("os.version")).isTrue();
        }
    }
}
