package org.qedkit.internal;

import org.qedkit.BackingPolicy;
import org.qedkit.Extent;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedFormatException;
import org.qedkit.QemuImageName;
import org.qedkit.QedHeader;
import org.qedkit.QedLimitException;
import org.qedkit.internal.hooks.OpenContext;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Resolves and opens the backing file an image names, with the rules QEMU follows and the
 * {@link BackingPolicy} adds: a relative name is relative to the overlay's directory; the
 * NO_PROBE bit means raw, otherwise the file is QED if it starts with QED's magic and raw
 * if not; only regular files; no loops; no deeper than {@code Limits.maxBackingDepth}.
 * Backing files are shared by every overlay of this process ({@link SharedBackingFiles}).
 */
public final class BackingChain {
    private BackingChain() {
    }

    /** Opens the backing file named in {@code header} of {@code overlay}, read-only. */
    static BackingFile open(Path overlay, QedHeader header, OpenOptions options, OpenContext context,
                            List<Path> chain) throws IOException {
        String name = header.backingFilename();
        Path named;
        try {
            named = QemuImageName.isJson(name) ? jsonBacking(name) : Path.of(name);
        } catch (InvalidPathException e) {
            throw new QedFormatException("backing_filename", "'" + name.replace("\0", "\\0") + "'",
                    "is not a usable path: " + e.getReason());
        }
        BackingPolicy policy = options.backingPolicy();
        if (named.isAbsolute() && !policy.allowAbsolutePaths()) {
            throw new QedFormatException("backing_filename", name,
                    "is an absolute path, which the backing policy refuses (BackingPolicy.allowAbsolutePaths)");
        }
        if (header.backingFormat() == null && !policy.allowProbing()) {
            throw new QedFormatException("backing_filename", name, "has no recorded format (the header records"
                    + " only raw) and the backing policy refuses probing (BackingPolicy.allowProbing)");
        }
        Path resolved = QemuImageName.isJson(name) ? named : resolve(overlay, name); // a json: file stands as named
        if (chain.size() > options.limits().maxBackingDepth()) {
            throw new QedLimitException("maxBackingDepth", overlay + ": its backing file '" + name
                    + "' makes the chain deeper than the limit of " + options.limits().maxBackingDepth() + ": "
                    + describe(chain));
        }
        Path real;
        try {
            real = resolved.toRealPath();
        } catch (IOException e) {
            throw new QedException("backing file '" + name + "' of " + overlay + " (" + resolved
                    + ") cannot be opened: " + e.getMessage(), e);
        }
        if (policy.root() != null && !real.startsWith(policy.root().toRealPath())) {
            throw new QedFormatException("backing_filename", name, "resolves to " + real + ", outside "
                    + policy.root() + ", which the backing policy refuses (BackingPolicy.root)");
        }
        if (!Files.isRegularFile(real)) {
            // A FIFO would block the open forever, a device could be anything: an image from
            // an untrusted source may name any path, and only regular files are images.
            throw new QedFormatException("backing_filename", name, "the backing file must be a regular file, and "
                    + real + " is not");
        }
        if (chain.contains(real)) {
            List<Path> loop = new ArrayList<>(chain);
            loop.add(real);
            throw new QedFormatException("backing_filename", name, "the backing chain loops: " + describe(loop));
        }
        OpenOptions readOnly = OpenOptions.READ_ONLY.toBuilder().forceShare(options.forceShare())
                .limits(options.limits()).backingPolicy(policy).accessPattern(options.accessPattern()).build();
        if ("raw".equals(header.backingFormat()) || !isQedImage(real)) {
            return SharedBackingFiles.acquire(real, true, readOnly, () -> openRaw(real, readOnly));
        }
        return SharedBackingFiles.acquire(real, false, readOnly,
                () -> new QedBackingFile(ImageOpener.open(real, readOnly, context, chain)));
    }

    private static BackingFile openRaw(Path real, OpenOptions options) throws IOException {
        MappedImageFile raw = MappedImageFile.open(real, false);
        try {
            raw.adviseAccess(options.accessPattern());
            if (!options.forceShare()) {
                raw.lockLikeQemu();
            }
            return new BackingFile.Raw(raw);
        } catch (IOException | RuntimeException e) {
            Cleanup.closeAfter(e, raw);
            throw e;
        }
    }

    /**
     * The file of a {@code json:} backing name (QEMU writes one when the backing node has no
     * plain path: {@link QemuImageName}). Refused when it would have the engine inject
     * errors into reads: a backing file is only read here, and its blkdebug rules are for
     * the tools that write into it ({@code qed commit}).
     */
    private static Path jsonBacking(String name) throws QedFormatException {
        QemuImageName parsed;
        try {
            parsed = QemuImageName.parse(name);
        } catch (IllegalArgumentException e) {
            throw new QedFormatException("backing_filename", name, e.getMessage());
        }
        for (QemuImageName.InjectedError rule : parsed.injectedErrors()) {
            if (rule.event().startsWith("read")) {
                throw new QedFormatException("backing_filename", name, "has a blkdebug rule for '" + rule.event()
                        + "', and the engine injects no errors into the reads of a backing file");
            }
        }
        return parsed.file();
    }

    /**
     * Where backing name {@code name} of the image at {@code overlay} points, as QEMU
     * resolves (and shows) it: relative to the overlay's directory as the overlay's path
     * was given, an absolute name as it stands; the file of a {@code json:} name as it
     * stands (QEMU opens a file named in an option tree from its working directory).
     */
    public static Path resolve(Path overlay, String name) {
        if (QemuImageName.isJson(name)) {
            try {
                return QemuImageName.parse(name).file();
            } catch (IllegalArgumentException e) {
                return Path.of(name); // unusable: the open that follows says why
            }
        }
        Path named = Path.of(name);
        Path parent = overlay.getParent(); // null: the overlay is in the working directory, and so is a relative name
        return named.isAbsolute() || parent == null ? named : parent.resolve(named);
    }

    /**
     * True when the file starts with QED's magic: how a backing file whose format the
     * header does not record is probed (anything else is taken as raw).
     */
    public static boolean isQedImage(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path)) {
            ByteBuffer magic = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            return channel.read(magic, 0) == 4 && magic.getInt(0) == QedHeader.MAGIC;
        }
    }

    /**
     * The state through the chain of the run {@code extent} of the image on top of
     * {@code backing} (null: none), as {@code qemu-img map} reports it, at depth 0 for that image.
     */
    public static MapEntry mapEntryAt(Extent extent, BackingFile backing) throws IOException {
        long offset = extent.offset();
        return switch (extent.kind()) {
            case DATA -> MapEntry.data(offset, extent.length(), 0, extent.fileOffset());
            case ZERO -> MapEntry.zeroCluster(offset, extent.length(), 0);
            case UNALLOCATED -> backing != null && offset < backing.size()
                    ? backing.map(offset, Math.min(extent.length(), backing.size() - offset), 1)
                    // Nothing below defines these bytes: zeros, at the depth of the last image
                    // that reaches this far, as QEMU reports them.
                    : MapEntry.absent(offset, extent.length(), 0);
        };
    }

    private static String describe(List<Path> chain) {
        return String.join(" -> ", chain.stream().map(Path::toString).toList());
    }
}
