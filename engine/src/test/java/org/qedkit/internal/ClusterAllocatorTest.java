package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.QedIoException;
import org.qedkit.internal.hooks.StorageObserver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The allocator on its own: fresh zeroed space at the end, reserved in steps, given back. */
class ClusterAllocatorTest {
    private static final int CLUSTER = 65536;

    @TempDir
    Path dir;

    /** A file of {@code clusters} clusters whose fallocate fails with ENOSPC past {@code limit} bytes. */
    private MappedImageFile file(long clusters, long limit) throws IOException {
        Path p = dir.resolve("alloc.img");
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
}
