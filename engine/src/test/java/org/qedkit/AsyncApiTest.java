package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.hooks.EngineHooks;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.StorageProbe;
import org.qedkit.testing.Bytes;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The asynchronous API: one thread, many durable writes in flight, sharing their syncs. */
class AsyncApiTest {
    private static final int CS = 4096;

    @TempDir
    Path dir;

    @Test
    void oneThreadKeepsManyWriteThroughWritesInFlightAndTheyShareSyncs() throws Exception {
        Path p = dir.resolve("async.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20).withClusterSize(CS).withTableSize(2));
        int writes = 400;
        int depth = 32;
        StorageProbe syncs = new StorageProbe();
        try (QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE, syncs.context());
             AutoCloseable hook = syncs.count()) {
            ArrayDeque<CompletableFuture<Void>> inFlight = new ArrayDeque<>();
            for (int i = 0; i < writes; i++) {
                if (inFlight.size() == depth) {
                    inFlight.poll().join();
                }
                // Each write takes a new cluster, three clusters apart: every one allocates.
                inFlight.add(image.writeAsync((long) i * 3 * CS, MemorySegment.ofArray(Bytes.random(i, CS)),
                        Durability.WRITE_THROUGH));
            }
            CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).join();
            // Every write is durable now: what a killed process would leave holds them all.
            Path left = Files.write(dir.resolve("left.qed"), Files.readAllBytes(p));
            try (QedImage copy = QedImage.open(left, OpenOptions.READ_ONLY)) {
                for (int i = 0; i < writes; i++) {
                    byte[] back = new byte[CS];
                    copy.read((long) i * 3 * CS, back);
                    assertThat(back).as("write %d", i).isEqualTo(Bytes.random(i, CS));
                }
            }
        }
        // Alone, each allocating write-through write costs at least two syncs; with 32 in
        // flight from one thread, batches share them.
        System.out.printf("async: %d syncs for %d write-through writes at depth %d%n", syncs.syncs(), writes, depth);
        assertThat(syncs.syncs()).isLessThan(writes);
    }

    @Test
    void aFailedCommitFailsEveryFutureWaitingOnItAndLaterOnes() throws Exception {
        Path p = dir.resolve("async-eio.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(CS).withTableSize(2));
        StorageProbe probe = new StorageProbe();
        QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE, probe.context());
        image.write(0, Bytes.pattern(1, CS));
        image.flush();
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        try (AutoCloseable hook = probe.failSyncs(StorageObserver.EIO)) {
            for (int i = 1; i <= 8; i++) {
                futures.add(image.writeAsync((long) i * 2 * CS, MemorySegment.ofArray(Bytes.pattern(i, CS)),
                        Durability.WRITE_THROUGH));
            }
            for (CompletableFuture<Void> f : futures) {
                assertThatThrownBy(f::join).isInstanceOf(CompletionException.class)
                        .hasMessageContaining("Input/output error");
            }
            assertThatThrownBy(() -> image.flushAsync().join()).hasMessageContaining("an earlier");
        }
        assertThatThrownBy(image::close).isInstanceOf(QedException.class);
    }

    @Test
    void errorsBeforeTheDiskAreFailedFuturesNotThrows() throws Exception {
        Path p = dir.resolve("async-range.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        try (QedImage image = QedImage.open(p)) {
            CompletableFuture<Void> past = image.writeAsync(1 << 20, MemorySegment.ofArray(new byte[1]), Durability.WRITE_BACK);
            assertThatThrownBy(past::join).hasCauseInstanceOf(QedRangeException.class);
            assertThat(image.writeAsync(0, MemorySegment.ofArray(new byte[1]), Durability.WRITE_BACK)).isCompleted();
            image.flushAsync().join();
        }
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThatThrownBy(() -> image.writeAsync(0, MemorySegment.ofArray(new byte[1]), Durability.WRITE_BACK).join())
                    .hasCauseInstanceOf(QedReadOnlyException.class);
        }
    }
}
