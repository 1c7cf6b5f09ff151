package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A data entry that points into the image's own metadata (issue 13, bug 2): at the L1 table,
 * at its own L2 table, at another L2 table. Writing through it would overwrite tables (QEMU
 * does, and its check then finds thousands of errors); here reads and writes through it
 * fail with an error that names the entry and what it points into, nothing is written, the
 * image is marked for check, and {@code check -r all} repairs it.
 */
class MetadataOverlapTest {
    private static final long CLUSTER = 65536;

    @TempDir
    Path dir;

    @Test
    void entriesIntoTheL1TableOrAnL2TableAreRefusedAndRepaired() throws IOException {
        Path p = dir.resolve("overlap.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", p, "4G").ok();
        QemuTools.qemuIo("-f", "qed", "-c", "write -P 1 0 64k", "-c", "write -P 2 3G 64k", p).ok();
        long l1 = readLong(p, 40);
        long table0 = readLong(p, l1);
        long table1 = readLong(p, l1 + 8);
        writeLong(p, table0 + 8, l1);          // L2[0][1] -> the L1 table
        writeLong(p, table0 + 16, table0);     // L2[0][2] -> its own table
        writeLong(p, table0 + 24, table1);     // L2[0][3] -> another table
        byte[] metadataBefore = Arrays.copyOf(Files.readAllBytes(p), (int) (table1 + 4 * CLUSTER));

        QedImage image = QedImage.open(p);
        for (long cluster = 1; cluster <= 3; cluster++) {
            long guest = cluster * CLUSTER;
            assertThatThrownBy(() -> image.write(guest, new byte[4096]))
                    .isInstanceOfSatisfying(QedFormatException.class, e -> {
                        assertThat(e.field()).isEqualTo("L2[0][" + (guest / CLUSTER) + "]");
                        assertThat(e.rule()).contains("must not overlap the image's metadata");
                    });
            assertThatThrownBy(() -> image.read(guest, new byte[4096])).isInstanceOf(QedFormatException.class);
        }
        assertThatThrownBy(() -> image.read(CLUSTER, new byte[4096])).hasMessageContaining("the L1 table");
        assertThatThrownBy(() -> image.read(3 * CLUSTER, new byte[4096]))
                .hasMessageContaining("the L2 table at 0x" + Long.toHexString(table1));
        byte[] data = new byte[4096];
        image.read(0, data);
        assertThat(data[0]).as("the sound entry still reads").isEqualTo((byte) 1);
        image.close();

        assertThat(Arrays.copyOf(Files.readAllBytes(p), metadataBefore.length)).as("no table was written")
                .isEqualTo(Arrays.copyOf(withNeedCheck(metadataBefore), metadataBefore.length));
        assertThat(readLong(p, 16) & QedHeader.FEATURE_NEED_CHECK).as("marked for check").isNotZero();

        CheckResult found = QedImage.check(p, CheckMode.REPORT);
        assertThat(found.corruptions()).isEqualTo(3);
        QedImage.check(p, CheckMode.REPAIR_ALL);
        assertThat(QedImage.check(p, CheckMode.REPORT).isClean()).isTrue();
        assertThat(QemuTools.qemuImg("check", p).exitCode()).isZero();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 1 0 64k", "-c", "read -P 2 3G 64k", p).ok();
    }

    private static byte[] withNeedCheck(byte[] image) {
        byte[] copy = image.clone();
        copy[16] |= (byte) QedHeader.FEATURE_NEED_CHECK;
        return copy;
    }

    private static long readLong(Path p, long at) throws IOException {
        try (FileChannel f = FileChannel.open(p)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            f.read(b, at);
            return b.getLong(0);
        }
    }

    private static void writeLong(Path p, long at, long value) throws IOException {
        try (FileChannel f = FileChannel.open(p, StandardOpenOption.WRITE)) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), at);
        }
    }
}
