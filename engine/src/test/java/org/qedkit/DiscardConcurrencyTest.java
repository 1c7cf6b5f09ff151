package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Space reuse under lock-free readers: while writers keep writing, discarding and rewriting
 * a small set of clusters (so freed clusters are punched and handed out again all the
 * time), readers of those same offsets never see a byte that was written at another offset.
 *
 * <p>Every 8-byte word a writer stores at guest cluster {@code c} carries {@code c + 1} in
 * its upper half. A reader may see zeros (a discard), any generation of its own cluster, or a
 * mix while a write or discard of that very offset is under way; a word with another
 * cluster's number means it copied from a cluster that had been freed and reused for another
 * offset under its feet, which is what the grace periods of {@code ReaderEpochs} prevent.
 */
class DiscardConcurrencyTest {
    private static final int CLUSTER = 4096;
    private static final int CLUSTERS = 256;
    private static final Duration RUN = Duration.ofSeconds(3);
    /**
     * Without reuse the file would grow by one cluster for each of these; with it, it stays
     * near {@link #CLUSTERS}. Sixteen times the guest's clusters: a CPU-starved commit
     * thread frees space late and the file grows meanwhile (a fresh-clone CI run here, with
     * benchmarks beside it on the two cores, reached 1,048 clusters at 2,071 writes); the longer run lets reuse catch up,
     * and without reuse the file would still grow by all of them.
     */
    private static final long ALLOCATING_WRITES = 16L * CLUSTERS;
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private static byte[] stamped(int cluster, int generation) {
        ByteBuffer b = ByteBuffer.allocate(CLUSTER).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            b.putLong(((long) (cluster + 1) << 32) | (generation & 0xffffffffL));
        }
        return b.array();
    }

    @Test
    void readersNeverSeeAnotherOffsetsBytesWhileFreedClustersAreReused() throws Exception {
        Path p = dir.resolve("churn.qed");
        QedImage.create(p, CreateOptions.ofSize((long) CLUSTERS * CLUSTER * 4).withClusterSize(CLUSTER));
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<String> violation = new AtomicReference<>();
        AtomicLong allocatingWrites = new AtomicLong();
        AtomicLong reads = new AtomicLong();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE.withCommitInterval(Duration.ofMillis(2)))) {
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                threads.add(Thread.ofPlatform().start(() -> {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    int generation = 0;
                    try {
                        while (!stop.get()) {
                            int c = random.nextInt(CLUSTERS);
                            if (random.nextInt(3) == 0) {
                                image.discard((long) c * CLUSTER, (long) CLUSTER * (1 + random.nextInt(4)));
                            } else {
                                if (image.extentAt((long) c * CLUSTER).kind() != Extent.Kind.DATA) {
                                    allocatingWrites.incrementAndGet();
                                }
                                image.write((long) c * CLUSTER, stamped(c, ++generation));
                            }
                        }
                    } catch (Exception | AssertionError e) {
                        violation.compareAndSet(null, "writer: " + e);
                    }
                }));
            }
            for (int r = 0; r < 2; r++) {
                threads.add(Thread.ofPlatform().start(() -> {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    byte[] buffer = new byte[CLUSTER];
                    ByteBuffer words = ByteBuffer.wrap(buffer).order(ByteOrder.LITTLE_ENDIAN);
                    try {
                        while (!stop.get()) {
                            int c = random.nextInt(CLUSTERS);
                            image.read((long) c * CLUSTER, buffer);
                            reads.incrementAndGet();
                            for (int i = 0; i < CLUSTER; i += 8) {
                                long word = words.getLong(i);
                                if (word != 0 && (word >>> 32) != c + 1) {
                                    violation.compareAndSet(null, "cluster " + c + " word " + i / 8
                                            + " holds 0x" + Long.toHexString(word) + ", written at cluster "
                                            + ((word >>> 32) - 1));
                                }
                            }
                        }
                    } catch (Exception e) {
                        violation.compareAndSet(null, "reader: " + e);
                    }
                }));
            }
            // At least RUN, and on until enough allocating writes were made that the file's size
            // says whether space was reused: a slow machine takes longer, not a weaker check.
            long started = System.nanoTime();
            while (System.nanoTime() - started < RUN.toNanos()
                    || (allocatingWrites.get() < ALLOCATING_WRITES || reads.get() < 1000)
                    && System.nanoTime() - started < DEADLINE.toNanos() && violation.get() == null) {
                Thread.sleep(50);
            }
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
            assertThat(violation.get()).isNull();
            assertThat(reads.get()).as("reads made").isGreaterThan(1000);
        }
        // Without reuse every allocating write would have taken a new cluster at the end; the
        // file (cut to its last used cluster at close) holds a fraction of that: the guest's
        // clusters, the tables, and what was waiting to be freed at the end.
        assertThat(allocatingWrites.get()).as("allocating writes made within %s", DEADLINE)
                .isGreaterThanOrEqualTo(ALLOCATING_WRITES);
        long clustersInFile = java.nio.file.Files.size(p) / CLUSTER;
        assertThat(4L * clustersInFile).as("4 x the %d clusters in the file, against %d allocating writes",
                clustersInFile, allocatingWrites.get()).isLessThan(allocatingWrites.get());
    }
}
