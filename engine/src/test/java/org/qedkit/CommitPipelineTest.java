package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.hooks.EngineHooks;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.StorageProbe;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.HeaderBits;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What the commit pipeline promises: NEED_CHECK, group commit, recovery at open, failure. */
class CommitPipelineTest {
    @TempDir
    Path dir;

    @Test
    void needCheckIsOnDiskBeforeTheFirstAllocationAndGoneAfterACleanClose() throws IOException {
        Path p = dir.resolve("nc.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2));
        try (QedImage image = QedImage.open(p)) {
            assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).isZero();
            image.write(0, new byte[]{1});
            assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).isNotZero();
            assertThat(image.header().needsCheck()).isTrue();
        }
        assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).isZero();
        QemuTools.qemuImg("check", p).ok();
    }

    @Test
    void needCheckIsClearedAgainOnceTheImageIsIdle() throws Exception {
        Path p = dir.resolve("idle.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[]{1});
            image.flush();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while ((HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK) != 0 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).as("cleared after ~1 s idle").isZero();
            image.write(1L << 20, new byte[]{2}); // and set again by the next allocation
            assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).isNotZero();
        }
    }

    /** A copy of the file taken while the image is open is what a killed process leaves. */
    @Test
    void anImageLeftByAKilledProcessIsCheckedAndRepairedAtOpenWithFlushedDataIntact() throws IOException {
        Path p = dir.resolve("live.qed");
        Path left = dir.resolve("left-behind.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2));
        byte[] data = Bytes.random(5, 40_000);
        try (QedImage image = QedImage.open(p)) {
            image.write(12345, data);
            image.flush();
            Files.copy(p, left, StandardCopyOption.REPLACE_EXISTING);
        }
        assertThat(HeaderBits.features(left) & QedHeader.FEATURE_NEED_CHECK).isNotZero();
        // The preallocated space shows as leaks, to QEMU too.
        assertThat(QemuTools.qemuImg("check", left).exitCode()).isEqualTo(3);

        Files.setLastModifiedTime(left, FileTime.fromMillis(1_000_000_000_000L));
        try (QedImage readOnly = QedImage.open(left, OpenOptions.READ_ONLY)) {
            assertThat(readOnly.header().needsCheck()).as("dirty-flag reported, unlike QEMU").isTrue();
            CheckResult inMemory = readOnly.checkAtOpen().orElseThrow();
            assertThat(inMemory.leaks()).isPositive();
            assertThat(inMemory.corruptions()).isZero();
        }
        assertThat(Files.getLastModifiedTime(left).toMillis()).as("read-only open writes nothing").isEqualTo(1_000_000_000_000L);

        try (QedImage image = QedImage.open(left)) {
            CheckResult repaired = image.checkAtOpen().orElseThrow();
            assertThat(repaired.isClean()).isTrue();
            assertThat(repaired.leaksFixed()).isPositive();
            assertThat(image.header().needsCheck()).isFalse();
            byte[] back = new byte[data.length];
            image.read(12345, back);
            assertThat(back).isEqualTo(data);
        }
        QemuTools.qemuImg("check", left).ok();
    }

    @Test
    void concurrentWriteThroughWritersShareTheirSyncs() throws Exception {
        Path p = dir.resolve("gc.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20).withClusterSize(4096).withTableSize(2));
        StorageProbe syncs = new StorageProbe();
        int threads = 8;
        int perThread = 50;
        try (QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE.withDurability(Durability.WRITE_THROUGH),
                syncs.context());
             AutoCloseable hook = syncs.count()) {
            Thread[] workers = new Thread[threads];
            for (int t = 0; t < threads; t++) {
                int id = t;
                workers[t] = Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < perThread; i++) {
                            image.write(((long) id * perThread + i) * 4096 * 3, Bytes.random(i, 4096));
                        }
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
            }
            for (Thread w : workers) {
                w.join();
            }
        }
        int writes = threads * perThread;
        System.out.printf("group commit: %d syncs for %d write-through writes%n", syncs.syncs(), writes);
        // Alone, each write-through allocating write costs at least one sync (two or three
        // while its space is not settled); shared, the group needs fewer syncs than writes.
        assertThat(syncs.syncs()).as("%d syncs for %d writes", syncs.syncs(), writes).isLessThan(writes);
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            for (int t = 0; t < threads; t++) {
                for (int i = 0; i < perThread; i++) {
                    byte[] back = new byte[4096];
                    image.read(((long) t * perThread + i) * 4096 * 3, back);
                    assertThat(back).isEqualTo(Bytes.random(i, 4096));
                }
            }
        }
    }

    @Test
    void aForceUnitAccessWriteIsDurableWhenItReturnsOnAWriteBackImage() throws Exception {
        Path p = dir.resolve("fua.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2));
        StorageProbe syncs = new StorageProbe();
        try (QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE, syncs.context());
             AutoCloseable hook = syncs.count()) {
            image.write(0, java.lang.foreign.MemorySegment.ofArray(Bytes.pattern(1, 4096)));
            int afterWriteBack = syncs.syncs();
            image.write(8192, java.lang.foreign.MemorySegment.ofArray(Bytes.pattern(2, 4096)), Durability.WRITE_THROUGH);
            // Its batch ran every step, each ending in a sync, before the write returned.
            assertThat(syncs.syncs()).isGreaterThanOrEqualTo(afterWriteBack + 2);
            byte[] copy = Files.readAllBytes(p); // what a killed process would leave
            Path left = Files.write(dir.resolve("fua-left.qed"), copy);
            try (QedImage reopened = QedImage.open(left, OpenOptions.READ_ONLY)) {
                byte[] back = new byte[4096];
                reopened.read(8192, back);
                assertThat(back).isEqualTo(Bytes.pattern(2, 4096));
            }
        }
    }

    @Test
    void aFailedSyncIsFinalAndKeepsNeedCheckSet() throws Exception {
        Path p = dir.resolve("eio.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2));
        StorageProbe probe = new StorageProbe();
        QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE, probe.context());
        image.write(0, Bytes.pattern(7, 4096));
        image.flush();
        try (AutoCloseable hook = probe.failSyncs(StorageObserver.EIO)) {
            image.write(8192, Bytes.pattern(8, 4096));
            assertThatThrownBy(image::flush).isInstanceOf(QedException.class).hasMessageContaining("Input/output error");
            // Never retried as if the data were safe: later durability requests fail too.
            // The failure is recorded once, on the file, with the step that failed.
            assertThatThrownBy(image::flush).hasMessageContaining("an earlier fdatasync failed");
            assertThatThrownBy(image::close).hasMessageContaining("an earlier fdatasync failed");
        }
        assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).isNotZero();
        try (QedImage reopened = QedImage.open(p)) {
            assertThat(reopened.checkAtOpen()).isPresent();
            byte[] back = new byte[4096];
            reopened.read(0, back);
            assertThat(back).as("data flushed before the failure").isEqualTo(Bytes.pattern(7, 4096));
        }
        QemuTools.qemuImg("check", p).ok();
    }

    @Test
    void aFailedSyncOfTheHeaderIsFinalForTheWritesItCoveredToo() throws Exception {
        Path p = dir.resolve("eio-header.qed");
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(4096).withTableSize(2));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, Bytes.pattern(7, 4096));
        } // closed cleanly: NEED_CHECK clear
        StorageProbe probe = new StorageProbe();
        QedImage image = EngineHooks.open(p, OpenOptions.READ_WRITE, probe.context());
        image.write(0, Bytes.pattern(9, 4096)); // an overwrite, written back: waits for a sync
        try (AutoCloseable hook = probe.failSyncs(StorageObserver.EIO)) {
            // The first allocation syncs the header's NEED_CHECK first; that sync fails, and
            // with it the write-back of the overwrite above.
            assertThatThrownBy(() -> image.write(65536, Bytes.pattern(8, 4096)))
                    .hasMessageContaining("Input/output error");
        }
        // The disk works again, but Linux forgot the error: a sync now would succeed and
        // claim the overwrite safe. The engine remembers instead.
        assertThatThrownBy(image::flush).hasMessageContaining("an earlier fdatasync failed");
        assertThatThrownBy(image::close).hasMessageContaining("an earlier fdatasync failed");
    }
}
