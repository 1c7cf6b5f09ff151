package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.testing.Bytes;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The free-space scan of an open beside a discard (docs/crash-consistency.md, the double
 * free the process-crash campaign found): a discard unlinks a cluster's entry and then
 * retires the cluster, both under the plan lock. A scan that reads the tables between the
 * two sees the cluster as unused; it must still leave it to the reclaimer, which frees it
 * once the unlinking is durable. Freed by both, it would be handed to two new owners, and
 * the second punch would wipe the first owner's data.
 */
class FreeSpaceScanRaceTest {
    private static final int CLUSTER = 4096;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aClusterUnlinkedWhileTheScanReadsTheTablesIsFreedOnceByTheReclaimer() throws Exception {
        Path path = dir.resolve("scan.qed");
        QedImage.create(path, CreateOptions.ofSize(8L << 20).withClusterSize(CLUSTER));
        try (QedImage qed = QedImage.open(path, OpenOptions.READ_WRITE)) {
            for (int i = 0; i < 4; i++) {
                qed.write((long) i * CLUSTER, MemorySegment.ofArray(Bytes.random(i, CLUSTER)));
            }
        }
        try (MappedImageFile file = MappedImageFile.open(path, true)) {
            Geometry geometry = Geometry.of(HeaderCodec.read(file));
            ClusterMap map = new ClusterMap(file, geometry, 0, new PendingOverlay());
            long guest = 2L * CLUSTER;
            long cluster = map.lookup(guest);
            long entryAt = map.l2EntryOffset(map.linkedTable(guest), guest);
            FreeSpace free = new FreeSpace();
            ReaderEpochs epochs = new ReaderEpochs();
            SpaceReclaimer reclaimer = new SpaceReclaimer(file, free, epochs);
            ReentrantLock planLock = new ReentrantLock();
            FreeSpaceScan scan = new FreeSpaceScan(file, geometry, epochs, reclaimer, free, planLock);
            reclaimer.startRecording(scan);

            Thread scanning;
            planLock.lock(); // a discard, half done: the entry is unlinked, the cluster not yet retired
            try {
                file.setEntryRelease(entryAt, ClusterMap.UNALLOCATED);
                scanning = Thread.ofPlatform().name("scan").start(scan);
                awaitParkedOrDone(scanning); // it has read the tables: only the lock can hold it now
                reclaimer.retire(new long[] {cluster, CLUSTER}, 1, false);
            } finally {
                planLock.unlock();
            }
            scanning.join();
            assertThat(free.overlaps(cluster, CLUSTER)).as("the scan left the retired cluster alone").isFalse();

            file.sync(); // the unlinking is durable: the reclaimer may free the cluster now
            reclaimer.reclaimDue();
            assertThat(free.overlaps(cluster, CLUSTER)).as("freed by the reclaimer").isTrue();
            assertThat(free.bytes()).as("freed once: nothing else in the file is unused").isEqualTo(CLUSTER);
        }
    }

    /** Waits until {@code t} waits for a lock or has ended (without the lock, the scan simply ends). */
    private static void awaitParkedOrDone(Thread t) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TERMINATED
                && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
    }
}
