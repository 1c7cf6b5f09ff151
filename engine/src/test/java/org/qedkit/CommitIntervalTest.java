package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.StorageObserver;
import org.qedkit.internal.StorageObservers;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * When new clusters written back reach the image's tables: at a flush, when the commit
 * interval has passed since the oldest of them was written, or when so many wait that the
 * memory bound says commit now. A second, read-only handle on the same file sees only what
 * is in the tables, never what waits in the writer's memory, so it shows which happened.
 */
class CommitIntervalTest {
    @TempDir
    Path dir;

    private static final byte[] DATA = Bytes.pattern(0x5a, 4096);

    @Test
    void writeBackClustersWaitInMemoryUntilAFlushWhenTheIntervalIsLong() throws Exception {
        Path p = image("long.qed");
        AtomicInteger syncs = new AtomicInteger();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE.withCommitInterval(Duration.ofHours(1)))) {
            image.write(0, DATA); // the first allocation syncs NEED_CHECK into the header
            try (AutoCloseable hook = StorageObservers.install(f -> {
                syncs.incrementAndGet();
                return StorageObserver.PROCEED;
            })) {
                for (int i = 1; i < 100; i++) {
                    image.write((long) i << 16, DATA);
                }
                Thread.sleep(300);
                assertThat(syncs.get()).as("syncs before any flush").isZero();
                assertThat(readByOther(p, 99L << 16)).as("what the tables hold").isEqualTo(new byte[4096]);
                byte[] own = new byte[4096];
                image.read(99L << 16, own);
                assertThat(own).as("what the writer itself reads").isEqualTo(DATA);

                image.flush();
                assertThat(syncs.get()).as("syncs of the flush: data, then L2 entries").isGreaterThanOrEqualTo(2);
                assertThat(readByOther(p, 99L << 16)).isEqualTo(DATA);
            }
        }
    }

    @Test
    void writeBackClustersReachTheTablesOnTheirOwnOnceTheIntervalHasPassed() throws Exception {
        Path p = image("short.qed");
        Duration interval = Duration.ofMillis(400);
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE.withCommitInterval(interval))) {
            long written = System.nanoTime();
            image.write(1L << 16, DATA);
            long deadline = written + Duration.ofSeconds(20).toNanos();
            while (!java.util.Arrays.equals(readByOther(p, 1L << 16), DATA) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            long seenAfter = System.nanoTime() - written;
            assertThat(readByOther(p, 1L << 16)).as("in the tables without a flush").isEqualTo(DATA);
            // Not before the interval (less a little: the clock started before the write queued).
            assertThat(Duration.ofNanos(seenAfter)).isGreaterThan(interval.minusMillis(50));
        }
    }

    @Test
    void aZeroIntervalCommitsAsSoonAsAnythingIsWritten() throws Exception {
        Path p = image("zero.qed");
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE.withCommitInterval(Duration.ZERO))) {
            image.write(2L << 16, DATA);
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!java.util.Arrays.equals(readByOther(p, 2L << 16), DATA) && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(readByOther(p, 2L << 16)).isEqualTo(DATA);
        }
    }

    @Test
    void aBacklogOfMaxQueuedEntriesIsCommittedWithoutWaitingForTheInterval() throws Exception {
        Path p = dir.resolve("backlog.qed");
        int clusters = OpenOptions.MAX_QUEUED_ENTRIES;
        // 4 KiB clusters: the backlog is 256 MiB of guest, zeroed with zero entries (no data).
        QedImage.create(p, CreateOptions.ofSize((long) clusters * 4096 * 2).withClusterSize(4096).withTableSize(1));
        AtomicInteger syncs = new AtomicInteger();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE.withCommitInterval(Duration.ofHours(1)))) {
            image.write(0, DATA);
            try (AutoCloseable hook = StorageObservers.install(f -> {
                syncs.incrementAndGet();
                return StorageObserver.PROCEED;
            })) {
                image.writeZeroes(4096, (long) clusters * 4096);
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (syncs.get() < 2 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertThat(syncs.get()).as("syncs of a commit nobody asked for").isGreaterThanOrEqualTo(2);
            }
        }
    }

    @Test
    void aNegativeIntervalIsRefused() {
        assertThatThrownBy(() -> OpenOptions.READ_WRITE.withCommitInterval(Duration.ofMillis(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("commitInterval");
    }

    private Path image(String name) throws IOException {
        Path p = dir.resolve(name);
        QedImage.create(p, CreateOptions.ofSize(64 << 20));
        return p;
    }

    /** 4 KiB at {@code offset} as another, read-only handle on the file reads them: through the tables alone. */
    private static byte[] readByOther(Path p, long offset) throws IOException {
        try (QedImage other = QedImage.open(p, OpenOptions.READ_ONLY.withForceShare(true))) {
            byte[] back = new byte[4096];
            other.read(offset, back);
            return back;
        }
    }
}
