package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.hooks.OpenContext;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Discard and space reuse: what a guest gives back stops being allocated, reads as zeros, is
 * punched out of the file, and is handed out again before the file grows.
 */
class DiscardTest {
    private static final int CLUSTER = 64 * 1024;
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path image(long size) throws IOException {
        Path p = dir.resolve("disk.qed");
        QedImage.create(p, CreateOptions.ofSize(size));
        return p;
    }

    /**
     * Opens {@code p} with the committer's clock stopped: nothing commits but what the test
     * flushes, and the idle clean-up (which cuts free space off the file's end) never runs
     * while the test looks at the free space.
     */
    private static QedImage open(Path p) throws IOException {
        return org.qedkit.internal.hooks.EngineHooks.open(p, OpenOptions.READ_WRITE, new OpenContext(null, () -> 0L));
    }

    /** Waits until the reclaimer has freed at least {@code bytes} (it runs after the commit's sync). */
    private static void awaitFree(QedImage image, long bytes) throws InterruptedException, IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (image.freeBytes() < bytes) {
            assertThat(System.nanoTime() - deadline).as("free bytes %d, waiting for %d", image.freeBytes(), bytes)
                    .isNegative();
            Thread.sleep(2);
        }
    }

    @Test
    void discardedClustersReadAsZerosAndTheirSpaceIsPunchedOut() throws Exception {
        Path p = image(64 * MIB);
        try (QedImage image = open(p)) {
            image.write(0, Bytes.random(1, (int) (16 * MIB)));
            image.flush();
            long before = image.actualSize();
            image.discard(0, 16 * MIB);
            byte[] back = new byte[(int) (16 * MIB)];
            image.read(0, back);
            assertThat(back).as("read at once after the discard").containsOnly(0);
            image.flush();
            awaitFree(image, 16 * MIB);
            assertThat(image.extentAt(0).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            assertThat(before - image.actualSize()).as("blocks given back to the file system")
                    .isGreaterThanOrEqualTo(16 * MIB);
        }
        // Every table emptied went too; the free space at the end was cut off at close.
        assertThat(Files.size(p)).as("header and L1 table only").isEqualTo(5L * CLUSTER);
        QemuTools.qemuImg("check", p).ok();
    }

    @Test
    void writesAfterADiscardReuseTheFreedSpaceLowestOffsetFirst() throws Exception {
        Path p = image(256 * MIB);
        byte[] data = Bytes.random(2, (int) (8 * MIB));
        try (QedImage image = open(p)) {
            image.write(0, data);
            image.write(64 * MIB, data); // keeps the file's end beyond what is discarded
            image.flush();
            long length = image.fileLength();
            image.discard(0, 8 * MIB);
            image.flush();
            awaitFree(image, 8 * MIB);
            long firstFree = image.extentAt(64 * MIB).fileOffset() - 8 * MIB; // where the discarded clusters lay
            image.write(128 * MIB, data);
            image.flush();
            assertThat(image.fileLength()).as("no growth: the freed space was used").isEqualTo(length);
            assertThat(image.extentAt(128 * MIB).fileOffset()).as("lowest offset first").isLessThanOrEqualTo(firstFree);
            byte[] back = new byte[data.length];
            image.read(128 * MIB, back);
            assertThat(back).isEqualTo(data);
            image.read(64 * MIB, back);
            assertThat(back).isEqualTo(data);
            image.read(0, back);
            assertThat(back).containsOnly(0);
        }
        QemuTools.qemuImg("check", p).ok();
        QemuTools.qemuIo("-c", "read -P 0 0 8M", "-c", "read -q -P 0 8M 56M", p).ok();
    }

    @Test
    void partialClustersAtTheEndsAreLeftAsTheyAre() throws IOException {
        Path p = image(4 * MIB);
        try (QedImage image = open(p)) {
            image.write(0, Bytes.pattern(7, 4 * CLUSTER));
            image.discard(CLUSTER / 2, 2 * CLUSTER); // half of cluster 0, all of 1, half of 2
            byte[] back = new byte[4 * CLUSTER];
            image.read(0, back);
            assertThat(java.util.Arrays.copyOfRange(back, 0, CLUSTER)).containsOnly(7);
            assertThat(java.util.Arrays.copyOfRange(back, CLUSTER, 2 * CLUSTER)).containsOnly(0);
            assertThat(java.util.Arrays.copyOfRange(back, 2 * CLUSTER, 4 * CLUSTER)).containsOnly(7);
            image.discard(10, 100); // inside one cluster: nothing
            image.read(0, back, 0, 200);
            assertThat(java.util.Arrays.copyOfRange(back, 0, 200)).containsOnly(7);
        }
    }

    @Test
    void writeZeroesWithUnmapZeroesTheEndsAndFreesTheWholeClusters() throws Exception {
        Path p = image(4 * MIB);
        try (QedImage image = open(p)) {
            image.write(0, Bytes.pattern(9, 4 * CLUSTER));
            image.flush();
            image.writeZeroes(100, 3 * CLUSTER, true);
            byte[] back = new byte[4 * CLUSTER];
            image.read(0, back);
            assertThat(java.util.Arrays.copyOfRange(back, 0, 100)).containsOnly(9);
            assertThat(java.util.Arrays.copyOfRange(back, 100, 3 * CLUSTER + 100)).containsOnly(0);
            assertThat(java.util.Arrays.copyOfRange(back, 3 * CLUSTER + 100, 4 * CLUSTER)).containsOnly(9);
            assertThat(image.extentAt(CLUSTER).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            image.flush();
            awaitFree(image, 2L * CLUSTER);
            image.writeZeroes(0, CLUSTER, false);
            assertThat(image.extentAt(0).kind()).as("without unmap the cluster stays").isEqualTo(Extent.Kind.DATA);
        }
    }

    @Test
    void overABackingFileDiscardedClustersReadAsZerosNotAsTheBackingFile() throws Exception {
        Path base = dir.resolve("base.raw");
        Files.write(base, Bytes.pattern(0x5a, (int) (2 * MIB)));
        Path p = dir.resolve("overlay.qed");
        QedImage.create(p, CreateOptions.ofSize(2 * MIB).withBackingFile("base.raw", "raw"));
        try (QedImage image = open(p)) {
            image.write(0, Bytes.pattern(1, 4 * CLUSTER));
            image.flush();
            image.discard(0, 8 * CLUSTER); // four data clusters, four the backing file shows
            byte[] back = new byte[8 * CLUSTER];
            image.read(0, back);
            assertThat(back).containsOnly(0);
            assertThat(image.extentAt(0).kind()).isEqualTo(Extent.Kind.ZERO);
            assertThat(image.extentAt(0).length()).isEqualTo(8L * CLUSTER);
            image.flush();
            awaitFree(image, 4L * CLUSTER);
        }
        // The freed clusters lie below the L2 table, so the file cannot end before them: QEMU,
        // which knows no free space, counts them as leaks, and nothing else.
        QemuTools.Result check = QemuTools.qemuImg("check", p);
        assertThat(check.exitCode()).as(check.stdout()).isEqualTo(3);
        assertThat(check.stdout()).contains("4 leaked clusters were found").doesNotContain("ERROR");
        QemuTools.qemuIo("-c", "read -P 0 0 512k", "-c", "read -P 0x5a 512k 1536k", p).ok();
    }

    @Test
    void aReadOnlyImageRefusesToDiscard() throws IOException {
        Path p = image(MIB);
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThatThrownBy(() -> image.discard(0, MIB)).isInstanceOf(QedReadOnlyException.class);
            assertThatThrownBy(() -> image.writeZeroes(0, MIB, true)).isInstanceOf(QedReadOnlyException.class);
        }
    }

    @Test
    void aDiscardPastTheEndIsARangeError() throws IOException {
        Path p = image(MIB);
        try (QedImage image = open(p)) {
            assertThatThrownBy(() -> image.discard(MIB - CLUSTER, 2L * CLUSTER)).isInstanceOf(QedRangeException.class);
        }
    }

    @Test
    void whereHolesCannotBePunchedTheSpaceIsZeroedAndStillReused() throws Exception {
        Path p = image(64 * MIB);
        AtomicInteger punchesRefused = new AtomicInteger();
        StorageObserver noPunching = new StorageObserver() {
            @Override
            public int beforeSync(Path file) {
                return PROCEED;
            }

            @Override
            public int beforePunch(Path file, long offset, long length) {
                punchesRefused.incrementAndGet();
                return EOPNOTSUPP;
            }
        };
        byte[] data = Bytes.random(3, (int) (4 * MIB));
        try (QedImage image = org.qedkit.internal.hooks.EngineHooks.open(p, OpenOptions.READ_WRITE,
                new OpenContext(noPunching, () -> 0L))) {
            image.write(0, data);
            image.write(32 * MIB, data);
            image.flush();
            long length = image.fileLength();
            image.discard(0, 4 * MIB);
            image.flush();
            awaitFree(image, 4 * MIB);
            assertThat(punchesRefused.get()).isPositive();
            image.write(0, Bytes.pattern(4, CLUSTER)); // a partial cluster's rest must read as zeros
            image.write(16 * MIB, data);
            assertThat(image.fileLength()).isEqualTo(length);
            byte[] back = new byte[data.length];
            image.read(16 * MIB, back);
            assertThat(back).isEqualTo(data);
            byte[] first = new byte[2 * CLUSTER];
            image.read(0, first);
            assertThat(java.util.Arrays.copyOfRange(first, 0, CLUSTER)).containsOnly(4);
            assertThat(java.util.Arrays.copyOfRange(first, CLUSTER, 2 * CLUSTER)).containsOnly(0);
        }
        QemuTools.qemuImg("check", p).ok();
    }

    @Test
    void theFreeSpaceOutlivesCloseAndIsFoundAgainAtTheNextOpen() throws Exception {
        Path p = image(256 * MIB);
        byte[] data = Bytes.random(5, (int) (8 * MIB));
        try (QedImage image = open(p)) {
            image.write(0, data);
            image.write(64 * MIB, data);
            image.discard(0, 8 * MIB);
        }
        long length = Files.size(p);
        CheckResult check = QedImage.check(p, CheckMode.REPORT);
        assertThat(check.leaks()).as("punched space is free space, not a leak").isZero();
        assertThat(check.freeClusters()).isEqualTo(8 * MIB / CLUSTER);
        assertThat(check.exitCode()).isZero();
        QemuTools.Result qemu = QemuTools.qemuImg("check", p);
        assertThat(qemu.stdout()).as("QEMU knows no free space").contains((8 * MIB / CLUSTER) + " leaked clusters");
        try (QedImage image = open(p)) {
            awaitFree(image, 8 * MIB); // found by the scan at open, in the background
            image.write(128 * MIB, data);
            image.flush();
            byte[] back = new byte[data.length];
            image.read(64 * MIB, back);
            assertThat(back).isEqualTo(data);
            image.read(128 * MIB, back);
            assertThat(back).isEqualTo(data);
        }
        assertThat(Files.size(p)).as("the second write went into the freed space").isEqualTo(length);
        QemuTools.qemuImg("check", p).ok();
    }

    @Test
    void aLargeDiscardIsFreeWhenItReturnsSoTheWritesAfterItReuseTheSpace() throws Exception {
        Path p = image(256 * MIB);
        byte[] data = Bytes.random(6, (int) (16 * MIB));
        try (QedImage image = open(p)) {
            image.write(0, data);
            image.write(64 * MIB, data);
            image.flush();
            long length = image.fileLength();
            image.discard(0, 16 * MIB); // 8 MiB or more: synced and freed before it returns
            assertThat(image.freeBytes()).isGreaterThanOrEqualTo(16 * MIB);
            image.write(128 * MIB, data); // no flush, no wait in between
            assertThat(image.fileLength()).isEqualTo(length);
        }
    }
}
