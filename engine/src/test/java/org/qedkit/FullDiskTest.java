package org.qedkit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.QemuTools;
import org.qedkit.testing.TmpfsMount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A full disk is an {@link IOException}, never a crash (SIGBUS), and leaves the image
 * consistent with every write that succeeded intact; writes succeed again once space is
 * freed. Runs on a 2 MiB tmpfs ({@link TmpfsMount}: needs root).
 */
class FullDiskTest {
    @TempDir
    Path dir;
    private TmpfsMount tiny;
    private Path mount;

    @BeforeEach
    void mountTinyFileSystem() throws IOException {
        tiny = TmpfsMount.mount(dir, "2m");
        mount = tiny.path();
    }

    @AfterEach
    void unmount() {
        tiny.close();
    }

    /**
     * Gives the filler's blocks back at once. Truncating frees them even while another
     * process holds the file open, and one may: a child the JVM spawns for a test class
     * running beside this one inherits every open descriptor until it closes them before its
     * exec. Deleting the file would free nothing until that child let go, and the write that
     * follows would still find the disk full.
     */
    private static void giveBack(Path filler) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(filler,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(0);
        }
    }

    @Test
    void writesFailCleanlyWhenTheDiskIsFullAndWorkAgainAfterSpaceIsFreed() throws IOException {
        QemuTools.require("qemu-img");
        Path filler = Files.write(mount.resolve("filler"), new byte[512 * 1024]);
        Path p = mount.resolve("full.qed");
        int cs = 4096;
        QedImage.create(p, CreateOptions.ofSize(64 << 20).withClusterSize(cs).withTableSize(2)); // QEMU opens ts >= 2

        List<long[]> written = new ArrayList<>(); // {offset, seed}
        QedIoException full = null;
        SplittableRandom rnd = new SplittableRandom(11);
        try (QedImage image = QedImage.open(p)) {
            for (int i = 0; i < 2000 && full == null; i++) {
                long offset = rnd.nextLong((64 << 20) / cs) * cs + rnd.nextInt(cs / 2);
                long seed = rnd.nextLong();
                try {
                    image.write(offset, Bytes.random(seed, 3000));
                    written.add(new long[]{offset, seed, 1});
                } catch (QedIoException e) {
                    written.add(new long[]{offset, seed, 0});
                    full = e;
                }
            }
            assertThat(full).as("the 2 MiB file system must fill up").isNotNull();
            assertThat(full.isNoSpace()).as(full.getMessage()).isTrue();
            assertThat(full.getMessage()).contains("No space left on device").contains(p.toString());
            assertThat(written.stream().filter(w -> w[2] == 1).count()).isGreaterThan(10);
            assertWrittenIntact(image, written);
            image.flush();
        }
        QemuTools.qemuImg("check", p).ok();

        // Space comes back: the same image takes new writes again.
        giveBack(filler);
        try (QedImage image = QedImage.open(p)) {
            assertWrittenIntact(image, written);
            long offset = (63L << 20) + 5;
            image.write(offset, Bytes.random(99, 3000));
            written.add(new long[]{offset, 99, 1});
            assertWrittenIntact(image, written);
        }
        QemuTools.qemuImg("check", p).ok();
    }

    /**
     * A write whose data cluster still fits but whose new L2 table does not: the cluster
     * taken first must be given back, or it leaks although the image was closed cleanly;
     * and given back clean, or the next write into it shows the failed write's bytes.
     */
    @Test
    void aWriteThatFailsHalfWayThroughItsAllocationsLeaksNothing() throws IOException {
        QemuTools.require("qemu-img");
        Path p = mount.resolve("half.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20).withClusterSize(4096).withTableSize(2));
        // Fill the file system, then free exactly one page: room for a data cluster, not
        // for the 8 KiB table the first write into an empty L2 range also needs.
        Path filler = mount.resolve("filler");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(filler,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer page = java.nio.ByteBuffer.allocate(4096);
            try {
                while (true) {
                    page.clear();
                    ch.write(page);
                }
            } catch (IOException full) {
                // the file system is full now
            }
            ch.truncate(ch.size() - ch.size() % 4096 - 4096);
        }
        try (QedImage image = QedImage.open(p)) {
            QedIoException e = org.junit.jupiter.api.Assertions.assertThrows(QedIoException.class,
                    () -> image.write(40L << 20, Bytes.pattern(1, 100)));
            assertThat(e.isNoSpace()).isTrue();
            // With room again, the next new cluster may be the one given back: it must read
            // as zeros where this write puts nothing, not as the failed write's bytes.
            giveBack(filler);
            image.write((40L << 20) + 4096 + 200, Bytes.pattern(2, 10));
            byte[] cluster = new byte[4096];
            image.read((40L << 20) + 4096, cluster);
            byte[] expected = new byte[4096];
            System.arraycopy(Bytes.pattern(2, 10), 0, expected, 200, 10);
            assertThat(cluster).isEqualTo(expected);
        }
        CheckResult ours = QedImage.check(p, CheckMode.REPORT);
        assertThat(ours.isClean()).as("%s", ours).isTrue();
        QemuTools.qemuImg("check", p).ok();
    }

    /**
     * Four writers fill the disk together, write-back and flushing now and then: every
     * failure is an IOException, every write that returned (in each thread's own region)
     * reads back, and the image stays consistent, as QEMU sees it too.
     */
    @Test
    void concurrentWritersHittingAFullDiskLoseNothingThatSucceeded() throws Exception {
        QemuTools.require("qemu-img");
        Path filler = Files.write(mount.resolve("filler"), new byte[256 * 1024]);
        Path p = mount.resolve("full4.qed");
        int cs = 4096;
        long region = 16L << 20;
        QedImage.create(p, CreateOptions.ofSize(4 * region).withClusterSize(cs).withTableSize(2));
        List<List<long[]>> written = new ArrayList<>();
        List<Throwable> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicInteger noSpace = new java.util.concurrent.atomic.AtomicInteger();
        try (QedImage image = QedImage.open(p)) {
            Thread[] threads = new Thread[4];
            for (int t = 0; t < threads.length; t++) {
                List<long[]> mine = new ArrayList<>();
                written.add(mine);
                long base = t * region;
                SplittableRandom rnd = new SplittableRandom(t);
                threads[t] = Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < 1500; i++) {
                        long offset = base + rnd.nextLong(region / cs - 1) * cs + rnd.nextInt(cs / 2);
                        long seed = rnd.nextLong();
                        try {
                            image.write(offset, Bytes.random(seed, 3000));
                            mine.add(new long[]{offset, seed, 1});
                            if (rnd.nextInt(20) == 0) {
                                image.flush();
                            }
                        } catch (QedIoException e) {
                            mine.add(new long[]{offset, seed, 0});
                            if (!e.isNoSpace()) {
                                unexpected.add(e);
                            }
                            noSpace.incrementAndGet();
                        } catch (Throwable e) {
                            unexpected.add(e);
                            return;
                        }
                    }
                });
            }
            for (Thread t : threads) {
                t.join();
            }
            assertThat(unexpected).isEmpty();
            assertThat(noSpace.get()).as("the disk filled up").isPositive();
            for (List<long[]> mine : written) {
                assertWrittenIntact(image, mine);
            }
        }
        QemuTools.qemuImg("check", p).ok();
        giveBack(filler);
        try (QedImage image = QedImage.open(p)) {
            for (List<long[]> mine : written) {
                assertWrittenIntact(image, mine);
            }
            image.write(3 * region + 12345, Bytes.random(1, 3000));
        }
        QemuTools.qemuImg("check", p).ok();
    }

    /**
     * Entries are {offset, seed, 1 if the write succeeded}. A write that failed may have been
     * applied in part (as on any block device), so its bytes are unknown until a later
     * successful write covers them again; every other byte must be what was written.
     */
    private static void assertWrittenIntact(QedImage image, List<long[]> written) throws IOException {
        java.util.Map<Long, Byte> model = new java.util.HashMap<>();
        for (long[] w : written) {
            byte[] data = Bytes.random(w[1], 3000);
            for (int i = 0; i < data.length; i++) {
                model.put(w[0] + i, w[2] == 1 ? data[i] : null);
            }
        }
        for (long[] w : written) {
            byte[] back = new byte[3000];
            image.read(w[0], back);
            for (int i = 0; i < back.length; i++) {
                Byte expected = model.get(w[0] + i);
                if (expected != null) {
                    assertThat(back[i]).as("byte at %d", w[0] + i).isEqualTo(expected);
                }
            }
        }
    }
}
