package org.qedkit;

import org.qedkit.internal.BackingFile;
import org.qedkit.internal.ClusterMap;
import org.qedkit.internal.CommitPipeline;
import org.qedkit.internal.Geometry;
import org.qedkit.internal.HeaderCodec;
import org.qedkit.internal.ImageChecker;
import org.qedkit.internal.MappedImageFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An open QED image: guest-visible bytes that can be read, written and zeroed at any offset
 * and length, backed by a memory-mapped image file.
 *
 * <pre>{@code
 * QedImage.create(path, CreateOptions.ofSize(1L << 30));
 * try (QedImage image = QedImage.open(path, OpenOptions.READ_WRITE)) {
 *     image.write(0, "hello".getBytes(StandardCharsets.US_ASCII));
 *     image.flush();
 * }
 * }</pre>
 *
 * <h2>Threads</h2>
 * All methods may be called from any number of threads. Reads take no lock and allocate
 * nothing for {@code byte[]} and {@code MemorySegment} buffers: they walk the mapped tables
 * and copy once from the mapped cluster. Writes to clusters that exist go straight into
 * the mapping; writes that need new clusters plan under a short lock and are committed in
 * batches, in the order data, L2 entries, L1 entries, each step one {@code fdatasync} for
 * the whole batch.
 *
 * <h2>Durability</h2>
 * With {@link Durability#WRITE_BACK} (the default) a write returns when its data is visible
 * to every reader of this process, and {@link #flush()} makes every write that returned
 * before it durable; with {@link Durability#WRITE_THROUGH} (for the image, or for one
 * write) it returns durable. A crash at any moment leaves a consistent image in which
 * nothing points at data that was not yet durable: leaked clusters at worst, which the next
 * read-write open reclaims because NEED_CHECK says so.
 *
 * <h2>Sharing</h2>
 * Opens take the byte-range locks QEMU takes, so QEMU and qedkit never write one image at
 * once; a conflict is a {@link QedLockedException}.
 */
public final class QedImage implements AutoCloseable {
    private final MappedImageFile file;
    private final Geometry geometry;
    private final ClusterMap map;
    private final CommitPipeline pipeline; // null when read-only
    private final boolean readOnly;
    private final Durability durability;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicReference<QedHeader> header;
    private final CheckResult checkAtOpen;
    private final BackingFile backing; // null without a backing file
    private final boolean copyOnRead;

    private QedImage(MappedImageFile file, QedHeader header, OpenOptions options, CheckResult checkAtOpen,
                     BackingFile backing) {
        this.file = file;
        this.backing = backing;
        this.header = new AtomicReference<>(header);
        this.readOnly = options.readOnly();
        this.copyOnRead = options.copyOnRead() && backing != null;
        this.durability = options.durability();
        this.checkAtOpen = checkAtOpen;
        this.geometry = Geometry.of(header);
        this.map = new ClusterMap(file, geometry, options.l2CacheTables());
        this.pipeline = readOnly ? null : new CommitPipeline(file, map, this.header, backing, options.commitInterval());
    }

    // ------------------------------------------------------------------ create / open

    /**
     * Creates an empty image at {@code path}, replacing any file there, laid out as
     * {@code qemu-img create -f qed} lays it out: the header in cluster 0 (more clusters
     * only if a long backing file name needs them), the empty L1 table right after it.
     *
     * @throws QedFormatException when an option breaks a rule of the format; the file is
     *                            then left untouched
     */
    public static void create(Path path, CreateOptions options) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        int cs = options.clusterSize();
        byte[] name = options.backingFile() == null ? new byte[0]
                : options.backingFile().getBytes(StandardCharsets.UTF_8);
        long features = 0;
        if (options.backingFile() != null) {
            features |= QedHeader.FEATURE_BACKING_FILE;
            if ("raw".equals(options.backingFormat())) {
                features |= QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE;
            }
        }
        // Guard the arithmetic below; validate() reports the rule itself.
        long clusters = cs > 0 ? (QedHeader.HEADER_BYTES + name.length + (long) cs - 1) / cs : 1;
        int headerSize = (int) Math.max(1, clusters);
        long l1Offset = (long) headerSize * cs;
        QedHeader header = new QedHeader(cs, options.tableSize(), headerSize, features, 0, 0,
                l1Offset, options.roundedSize(), name.length == 0 ? 0 : QedHeader.HEADER_BYTES,
                name.length, options.backingFile());
        long fileSize = l1Offset + (long) options.tableSize() * cs;
        HeaderCodec.validate(header, Math.max(fileSize, 0));

        try (MappedImageFile f = MappedImageFile.createEmpty(path)) {
            f.extend(fileSize);
            HeaderCodec.write(header, f);
            f.copyIn(name, 0, QedHeader.HEADER_BYTES, name.length);
            f.sync();
        }
    }

    /**
     * Checks the image at {@code path} against every invariant of the format and, unless
     * {@code mode} is {@link CheckMode#REPORT}, repairs it (see {@link CheckMode}). A repair
     * that leaves no corruption also clears the image's NEED_CHECK bit. The image must not
     * be open elsewhere while a repair runs.
     *
     * @throws QedFormatException when the header itself is invalid (nothing to check against)
     */
    public static CheckResult check(Path path, CheckMode mode) throws IOException {
        return check(path, mode, false);
    }

    /**
     * As {@link #check(Path, CheckMode)}; with {@code forceShare} a report-only check takes
     * no lock, so an image in use can be inspected (as {@code qemu-img check -U}).
     */
    public static CheckResult check(Path path, CheckMode mode, boolean forceShare) throws IOException {
        return check(path, mode, forceShare, Limits.DEFAULT);
    }

    /**
     * As {@link #check(Path, CheckMode, boolean)}, within {@code limits}: an image past one
     * is refused with a {@link QedLimitException} before anything is written, and a check
     * that runs past {@link Limits#maxCheckTime()} stops with one.
     */
    public static CheckResult check(Path path, CheckMode mode, boolean forceShare, Limits limits) throws IOException {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(limits, "limits");
        if (forceShare && mode != CheckMode.REPORT) {
            throw new IllegalArgumentException("force-share is only for a check that repairs nothing");
        }
        try (MappedImageFile file = MappedImageFile.open(path, mode != CheckMode.REPORT)) {
            if (!forceShare) {
                file.lockLikeQemu();
            }
            QedHeader header = HeaderCodec.read(file);
            requireWithin(path, header, limits);
            CheckResult result = ImageChecker.run(file, header, mode, limits);
            if (mode != CheckMode.REPORT) {
                header = HeaderCodec.read(file); // the repair may have moved the L1 table
            }
            if (mode != CheckMode.REPORT && result.corruptions() == 0 && header.needsCheck()) {
                HeaderCodec.write(header.withFeatures(header.features() & ~QedHeader.FEATURE_NEED_CHECK), file);
                file.sync();
            }
            return result;
        }
    }

    /**
     * Changes the guest size of the closed image at {@code path} to {@code newSize} bytes (a
     * multiple of 512, within what its cluster and table sizes address). Growing only
     * rewrites the header. Shrinking, which QEMU does not offer for QED, drops every entry
     * past the new end and gives the clusters it frees back; when some of them hold data,
     * it is refused unless {@code discardData}. A crash part way leaves NEED_CHECK set, and
     * the next open finishes the job.
     *
     * @throws QedFormatException when {@code newSize} is not a size the image can have
     * @throws QedException       when shrinking would drop data and {@code discardData} is false
     */
    public static void resize(Path path, long newSize, boolean discardData) throws IOException {
        Objects.requireNonNull(path, "path");
        try (QedImage image = open(path, OpenOptions.READ_WRITE)) {
            // Opened once read-write first: a crashed image is repaired before it is cut.
            QedHeader h = image.header();
            long max = QedHeader.maxImageSize(h.clusterSize(), h.tableSize());
            if (newSize < 0 || newSize % 512 != 0 || newSize > max) {
                throw new QedFormatException("image_size", Long.toString(newSize),
                        "must be a multiple of 512 and at most " + max + " for cluster_size "
                                + h.clusterSize() + " and table_size " + h.tableSize());
            }
        }
        boolean shrunk;
        try (MappedImageFile file = MappedImageFile.open(path, true)) {
            file.lockLikeQemu();
            QedHeader h = HeaderCodec.read(file);
            if (newSize >= h.imageSize()) {
                HeaderCodec.write(h.withImageSize(newSize), file);
                file.sync();
                return;
            }
            shrunk = cutEntriesPast(file, h, newSize, discardData);
        }
        if (shrunk) {
            check(path, CheckMode.REPAIR_ALL); // gives the freed clusters back, clears NEED_CHECK
        }
    }

    /**
     * Points the closed image at {@code path} to another backing file, or to none when
     * {@code name} is null, rewriting only the header: {@code qemu-img rebase -u}. Nothing
     * is copied, so guest content changes unless the new backing file holds what the old
     * one did ({@code qed rebase} without {@code -u} copies first). {@code format} is
     * {@code "raw"} (never probed) or {@code "qed"}/null (probed).
     *
     * <p>Crash-safe: the new name is written where the old one is not, synced, and only
     * then do the header fields (one sector) switch to it.
     *
     * @throws QedFormatException when the name does not fit in the header area beside the old one
     */
    public static void setBackingFile(Path path, String name, String format) throws IOException {
        Objects.requireNonNull(path, "path");
        if (format != null && !format.equals("raw") && !format.equals("qed")) {
            throw new IllegalArgumentException("backing format must be raw or qed, not " + format);
        }
        open(path, OpenOptions.READ_WRITE.withBackingChain(false)).close(); // repairs a crashed image first
        try (MappedImageFile file = MappedImageFile.open(path, true)) {
            file.lockLikeQemu();
            QedHeader h = HeaderCodec.read(file);
            long features = h.features() & ~(QedHeader.FEATURE_BACKING_FILE | QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE);
            QedHeader next;
            if (name == null) {
                next = new QedHeader(h.clusterSize(), h.tableSize(), h.headerSize(), features, h.compatFeatures(),
                        h.autoclearFeatures(), h.l1TableOffset(), h.imageSize(), 0, 0, null);
            } else {
                byte[] bytes = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                long area = Integer.toUnsignedLong(h.headerSize()) * h.clusterSize();
                long oldStart = h.hasBackingFile() ? Integer.toUnsignedLong(h.backingFilenameOffset()) : 0;
                long oldEnd = h.hasBackingFile() ? oldStart + Integer.toUnsignedLong(h.backingFilenameSize()) : 0;
                long at;
                if (QedHeader.HEADER_BYTES + bytes.length <= oldStart || !h.hasBackingFile()
                        || oldEnd <= QedHeader.HEADER_BYTES) {
                    at = QedHeader.HEADER_BYTES;
                } else {
                    at = oldEnd;
                }
                if (at + bytes.length > area) {
                    throw new QedFormatException("backing_filename", name, "does not fit in the header area of "
                            + area + " bytes beside the current name (" + (oldEnd - oldStart) + " bytes at " + oldStart + ")");
                }
                file.copyIn(bytes, 0, at, bytes.length);
                file.sync();
                features |= QedHeader.FEATURE_BACKING_FILE
                        | ("raw".equals(format) ? QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE : 0);
                next = new QedHeader(h.clusterSize(), h.tableSize(), h.headerSize(), features, h.compatFeatures(),
                        h.autoclearFeatures(), h.l1TableOffset(), h.imageSize(), (int) at, bytes.length, name);
            }
            HeaderCodec.validate(next, file.size());
            HeaderCodec.write(next, file);
            file.sync();
        }
    }

    /**
     * Empties the closed image at {@code path}: every cluster is dropped and given back, so
     * it reads entirely through its backing file again (what {@code qemu-img commit} does
     * to formats that can, and not to QED). NEED_CHECK is set while it runs.
     */
    public static void makeEmpty(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        open(path, OpenOptions.READ_WRITE.withBackingChain(false)).close(); // repairs a crashed image first
        try (MappedImageFile file = MappedImageFile.open(path, true)) {
            file.lockLikeQemu();
            QedHeader h = HeaderCodec.read(file);
            HeaderCodec.write(h.withFeatures(h.features() | QedHeader.FEATURE_NEED_CHECK), file);
            file.sync();
            file.fillZero(h.l1TableOffset(), h.tableBytes());
            file.sync();
        }
        check(path, CheckMode.REPAIR_ALL); // gives every cluster back, clears NEED_CHECK
    }

    /**
     * Drops the entries that map guest bytes at or past {@code newSize}: NEED_CHECK first,
     * then the L2 entries, then the L1 entries, then the new size, each step synced.
     */
    private static boolean cutEntriesPast(MappedImageFile file, QedHeader h, long newSize, boolean discardData)
            throws IOException {
        Geometry g = Geometry.of(h);
        ClusterMap map = new ClusterMap(file, g);
        long cs = h.clusterSize();
        long firstCut = (newSize + cs - 1) / cs * cs; // the first cluster wholly past the end
        java.util.List<Long> l2Entries = new java.util.ArrayList<>();
        java.util.List<Long> l1Entries = new java.util.ArrayList<>();
        long dataClusters = 0;
        long perTable = g.bytesPerL2Table();
        for (long table = firstCut / perTable * perTable; table < h.imageSize(); table += perTable) {
            long l2 = map.l2Table(table);
            if (l2 == 0) {
                continue;
            }
            if (table >= firstCut) {
                l1Entries.add(g.l1EntryOffset(table));
            }
            for (long pos = Math.max(table, firstCut); pos < Math.min(table + perTable, h.imageSize()); pos += cs) {
                long entry = map.lookup(pos);
                if (entry != ClusterMap.UNALLOCATED) {
                    l2Entries.add(l2 + (g.l2Index(pos) << 3));
                    if (entry != ClusterMap.ZERO) {
                        dataClusters++;
                    }
                }
            }
        }
        long boundary = newSize % cs != 0 ? map.lookup(newSize) : ClusterMap.UNALLOCATED;
        if (boundary > ClusterMap.ZERO) {
            byte[] tail = new byte[(int) (cs - g.inCluster(newSize))];
            file.copyOut(boundary + g.inCluster(newSize), MemorySegment.ofArray(tail), 0, tail.length);
            if (java.util.Arrays.mismatch(tail, new byte[tail.length]) >= 0) {
                dataClusters++; // data in the part of the last cluster past the new end
            }
        }
        if (dataClusters > 0 && !discardData) {
            throw new QedException(file.path() + ": " + dataClusters + " cluster(s) of data lie past " + newSize
                    + " bytes; shrinking would discard them");
        }
        // The cluster the new end falls in keeps its place; its bytes past the end become
        // zeros, so that growing the image again does not bring them back.
        boolean anything = !l1Entries.isEmpty() || !l2Entries.isEmpty() || boundary > ClusterMap.ZERO;
        if (anything) {
            HeaderCodec.write(h.withFeatures(h.features() | QedHeader.FEATURE_NEED_CHECK), file);
            file.sync();
            if (boundary > ClusterMap.ZERO) {
                file.fillZero(boundary + g.inCluster(newSize), cs - g.inCluster(newSize));
            }
            for (long at : l2Entries) {
                file.setEntryRelease(at, 0);
            }
            file.sync();
            for (long at : l1Entries) {
                file.setEntryRelease(at, 0);
            }
            file.sync();
        }
        QedHeader now = HeaderCodec.read(file);
        HeaderCodec.write(now.withImageSize(newSize), file);
        file.sync();
        return anything;
    }

    /** Opens an existing image read-write. */
    public static QedImage open(Path path) throws IOException {
        return open(path, OpenOptions.READ_WRITE);
    }

    /**
     * Opens an existing image. The header is validated against every rule of the format;
     * a read-write open also clears auto-clear feature bits this engine does not know (the
     * format's rule for structures an older program cannot keep up to date).
     *
     * @throws QedFormatException when the header breaks a rule
     * @throws QedIoException    when the file cannot be opened or mapped
     */
    public static QedImage open(Path path, OpenOptions options) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        return open(path, options, new java.util.ArrayList<>());
    }

    /** Opens one link of a backing chain; {@code chain} holds the real paths opened so far. */
    private static QedImage open(Path path, OpenOptions options, java.util.List<Path> chain) throws IOException {
        MappedImageFile file = MappedImageFile.open(path, !options.readOnly());
        BackingFile backing = null;
        try {
            file.adviseAccess(options.accessPattern());
            if (!options.forceShare()) {
                file.lockLikeQemu();
            }
            QedHeader header = HeaderCodec.read(file);
            Limits limits = options.limits();
            requireWithin(path, header, limits);
            if (header.needsCheck()) {
                // Refused before the open writes anything (prepareForWriting may).
                ImageChecker.requireWithinLimits(file, header,
                        options.readOnly() ? CheckMode.REPORT : CheckMode.REPAIR_ALL, limits);
            }
            CheckResult check = null;
            if (!options.readOnly()) {
                header = prepareForWriting(file, header);
                if (header.needsCheck()) {
                    // Not closed cleanly: reclaim what the crash leaked, fix what it broke.
                    check = ImageChecker.run(file, header, CheckMode.REPAIR_ALL, limits);
                    header = HeaderCodec.read(file); // the repair may have moved the L1 table
                    if (check.corruptions() == 0) {
                        header = header.withFeatures(header.features() & ~QedHeader.FEATURE_NEED_CHECK);
                        HeaderCodec.write(header, file);
                        file.sync();
                    }
                }
            } else if (header.needsCheck()) {
                check = ImageChecker.run(file, header, CheckMode.REPORT, limits); // in memory; writes nothing
            }
            if (header.hasBackingFile()) {
                chain.add(path.toRealPath());
                backing = options.openBackingChain() ? openBacking(path, header, options, chain)
                        : notOpened(path, header);
            }
            return new QedImage(file, header, options, check, backing);
        } catch (IOException | RuntimeException e) {
            try {
                if (backing != null) {
                    backing.close();
                }
                file.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Opens the backing file named in {@code header}, read-only: a relative name is
     * relative to the overlay's directory, as QEMU resolves it; the NO_PROBE bit means raw,
     * otherwise the file is QED if it starts with QED's magic and raw if not.
     */
    private static BackingFile openBacking(Path overlay, QedHeader header, OpenOptions options,
                                           java.util.List<Path> chain) throws IOException {
        String name = header.backingFilename();
        Path named;
        try {
            named = Path.of(name);
        } catch (java.nio.file.InvalidPathException e) {
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
        Path parent = overlay.toAbsolutePath().getParent();
        Path resolved = named.isAbsolute() || parent == null ? named : parent.resolve(named);
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
        if (!java.nio.file.Files.isRegularFile(real)) {
            // A FIFO would block the open forever, a device could be anything: an image from
            // an untrusted source may name any path, and only regular files are images.
            throw new QedFormatException("backing_filename", name, "the backing file must be a regular file, and "
                    + real + " is not");
        }
        if (chain.contains(real)) {
            java.util.List<Path> loop = new java.util.ArrayList<>(chain);
            loop.add(real);
            throw new QedFormatException("backing_filename", name, "the backing chain loops: " + describe(loop));
        }
        OpenOptions readOnly = OpenOptions.READ_ONLY.withForceShare(options.forceShare())
                .withLimits(options.limits()).withBackingPolicy(policy).withAccessPattern(options.accessPattern());
        if ("raw".equals(header.backingFormat()) || !isQedImage(real)) {
            return SharedBackingFiles.acquire(real, true, readOnly, () -> {
                MappedImageFile raw = MappedImageFile.open(real, false);
                try {
                    raw.adviseAccess(options.accessPattern());
                    if (!options.forceShare()) {
                        raw.lockLikeQemu();
                    }
                } catch (IOException e) {
                    raw.close();
                    throw e;
                }
                return new BackingFile.Raw(raw);
            });
        }
        return SharedBackingFiles.acquire(real, false, readOnly, () -> qedBacking(open(real, readOnly, chain)));
    }

    /** A QED image read as a backing file: zeros past its end, its map one level down. */
    private static BackingFile qedBacking(QedImage base) {
        return new BackingFile() {
            @Override
            public long size() {
                return base.size();
            }

            @Override
            public MapEntry map(long offset, long length, int depth) throws IOException {
                return base.map(offset, length, depth);
            }

            @Override
            public void read(long offset, MemorySegment dst, long dstOffset, long length) throws IOException {
                long inImage = Math.max(0, Math.min(length, base.size() - offset));
                if (inImage > 0) {
                    base.read(offset, dst.asSlice(dstOffset, inImage));
                }
                if (inImage < length) {
                    dst.asSlice(dstOffset + inImage, length - inImage).fill((byte) 0);
                }
            }

            @Override
            public void close() throws IOException {
                base.close();
            }
        };
    }

    /** Stands in for a backing chain the caller chose not to open: reading it is an error. */
    private static BackingFile notOpened(Path overlay, QedHeader header) {
        return new BackingFile() {
            @Override
            public long size() {
                return Long.MAX_VALUE;
            }

            @Override
            public void read(long offset, MemorySegment dst, long dstOffset, long length) throws QedException {
                throw new QedException("reading offset " + offset + " of " + overlay + " needs its backing file '"
                        + header.backingFilename() + "', which this open left closed (OpenOptions.withBackingChain)");
            }

            @Override
            public MapEntry map(long offset, long length, int depth) throws QedException {
                throw new QedException("mapping offset " + offset + " of " + overlay + " needs its backing file '"
                        + header.backingFilename() + "', which this open left closed (OpenOptions.withBackingChain)");
            }

            @Override
            public void close() {
            }
        };
    }

    /**
     * True when the file starts with QED's magic: how a backing file whose format the
     * header does not record is probed (anything else is taken as raw).
     */
    public static boolean isQedImage(Path path) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(path)) {
            java.nio.ByteBuffer magic = java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            return ch.read(magic, 0) == 4 && magic.getInt(0) == QedHeader.MAGIC;
        }
    }

    /** Bytes any file occupies on disk (st_blocks × 512), e.g. a raw backing file for {@code info}. */
    public static long allocatedBytes(Path path) throws IOException {
        try (MappedImageFile f = MappedImageFile.open(path, false)) {
            return f.allocatedBytes();
        }
    }

    private static String describe(java.util.List<Path> chain) {
        return String.join(" -> ", chain.stream().map(Path::toString).toList());
    }

    /** Refuses a header past the size limits, before the open reads a table or writes anything. */
    private static void requireWithin(Path path, QedHeader header, Limits limits) throws QedLimitException {
        if (Long.compareUnsigned(header.imageSize(), limits.maxVirtualSize()) > 0) {
            throw new QedLimitException("maxVirtualSize", path + ": its virtual size of "
                    + Long.toUnsignedString(header.imageSize()) + " bytes is over the limit of "
                    + limits.maxVirtualSize());
        }
    }

    private static QedHeader prepareForWriting(MappedImageFile file, QedHeader header)
            throws IOException {
        file.cutPartialCluster(header.clusterSize());
        long unknownAutoclear = header.autoclearFeatures() & ~QedHeader.KNOWN_AUTOCLEAR_FEATURES;
        if (unknownAutoclear != 0) {
            header = header.withAutoclearFeatures(
                    header.autoclearFeatures() & QedHeader.KNOWN_AUTOCLEAR_FEATURES);
            HeaderCodec.write(header, file);
            file.sync();
        }
        return header;
    }

    // ------------------------------------------------------------------ facts

    /** The header as it stands now (NEED_CHECK comes and goes as writes come and go). */
    public QedHeader header() {
        return header.get();
    }

    /**
     * The check that open ran because the image was not closed cleanly (NEED_CHECK was
     * set): with repair for a read-write open, in memory only for a read-only one.
     */
    public Optional<CheckResult> checkAtOpen() {
        return Optional.ofNullable(checkAtOpen);
    }

    /** When writes to this image count as done. */
    public Durability durability() {
        return durability;
    }

    /** The guest-visible size in bytes. */
    public long size() {
        return geometry.imageSize();
    }

    public boolean isReadOnly() {
        return readOnly;
    }

    public Path path() {
        return file.path();
    }

    /** Bytes the image file occupies on disk, as {@code du} (and qemu-img's actual-size) count them. */
    public long actualSize() throws IOException {
        ensureOpen();
        return file.allocatedBytes();
    }

    /** The image file's length in bytes. */
    public long fileLength() {
        return file.size();
    }

    /**
     * The run of guest bytes starting at {@code offset} that shares one allocation state,
     * up to the end of the image. Data runs are also contiguous in the file.
     */
    public Extent extentAt(long offset) throws IOException {
        ensureOpen();
        long size = size();
        if (offset < 0 || offset >= size) {
            throw new QedRangeException(offset, 0, size);
        }
        long cs = geometry.clusterSize();
        long first = entryFor(offset);
        Extent.Kind kind = kindOf(first);
        long fileStart = kind == Extent.Kind.DATA ? first + geometry.inCluster(offset) : -1;
        long pos = (offset & ~(cs - 1)) + cs;
        long expectedNext = kind == Extent.Kind.DATA ? (first + cs) : 0;
        long perTable = geometry.bytesPerL2Table();
        while (pos < size) {
            if (kind == Extent.Kind.UNALLOCATED && map.l2Table(pos) == 0
                    && (pipeline == null || !pipeline.hasPending())) {
                pos = (pos | (perTable - 1)) + 1; // no L2 table: its whole range is unallocated
                continue;
            }
            long entry = entryFor(pos);
            if (kindOf(entry) != kind || (kind == Extent.Kind.DATA && entry != expectedNext)) {
                break;
            }
            expectedNext += cs;
            pos += cs;
        }
        return new Extent(offset, Math.min(pos, size) - offset, kind, fileStart);
    }

    /**
     * The run of guest bytes from {@code offset} that has one state through the whole
     * backing chain (which image holds it, data or zeros, where in its file), as
     * {@code qemu-img map} reports it. Runs are at most as long as one state in one image
     * lasts; callers merge neighbours that continue each other, as qemu-img does.
     */
    public MapEntry mapEntryAt(long offset) throws IOException {
        ensureOpen();
        return map(offset, size() - offset, 0);
    }

    private MapEntry map(long offset, long maxLength, int depth) throws IOException {
        Extent e = extentAt(offset);
        long length = Math.min(e.length(), maxLength);
        return switch (e.kind()) {
            case DATA -> new MapEntry(offset, length, depth, true, false, true, e.fileOffset());
            case ZERO -> new MapEntry(offset, length, depth, true, true, false, -1);
            case UNALLOCATED -> {
                if (backing != null && offset < backing.size()) {
                    yield backing.map(offset, Math.min(length, backing.size() - offset), depth + 1);
                }
                // Nothing below defines these bytes: zeros, reported at the depth of the last
                // image that reaches this far, as QEMU does.
                yield new MapEntry(offset, length, depth, false, true, false, -1);
            }
        };
    }

    private static Extent.Kind kindOf(long entry) {
        if (entry == ClusterMap.UNALLOCATED) {
            return Extent.Kind.UNALLOCATED;
        }
        return entry == ClusterMap.ZERO ? Extent.Kind.ZERO : Extent.Kind.DATA;
    }

    // ------------------------------------------------------------------ reads

    /** Fills {@code dst} with the guest bytes at {@code offset}. */
    public void read(long offset, MemorySegment dst) throws IOException {
        ensureOpen();
        long length = dst.byteSize();
        checkRange(offset, length);
        long done = 0;
        while (done < length) {
            long pos = offset + done;
            long inCluster = geometry.inCluster(pos);
            long n = Math.min(length - done, geometry.clusterSize() - inCluster);
            long entry = entryFor(pos);
            if (entry > ClusterMap.ZERO) {
                file.copyOut(entry + inCluster, dst, done, n);
            } else if (entry == ClusterMap.UNALLOCATED && backing != null) {
                backing.read(pos, dst, done, n);
                if (copyOnRead && pos < backing.size()) {
                    populateQuietly(pos - inCluster);
                }
            } else {
                dst.asSlice(done, n).fill((byte) 0);
            }
            done += n;
        }
    }

    /**
     * Copy-on-read of one cluster. Best effort by design: the read has its bytes already,
     * and a guest read must not fail because the overlay could not keep a copy (a full
     * disk, an image whose earlier commit failed); the cluster then stays unallocated.
     */
    private void populateQuietly(long clusterGuestOffset) {
        try {
            pipeline.populateFromBacking(clusterGuestOffset);
        } catch (IOException e) {
            // left unallocated: later reads go to the backing file, as without copy-on-read
        }
    }

    /**
     * The {@code length} guest bytes at {@code offset} as a read-only view straight into
     * the image's mapping, without copying, when they lie inside one data cluster of this
     * image; empty otherwise (unallocated or zero clusters, bytes from the backing file, a
     * range across clusters), and the caller reads them with {@link #read} instead.
     *
     * <p>The view is live: a later write to those guest bytes shows through it. It is valid
     * until the image is closed; after that, any access to it throws
     * {@link IllegalStateException} (never a crash).
     */
    public Optional<MemorySegment> view(long offset, long length) throws IOException {
        ensureOpen();
        checkRange(offset, length);
        long inCluster = geometry.inCluster(offset);
        if (length == 0 || inCluster + length > geometry.clusterSize()) {
            return Optional.empty();
        }
        long entry = entryFor(offset);
        if (entry <= ClusterMap.ZERO) {
            return Optional.empty();
        }
        return Optional.ofNullable(file.readOnlyView(entry + inCluster, length));
    }

    /** Reads {@code length} guest bytes at {@code offset} into {@code dst} at {@code dstOffset}. */
    public void read(long offset, byte[] dst, int dstOffset, int length) throws IOException {
        ensureOpen();
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        checkRange(offset, length);
        int done = 0;
        while (done < length) {
            long pos = offset + done;
            long inCluster = geometry.inCluster(pos);
            int n = (int) Math.min(length - done, geometry.clusterSize() - inCluster);
            long entry = entryFor(pos);
            if (entry > ClusterMap.ZERO) {
                file.copyOut(entry + inCluster, dst, dstOffset + done, n);
            } else if (entry == ClusterMap.UNALLOCATED && backing != null) {
                backing.read(pos, MemorySegment.ofArray(dst), dstOffset + done, n);
                if (copyOnRead && pos < backing.size()) {
                    populateQuietly(pos - inCluster);
                }
            } else {
                Arrays.fill(dst, dstOffset + done, dstOffset + done + n, (byte) 0);
            }
            done += n;
        }
    }

    /** Fills {@code dst} completely with the guest bytes at {@code offset}. */
    public void read(long offset, byte[] dst) throws IOException {
        read(offset, dst, 0, dst.length);
    }

    /** Reads {@code dst.remaining()} guest bytes at {@code offset}; advances the buffer's position. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        int n = dst.remaining();
        read(offset, MemorySegment.ofBuffer(dst));
        dst.position(dst.position() + n);
    }

    // ------------------------------------------------------------------ writes

    /**
     * Writes all of {@code src} at guest {@code offset}. Returns when the data is visible to
     * every reader of this process; with {@link Durability#WRITE_THROUGH}, when it is durable.
     */
    public void write(long offset, MemorySegment src) throws IOException {
        write(offset, src, durability);
    }

    /**
     * Writes all of {@code src} at guest {@code offset} with the durability given for this
     * write alone: {@link Durability#WRITE_THROUGH} on a write-back image is a FUA (force
     * unit access) write, durable when it returns, data and table entries alike.
     */
    public void write(long offset, MemorySegment src, Durability writeDurability) throws IOException {
        Objects.requireNonNull(writeDurability, "writeDurability");
        place(offset, src);
        completeWrite(writeDurability);
    }

    /**
     * Writes all of {@code src} at guest {@code offset} without waiting for the disk: the
     * data is in place (visible to every reader) when this returns, and the future completes
     * when the write is done as {@code writeDurability} says: at once for
     * {@link Durability#WRITE_BACK}, when data and entries are durable for
     * {@link Durability#WRITE_THROUGH}. One thread can so keep many durable writes in
     * flight, and they share their syncs (group commit). Errors found before the future is
     * returned (range, read-only, a full disk) complete it exceptionally too; completion runs
     * on the commit thread, so dependents should be short or use an executor of their own.
     * {@code src} may be reused as soon as this returns.
     */
    public CompletableFuture<Void> writeAsync(long offset, MemorySegment src, Durability writeDurability) {
        Objects.requireNonNull(writeDurability, "writeDurability");
        try {
            place(offset, src);
            if (writeDurability == Durability.WRITE_THROUGH) {
                return pipeline.whenDurable(pipeline.requestSync());
            }
            return CompletableFuture.completedFuture(null);
        } catch (IOException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** {@link #flush()} without waiting: completes when every write placed before this call is durable. */
    public CompletableFuture<Void> flushAsync() {
        try {
            ensureOpen();
            return pipeline == null ? CompletableFuture.completedFuture(null)
                    : pipeline.whenDurable(pipeline.requestSync());
        } catch (IOException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Copies the data in place and queues new entries: every write's first half. */
    private void place(long offset, MemorySegment src) throws IOException {
        ensureWritable("write");
        long length = src.byteSize();
        checkRange(offset, length);
        for (long done = 0; done < length; ) {
            long pos = offset + done;
            long inCluster = geometry.inCluster(pos);
            long n = Math.min(length - done, geometry.clusterSize() - inCluster);
            long entry = entryFor(pos);
            if (entry <= ClusterMap.ZERO) {
                // The rest of the request is planned in one piece, so its new clusters
                // travel in one batch.
                pipeline.write(pos, length - done, src, done);
                break;
            }
            file.copyIn(src, done, entry + inCluster, n);
            done += n;
        }
    }

    /** Writes {@code length} bytes of {@code src} from {@code srcOffset} at guest {@code offset}. */
    public void write(long offset, byte[] src, int srcOffset, int length) throws IOException {
        Objects.checkFromIndexSize(srcOffset, length, src.length);
        write(offset, MemorySegment.ofArray(src).asSlice(srcOffset, length));
    }

    /** Writes all of {@code src} at guest {@code offset}. */
    public void write(long offset, byte[] src) throws IOException {
        write(offset, MemorySegment.ofArray(src));
    }

    /** Writes {@code src.remaining()} bytes at guest {@code offset}; advances the buffer's position. */
    public void write(long offset, ByteBuffer src) throws IOException {
        int n = src.remaining();
        write(offset, MemorySegment.ofBuffer(src));
        src.position(src.position() + n);
    }

    /**
     * Makes {@code length} guest bytes at {@code offset} read as zeros, as QEMU does it:
     * whole, aligned, unallocated clusters become zero-cluster entries (no data cluster is
     * spent, and a backing file is hidden); everything else gets real zeros, written in
     * place where the cluster exists (so no space leaks) and into a new cluster where not.
     */
    public void writeZeroes(long offset, long length) throws IOException {
        ensureWritable("write-zeroes");
        checkRange(offset, length);
        for (long done = 0; done < length; ) {
            long pos = offset + done;
            long inCluster = geometry.inCluster(pos);
            long n = Math.min(length - done, geometry.clusterSize() - inCluster);
            long entry = entryFor(pos);
            if (entry > ClusterMap.ZERO) {
                file.fillZero(entry + inCluster, n);
            } else if (entry == ClusterMap.UNALLOCATED || n != geometry.clusterSize()) {
                pipeline.write(pos, length - done, null, 0);
                break;
            }
            done += n;
        }
        completeWrite(durability);
    }

    private void completeWrite(Durability writeDurability) throws IOException {
        if (writeDurability == Durability.WRITE_THROUGH) {
            pipeline.awaitDurable(pipeline.requestSync());
        }
    }

    /**
     * Makes every write that returned before this call durable, data and metadata. Callers
     * flushing at the same time share the work.
     */
    public void flush() throws IOException {
        ensureOpen();
        if (pipeline != null) {
            pipeline.awaitDurable(pipeline.requestSync());
        }
    }

    /**
     * Commits and flushes everything (read-write images), gives preallocated space back so
     * the file ends at its last used cluster, clears NEED_CHECK unless something failed,
     * and releases the mapping and the file. Idempotent.
     */
    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            if (pipeline != null) {
                pipeline.close();
            }
            if (file.syncFailed()) {
                // Say so even when nothing was pending: the failed sync covered earlier writes.
                file.sync(); // throws the failure
            }
        } finally {
            try {
                file.close();
            } finally {
                if (backing != null) {
                    backing.close();
                }
            }
        }
    }

    // ------------------------------------------------------------------ lookups

    /** The entry for a guest offset, including entries written but not yet committed. */
    private long entryFor(long guestOffset) throws QedFormatException {
        return pipeline != null ? pipeline.lookup(guestOffset) : map.lookup(guestOffset);
    }

    // ------------------------------------------------------------------ checks

    private void checkRange(long offset, long length) throws QedRangeException {
        long size = size();
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new QedRangeException(offset, length, size);
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException(path() + " is closed");
        }
    }

    private void ensureWritable(String operation) throws QedReadOnlyException {
        ensureOpen();
        if (readOnly) {
            throw new QedReadOnlyException(operation);
        }
    }
}
