package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.internal.hooks.EngineHooks;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.QemuTools;
import org.qedkit.testing.StorageProbe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Backing files for daemons: a policy for names from untrusted images, copy-on-read, and
 * one mapping of a base shared by every overlay in the process.
 */
class BackingPolicyTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path tenant() throws IOException {
        return Files.createDirectories(dir.resolve("tenant"));
    }

    private static void assertRefused(Path image, BackingPolicy policy, String why) {
        assertThatThrownBy(() -> QedImage.open(image, OpenOptions.READ_ONLY.withBackingPolicy(policy)))
                .isInstanceOfSatisfying(QedFormatException.class, e -> {
                    assertThat(e.field()).isEqualTo("backing_filename");
                    assertThat(e.rule()).contains(why);
                });
    }

    @Test
    void anUntrustedPolicyRefusesAbsoluteNamesEscapesSymlinksOutAndProbing() throws IOException {
        Path root = tenant();
        Path secret = Files.write(dir.resolve("host-secret.raw"), Bytes.random(1, MIB));
        Files.write(root.resolve("base.raw"), Bytes.random(2, MIB));
        BackingPolicy untrusted = BackingPolicy.untrusted(root);

        Path absolute = root.resolve("absolute.qed");
        QedImage.create(absolute, CreateOptions.ofSize(MIB).withBackingFile(secret.toString(), "raw"));
        assertRefused(absolute, untrusted, "is an absolute path");

        Path escape = root.resolve("escape.qed");
        QedImage.create(escape, CreateOptions.ofSize(MIB).withBackingFile("../host-secret.raw", "raw"));
        assertRefused(escape, untrusted, "outside " + root);

        Files.createSymbolicLink(root.resolve("link.raw"), secret);
        Path viaLink = root.resolve("via-link.qed");
        QedImage.create(viaLink, CreateOptions.ofSize(MIB).withBackingFile("link.raw", "raw"));
        assertRefused(viaLink, untrusted, "outside " + root);

        Path probed = root.resolve("probed.qed");
        QedImage.create(probed, CreateOptions.ofSize(MIB).withBackingFile("base.raw", null)); // format not recorded
        assertRefused(probed, untrusted, "refuses probing");

        Path fine = root.resolve("fine.qed");
        QedImage.create(fine, CreateOptions.ofSize(MIB).withBackingFile("base.raw", "raw"));
        try (QedImage image = QedImage.open(fine, OpenOptions.READ_ONLY.withBackingPolicy(untrusted))) {
            byte[] back = new byte[4096];
            image.read(0, back);
            assertThat(back).isEqualTo(java.util.Arrays.copyOf(Bytes.random(2, MIB), 4096));
        }
        // QED chains under a trusted root: probing allowed, still inside the root.
        Path top = root.resolve("top.qed");
        QedImage.create(top, CreateOptions.ofSize(MIB).withBackingFile("fine.qed", null));
        assertRefused(top, untrusted, "refuses probing");
        try (QedImage image = QedImage.open(top, OpenOptions.READ_ONLY.withBackingPolicy(untrusted.withProbing(true)))) {
            assertThat(image.size()).isEqualTo(MIB);
        }
        // QEMU's behaviour stays the default.
        try (QedImage image = QedImage.open(absolute, OpenOptions.READ_ONLY)) {
            assertThat(image.mapEntryAt(0).depth()).isEqualTo(1);
        }
    }

    @Test
    void copyOnReadFillsTheOverlayWithWhatWasReadAndNeverOverWritesAWrite() throws IOException {
        Path base = Files.write(dir.resolve("cor-base.raw"), Bytes.random(3, 3 * MIB / 2));
        Path overlay = dir.resolve("cor.qed");
        QedImage.create(overlay, CreateOptions.ofSize(4 * MIB).withClusterSize(65536).withBackingFile("cor-base.raw", "raw"));
        byte[] expected = Files.readAllBytes(base);
        try (QedImage image = QedImage.open(overlay, OpenOptions.READ_WRITE.withCopyOnRead(true))) {
            byte[] part = new byte[100_000];
            image.read(10_000, part); // clusters 0 and 1
            assertThat(part).isEqualTo(java.util.Arrays.copyOfRange(expected, 10_000, 110_000));
            image.write(70_000, Bytes.pattern(7, 10)); // into a cluster copy-on-read has taken
            image.read(2 * MIB, new byte[4096]); // past the backing file's end: nothing to copy
        }
        try (QedImage image = QedImage.open(overlay, OpenOptions.READ_ONLY.withBackingChain(false))) {
            assertThat(image.extentAt(0).kind()).isEqualTo(Extent.Kind.DATA);
            assertThat(image.extentAt(65536).kind()).isEqualTo(Extent.Kind.DATA);
            assertThat(image.extentAt(2 * 65536).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            assertThat(image.extentAt(2 * MIB).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            byte[] copied = new byte[2 * 65536];
            image.read(0, copied); // without the backing file: the overlay's own copy
            System.arraycopy(Bytes.pattern(7, 10), 0, expected, 70_000, 10);
            assertThat(copied).isEqualTo(java.util.Arrays.copyOf(expected, 2 * 65536));
        }
        QemuTools.qemuImg("check", overlay).ok();
    }

    @Test
    void aCopyOnReadThatCannotBeMadeIsCountedAndTheReadStillSucceeds() throws Exception {
        Path base = Files.write(dir.resolve("cor-fail-base.raw"), Bytes.random(5, MIB));
        Path overlay = dir.resolve("cor-fail.qed");
        QedImage.create(overlay, CreateOptions.ofSize(MIB).withClusterSize(65536).withBackingFile("cor-fail-base.raw", "raw"));
        StorageProbe disk = new StorageProbe();
        QedImage image = EngineHooks.open(overlay, OpenOptions.READ_WRITE.withCopyOnRead(true), disk.context());
        try (AutoCloseable failing = disk.failSyncs(StorageObserver.EIO)) {
            byte[] back = new byte[4096];
            image.read(0, back); // the copy needs NEED_CHECK synced first: that sync fails
            assertThat(back).as("the read itself, from the backing file").isEqualTo(Arrays.copyOf(Files.readAllBytes(base), 4096));
            assertThat(image.copyOnReadFailures()).isOne();
            image.read(65536, back); // the image has failed: the next copy fails at once, the read does not
            assertThat(image.copyOnReadFailures()).isEqualTo(2);
        }
        assertThat(image.extentAt(0).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
        assertThatThrownBy(image::close).hasMessageContaining("Input/output error");
    }

    @Test
    void oneBaseUnderManyOverlaysIsMappedOnce() throws IOException {
        Path base = Files.write(dir.resolve("shared-base.raw"), Bytes.random(4, MIB));
        List<Path> overlays = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Path o = dir.resolve("overlay-" + i + ".qed");
            QedImage.create(o, CreateOptions.ofSize(MIB).withBackingFile("shared-base.raw", "raw"));
            overlays.add(o);
        }
        List<QedImage> open = new java.util.ArrayList<>();
        try {
            for (Path o : overlays) {
                QedImage image = QedImage.open(o, OpenOptions.READ_WRITE);
                open.add(image);
                image.read(0, new byte[4096]); // maps the base's first chunk
            }
            assertThat(mappingsOf(base)).as("mappings of the base in /proc/self/maps").isEqualTo(1);
            open.remove(0).close();
            byte[] back = new byte[4096];
            open.get(0).read(MIB - 4096, back); // still readable through the others
            assertThat(back).isEqualTo(java.util.Arrays.copyOfRange(Bytes.random(4, MIB), MIB - 4096, MIB));
        } finally {
            for (QedImage image : open) {
                image.close();
            }
        }
        assertThat(mappingsOf(base)).as("unmapped after the last overlay closed").isZero();
    }

    private static long mappingsOf(Path file) throws IOException {
        String real = file.toRealPath().toString();
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.filter(l -> l.endsWith(real)).count();
        }
    }
}
