package org.qedkit.cli;

import java.nio.file.Path;

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
}
