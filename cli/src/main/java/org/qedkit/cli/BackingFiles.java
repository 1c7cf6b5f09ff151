package org.qedkit.cli;

import org.qedkit.QedException;
import org.qedkit.QedFiles;

import java.io.IOException;
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

    /** One image of a backing chain: its path as QEMU shows it, and its format (qed or raw). */
    record Link(Path path, String format) {
    }

    /** The chain from {@code top} down, read from the headers alone (no locks). */
    static List<Link> chain(Path top) throws IOException {
        try {
            return QedFiles.backingChain(top).stream()
                    .map(l -> new Link(l.path(), l.raw() ? "raw" : "qed")).toList();
        } catch (QedException e) {
            throw new CliException("Could not open '" + top + "': " + e.getMessage());
        }
    }
}
