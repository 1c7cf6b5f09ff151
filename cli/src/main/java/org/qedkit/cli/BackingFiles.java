package org.qedkit.cli;

import org.qedkit.QedException;
import org.qedkit.QedFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Backing chains as the commands show them; resolution and limits are the engine's ({@link QedFiles}). */
final class BackingFiles {
    private BackingFiles() {
    }

    /** Where backing name {@code backingName} of {@code image} points, as QEMU resolves it. */
    static Path resolve(Path image, String backingName) {
        return QedFiles.resolveBackingName(image, backingName);
    }

    /** One image of a backing chain: its path as QEMU shows it, its format (qed or raw), and the name the image above stores for it (null for the top). */
    record Link(Path path, String format, String name) {
    }

    /** The chain from {@code top} down, read from the headers alone (no locks). */
    static List<Link> chain(Path top) throws IOException {
        try {
            return QedFiles.backingChain(top).stream()
                    .map(l -> new Link(l.path(), l.raw() ? "raw" : "qed", l.name())).toList();
        } catch (QedException e) {
            throw CliException.couldNotOpen(top, e);
        }
    }

    /**
     * Refuses to make {@code newBacking} the backing file of {@code image} when that would
     * make a loop: the new backing file is the image itself, or has it in its own chain.
     * QEMU refuses the same, in these words; an image whose chain loops cannot be opened.
     */
    static void refuseLoop(Path image, Path newBacking) throws IOException {
        if (!Files.exists(image) || !Files.exists(newBacking)) {
            return; // nothing there to loop through
        }
        Path self = image.toRealPath();
        if (newBacking.toRealPath().equals(self)) {
            throw loop(newBacking);
        }
        if (!QedFiles.isQedImage(newBacking)) {
            return; // a raw file ends the chain
        }
        List<QedFiles.ChainLink> chain;
        try {
            chain = QedFiles.backingChain(newBacking);
        } catch (QedException e) {
            if (e.getMessage().contains("loops")) {
                throw loop(newBacking); // it loops already, without this image
            }
            return; // a chain that cannot be read is the copy's or the open's error to report
        }
        for (QedFiles.ChainLink link : chain) {
            if (Files.exists(link.path()) && link.path().toRealPath().equals(self)) {
                throw loop(newBacking);
            }
        }
    }

    private static CliException loop(Path backing) {
        return new CliException("Backing file '" + backing + "' creates an infinite loop.");
    }
}
