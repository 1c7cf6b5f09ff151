package org.qedkit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A QED image on a block device (here a loop device over a file; an LV works the same way):
 * its size is the device's, it is mapped like a file, and, as in QEMU, new clusters would go
 * past the device's end, so an allocating write fails with ENOSPC while reads and in-place
 * writes work (issue 13, bug 3: it used to be refused as "file size is 0").
 */
class BlockDeviceTest {
    @TempDir
    Path dir;

    @Test
    void anImageOnALoopDeviceOpensReadsAndWritesInPlace() throws IOException {
        Path backingFile = dir.resolve("device.img");
        QedImage.create(backingFile, CreateOptions.ofSize(16 << 20));
        byte[] data = new byte[65536];
        Arrays.fill(data, (byte) 0x3c);
        try (QedImage image = QedImage.open(backingFile)) {
            image.write(0, data);
        }
        try (RandomAccessFile f = new RandomAccessFile(backingFile.toFile(), "rw")) {
            f.setLength(32 << 20); // room on the device past the image's last cluster
        }
        Path device = attach(backingFile);
        try {
            try (QedImage image = QedImage.open(device, OpenOptions.READ_ONLY)) {
                assertThat(image.size()).isEqualTo(16 << 20);
                byte[] back = new byte[65536];
                image.read(0, back);
                assertThat(back).isEqualTo(data);
            }
            try (QedImage image = QedImage.open(device)) {
                Arrays.fill(data, (byte) 0x3d);
                image.write(0, data); // in place
                assertThatThrownBy(() -> image.write(8 << 20, data)).as("a new cluster, as in QEMU")
                        .isInstanceOfSatisfying(QedIoException.class, e -> assertThat(e.isNoSpace()).isTrue());
            }
            QemuTools.qemuIo("-f", "qed", "-r", "-c", "read -P 0x3d 0 64k", device).ok();
        } finally {
            QemuTools.run(List.of("losetup", "-d", device.toString()));
        }
    }

    private static Path attach(Path file) {
        boolean ci = "true".equals(System.getenv("CI"));
        QemuTools.Result r = QemuTools.run(List.of("losetup", "-f", "--show", file.toString()));
        if (r.exitCode() != 0) {
            if (ci) {
                throw new AssertionError("losetup (util-linux, as root) is needed: " + r.stderr());
            }
            Assumptions.abort("no loop device here (losetup: " + r.stderr().strip() + ")");
        }
        return Path.of(r.stdout().strip());
    }
}
