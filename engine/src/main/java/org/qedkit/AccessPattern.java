package org.qedkit;

/**
 * How an image will be read, told to the kernel for the file's mappings
 * ({@code madvise}): it decides how much the kernel reads ahead when a read misses the
 * page cache. Measured on this project's machine (docs/performance.md): 5,000 random 4 KiB
 * reads of a cold 2 GiB file through a mapping took 374 µs each and read the whole file
 * from disk without advice, 83 µs each and 95 MB with {@link #RANDOM}.
 */
public enum AccessPattern {
    /** The kernel's default readahead. */
    NORMAL,
    /** Reads land anywhere (a guest disk served to a VM): read only what is asked for. */
    RANDOM,
    /** Reads go front to back (convert, compare, backup): read well ahead. */
    SEQUENTIAL
}
