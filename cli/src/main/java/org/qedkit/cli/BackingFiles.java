package org.qedkit.cli;

import org.qedkit.QedFiles;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedHeader;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Where a backing file name points, as QEMU resolves it. */
final class BackingFiles {
    private BackingFiles() {
    }

    /**
     * A relative backing name is relative to the directory of the image that names it (as
     * the image's path was given), an absolute one stands as it is.
     */
    static Path resolve(Path image, String backingName) {
        Path name = Path.of(backingName);
        if (name.isAbsolute()) {
            return name;
        }
        Path parent = image.getParent();
        return parent == null ? name : parent.resolve(name);
    }

    /** One image of a backing chain: its path as QEMU shows it, and its format (qed or raw). */
    record Link(Path path, String format) {
    }

    /**
     * The chain from {@code top} down, read from the headers alone (no locks: nothing is
     * read but the names): each backing name resolved against the image naming it, a raw
     * file (by the header's word or by probing) ending it. Stops after 64 links.
     */
    static List<Link> chain(Path top) throws IOException {
        List<Link> chain = new ArrayList<>();
        Path current = top;
        String format = "qed";
        while (current != null && chain.size() <= 64) {
            chain.add(new Link(current, format));
            if (!format.equals("qed")) {
                break;
            }
            QedHeader h;
            try (QedImage img = QedImage.open(current, OpenOptions.READ_ONLY.withForceShare(true).withBackingChain(false))) {
                h = img.header();
            } catch (QedException e) {
                throw new CliException("Could not open '" + current + "': " + e.getMessage());
            }
            if (!h.hasBackingFile()) {
                break;
            }
            current = resolve(current, h.backingFilename());
            format = "raw".equals(h.backingFormat()) || !QedFiles.isQedImage(current) ? "raw" : "qed";
        }
        return chain;
    }
}
