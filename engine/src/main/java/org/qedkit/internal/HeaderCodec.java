package org.qedkit.internal;

import org.qedkit.QedFormatException;
import org.qedkit.QedHeader;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads, validates and writes the QED header over a {@link MemorySegment}.
 *
 * <p>Every rule of the format lives in {@link #validate}: open runs it on what it finds,
 * create runs it on what it is about to write, so the engine can never write an image it
 * would refuse to open. Each broken rule is a {@link QedFormatException} that names the
 * field, the value and the rule.
 */
public final class HeaderCodec {
    private static final ValueLayout.OfInt U32 =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static final long OFF_MAGIC = 0;
    static final long OFF_CLUSTER_SIZE = 4;
    static final long OFF_TABLE_SIZE = 8;
    static final long OFF_HEADER_SIZE = 12;
    static final long OFF_FEATURES = 16;
    static final long OFF_COMPAT_FEATURES = 24;
    static final long OFF_AUTOCLEAR_FEATURES = 32;
    static final long OFF_L1_TABLE_OFFSET = 40;
    static final long OFF_IMAGE_SIZE = 48;
    static final long OFF_BACKING_NAME_OFFSET = 56;
    static final long OFF_BACKING_NAME_SIZE = 60;

    public static final int MIN_CLUSTER_SIZE = 4096;
    public static final int MAX_CLUSTER_SIZE = 64 << 20;
    public static final int MIN_TABLE_SIZE = 1;
    public static final int MAX_TABLE_SIZE = 16;
    /** Longest backing file name accepted; QEMU keeps names in a 4 KiB buffer too. */
    public static final int MAX_BACKING_NAME_BYTES = 4095;

    private HeaderCodec() {
    }

    /**
     * Decodes and validates the header at the start of {@code file}, and reads the backing
     * file name when the header names one. A file shorter than the 64 header bytes is
     * refused like any other broken rule.
     */
    public static QedHeader read(MappedImageFile file) throws QedFormatException {
        long fileSize = file.size();
        if (fileSize < QedHeader.HEADER_BYTES) {
            throw new QedFormatException("file size", Long.toString(fileSize),
                    "a QED image holds at least the 64-byte header");
        }
        byte[] raw = new byte[QedHeader.HEADER_BYTES];
        file.copyOut(0, raw, 0, raw.length);
        MemorySegment h = MemorySegment.ofArray(raw);
        int magic = h.get(U32, OFF_MAGIC);
        if (magic != QedHeader.MAGIC) {
            throw new QedFormatException("magic", hex(magic & 0xffffffffL),
                    "a QED image starts with 'QED\\0' (0x00444551); this file is not in QED format");
        }
        int clusterSize = h.get(U32, OFF_CLUSTER_SIZE);
        int tableSize = h.get(U32, OFF_TABLE_SIZE);
        int headerSize = h.get(U32, OFF_HEADER_SIZE);
        long features = h.get(U64, OFF_FEATURES);
        long compat = h.get(U64, OFF_COMPAT_FEATURES);
        long autoclear = h.get(U64, OFF_AUTOCLEAR_FEATURES);
        long l1 = h.get(U64, OFF_L1_TABLE_OFFSET);
        long imageSize = h.get(U64, OFF_IMAGE_SIZE);
        int nameOffset = h.get(U32, OFF_BACKING_NAME_OFFSET);
        int nameSize = h.get(U32, OFF_BACKING_NAME_SIZE);

        QedHeader header = new QedHeader(clusterSize, tableSize, headerSize, features, compat,
                autoclear, l1, imageSize, nameOffset, nameSize, null);
        validate(header, fileSize);
        if (header.hasBackingFile()) {
            byte[] name = new byte[nameSize];
            file.copyOut(Integer.toUnsignedLong(nameOffset), name, 0, nameSize);
            header = new QedHeader(clusterSize, tableSize, headerSize, features, compat,
                    autoclear, l1, imageSize, nameOffset, nameSize,
                    new String(name, StandardCharsets.UTF_8));
        }
        return header;
    }

    /**
     * Checks every rule of the format that the header alone, and the file's length, can
     * tell. {@code fileSize} is rounded down to whole clusters, as QEMU does: a partial
     * cluster at the end of the file holds nothing the image may reference.
     */
    public static void validate(QedHeader h, long fileSize) throws QedFormatException {
        int cs = h.clusterSize();
        if (cs < MIN_CLUSTER_SIZE || cs > MAX_CLUSTER_SIZE || Integer.bitCount(cs) != 1) {
            throw new QedFormatException("cluster_size", Integer.toUnsignedString(cs),
                    "must be a power of two from 4096 (4 KiB) to 67108864 (64 MiB)");
        }
        int ts = h.tableSize();
        if (ts < MIN_TABLE_SIZE || ts > MAX_TABLE_SIZE || Integer.bitCount(ts) != 1) {
            throw new QedFormatException("table_size", Integer.toUnsignedString(ts),
                    "must be a power of two from 1 to 16 (clusters per table)");
        }
        long unknown = h.features() & ~QedHeader.KNOWN_FEATURES;
        if (unknown != 0) {
            throw new QedFormatException("features", hex(h.features()),
                    "unknown feature bits " + hex(unknown) + " are set; this engine knows only "
                            + hex(QedHeader.KNOWN_FEATURES) + " and must not open the image");
        }
        long imageSize = h.imageSize();
        if (imageSize < 0 || imageSize % 512 != 0) {
            throw new QedFormatException("image_size", Long.toUnsignedString(imageSize),
                    "must be a multiple of 512 bytes");
        }
        long max = QedHeader.maxImageSize(cs, ts);
        if (imageSize > max) {
            throw new QedFormatException("image_size", Long.toUnsignedString(imageSize),
                    "must not exceed " + max + " bytes, the most that cluster_size " + cs
                            + " and table_size " + ts + " can address");
        }
        long usable = fileSize - Long.remainderUnsigned(fileSize, cs);
        long headerSize = Integer.toUnsignedLong(h.headerSize());
        long headerBytes = headerSize * cs; // at most 2^32 * 2^26: fits
        if (headerSize < 1 || headerBytes > usable) {
            throw new QedFormatException("header_size", Long.toString(headerSize),
                    "must be at least 1 cluster and lie inside the file (" + usable
                            + " bytes in whole clusters)");
        }
        long l1 = h.l1TableOffset();
        if (Long.remainderUnsigned(l1, cs) != 0 || Long.compareUnsigned(l1, headerBytes) < 0) {
            throw new QedFormatException("l1_table_offset", Long.toUnsignedString(l1),
                    "must be a multiple of cluster_size (" + cs + ") at or after the header ("
                            + headerBytes + " bytes)");
        }
        if (Long.compareUnsigned(l1, usable) >= 0 || usable - l1 < h.tableBytes()) {
            throw new QedFormatException("l1_table_offset", Long.toUnsignedString(l1),
                    "the L1 table (" + h.tableBytes() + " bytes) must lie inside the file ("
                            + usable + " bytes in whole clusters)");
        }
        if (h.hasBackingFile()) {
            long nameOffset = Integer.toUnsignedLong(h.backingFilenameOffset());
            long nameSize = Integer.toUnsignedLong(h.backingFilenameSize());
            if (nameSize > MAX_BACKING_NAME_BYTES) { // 0 means no backing file (QedHeader.hasBackingFile)
                throw new QedFormatException("backing_filename_size", Long.toString(nameSize),
                        "must be at most " + MAX_BACKING_NAME_BYTES + " bytes");
            }
            if (nameOffset + nameSize > headerBytes) {
                throw new QedFormatException("backing_filename_offset",
                        nameOffset + " (+" + nameSize + " bytes)",
                        "the backing file name must lie inside the header area (" + headerBytes
                                + " bytes)");
            }
        }
    }

    /** Writes the 64 fixed header bytes of {@code h} (not the backing name) into {@code dst}. */
    public static void encode(QedHeader h, MemorySegment dst) {
        dst.set(U32, OFF_MAGIC, QedHeader.MAGIC);
        dst.set(U32, OFF_CLUSTER_SIZE, h.clusterSize());
        dst.set(U32, OFF_TABLE_SIZE, h.tableSize());
        dst.set(U32, OFF_HEADER_SIZE, h.headerSize());
        dst.set(U64, OFF_FEATURES, h.features());
        dst.set(U64, OFF_COMPAT_FEATURES, h.compatFeatures());
        dst.set(U64, OFF_AUTOCLEAR_FEATURES, h.autoclearFeatures());
        dst.set(U64, OFF_L1_TABLE_OFFSET, h.l1TableOffset());
        dst.set(U64, OFF_IMAGE_SIZE, h.imageSize());
        dst.set(U32, OFF_BACKING_NAME_OFFSET, h.backingFilenameOffset());
        dst.set(U32, OFF_BACKING_NAME_SIZE, h.backingFilenameSize());
    }

    /** Writes the fixed fields of {@code h} at the start of {@code file}. */
    public static void write(QedHeader h, MappedImageFile file) {
        byte[] raw = new byte[QedHeader.HEADER_BYTES];
        encode(h, MemorySegment.ofArray(raw));
        file.copyIn(raw, 0, 0, raw.length);
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
