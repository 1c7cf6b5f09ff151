package org.qedkit;

/**
 * The fields of a QED header, as read from an image or about to be written to one.
 * Immutable; every value is exactly what the header holds (no defaults filled in).
 *
 * @param clusterSize            bytes per cluster, a power of two from 4 KiB to 64 MiB
 * @param tableSize              clusters per L1 or L2 table, a power of two from 1 to 16
 * @param headerSize             clusters the header area occupies, at least 1
 * @param features               feature bits; see {@link #FEATURE_BACKING_FILE} and friends
 * @param compatFeatures         compatible feature bits (none defined; unknown ones are ignored)
 * @param autoclearFeatures      auto-clear feature bits (none defined; unknown ones are cleared
 *                               by a read-write open)
 * @param l1TableOffset          file offset of the L1 table
 * @param imageSize              guest-visible size in bytes, a multiple of 512
 * @param backingFilenameOffset  offset of the backing file name from the start of the file
 * @param backingFilenameSize    length of the backing file name in bytes
 * @param backingFilename        the backing file name, or {@code null} when
 *                               {@link #FEATURE_BACKING_FILE} is clear
 */
public record QedHeader(
        int clusterSize,
        int tableSize,
        int headerSize,
        long features,
        long compatFeatures,
        long autoclearFeatures,
        long l1TableOffset,
        long imageSize,
        int backingFilenameOffset,
        int backingFilenameSize,
        String backingFilename) {

    /** Magic number, {@code 'Q' 'E' 'D' 0} read as a little-endian u32. */
    public static final int MAGIC = 0x00444551;
    /** Bytes of the fixed header fields. */
    public static final int HEADER_BYTES = 64;
    /** A backing file is named in the header. */
    public static final long FEATURE_BACKING_FILE = 0x1;
    /** Metadata may be inconsistent; check before use. */
    public static final long FEATURE_NEED_CHECK = 0x2;
    /** The backing file is raw and must never be probed for a format. */
    public static final long FEATURE_BACKING_FORMAT_NO_PROBE = 0x4;
    /** Every feature bit this engine understands. */
    public static final long KNOWN_FEATURES =
            FEATURE_BACKING_FILE | FEATURE_NEED_CHECK | FEATURE_BACKING_FORMAT_NO_PROBE;
    /** Compatible feature bits this engine understands (none are defined). */
    public static final long KNOWN_COMPAT_FEATURES = 0;
    /** Auto-clear feature bits this engine understands (none are defined). */
    public static final long KNOWN_AUTOCLEAR_FEATURES = 0;

    /** {@return true when the image names a backing file} */
    public boolean hasBackingFile() {
        // An empty name names nothing: QEMU opens such an image as having no backing file.
        return (features & FEATURE_BACKING_FILE) != 0 && backingFilenameSize != 0;
    }

    /** {@return true when the image was not closed cleanly and its metadata must be checked} */
    public boolean needsCheck() {
        return (features & FEATURE_NEED_CHECK) != 0;
    }

    /**
     * The backing file's format as the header records it: {@code "raw"} when the no-probe
     * bit is set, otherwise {@code null} (the format must be probed), as QEMU reads it.
     *
     * @return the format, or null
     */
    public String backingFormat() {
        return hasBackingFile() && (features & FEATURE_BACKING_FORMAT_NO_PROBE) != 0 ? "raw" : null;
    }

    /** {@return bytes per table: {@code tableSize × clusterSize}} */
    public long tableBytes() {
        return (long) tableSize * clusterSize;
    }

    /** {@return entries per L1 or L2 table} */
    public long entriesPerTable() {
        return tableBytes() / Long.BYTES;
    }

    /**
     * {@return A copy with other feature bits}
     *
     * @param newFeatures the feature bits
     */
    public QedHeader withFeatures(long newFeatures) {
        return new QedHeader(clusterSize, tableSize, headerSize, newFeatures, compatFeatures,
                autoclearFeatures, l1TableOffset, imageSize, backingFilenameOffset,
                backingFilenameSize, backingFilename);
    }

    /**
     * {@return A copy with other auto-clear feature bits}
     *
     * @param newAutoclear the auto-clear feature bits
     */
    public QedHeader withAutoclearFeatures(long newAutoclear) {
        return new QedHeader(clusterSize, tableSize, headerSize, features, compatFeatures,
                newAutoclear, l1TableOffset, imageSize, backingFilenameOffset,
                backingFilenameSize, backingFilename);
    }

    /**
     * {@return A copy with another guest size}
     *
     * @param newImageSize the guest size in bytes
     */
    public QedHeader withImageSize(long newImageSize) {
        return new QedHeader(clusterSize, tableSize, headerSize, features, compatFeatures,
                autoclearFeatures, l1TableOffset, newImageSize, backingFilenameOffset,
                backingFilenameSize, backingFilename);
    }

    /**
     * The largest image size the format can address with these cluster and table sizes:
     * {@code entriesPerTable² × clusterSize}, saturated at {@link Long#MAX_VALUE} where
     * the product does not fit in 63 bits (QEMU overflows here and refuses every size).
     *
     * @param clusterSize cluster size in bytes
     * @param tableSize clusters per table
     * @return the largest guest size in bytes
     */
    public static long maxImageSize(int clusterSize, int tableSize) {
        int clusterBits = Integer.numberOfTrailingZeros(clusterSize);
        int entryBits = Integer.numberOfTrailingZeros(tableSize) + clusterBits - 3;
        int bits = 2 * entryBits + clusterBits;
        return bits >= 63 ? Long.MAX_VALUE : 1L << bits;
    }
}
