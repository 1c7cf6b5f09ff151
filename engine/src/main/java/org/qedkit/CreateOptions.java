package org.qedkit;

/**
 * What a new image looks like. Immutable; start from {@link #ofSize(long)} and adjust with
 * the {@code with…} methods. The values are checked by {@link QedImage#create} against
 * the same rules an open applies, so bad options fail with a {@link QedFormatException}
 * before any file is touched.
 *
 * @param size          guest-visible size in bytes; rounded up to a multiple of 512 as
 *                      {@code qemu-img} does
 * @param clusterSize   bytes per cluster (default 64 KiB, as QEMU)
 * @param tableSize     clusters per table (default 4, as QEMU)
 * @param backingFile   name of the backing file as stored in the header, or {@code null}
 * @param backingFormat format of the backing file, or {@code null} to leave it to probing;
 *                      only {@code "raw"} is recorded in the image (as the no-probe bit)
 */
public record CreateOptions(long size, int clusterSize, int tableSize, String backingFile,
                            String backingFormat) {

    public static final int DEFAULT_CLUSTER_SIZE = 64 * 1024;
    public static final int DEFAULT_TABLE_SIZE = 4;

    /** Refuses a negative size and a backing format without a backing file. */
    public CreateOptions {
        if (size < 0) {
            throw new IllegalArgumentException("size must not be negative: " + size);
        }
        if (backingFile == null && backingFormat != null) {
            throw new IllegalArgumentException("a backing format needs a backing file");
        }
    }

    /**
     * {@return an image of {@code size} bytes with QEMU's default cluster and table sizes}
     *
     * @param size guest size in bytes
     */
    public static CreateOptions ofSize(long size) {
        return new CreateOptions(size, DEFAULT_CLUSTER_SIZE, DEFAULT_TABLE_SIZE, null, null);
    }

    /**
     * Returns these options with another cluster size.
     *
     * @param newClusterSize bytes per cluster, a power of two from 4 KiB to 64 MiB
     * @return the options
     */
    public CreateOptions withClusterSize(int newClusterSize) {
        return new CreateOptions(size, newClusterSize, tableSize, backingFile, backingFormat);
    }

    /**
     * Returns these options with another table size.
     *
     * @param newTableSize clusters per table, a power of two from 1 to 16
     * @return the options
     */
    public CreateOptions withTableSize(int newTableSize) {
        return new CreateOptions(size, clusterSize, newTableSize, backingFile, backingFormat);
    }

    /**
     * Returns these options with a backing file, named as the header is to hold it.
     *
     * @param file   the backing file's name (relative names resolve against the image's folder)
     * @param format its format, {@code "raw"} or {@code "qed"}, or null to have it probed
     * @return the options
     */
    public CreateOptions withBackingFile(String file, String format) {
        return new CreateOptions(size, clusterSize, tableSize, file, format);
    }

    /** {@return the size the image will have: {@link #size()} rounded up to a multiple of 512} */
    public long roundedSize() {
        long rounded = (size + 511) & ~511L;
        return rounded < 0 ? Long.MAX_VALUE & ~511L : rounded;
    }
}
