package org.qedkit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.QemuTools;

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
 * freed. Runs on a 2 MiB tmpfs, which needs root to mount: under {@code CI=true} a failed
 * mount fails the test, elsewhere it is skipped with the reason.
 */
class FullDiskTest {
    @TempDir
    Path dir;
    private Path mount;

    @BeforeEach
    void mountTinyFileSystem() throws IOException {
        mount = Files.createDirectory(dir.resolve("tiny"));
        QemuTools.Result r = QemuTools.run(List.of("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount.toString()));
        if (r.exitCode() != 0) {
            String why = "cannot mount a tmpfs (needs root): " + r.stderr().strip();
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(why);
            }
            org.junit.jupiter.api.Assumptions.abort(why);
        }
    }

    @AfterEach
    void unmount() {
        QemuTools.run(List.of("umount", "-l", mount.toString()));
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
                    written.add(new long[]{offset, seed});
                } catch (QedIoException e) {
                    full = e;
                }
            }
            assertThat(full).as("the 2 MiB file system must fill up").isNotNull();
            assertThat(full.isNoSpace()).as(full.getMessage()).isTrue();
            assertThat(full.getMessage()).contains("No space left on device").contains(p.toString());
            assertThat(written).hasSizeGreaterThan(10);
            assertWrittenIntact(image, written);
            image.flush();
        }
        QemuTools.qemuImg("check", p).ok();

        // Space comes back: the same image takes new writes again.
        Files.delete(filler);
        try (QedImage image = QedImage.open(p)) {
            assertWrittenIntact(image, written);
            long offset = (63L << 20) + 5;
            image.write(offset, Bytes.random(99, 3000));
            written.add(new long[]{offset, 99});
            assertWrittenIntact(image, written);
        }
        QemuTools.qemuImg("check", p).ok();
    }

    private static void assertWrittenIntact(QedImage image, List<long[]> written) throws IOException {
        // Later writes may overlap earlier ones: replay into a model of the touched range.
        java.util.Map<Long, Byte> model = new java.util.HashMap<>();
        for (long[] w : written) {
            byte[] data = Bytes.random(w[1], 3000);
            for (int i = 0; i < data.length; i++) {
                model.put(w[0] + i, data[i]);
            }
        }
        for (long[] w : written) {
            byte[] back = new byte[3000];
            image.read(w[0], back);
            for (int i = 0; i < back.length; i++) {
                assertThat(back[i]).as("byte at %d", w[0] + i).isEqualTo(model.get(w[0] + i));
            }
        }
    }
}
