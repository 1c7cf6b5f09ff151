package org.qedkit.nbd;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.QedImage;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real file system on an export, as a user would run one: {@code nbdfuse} shows the export
 * as a file, a loop device makes it a block device, {@code mkfs.ext4} formats it; files are
 * written and deleted, {@code fstrim} gives their space back, {@code fsck.ext4} finds the file
 * system clean, {@code qemu-img check} finds the image clean, and the trimmed space is gone
 * from the image file. Needs root (loop devices, mount) and the tools below.
 */
class FilesystemOnExportTest {
    @TempDir
    Path dir;

    @Test
    void ext4OnAnExportIsWrittenTrimmedAndCheckedClean() throws Exception {
        for (String tool : List.of("nbdfuse", "losetup", "mkfs.ext4", "fsck.ext4", "fstrim", "mount", "umount", "du")) {
            QemuTools.require(tool);
        }
        requireRoot();
        Path imagePath = dir.resolve("fs.qed");
        QedImage.create(imagePath, CreateOptions.ofSize(256L << 20));
        Path socket = dir.resolve("s.sock").toAbsolutePath();
        Path fuse = Files.createDirectory(dir.resolve("fuse"));
        Path mountPoint = Files.createDirectory(dir.resolve("mnt"));
        List<List<String>> undo = new ArrayList<>();
        Process nbdfuse = null;
        long usedAfterWrite;
        try (QedImage image = QedImage.open(imagePath);
             NbdServer server = NbdServer.builder().export(NbdExport.of("", image).withUnmap(true))
                     .listen(UnixDomainSocketAddress.of(socket)).build().start()) {
            nbdfuse = new ProcessBuilder("nbdfuse", fuse.resolve("disk").toString(), "nbd+unix:///?socket=" + socket)
                    .redirectErrorStream(true).redirectOutput(dir.resolve("nbdfuse.log").toFile()).start();
            undo.add(List.of("umount", fuse.toString()));
            waitFor(fuse.resolve("disk"));
            String loop = QemuTools.run(List.of("losetup", "-f", "--show", fuse.resolve("disk").toString())).ok().stdout().trim();
            undo.add(0, List.of("losetup", "-d", loop));
            QemuTools.run(List.of("mkfs.ext4", "-q", "-E", "nodiscard", loop)).ok();
            QemuTools.run(List.of("mount", loop, mountPoint.toString())).ok();
            undo.add(0, List.of("umount", mountPoint.toString()));

            QemuTools.run(List.of("dd", "if=/dev/urandom", "of=" + mountPoint.resolve("big"), "bs=1M", "count=64",
                    "status=none")).ok();
            Files.writeString(mountPoint.resolve("small.txt"), "kept across the trim\n");
            QemuTools.run(List.of("sync")).ok();
            image.flush();
            usedAfterWrite = kilobytesUsed(imagePath);
            Files.delete(mountPoint.resolve("big"));
            QemuTools.run(List.of("sync")).ok(); // the deletion committed: fstrim sees the blocks as free
            QemuTools.run(List.of("fstrim", mountPoint.toString())).ok();
            QemuTools.run(List.of("umount", mountPoint.toString())).ok();
            undo.removeFirst();
            QemuTools.run(List.of("mount", "-o", "ro", loop, mountPoint.toString())).ok();
            undo.addFirst(List.of("umount", mountPoint.toString()));
            assertThat(Files.readString(mountPoint.resolve("small.txt"))).isEqualTo("kept across the trim\n");
            QemuTools.run(List.of("umount", mountPoint.toString())).ok();
            undo.removeFirst();
            QemuTools.run(List.of("fsck.ext4", "-fn", loop)).ok();
            // Detach the loop device and unmount the export while the server still serves it.
            for (List<String> step : undo) {
                QemuTools.run(step).ok();
            }
            undo.clear();
            assertThat(nbdfuse.waitFor(20, TimeUnit.SECONDS)).as("nbdfuse ends when unmounted").isTrue();
        } finally {
            for (List<String> step : undo) {
                QemuTools.run(step);
            }
            if (nbdfuse != null && !nbdfuse.waitFor(10, TimeUnit.SECONDS)) {
                nbdfuse.destroyForcibly();
            }
        }
        // The trimmed clusters are holes inside the file: qedkit counts them as free clusters;
        // QEMU, which has no notion of free space in QED, counts them as leaked (exit code 3,
        // no corruption), as README's "Discard" section says.
        org.qedkit.CheckResult ours = QedImage.check(imagePath, org.qedkit.CheckMode.REPORT);
        assertThat(ours.isClean()).as("%s", ours).isTrue();
        assertThat(ours.freeClusters()).as("free clusters after the trim").isGreaterThan(48 * 16);
        QemuTools.Result qemu = QemuTools.qemuImg("check", imagePath);
        assertThat(qemu.exitCode()).as("qemu-img check: %s", qemu.stdout()).isIn(0, 3);
        assertThat(qemu.stdout()).doesNotContain("ERROR").doesNotContain("corrupt");
        long usedAtEnd = kilobytesUsed(imagePath);
        assertThat(usedAfterWrite - usedAtEnd).as("KiB given back by the trim (%d KiB before, %d after)",
                usedAfterWrite, usedAtEnd).isGreaterThan(48 * 1024);
    }

    private static long kilobytesUsed(Path file) {
        String out = QemuTools.run(List.of("du", "-k", file.toString())).ok().stdout();
        return Long.parseLong(out.split("\\s+")[0]);
    }

    private static void waitFor(Path file) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(file)) {
            assertThat(System.nanoTime()).as("nbdfuse shows the export within 20 s").isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    private static void requireRoot() throws IOException {
        String uid = QemuTools.run(List.of("id", "-u")).ok().stdout().trim();
        if (!uid.equals("0")) {
            String message = "loop devices and mount need root";
            if ("true".equals(System.getenv("CI"))) {
                Assertions.fail(message + "; CI runs as root");
            }
            Assumptions.abort(message);
        }
    }
}
