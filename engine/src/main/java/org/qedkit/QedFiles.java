package org.qedkit;

import org.qedkit.internal.BackingChain;
import org.qedkit.internal.MappedImageFile;

import java.io.IOException;
import java.nio.file.Path;

/** Facts about files that need no open image: what the tools ask of backing files and raw files. */
public final class QedFiles {
    private QedFiles() {
    }

    /**
     * @param path any file
     * @return whether it starts with QED's magic: how a backing file whose format the header
     *         does not record is probed (anything else is taken as raw)
     */
    public static boolean isQedImage(Path path) throws IOException {
        return BackingChain.isQedImage(path);
    }

    /**
     * @param path any file
     * @return bytes it occupies on disk (st_blocks × 512), as {@code du} and qemu-img's
     *         actual-size count them
     */
    public static long allocatedBytes(Path path) throws IOException {
        return MappedImageFile.allocatedBytes(path);
    }
}
