package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.hooks.EngineHooks;
import org.qedkit.internal.hooks.OpenContext;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which thread makes a sync (docs/design.md, "Who makes the sync"): a caller that waits for
 * its own write-through write or flush makes it itself, with no hand-off to the commit
 * thread and back; a write whose future is awaited later, and any request from a virtual
 * thread, leave it to the commit thread. Whoever makes them, the writes are all there after
 * a reopen, also when many threads write at once.
 */
// A sync that nobody makes would hang a test: fail it instead.
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SyncingThreadTest {
    private static final int CLUSTER = 4096;
    private static final int WRITES = 20;

    @TempDir
    Path dir;

    /** Records the thread of every sync of one image while recording is on. */
    private static final class SyncThreads implements StorageObserver {
        final List<Thread> threads = new CopyOnWriteArrayList<>();
        volatile boolean recording;

        @Override
        public int beforeSync(Path file) {
            if (recording) {
                threads.add(Thread.currentThread());
            }
            return PROCEED;
        }
    }

    private Path image(String name) throws IOException {
        Path image = dir.resolve(name);
        QedImage.create(image, CreateOptions.ofSize(256L << 20).withClusterSize(CLUSTER));
        return image;
    }

    private static QedImage open(Path image, Durability durability, SyncThreads observer) throws IOException {
        return EngineHooks.open(image, OpenOptions.READ_WRITE.withDurability(durability),
                OpenContext.observedBy(observer));
    }

    private static MemorySegment cluster(int i) {
        return MemorySegment.ofArray(Bytes.random(i, CLUSTER));
    }

    private static void assertWritten(Path image, int from, int to) throws IOException {
        try (QedImage qed = QedImage.open(image, OpenOptions.READ_ONLY)) {
            for (int i = from; i < to; i++) {
                byte[] back = new byte[CLUSTER];
                qed.read((long) i * 16 * CLUSTER, back);
                assertThat(back).as("write %d", i).isEqualTo(Bytes.random(i, CLUSTER));
            }
        }
    }

    private static List<String> namesOf(List<Thread> threads) {
        return threads.stream().map(Thread::getName).toList();
    }

    /** What a test does to an open image. */
    @FunctionalInterface
    private interface ImageWork {
        void run(QedImage qed) throws Exception;
    }

    /**
     * Opens {@code image} write-through and writes its first cluster (NEED_CHECK and the
     * file's first growth happen there), then returns the threads of the syncs {@code work} makes.
     */
    private static List<Thread> syncThreadsOf(Path image, ImageWork work) throws Exception {
        SyncThreads observer = new SyncThreads();
        try (QedImage qed = open(image, Durability.WRITE_THROUGH, observer)) {
            qed.write(0, cluster(0));
            observer.recording = true;
            work.run(qed);
            observer.recording = false;
        }
        return observer.threads;
    }

    /** Write-through writes of clusters 1 to {@link #WRITES}, 16 clusters apart, each waited for. */
    private static void writeClusters(QedImage qed) throws IOException {
        for (int i = 1; i <= WRITES; i++) {
            qed.write((long) i * 16 * CLUSTER, cluster(i));
        }
    }

    @Test
    void aWriteThroughWriteThatTheCallerWaitsForIsSyncedOnTheCallersThread() throws Exception {
        Path image = image("sync.qed");
        List<Thread> threads = syncThreadsOf(image, SyncingThreadTest::writeClusters);
        assertThat(threads).as("syncs").hasSizeGreaterThanOrEqualTo(WRITES);
        // The commit thread may still make one or two: its idle clean-up, on a stalled machine.
        assertThat(threads.stream().filter(t -> t == Thread.currentThread()).count())
                .as("syncs made by the writing thread, of %s", namesOf(threads))
                .isGreaterThanOrEqualTo(threads.size() - 2);
        assertWritten(image, 0, WRITES + 1);
    }

    @Test
    void aFlushIsSyncedOnTheCallersThread() throws Exception {
        Path image = image("flush.qed");
        SyncThreads observer = new SyncThreads();
        try (QedImage qed = open(image, Durability.WRITE_BACK, observer)) {
            qed.write(0, cluster(0));
            qed.flush();
            for (int i = 1; i <= WRITES; i++) {
                qed.write((long) i * 16 * CLUSTER, cluster(i));
            }
            observer.recording = true;
            qed.flush();
            observer.recording = false;
        }
        assertThat(observer.threads).as("the flush made at least one sync").isNotEmpty();
        assertThat(observer.threads).as("threads of the flush's syncs").containsOnly(Thread.currentThread());
        assertWritten(image, 0, WRITES + 1);
    }

    @Test
    void aWriteWhoseFutureIsAwaitedLaterIsSyncedByTheCommitThread() throws Exception {
        Path image = image("async.qed");
        List<Thread> threads = syncThreadsOf(image, qed -> {
            for (int i = 1; i <= WRITES; i++) {
                qed.writeAsync((long) i * 16 * CLUSTER, cluster(i), Durability.WRITE_THROUGH).join();
            }
        });
        assertThat(threads).as("syncs").hasSizeGreaterThanOrEqualTo(WRITES);
        assertThat(namesOf(threads)).as("the commit thread made them").allMatch(n -> n.startsWith("qedkit-commit"));
        assertWritten(image, 0, WRITES + 1);
    }

    @Test
    void aVirtualThreadLeavesItsSyncsToTheCommitThread() throws Exception {
        Path image = image("virtual.qed");
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<Thread> threads = syncThreadsOf(image, qed -> Thread.ofVirtual().start(() -> {
            try {
                writeClusters(qed);
                qed.flush();
            } catch (Throwable e) {
                failures.add(e);
            }
        }).join());
        assertThat(failures).isEmpty();
        assertThat(threads).as("syncs").hasSizeGreaterThanOrEqualTo(WRITES);
        assertThat(threads).as("no sync pinned a carrier").noneMatch(Thread::isVirtual);
        assertThat(namesOf(threads)).allMatch(n -> n.startsWith("qedkit-commit"));
        assertWritten(image, 0, WRITES + 1);
    }

    @Test
    void manyThreadsWaitingForTheirOwnWritesAtOnceAllFinishAndEveryWriteIsKept() throws Exception {
        Path image = image("many.qed");
        SyncThreads observer = new SyncThreads(); // not recording: this test is about who finishes
        int threads = 8;
        int each = 40;
        List<Thread> writers = new ArrayList<>();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        try (QedImage qed = open(image, Durability.WRITE_THROUGH, observer)) {
            for (int t = 0; t < threads; t++) {
                int first = t * each;
                writers.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = first; i < first + each; i++) {
                            qed.write((long) i * 16 * CLUSTER, cluster(i));
                            if (i % 10 == 0) {
                                qed.flush();
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread w : writers) {
                w.join();
            }
        }
        assertThat(failures).isEmpty();
        assertThat(QedImage.check(image, CheckMode.REPORT).isClean()).as("closed clean, no leaks").isTrue();
        assertWritten(image, 0, threads * each);
    }
}
