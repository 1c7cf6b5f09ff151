package org.qedkit.internal;

import org.agrona.concurrent.NanoClock;
import org.qedkit.CreateOptions;
import org.qedkit.QedImage;
import org.qedkit.internal.hooks.StorageObserver;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The write path's rooms wired by hand around a real image file, with no commit thread:
 * the test drives the committer through {@code doWork()} and moves its clock itself. A
 * storage observer snapshots, at every sync, the L1 and L2 entries of the image's first
 * table, so tests can see in which order the steps reached the disk.
 */
final class PipelineRig implements AutoCloseable {
    static final int CLUSTER = 4096;
    /** Entries in one L2 table (table size 1): guest cluster {@code CLUSTERS_PER_TABLE} is in the second table. */
    static final int CLUSTERS_PER_TABLE = CLUSTER / 8;

    /** The clock the committer reads: it moves only when the test says. */
    static final class ManualClock implements NanoClock {
        private volatile long now = 1_000_000_000L;

        @Override
        public long nanoTime() {
            return now;
        }

        void advance(Duration by) {
            now += by.toNanos();
        }
    }

    /** A look at the file that may fail to read it. */
    interface IoCheck {
        void run() throws IOException;
    }

    /** What the first L1 entry and the first L2 entries held when a sync began. */
    record SyncSnapshot(long l1Entry, long l2Entry0, long l2Entry1) {
    }

    final ManualClock clock = new ManualClock();
    final List<SyncSnapshot> syncs = new ArrayList<>();
    volatile int failSyncsWith = StorageObserver.PROCEED;
    /** Run at every sync, before its snapshot: a test looks at what the sync is about to find. */
    volatile IoCheck atEachSync = () -> { };
    final MappedImageFile file;
    final Geometry geometry;
    final PendingOverlay overlay = new PendingOverlay();
    final ClusterMap map;
    final CommitPipeline pipeline;
    final WritePlanner planner;

    PipelineRig(Path dir, Duration commitInterval, int maxQueuedEntries) throws IOException {
        Path path = dir.resolve("rig.qed");
        QedImage.create(path, CreateOptions.ofSize(64L << 20).withClusterSize(CLUSTER).withTableSize(1));
        StorageObserver observer = new StorageObserver() {
            @Override
            public int beforeSync(Path ignored) {
                try {
                    atEachSync.run();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                if (failSyncsWith == PROCEED) {
                    syncs.add(snapshot());
                }
                return failSyncsWith;
            }
        };
        file = MappedImageFile.open(path, true, observer);
        var header = HeaderCodec.read(file);
        geometry = Geometry.of(header);
        map = new ClusterMap(file, geometry, 0, overlay);
        FreeSpace free = new FreeSpace();
        ReaderEpochs epochs = new ReaderEpochs();
        ClusterAllocator allocator = new ClusterAllocator(file, geometry.clusterSize(), free);
        pipeline = new CommitPipeline(file, map, overlay, allocator, new SpaceReclaimer(file, free, epochs),
                new HeaderState(file, header), new CommitSettings(commitInterval, maxQueuedEntries, clock), false);
        planner = new WritePlanner(file, map, overlay, allocator, null, pipeline, epochs);
    }

    private SyncSnapshot snapshot() {
        long l1 = file.getEntryAcquire(geometry.l1Offset());
        long table = l1 != 0 ? l1 : overlay.newTable(0); // a new table is found through the overlay until linked
        if (table == 0) {
            return new SyncSnapshot(l1, 0, 0);
        }
        return new SyncSnapshot(l1, file.getEntryAcquire(table), file.getEntryAcquire(table + 8));
    }

    /** Writes one cluster's worth of {@code fill} at guest cluster {@code index}. */
    void writeCluster(int index, byte fill) throws IOException {
        byte[] bytes = new byte[CLUSTER];
        java.util.Arrays.fill(bytes, fill);
        planner.write((long) index * CLUSTER, CLUSTER, java.lang.foreign.MemorySegment.ofArray(bytes), 0);
    }

    /** Runs the committer until a round does nothing; returns how many rounds did something. */
    int runUntilIdle() {
        int rounds = 0;
        while (pipeline.committer().doWork() > 0) {
            rounds++;
        }
        return rounds;
    }

    @Override
    public void close() throws IOException {
        try {
            pipeline.close();
        } finally {
            file.close();
        }
    }
}
