package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.QedIoException;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.PageCache;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The allocator on its own: fresh zeroed space at the end, reserved in steps, given back. */
class ClusterAllocatorTest {
    private static final int CLUSTER = 65536;
    private static final long STEP = 8L << 20;
    private static final long CLUSTERS_PER_STEP = STEP / CLUSTER;

    @TempDir
    Path dir;

    private Path path() {
        return dir.resolve("alloc.img");
    }

    /** A file of {@code clusters} clusters whose fallocate fails with ENOSPC past {@code limit} bytes. */
    private MappedImageFile file(long clusters, long limit) throws IOException {
        Path p = path();
        Files.write(p, new byte[(int) (clusters * CLUSTER)]);
        return MappedImageFile.open(p, true, new StorageObserver() {
            @Override
            public int beforeSync(Path file) {
                return PROCEED;
            }

            @Override
            public int beforeExtend(Path file, long newSize) {
                return newSize > limit ? ENOSPC : PROCEED;
            }
        });
    }

    @Test
    void clustersComeOneAfterAnotherFromTheEndAndSpaceIsReservedInSteps() throws IOException {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER);
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(2L * CLUSTER);
            assertThat(file.size()).as("one step of 8 MiB reserved past the end").isEqualTo(2L * CLUSTER + (8 << 20));
            assertThat(allocator.allocate(2 * CLUSTER)).isEqualTo(3L * CLUSTER);
            assertThat(allocator.usedEnd()).isEqualTo(5L * CLUSTER);
            allocator.trimToUsed();
            assertThat(file.size()).as("a clean file ends at its last used cluster").isEqualTo(5L * CLUSTER);
        }
    }

    @Test
    void aNearlyFullDiskStillGivesWhatIsNeededNowAndAFullOneFailsWithoutTakingAnything() throws IOException {
        try (MappedImageFile file = file(2, 4L * CLUSTER)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER);
            assertThat(allocator.allocate(CLUSTER)).as("no room for a step, room for one cluster").isEqualTo(2L * CLUSTER);
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(3L * CLUSTER);
            assertThatThrownBy(() -> allocator.allocate(CLUSTER)).isInstanceOfSatisfying(QedIoException.class,
                    e -> assertThat(e.isNoSpace()).isTrue());
            assertThat(allocator.usedEnd()).as("nothing taken by the failure").isEqualTo(4L * CLUSTER);
        }
    }

    @Test
    void spaceRolledBackIsZeroedAndHandedOutAgain() throws IOException {
        try (MappedImageFile file = file(1, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER);
            allocator.mark();
            long cluster = allocator.allocate(CLUSTER);
            file.copyIn(new byte[]{1, 2, 3}, 0, cluster + 100, 3); // a write that then failed
            allocator.rollBack();
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(cluster);
            byte[] back = new byte[3];
            file.copyOut(cluster + 100, back, 0, 3);
            assertThat(back).as("fresh space reads as zeros again").containsOnly(0);
        }
    }

    /*
     * Settled space (the class comment of ClusterAllocator): what the commit pipeline may
     * link before the data is durable. Each change that a crash could undo unsettles what
     * is handed out until a sync that began after it has completed.
     */

    @Test
    void spaceAtTheEndIsSettledOnlyOnceASyncHasFollowedTheGrowthOfTheFile() throws IOException {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            allocator.mark();
            allocator.allocate(CLUSTER); // grows the file: the new length is not durable yet
            assertThat(allocator.settledSinceMark()).as("right after the growth").isFalse();
            allocator.mark();
            allocator.allocate(CLUSTER);
            assertThat(allocator.settledSinceMark()).as("no sync since the growth").isFalse();
            file.sync();
            allocator.mark();
            allocator.allocate(CLUSTER);
            allocator.allocate(CLUSTER);
            assertThat(allocator.settledSinceMark()).as("inside the synced length").isTrue();
        }
    }

    @Test
    void reusedSpaceIsSettledOnlyOnceASyncHasFollowedItsReservation() throws IOException {
        try (MappedImageFile file = file(32, Long.MAX_VALUE)) {
            FreeSpace free = new FreeSpace();
            assertThat(file.punchHole(4L * CLUSTER, 4L * CLUSTER)).isTrue();
            free.add(4L * CLUSTER, 4L * CLUSTER);
            file.sync(); // the punch is durable; the window's reservation comes after
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, free);
            allocator.mark();
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(4L * CLUSTER);
            assertThat(allocator.settledSinceMark()).as("a new window, not synced since").isFalse();
            file.sync();
            allocator.mark();
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(5L * CLUSTER);
            assertThat(allocator.settledSinceMark()).isTrue();
        }
    }

    @Test
    void spaceTakenBackUnsettlesUntilItsZerosAreSynced() throws IOException {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            allocator.allocate(CLUSTER);
            file.sync();
            allocator.mark();
            long at = allocator.allocate(CLUSTER);
            file.copyIn(new byte[] {9}, 0, at, 1); // a failed write's byte, perhaps written back already
            allocator.rollBack();                  // zeroed in the page cache only
            allocator.mark();
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(at);
            assertThat(allocator.settledSinceMark()).as("its zeros are not durable").isFalse();
            file.sync();
            allocator.mark();
            allocator.allocate(CLUSTER);
            assertThat(allocator.settledSinceMark()).isTrue();
        }
    }

    /*
     * Growing ahead (the class comment): the next step is added while the batches that still
     * use the current one sync, so that its length is durable before anything lands there.
     */

    @Test
    void theFileGrowsByTheNextStepOnceLessThanHalfAStepIsLeftAndTheSyncedSpaceStaysSettled() throws IOException {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            allocator.allocate(CLUSTER);
            file.sync();
            long half = CLUSTERS_PER_STEP / 2;
            allocator.mark();
            for (long k = 2; k <= half; k++) {
                allocator.allocate(CLUSTER);
            }
            assertThat(file.size()).as("half a step left: not grown yet").isEqualTo(2L * CLUSTER + STEP);
            allocator.allocate(CLUSTER);
            assertThat(file.size()).as("less than half a step left: grown by the next").isEqualTo(2L * CLUSTER + 2 * STEP);
            assertThat(allocator.settledSinceMark()).as("everything so far lies inside the synced length").isTrue();
            allocator.mark();
            for (long k = half + 2; k <= CLUSTERS_PER_STEP; k++) {
                allocator.allocate(CLUSTER);
            }
            assertThat(allocator.settledSinceMark()).as("the rest of the synced step, after the growth").isTrue();
            allocator.mark();
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(2L * CLUSTER + STEP);
            assertThat(allocator.settledSinceMark()).as("past the synced length: the growth is not durable").isFalse();
            file.sync();
            allocator.mark();
            allocator.allocate(CLUSTER);
            assertThat(allocator.settledSinceMark()).as("the new step, once a sync followed its growth").isTrue();
        }
    }

    @Test
    void aGrowthAheadThatFailsFailsNoAllocationAndTheAllocationThatNeedsTheSpaceReportsIt() throws IOException {
        try (MappedImageFile file = file(2, 2L * CLUSTER + STEP)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER);
            for (long k = 1; k <= CLUSTERS_PER_STEP; k++) {
                assertThat(allocator.allocate(CLUSTER)).isEqualTo((k + 1) * CLUSTER);
            }
            assertThat(file.size()).as("the growth ahead failed").isEqualTo(2L * CLUSTER + STEP);
            assertThatThrownBy(() -> allocator.allocate(CLUSTER)).isInstanceOfSatisfying(QedIoException.class,
                    e -> assertThat(e.isNoSpace()).isTrue());
            assertThat(allocator.usedEnd()).isEqualTo(2L * CLUSTER + STEP);
        }
    }

    /*
     * First blocks written ahead (the class comment): zeros stored into one 4 KiB block of
     * each cluster, two chunks of clusters ahead of the latest allocation, the block where
     * the latest first stores landed, while syncs carry few new clusters each; a chunk holds
     * about four syncs' worth of new clusters. The stores show as pages in the page cache:
     * nothing else touches the pages of space that is only reserved.
     */

    /** A lone writer's chunk: one new cluster in each sync. */
    private static final long CHUNK = ClusterAllocator.FIRST_BLOCKS_MIN_CHUNK_CLUSTERS;
    private static final long LARGEST_CHUNK = ClusterAllocator.FIRST_BLOCKS_MAX_CHUNK_CLUSTERS;
    private static final long SAMPLE = ClusterAllocator.FIRST_BLOCKS_SAMPLE_CLUSTERS;

    @Test
    void whileEachSyncCarriesOneNewClusterTheFirstBlocksOfTheNextTwoSmallestChunksAreWrittenAhead() throws Exception {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            PageCache.drop(path());
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            long at = allocator.allocate(CLUSTER); // no first store seen yet: the first blocks
            assertThat(PageCache.residentPages(path())).as("two chunks, a page each cluster").isEqualTo(2 * CHUNK);
            for (long k = 2; k <= CLUSTERS_PER_STEP + 8; k++) { // through a growth ahead
                at = allocator.allocate(CLUSTER);
                allocator.firstStoreLanded(0, 4096); // 4 KiB at the start of each cluster
                file.sync(); // a sync for every new cluster, as a depth-1 write-through writer makes
            }
            assertThat(file.size()).as("grown ahead").isEqualTo(2L * CLUSTER + 2 * STEP);
            long next = at + CLUSTER;
            for (long cluster = next; cluster < next + 2 * CHUNK * CLUSTER; cluster += CLUSTER) {
                assertThat(PageCache.resident(path(), cluster, 4096)).as("first block at %d", cluster).isTrue();
                assertThat(PageCache.resident(path(), cluster + 4096, 4096)).as("second block at %d", cluster)
                        .isFalse();
            }
            // Written ahead from the second cluster on: those handed out since, and two or three chunks more.
            long handedOutSince = (next - 3L * CLUSTER) / CLUSTER;
            assertThat(PageCache.residentPages(path())).as("no more than three chunks ahead")
                    .isBetween(handedOutSince + 2 * CHUNK, handedOutSince + 3 * CHUNK);
        }
    }

    @Test
    void theFirstBlocksAreWrittenPastTheMappingSoThatOnlyTheDataStoreMapsTheirPages() throws Exception {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            PageCache.drop(path());
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            long at = allocator.allocate(CLUSTER);
            for (long cluster = at + CLUSTER; cluster < at + (2 * CHUNK + 1) * CLUSTER; cluster += CLUSTER) {
                assertThat(PageCache.resident(path(), cluster, 4096)).as("written ahead at %d", cluster).isTrue();
                assertThat(PageTables.mappedHere(file, cluster)).as("mapped in this process at %d", cluster).isFalse();
            }
            long next = allocator.allocate(CLUSTER);
            file.copyIn(MemorySegment.ofArray(new byte[4096]), 0, next, 4096);
            assertThat(PageTables.mappedHere(file, next)).as("the data's store maps it").isTrue();
        }
    }

    @Test
    void whileEachSyncCarriesFourNewClustersTheChunksHoldSixteen() throws Exception {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            // Four new clusters in each sync, as a few writers in parallel make.
            long next = allocateAsAWriter(allocator, file, 6 * SAMPLE, 4, 0, 4096) + CLUSTER;
            long ahead = 0;
            while (PageCache.resident(path(), next + ahead * CLUSTER, 4096)) {
                ahead++;
            }
            assertThat(ahead).as("first blocks written ahead of the latest allocation, in a row")
                    .isBetween(2 * LARGEST_CHUNK, 3 * LARGEST_CHUNK - 1);
            assertThat(PageCache.resident(path(), next + (ahead + 1) * CLUSTER, 4096)).as("nothing past them")
                    .isFalse();
        }
    }

    @Test
    void theBlockWrittenAheadIsTheOneTheLatestFirstStoresLandedIn() throws Exception {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            long at = allocateAsAWriter(allocator, file, 2 * SAMPLE, 1, 4096 + 512, 1024); // in each second block
            for (long cluster = at + CLUSTER; cluster < at + (2 * CHUNK + 1) * CLUSTER; cluster += CLUSTER) {
                assertThat(PageCache.resident(path(), cluster + 4096, 4096)).as("second block at %d", cluster)
                        .isTrue();
                assertThat(PageCache.resident(path(), cluster, 4096)).as("first block at %d", cluster).isFalse();
            }
        }
    }

    @Test
    void inAWindowOfReusedSpaceTheFirstBlocksAheadAreWrittenAsAtTheEnd() throws Exception {
        long window = 4 * CHUNK; // clusters of punched space between used ones
        try (MappedImageFile file = file(window + 4, Long.MAX_VALUE)) {
            FreeSpace free = new FreeSpace();
            assertThat(file.punchHole(2L * CLUSTER, window * CLUSTER)).isTrue();
            free.add(2L * CLUSTER, window * CLUSTER);
            PageCache.drop(path());
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, free);
            long at = 0;
            for (long k = 1; k <= CHUNK + 1; k++) {
                at = allocator.allocate(CLUSTER);
                allocator.firstStoreLanded(0, 4096);
                file.sync();
            }
            assertThat(at).as("from the window").isEqualTo((2 + CHUNK) * CLUSTER);
            for (long cluster = at + CLUSTER; cluster < at + (2 * CHUNK + 1) * CLUSTER; cluster += CLUSTER) {
                assertThat(PageCache.resident(path(), cluster, 4096)).as("first block at %d", cluster).isTrue();
            }
            assertThat(file.size()).as("the end of the file untouched").isEqualTo((window + 4) * CLUSTER);
        }
    }

    @Test
    void aWindowGivenBackForAnotherHasTheFirstBlocksWrittenAheadInItPunchedSoItsFreeSpaceIsHolesAgain() throws Exception {
        long window = 4 * CHUNK; // a first run of punched space, and a larger one after it
        long larger = window + 8;
        long second = 2 + window + 2;
        try (MappedImageFile file = file(second + larger + 2, Long.MAX_VALUE)) {
            FreeSpace free = new FreeSpace();
            assertThat(file.punchHole(2L * CLUSTER, window * CLUSTER)).isTrue();
            assertThat(file.punchHole(second * CLUSTER, larger * CLUSTER)).isTrue();
            free.add(2L * CLUSTER, window * CLUSTER);
            free.add(second * CLUSTER, larger * CLUSTER);
            PageCache.drop(path());
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, free);
            long at = allocateAsAWriter(allocator, file, CHUNK + 1, 1, 0, 4096);
            long rest = at / CLUSTER + 1; // the first window's clusters not handed out
            assertThat(PageCache.resident(path(), at + CLUSTER, 4096)).as("a first block written ahead in the window")
                    .isTrue();
            file.sync();

            assertThat(allocator.allocate(window * CLUSTER)).as("more than the window has left: the larger run")
                    .isEqualTo(second * CLUSTER);

            assertThat(file.holeClusters(rest, 2 + window, CLUSTER)).as("the first window's rest, free again")
                    .isEqualTo(2 + window - rest);
        }
    }

    @Test
    void firstStoresThatSpanBlocksOrDisagreeGetNothingWrittenAhead() throws Exception {
        assertThat(pagesStoredAhead(k -> 0, CLUSTER)).as("whole clusters: every block converted anyway").isZero();
        assertThat(pagesStoredAhead(k -> 4096 - 512, 1024)).as("across the first two blocks").isZero();
        assertThat(pagesStoredAhead(k -> (k % (CLUSTER / 4096)) * 4096, 4096))
                .as("a different block each time, as a random writer's").isZero();
        assertThat(pagesStoredAhead(k -> 2 * 4096, 4096)).as("the same block each time: four chunks")
                .isEqualTo(4 * CHUNK);
    }

    /**
     * Allocates clusters one per sync, telling the allocator that the first store into the
     * k-th landed at {@code firstStoreAt(k)}: nine to learn where, then four chunks' worth;
     * returns the pages stored over those (nothing else touches a page).
     */
    private long pagesStoredAhead(java.util.function.LongUnaryOperator firstStoreAt, long bytes) throws Exception {
        Files.deleteIfExists(path());
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            long before = 0;
            for (long k = 1; k <= 9 + 4 * CHUNK; k++) {
                if (k == 10) {
                    before = PageCache.residentPages(path());
                }
                allocator.allocate(CLUSTER);
                allocator.firstStoreLanded(firstStoreAt.applyAsLong(k), bytes);
                file.sync();
            }
            return PageCache.residentPages(path()) - before;
        }
    }

    @Test
    void withClustersOfOneBlockEveryFirstStoreCoversItsClusterAndNothingIsWrittenAhead() throws Exception {
        int cluster = 4096;
        Files.deleteIfExists(path());
        Files.write(path(), new byte[2 * cluster]);
        try (MappedImageFile file = MappedImageFile.open(path(), true)) {
            ClusterAllocator allocator = new ClusterAllocator(file, cluster, new FreeSpace());
            allocator.allocate(cluster);
            allocator.firstStoreLanded(0, cluster);
            file.sync();
            long before = PageCache.residentPages(path());
            for (long k = 2; k <= 8 * CHUNK; k++) {
                allocator.allocate(cluster);
                allocator.firstStoreLanded(0, cluster); // a 4 KiB write fills a 4 KiB cluster
                file.sync();
            }
            assertThat(PageCache.residentPages(path()) - before).as("nothing stored ahead").isZero();
        }
    }

    @Test
    void whenManyNewClustersShareEachSyncNoFirstBlocksAreWrittenOnceASampleShowsIt() throws Exception {
        assertThat(pagesStoredInABurst(0)).as("no sync at all: a write-back stream").containsExactly(0);
        assertThat(pagesStoredInABurst(16)).as("16 new clusters in each sync: 32 writes in flight").containsExactly(0);
    }

    /**
     * After two clusters with a sync each, allocates 8 samples' worth of clusters with a sync
     * after every {@code clustersPerSync} of them (0: none); checks that at most a sample's
     * worth of pages was stored ahead in the first two samples, and returns those stored
     * ahead after them.
     */
    private long[] pagesStoredInABurst(int clustersPerSync) throws Exception {
        Files.deleteIfExists(path());
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            for (int k = 1; k <= 2; k++) { // one per sync: the chunks these write are not counted
                allocator.allocate(CLUSTER);
                allocator.firstStoreLanded(0, 4096);
                file.sync();
            }
            long before = PageCache.residentPages(path());
            long afterTwoSamples = 0;
            for (long k = 1; k <= 8 * SAMPLE; k++) {
                allocator.allocate(CLUSTER);
                allocator.firstStoreLanded(0, 4096);
                if (clustersPerSync > 0 && k % clustersPerSync == 0) {
                    file.sync();
                }
                if (k == 2 * SAMPLE) {
                    afterTwoSamples = PageCache.residentPages(path());
                }
            }
            assertThat(afterTwoSamples - before).as("written before the rate showed: at most a sample's worth")
                    .isLessThanOrEqualTo(SAMPLE);
            return new long[] {PageCache.residentPages(path()) - afterTwoSamples};
        }
    }

    @Test
    void aWriterThatSlowsDownAgainHasItsFirstBlocksWrittenAheadAgainAfterASample() throws Exception {
        try (MappedImageFile file = file(2, Long.MAX_VALUE)) {
            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, new FreeSpace());
            allocateAsAWriter(allocator, file, 4 * SAMPLE, 0, 0, 4096); // a burst with no sync
            long before = PageCache.residentPages(path());
            long at = allocateAsAWriter(allocator, file, 3 * SAMPLE, 1, 0, 4096); // then one new cluster in each sync
            assertThat(PageCache.residentPages(path())).as("written ahead again").isGreaterThan(before);
            assertThat(PageCache.resident(path(), at + CLUSTER, 4096)).as("the next cluster's first block").isTrue();
        }
    }

    /**
     * Hands out {@code clusters} clusters as a writer would, each with its first store of
     * {@code bytes} at {@code inCluster}, and a sync after every {@code perSync} of them (0:
     * none); returns the offset of the last.
     */
    private static long allocateAsAWriter(ClusterAllocator allocator, MappedImageFile file, long clusters,
                                          long perSync, long inCluster, long bytes) throws IOException {
        long at = 0;
        for (long k = 1; k <= clusters; k++) {
            at = allocator.allocate(CLUSTER);
            allocator.firstStoreLanded(inCluster, bytes);
            if (perSync > 0 && k % perSync == 0) {
                file.sync();
            }
        }
        return at;
    }
}
