package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.HeaderBits;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Backing files and chains, held to what QEMU reads and writes on the same chain. */
class BackingFileTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    /** base.raw <- mid.qed <- top.qed, each written by qemu-io, relative names throughout. */
    private Path qemuChain() throws IOException {
        Path base = dir.resolve("base.raw");
        QemuTools.qemuImg("create", "-q", "-f", "raw", base, "4M").ok();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x11 0 4M", base).ok();
        Path mid = dir.resolve("mid.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "cluster_size=65536", "-b", "base.raw", "-F", "raw", mid).ok();
        QemuTools.qemuIo("-c", "write -P 0x22 64k 64k", "-c", "write -P 0x23 200k 1000", mid).ok();
        Path top = dir.resolve("top.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", "mid.qed", "-F", "qed", top, "6M").ok();
        QemuTools.qemuIo("-c", "write -P 0x33 1M 4096", "-c", "write -z 2M 64k", top).ok();
        return top;
    }

    private byte[] qemuView(Path image) throws IOException {
        Path raw = dir.resolve("view-" + image.getFileName() + ".raw");
        QemuTools.qemuImg("convert", "-O", "raw", image, raw).ok();
        return Files.readAllBytes(raw);
    }

    private static byte[] engineView(Path image) throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY)) {
            byte[] all = new byte[(int) img.size()];
            img.read(0, all);
            return all;
        }
    }

    @Test
    void aChainQemuBuiltReadsTheSameInTheEngine() throws IOException {
        Path top = qemuChain();
        byte[] expected = qemuView(top);
        byte[] actual = engineView(top);
        assertThat(Arrays.mismatch(actual, expected)).as("first differing byte").isEqualTo(-1);
        // The details that make it a chain, spelled out:
        assertThat(actual[0]).isEqualTo((byte) 0x11);                 // from base.raw
        assertThat(actual[64 * 1024]).isEqualTo((byte) 0x22);         // from mid.qed
        assertThat(actual[MIB]).isEqualTo((byte) 0x33);               // from top.qed
        assertThat(actual[2 * MIB]).isZero();                         // zero cluster hides the chain
        assertThat(actual[5 * MIB]).isZero();                         // past the shorter backing files
    }

    @Test
    void partialWritesCopyTheRestOfTheClusterFromTheChain() throws IOException {
        Path top = qemuChain();
        byte[] model = qemuView(top);
        try (QedImage image = QedImage.open(top)) {
            byte[] a = Bytes.random(1, 3000);
            image.write(64 * 1024 + 100, a);                          // over a mid.qed cluster
            System.arraycopy(a, 0, model, 64 * 1024 + 100, a.length);
            byte[] b = Bytes.random(2, 5000);
            image.write(3 * MIB + 7, b);                              // over base.raw only
            System.arraycopy(b, 0, model, 3 * MIB + 7, b.length);
            byte[] c = Bytes.random(3, 300);
            image.write(6 * 64 * 1024 - 300, c);                      // the last bytes of a cluster
            System.arraycopy(c, 0, model, 6 * 64 * 1024 - 300, c.length);
            byte[] d = Bytes.random(4, 200);
            image.write(7 * 64 * 1024, d);                            // the first bytes of one
            System.arraycopy(d, 0, model, 7 * 64 * 1024, d.length);
            image.writeZeroes(200 * 1024, 512);                       // part of a cluster: real zeros
            Arrays.fill(model, 200 * 1024, 200 * 1024 + 512, (byte) 0);
            image.writeZeroes(4 * MIB, 64 * 1024);                    // whole cluster: zero entry
            Arrays.fill(model, 4 * MIB, 4 * MIB + 64 * 1024, (byte) 0);
        }
        assertThat(Arrays.mismatch(engineView(top), model)).isEqualTo(-1);
        Path expected = Files.write(dir.resolve("model.raw"), model);
        QemuTools.qemuImg("compare", "-f", "qed", "-F", "raw", top, expected).ok();
        QemuTools.qemuImg("check", top).ok();
        // The backing files were only read.
        assertThat(qemuView(dir.resolve("mid.qed"))[64 * 1024 + 100]).isEqualTo((byte) 0x22);
    }

    @Test
    void aBackingLoopIsRefusedWithTheChainInTheMessage() throws IOException {
        Path a = dir.resolve("a.qed");
        Path b = dir.resolve("b.qed");
        QedImage.create(a, CreateOptions.ofSize(MIB).withBackingFile("b.qed", "qed"));
        QedImage.create(b, CreateOptions.ofSize(MIB).withBackingFile("a.qed", "qed"));
        assertThatThrownBy(() -> QedImage.open(a, OpenOptions.READ_ONLY))
                .isInstanceOfSatisfying(QedFormatException.class, e -> {
                    assertThat(e.field()).isEqualTo("backing_filename");
                    assertThat(e.rule()).contains("loops").contains("a.qed -> ").contains("b.qed -> ");
                });
    }

    @Test
    void chainsDeeperThanTheLimitAreRefused() throws IOException {
        Path base = Files.write(dir.resolve("base.raw"), new byte[MIB]);
        QedImage.create(dir.resolve("l1.qed"), CreateOptions.ofSize(MIB).withBackingFile("base.raw", "raw"));
        QedImage.create(dir.resolve("l2.qed"), CreateOptions.ofSize(MIB).withBackingFile("l1.qed", "qed"));
        Path l3 = dir.resolve("l3.qed");
        QedImage.create(l3, CreateOptions.ofSize(MIB).withBackingFile("l2.qed", "qed"));
        try (QedImage ok = QedImage.open(l3, OpenOptions.READ_ONLY)) {
            assertThat(ok.size()).isEqualTo(MIB);
        }
        assertThatThrownBy(() -> QedImage.open(l3, OpenOptions.READ_ONLY.withMaxBackingDepth(2)))
                .isInstanceOfSatisfying(QedLimitException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxBackingDepth");
                    assertThat(e).hasMessageContaining("deeper than the limit of 2");
                });
        assertThat(base).exists();
    }

    @Test
    void aBackingFileThatIsNotARegularFileIsRefusedWithoutOpeningIt() throws Exception {
        Path fifo = dir.resolve("pipe");
        QemuTools.run(java.util.List.of("mkfifo", fifo.toString())).ok();
        Path p = dir.resolve("hostile.qed");
        QedImage.create(p, CreateOptions.ofSize(MIB).withBackingFile("pipe", "raw"));
        // Opening a FIFO for reading blocks until a writer comes: that would be a hang.
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () ->
                assertThatThrownBy(() -> QedImage.open(p, OpenOptions.READ_ONLY))
                        .isInstanceOfSatisfying(QedFormatException.class,
                                e -> assertThat(e.rule()).contains("regular file")));
        Path device = dir.resolve("device.qed");
        QedImage.create(device, CreateOptions.ofSize(MIB).withBackingFile("/dev/zero", "raw"));
        assertThatThrownBy(() -> QedImage.open(device, OpenOptions.READ_ONLY)).isInstanceOf(QedFormatException.class);
    }

    @Test
    void aMissingBackingFileIsNamedInTheError() throws IOException {
        Path p = dir.resolve("orphan.qed");
        QedImage.create(p, CreateOptions.ofSize(MIB).withBackingFile("gone.raw", "raw"));
        assertThatThrownBy(() -> QedImage.open(p)).isInstanceOf(QedException.class)
                .hasMessageContaining("backing file 'gone.raw'").hasMessageContaining(dir.resolve("gone.raw").toString());
    }
    @Test
    void theBackingFileBitWithAnEmptyNameMeansNoBackingFileAsInQemuAndRepairClearsIt() throws IOException {
        Path p = dir.resolve("empty-name.qed");
        QedImage.create(p, CreateOptions.ofSize(MIB));
        HeaderBits.set(p, QedHeader.FEATURE_BACKING_FILE); // name offset and size stay 0
        assertThat(QemuTools.qemuImg("info", p).ok().stdout()).as("QEMU opens it").doesNotContain("backing file");
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.header().hasBackingFile()).isFalse();
            byte[] back = new byte[4096];
            image.read(0, back);
            assertThat(back).containsOnly(0);
        }
        assertThat(QedImage.check(p, CheckMode.REPORT).isClean()).isTrue();
        QedImage.check(p, CheckMode.REPAIR_ALL);
        assertThat(HeaderBits.features(p) & QedHeader.FEATURE_BACKING_FILE).as("the bit, after -r all").isZero();
        QemuTools.qemuImg("check", p).ok();
    }
}
