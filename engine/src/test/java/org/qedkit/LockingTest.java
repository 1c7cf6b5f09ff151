package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The engine and QEMU respect each other's locks (QEMU's OFD byte-range scheme), tested
 * with real qemu-io and qemu-img processes.
 */
class LockingTest {
    @TempDir
    Path dir;

    private Path image() throws IOException {
        Path p = dir.resolve("locked.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        return p;
    }

    @Test
    void qemuRefusesAnImageTheEngineWrites() throws IOException {
        Path p = image();
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[]{1});
            QemuTools.Result rw = QemuTools.qemuIo("-c", "read 0 512", p);
            assertThat(rw.exitCode()).isNotZero();
            assertThat(rw.stderr()).contains("Failed to get \"write\" lock");
            QemuTools.Result ro = QemuTools.qemuIo("-r", "-c", "read 0 512", p);
            assertThat(ro.exitCode()).isNotZero();
            assertThat(ro.stderr()).contains("Failed to get shared \"write\" lock");
            QemuTools.qemuImg("info", "-U", p).ok(); // force-share still inspects it
        }
        QemuTools.qemuIo("-c", "read -P 1 0 1", p).ok(); // released at close
    }

    @Test
    void theEngineRefusesAnImageQemuWrites() throws Exception {
        Path p = image();
        byte[] before = Files.readAllBytes(p);
        QemuTools.require("qemu-io");
        Process qemu = new ProcessBuilder("qemu-io", "-c", "sleep 20000", p.toString())
                .redirectErrorStream(true).start();
        try {
            awaitLockedBy(p);
            assertThatThrownBy(() -> QedImage.open(p)).isInstanceOf(QedLockedException.class)
                    .hasMessageContaining("\"write\"");
            assertThatThrownBy(() -> QedImage.open(p, OpenOptions.READ_ONLY))
                    .isInstanceOf(QedLockedException.class).hasMessageContaining("force-share");
            assertThatThrownBy(() -> QedImage.create(p, CreateOptions.ofSize(2 << 20)))
                    .isInstanceOf(QedLockedException.class);
            assertThat(Files.readAllBytes(p)).as("create refused before cutting anything").isEqualTo(before);
            try (QedImage inspect = QedImage.open(p, OpenOptions.READ_ONLY.withForceShare(true))) {
                assertThat(inspect.size()).isEqualTo(1 << 20);
            }
        } finally {
            qemu.destroyForcibly();
            qemu.waitFor(10, TimeUnit.SECONDS);
        }
        try (QedImage image = QedImage.open(p)) {
            assertThat(image.isReadOnly()).isFalse();
        }
    }

    @Test
    void readersShareAndAWriterExcludesThemWithinOneProcessToo() throws IOException {
        Path p = image();
        try (QedImage a = QedImage.open(p, OpenOptions.READ_ONLY);
             QedImage b = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(a.size()).isEqualTo(b.size());
            assertThatThrownBy(() -> QedImage.open(p)).isInstanceOf(QedLockedException.class);
        }
        try (QedImage writer = QedImage.open(p)) {
            assertThatThrownBy(() -> QedImage.open(p, OpenOptions.READ_ONLY)).isInstanceOf(QedLockedException.class);
            assertThatThrownBy(() -> QedImage.check(p, CheckMode.REPORT)).isInstanceOf(QedLockedException.class);
        }
    }

    /** Waits until some process holds byte 101 ("write") of {@code p}, watching /proc/locks without locking. */
    private static void awaitLockedBy(Path p) throws Exception {
        long inode = (Long) Files.getAttribute(p, "unix:ino");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
                String[] f = line.trim().split("\\s+");
                // "1: OFDLCK ADVISORY READ -1 fe:00:INODE 100 101"
                if (f.length >= 8 && f[5].endsWith(":" + inode)
                        && Long.parseLong(f[6]) <= 101 && Long.parseLong(f[7]) >= 101) {
                    return;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("qemu-io did not lock " + p + " within 10 s");
    }
}
