package org.qedkit.internal;

import org.qedkit.BackingFormat;
import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.CreateOptions;
import org.qedkit.DataPastEnd;
import org.qedkit.Limits;
import org.qedkit.LockPolicy;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedFormatException;
import org.qedkit.QedHeader;
import org.qedkit.QedImage;
import org.qedkit.internal.hooks.OpenContext;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * What the tools do to an image that is not open: create, check (and repair), resize, set
 * the backing file, make empty. Each takes QEMU's locks for its time, and each edit that
 * changes tables first opens the image read-write once, so a crashed image is repaired
 * before it is edited. Every step that could leave the image inconsistent runs with
 * NEED_CHECK set, and each is synced before the next, so a crash part way leaves an image
 * the next open finishes.
 */
public final class OfflineImages {
    private OfflineImages() {
    }

    /** See {@code QedImage.create}. */
    public static void create(Path path, CreateOptions options) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        byte[] name = options.backingFile() == null ? new byte[0]
                : options.backingFile().getBytes(StandardCharsets.UTF_8);
        QedHeader header = HeaderLayout.forNewImage(options, name.length);
        long fileSize = header.l1TableOffset() + (long) options.tableSize() * options.clusterSize();
        HeaderCodec.validate(header, Math.max(fileSize, 0));
        try (MappedImageFile file = MappedImageFile.createEmpty(path)) {
            file.extend(fileSize);
            HeaderCodec.write(header, file);
            file.copyIn(name, 0, QedHeader.HEADER_BYTES, name.length);
            file.sync();
        }
    }

    /** See {@code QedImage.check}. */
    public static CheckResult check(Path path, CheckMode mode, LockPolicy locking, Limits limits) throws IOException {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(locking, "locking");
        Objects.requireNonNull(limits, "limits");
        boolean repair = mode != CheckMode.REPORT;
        if (locking == LockPolicy.FORCE_SHARE && repair) {
            throw new IllegalArgumentException("force-share is only for a check that repairs nothing");
        }
        try (MappedImageFile file = MappedImageFile.open(path, repair)) {
            if (locking == LockPolicy.LOCK) {
                file.lockLikeQemu();
            }
            QedHeader header = HeaderCodec.read(file);
            ImageOpener.requireWithinLimits(path, header, limits);
            CheckResult result = ImageChecker.run(file, header, mode, limits);
            if (repair) {
                header = ImageChecker.headerAfterRepair(file, result);
                if ((header.features() & QedHeader.FEATURE_BACKING_FILE) != 0 && !header.hasBackingFile()) {
                    // The backing-file bit with an empty name: read as no backing file, as
                    // QEMU reads it; the repair says so in the header too.
                    header = header.withFeatures(header.features()
                            & ~(QedHeader.FEATURE_BACKING_FILE | QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE));
                    HeaderCodec.write(header, file);
                    file.sync();
                }
            }
            return result;
        }
    }

    /** See {@code QedImage.resize}. */
    public static void resize(Path path, long newSize, DataPastEnd dataPastEnd) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(dataPastEnd, "dataPastEnd");
        try (QedImage image = ImageOpener.open(path, OpenOptions.READ_WRITE, OpenContext.DEFAULT)) {
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
            shrunk = cutEntriesPast(file, h, newSize, dataPastEnd);
        }
        if (shrunk) {
            check(path, CheckMode.REPAIR_ALL, LockPolicy.LOCK, Limits.DEFAULT); // frees the clusters, clears NEED_CHECK
        }
    }

    /**
     * Drops the entries that map guest bytes at or past {@code newSize}: NEED_CHECK first,
     * then the L2 entries, then the L1 entries, then the new size, each step synced.
     */
    private static boolean cutEntriesPast(MappedImageFile file, QedHeader h, long newSize, DataPastEnd dataPastEnd)
            throws IOException {
        Geometry geometry = Geometry.of(h);
        ClusterMap map = new ClusterMap(file, geometry);
        long clusterSize = h.clusterSize();
        long firstCut = (newSize + clusterSize - 1) / clusterSize * clusterSize; // first cluster wholly past the end
        EntryList l2Entries = new EntryList();
        EntryList l1Entries = new EntryList();
        long dataClusters = 0;
        long perTable = geometry.bytesPerL2Table();
        for (long table = firstCut / perTable * perTable; table < h.imageSize(); table += perTable) {
            long l2 = map.l2Table(table);
            if (l2 == 0) {
                continue;
            }
            if (table >= firstCut) {
                l1Entries.add(geometry.l1EntryOffset(table));
            }
            long end = Math.min(table + perTable, h.imageSize());
            for (long pos = Math.max(table, firstCut); pos < end; pos += clusterSize) {
                long entry = map.lookup(pos);
                if (entry != ClusterMap.UNALLOCATED) {
                    l2Entries.add(map.l2EntryOffset(l2, pos));
                    if (entry != ClusterMap.ZERO) {
                        dataClusters++;
                    }
                }
            }
        }
        long inLast = geometry.inCluster(newSize);
        long boundary = inLast != 0 ? map.lookup(newSize) : ClusterMap.UNALLOCATED;
        if (boundary > ClusterMap.ZERO) {
            byte[] tail = new byte[(int) (clusterSize - inLast)];
            file.copyOut(boundary + inLast, MemorySegment.ofArray(tail), 0, tail.length);
            if (Arrays.mismatch(tail, new byte[tail.length]) >= 0) {
                dataClusters++; // data in the part of the last cluster past the new end
            }
        }
        if (dataClusters > 0 && dataPastEnd == DataPastEnd.REFUSE) {
            throw new QedException(file.path() + ": " + dataClusters + " cluster(s) of data lie past " + newSize
                    + " bytes; shrinking would discard them");
        }
        // The cluster the new end falls in keeps its place; its bytes past the end become
        // zeros, so that growing the image again does not bring them back.
        boolean anything = l1Entries.size() > 0 || l2Entries.size() > 0 || boundary > ClusterMap.ZERO;
        if (anything) {
            HeaderCodec.write(h.withFeatures(h.features() | QedHeader.FEATURE_NEED_CHECK), file);
            file.sync();
            if (boundary > ClusterMap.ZERO) {
                file.fillZero(boundary + inLast, clusterSize - inLast);
            }
            l2Entries.clearAll(file);
            file.sync();
            l1Entries.clearAll(file);
            file.sync();
        }
        QedHeader now = HeaderCodec.read(file);
        HeaderCodec.write(now.withImageSize(newSize), file);
        file.sync();
        return anything;
    }

    /** File offsets of table entries to clear, without a boxed {@code Long} each. */
    private static final class EntryList {
        private long[] offsets = new long[16];
        private int size;

        void add(long offset) {
            if (size == offsets.length) {
                offsets = Arrays.copyOf(offsets, size * 2);
            }
            offsets[size++] = offset;
        }

        int size() {
            return size;
        }

        void clearAll(MappedImageFile file) {
            for (int i = 0; i < size; i++) {
                file.setEntryRelease(offsets[i], 0);
            }
        }
    }

    /** See {@code QedImage.setBackingFile}. */
    public static void setBackingFile(Path path, String name, BackingFormat format) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(format, "format");
        // Opened read-write once first: a crashed image is repaired before its header changes.
        ImageOpener.open(path, OpenOptions.READ_WRITE.withBackingChain(false), OpenContext.DEFAULT).close();
        try (MappedImageFile file = MappedImageFile.open(path, true)) {
            file.lockLikeQemu();
            QedHeader h = HeaderCodec.read(file);
            QedHeader next;
            if (name == null) {
                next = HeaderLayout.withoutBackingFile(h);
            } else {
                byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
                long at = HeaderLayout.placeForBackingName(h, name, bytes.length);
                file.copyIn(bytes, 0, at, bytes.length);
                file.sync(); // the name is durable before the header points at it
                next = HeaderLayout.withBackingFile(h, name, bytes.length, at, format);
            }
            HeaderCodec.validate(next, file.size());
            HeaderCodec.write(next, file);
            file.sync();
        }
    }

    /** See {@code QedImage.makeEmpty}. */
    public static void makeEmpty(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        ImageOpener.open(path, OpenOptions.READ_WRITE.withBackingChain(false), OpenContext.DEFAULT).close();
        try (MappedImageFile file = MappedImageFile.open(path, true)) {
            file.lockLikeQemu();
            QedHeader h = HeaderCodec.read(file);
            HeaderCodec.write(h.withFeatures(h.features() | QedHeader.FEATURE_NEED_CHECK), file);
            file.sync();
            file.fillZero(h.l1TableOffset(), h.tableBytes());
            file.sync();
        }
        check(path, CheckMode.REPAIR_ALL, LockPolicy.LOCK, Limits.DEFAULT); // frees every cluster, clears NEED_CHECK
    }
}
