package org.qedkit;

import org.qedkit.internal.BackingChain;
import org.qedkit.internal.MappedImageFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Facts about files that need no open image: what the tools ask of backing files and raw files. */
public final class QedFiles {
    private QedFiles() {
    }

    /**
     * Returns whether it starts with QED's magic: how a backing file whose format the header
        does not record is probed (anything else is taken as raw).
     *
     * @param path any file
     * @return whether it starts with QED's magic: how a backing file whose format the header
        does not record is probed (anything else is taken as raw)
     * @throws IOException when it fails: the subclass of {@link QedException} says how (the package documentation has the rule)
     */
    public static boolean isQedImage(Path path) throws IOException {
        return BackingChain.isQedImage(path);
    }

    /**
     * Returns bytes it occupies on disk (st_blocks × 512), as {@code du} and qemu-img's
        actual-size count them.
     *
     * @param path any file
     * @return bytes it occupies on disk (st_blocks × 512), as {@code du} and qemu-img's
        actual-size count them
     * @throws IOException when it fails: the subclass of {@link QedException} says how (the package documentation has the rule)
     */
    public static long allocatedBytes(Path path) throws IOException {
        return MappedImageFile.allocatedBytes(path);
    }

    /**
     * Returns where the name points, as QEMU resolves and shows it: relative to the image's
        directory (as the image's path was given), an absolute name as it stands.
     *
     * @param image the image that names the backing file
     * @param name  the backing file name as its header stores it
     * @return where the name points, as QEMU resolves and shows it: relative to the image's
        directory (as the image's path was given), an absolute name as it stands
     */
    public static Path resolveBackingName(Path image, String name) {
        return BackingChain.resolve(image, name);
    }

    /**
     * One image of a backing chain, as QEMU's tools show it.
     *
     * @param path   where it is, resolved as QEMU resolves backing names (relative to the
     *               directory of the image that names it, as that image's path was given)
     * @param raw    true for a raw file (the header says so, or it does not start with
     *               QED's magic), which ends the chain
     * @param name   the name the image above stores for it, as stored (before resolution);
     *               null for the top
     */
    public record ChainLink(Path path, boolean raw, String name) {
    }

    /**
     * The backing chain from {@code top} down, read from the headers alone: no image is
     * opened for I/O and no lock is taken, so a chain in use can be listed. Resolution, the
     * depth limit ({@link Limits#DEFAULT}'s {@code maxBackingDepth}) and loop detection are
     * the engine's own, as an open applies them.
     *
     * @param top the image at the top
     * @return the chain, top first
     * @throws QedFormatException when the chain loops
     * @throws QedLimitException  when it is deeper than the limit
     */
    public static List<ChainLink> backingChain(Path top) throws IOException {
        List<ChainLink> chain = new ArrayList<>();
        Set<Path> seen = new HashSet<>();
        Path current = top;
        boolean raw = false;
        String name = null;
        while (true) {
            chain.add(new ChainLink(current, raw, name));
            if (raw) {
                return chain;
            }
            if (Files.exists(current) && !seen.add(current.toRealPath())) {
                throw new QedFormatException("backing_filename", current.toString(), "the backing chain loops: "
                        + String.join(" -> ", chain.stream().map(l -> l.path().toString()).toList()));
            }
            QedHeader header;
            try (QedImage image = QedImage.open(current,
                    OpenOptions.READ_ONLY.toBuilder().forceShare(true).openBackingChain(false).build())) {
                header = image.header();
            }
            if (!header.hasBackingFile()) {
                return chain;
            }
            if (chain.size() > Limits.DEFAULT.maxBackingDepth()) {
                throw new QedLimitException("maxBackingDepth", top + ": its backing chain is deeper than the limit of "
                        + Limits.DEFAULT.maxBackingDepth());
            }
            name = header.backingFilename();
            current = BackingChain.resolve(current, name);
            raw = "raw".equals(header.backingFormat()) || !isQedImage(current);
        }
    }
}
