package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The reclaimer's rule, step by step: retired space becomes free only after a sync that
 * began after its unlinking, and after every read that entered before it has exited; a
 * table waits for two grace periods. Then it is punched and reused, lowest offset first.
 */
class SpaceReclaimerTest {
    private static final int CLUSTER = 65536;

    @TempDir
    Path dir;

    private MappedImageFile file(int clusters) throws IOException {
        Path p = dir.resolve("reclaim.img");
        Files.write(p, new byte[clusters * CLUSTER]);
        return MappedImageFile.open(p, true);
    }

    @Test
    void retiredSpaceWaitsForASyncThatBeganAfterItWasUnlinked() throws IOException {
        try (MappedImageFile file = file(8)) {
            FreeSpace free = new FreeSpace();
            SpaceReclaimer reclaimer = new SpaceReclaimer(file, free, new ReaderEpochs());
            file.sync(); // a sync before the retirement does not count
            reclaimer.retire(new long[] {2L * CLUSTER, CLUSTER}, 1, false);
            reclaimer.reclaimDue();
            assertThat(free.bytes()).isZero();
            file.sync();
            reclaimer.reclaimDue();
            assertThat(free.bytes()).isEqualTo(CLUSTER);
            assertThat(reclaimer.hasWaiting()).isFalse();
        }
    }

    @Test
    void retiredSpaceWaitsForEveryReadThatEnteredBeforeIt() throws Exception {
        try (MappedImageFile file = file(8)) {
            FreeSpace free = new FreeSpace();
            ReaderEpochs epochs = new ReaderEpochs();
            SpaceReclaimer reclaimer = new SpaceReclaimer(file, free, epochs);
            try (ReaderEpochsTest.Reader reader = ReaderEpochsTest.Reader.inSection(epochs, false)) { // looked the old entry up
                reclaimer.retire(new long[] {2L * CLUSTER, CLUSTER}, 1, false);
                file.sync();
                for (int i = 0; i < 10; i++) {
                    reclaimer.reclaimDue();
                }
                assertThat(free.bytes()).as("freed while a read may still copy from it").isZero();
                // A read that began after the unlinking does not hold it up.
                try (ReaderEpochsTest.Reader later = ReaderEpochsTest.Reader.inSection(epochs, true)) {
                    reader.close();
                    reclaimer.reclaimDue();
                    assertThat(free.bytes()).isEqualTo(CLUSTER);
                }
            }
        }
    }

    @Test
    void aTableWaitsForTwoGracePeriods() throws Exception {
        try (MappedImageFile file = file(8)) {
            FreeSpace free = new FreeSpace();
            ReaderEpochs epochs = new ReaderEpochs();
            SpaceReclaimer reclaimer = new SpaceReclaimer(file, free, epochs);
            reclaimer.retire(new long[] {4L * CLUSTER, 4L * CLUSTER}, 1, true);
            file.sync();
            epochs.tryAdvance();
            epochs.tryAdvance(); // the first grace period is over
            // A read that picked up the table from the cache during the first period:
            try (ReaderEpochsTest.Reader reader = ReaderEpochsTest.Reader.inSection(epochs, false)) {
                for (int i = 0; i < 10; i++) {
                    reclaimer.reclaimDue();
                }
                assertThat(free.bytes()).isZero();
            }
            reclaimer.reclaimDue();
            assertThat(free.bytes()).isEqualTo(4L * CLUSTER);
        }
    }

    @Test
    void freedSpaceIsPunchedReadsAsZerosAndIsHandedOutLowestFirst() throws IOException {
        try (MappedImageFile file = file(16)) {
            FreeSpace free = new FreeSpace();
            SpaceReclaimer reclaimer = new SpaceReclaimer(file, free, new ReaderEpochs());
            file.copyIn(new byte[] {1, 2, 3}, 0, 6L * CLUSTER + 10, 3);
            long allocatedBefore = file.allocatedBytes();
            reclaimer.retire(new long[] {9L * CLUSTER, CLUSTER, 6L * CLUSTER, 2L * CLUSTER}, 2, false);
            file.sync();
            reclaimer.reclaimDue();
            assertThat(reclaimer.punchedBytes()).isEqualTo(3L * CLUSTER);
            assertThat(allocatedBefore - file.allocatedBytes()).isEqualTo(3L * CLUSTER);
            byte[] back = new byte[3];
            file.copyOut(6L * CLUSTER + 10, back, 0, 3);
            assertThat(back).containsOnly(0);

            ClusterAllocator allocator = new ClusterAllocator(file, CLUSTER, free);
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(6L * CLUSTER);
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(7L * CLUSTER);
            assertThat(allocator.allocate(CLUSTER)).isEqualTo(9L * CLUSTER);
            assertThat(allocator.allocate(CLUSTER)).as("then the end of the file").isEqualTo(16L * CLUSTER);
            assertThat(file.seekData(6L * CLUSTER)).as("reused space is reserved again").isEqualTo(6L * CLUSTER);
            assertThat(file.seekHole(6L * CLUSTER)).isGreaterThanOrEqualTo(8L * CLUSTER);
            assertThat(file.seekData(9L * CLUSTER)).isEqualTo(9L * CLUSTER);
        }
    }
}
