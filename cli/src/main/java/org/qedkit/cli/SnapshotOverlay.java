package org.qedkit.cli;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The temporary overlay of snapshot mode, {@code qed io -s} and {@code qed serve -s}
 * (qemu-io's and qemu-nbd's {@code --snapshot}): a QED image whose backing file is the
 * image, so writes land in it and the image is only read. It lives in a private directory
 * (mode 0700) under {@code $TMPDIR}, or {@code /var/tmp}, as QEMU chooses, so no other user
 * can put a file in its place; {@link #delete} removes both at the end.
 */
final class SnapshotOverlay {
    private SnapshotOverlay() {
    }

    /**
     * Creates the overlay of {@code base}, an image of {@code format} ({@code qed} or
     * {@code raw}) and guest size {@code size}; returns its path. The caller reads the size
     * (and words a failure to open {@code base} as its command does).
     */
    static Path create(Path base, String format, long size) throws IOException {
        String tmp = System.getenv("TMPDIR");
        Path parent = Path.of(tmp != null && !tmp.isEmpty() ? tmp : "/var/tmp");
        Path dir = Files.createTempDirectory(parent, "qed-snapshot-");
        Path overlay = dir.resolve("overlay.qed");
        try {
            QedImage.create(overlay, CreateOptions.ofSize(size)
                    .withBackingFile(base.toAbsolutePath().normalize().toString(), format));
        } catch (IOException | RuntimeException e) {
            delete(overlay);
            throw e;
        }
        return overlay;
    }

    /** The guest size of the QED image {@code base}, from its header alone (its backing chain is not opened). */
    static long sizeOf(Path base, boolean forceShare) throws IOException {
        try (QedImage image = QedImage.open(base,
                OpenOptions.READ_ONLY.withForceShare(forceShare).withBackingChain(false))) {
            return image.size();
        }
    }

    /** Deletes the overlay and its directory. */
    static void delete(Path overlay) throws IOException {
        Files.deleteIfExists(overlay);
        Files.deleteIfExists(overlay.getParent());
    }
}
