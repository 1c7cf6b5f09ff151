package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.hooks.EngineHooks;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.StorageProbe;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * When new clusters written back reach the image's tables, end to end with the real commit
 * thread: at a flush, at once with a zero interval, or when so many wait that the memory
 * bound says commit now. When exactly an interval falls due is the committer's unit test
 * ({@code CommitterTest}), with a clock it moves by hand. A second, read-only handle on the same file sees only what
 * is in the tables, never what waits in the writer's memory, so it shows which happened.
 */
class CommitIntervalTest {
    @TempDir
    Path dir;

    private static final byte[] DATA = Bytes.pattern(0x5a, 4096);

    @Test
    void writeBackClustersWaitInMemoryUntilAFlushWhenTheIntervalIsLong() throws Exception {
        Path p = image("long.qed");
        StorageProbe syncs = new StorageProbe();
        try (QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE.withCommitInterval(Duration.ofHours(1)),
                syncs.context())) {
            image.write(0, DATA); // the first allocation syncs NEED_CHECK into the header
            try (AutoCloseable counting = syncs.count()) {
                for (int i = 1; i < 100; i++) {
                    image.write((long) i << 16, DATA);
                }
                assertThat(syncs.syncs()).as("syncs before any flush").isZero();
                assertThat(readByOther(p, 99L << 16)).as("what the tables hold").isEqualTo(new byte[4096]);
                byte[] own = new byte[4096];
                image.read(99L << 16, own);
                assertThat(own).as("what the writer itself reads").isEqualTo(DATA);

                image.flush();
                assertThat(syncs.syncs()).as("syncs of the flush: data, then L2 entries").isGreaterThanOrEqualTo(2);
                assertThat(readByOther(p, 99L << 16)).isEqualTo(DATA);
            }
        }
    }

    @Test
    void aZeroIntervalCommitsAsSoonAsAnythingIsWritten() throws Exception {
        Path p = image("zero.qed");
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE.withCommitInterval(Duration.ZERO))) {
            image.write(2L << 16, DATA);
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!Arrays.equals(readByOther(p, 2L << 16), DATA) && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(readByOther(p, 2L << 16)).isEqualTo(DATA);
        }
    }

    @Test
    void aBacklogOfMaxQueuedEntriesIsCommittedWithoutWaitingForTheInterval() throws Exception {
        Path p = image("backlog.qed");
        StorageProbe syncs = new StorageProbe();
        OpenOptions options = OpenOptions.READ_WRITE.toBuilder().commitInterval(Duration.ofHours(1))
                .maxQueuedEntries(16).build();
        try (QedImage image = EngineHooks.open(p, options, syncs.context())) {
            image.write(0, DATA);
            try (AutoCloseable counting = syncs.count()) {
                image.writeZeroes(1L << 16, 16L << 16); // 16 zero entries: the bound, reached
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (syncs.syncs() < 2 && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                assertThat(syncs.syncs()).as("syncs of a commit nobody asked for").isGreaterThanOrEqualTo(2);
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
