package org.qedkit.cli;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The temporary overlay of {@code qed serve -s} (qemu-nbd's {@code --snapshot}): a QED image
 * whose backing file is the served FILE, so clients' writes land in it and FILE is only
 * read. It lives in a private directory (mode 0700) under {@code $TMPDIR}, or
 * {@code /var/tmp} as QEMU chooses, so no other user can put a file in its place;
 * {@link #delete} removes both when the server ends.
 */
final class SnapshotOverlay {
    private SnapshotOverlay() {
    }

    /** Creates the overlay of {@code base}; returns its path. */
    static Path create(Path base) throws IOException {
        long size;
        try (QedImage image = QedImage.open(base, OpenOptions.READ_ONLY.withBackingChain(false))) {
            size = image.size();
        } catch (QedException e) {
            throw CliException.couldNotOpen(base, e);
        }
        String tmp = System.getenv("TMPDIR");
        Path parent = Path.of(tmp != null && !tmp.isEmpty() ? tmp : "/var/tmp");
        Path dir = Files.createTempDirectory(parent, "qed-serve-snapshot-");
        Path overlay = dir.resolve("overlay.qed");
        try {
            QedImage.create(overlay, CreateOptions.ofSize(size)
                    .withBackingFile(base.toAbsolutePath().normalize().toString(), "qed"));
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(overlay);
            Files.deleteIfExists(dir);
            throw e;
        }
        return overlay;
    }

    /** Deletes the overlay and its directory. */
    static void delete(Path overlay) throws IOException {
        Files.deleteIfExists(overlay);
        Files.deleteIfExists(overlay.getParent());
    }
}
