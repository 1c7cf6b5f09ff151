package org.qedkit.internal.hooks;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Sees the engine's calls that make a disk keep or find room for data: every
 * {@code fdatasync} and every {@code fallocate} (growing, reserving again, punching a hole) of a
 * writable image file. For tests and the
 * crash and fault campaigns only, never for production use: a storage simulation
 * snapshots what the disk must hold at each sync; fault injection makes a call fail with
 * the errno a failing disk would report, and the failure then takes the engine's real
 * error path (the system call is not made).
 *
 * <p>Why only these two calls: the engine writes through mappings, so a store itself cannot
 * fail. A disk's write error reaches the engine at the next {@code fdatasync} (as Linux
 * reports write-back errors), and a full disk at {@code fallocate}, which reserves space
 * before any store can need it.
 *
 * <p>An observer belongs to one open image: it is handed over in an {@link OpenContext}
 * at open and sees that image's file only, so tests that observe different images can run
 * at once.
 */
public interface StorageObserver {
    /** Returned to let the call go ahead. */
    int PROCEED = 0;
    /** Linux's errno for an I/O error: what a failing disk reports. */
    int EIO = 5;
    /** Linux's errno for no space left on the device. */
    int ENOSPC = 28;
    /** Linux's errno for an operation the file system does not support. */
    int EOPNOTSUPP = 95;

    /**
     * Called before {@code fdatasync} of {@code file}. Returns {@link #PROCEED}, or an errno
     * ({@link #EIO}, say) for the sync to fail with, as if the disk had reported it.
     */
    int beforeSync(Path file) throws IOException;

    /**
     * Called before {@code fallocate} grows {@code file} to {@code newSize} bytes. Returns
     * {@link #PROCEED}, or an errno ({@link #ENOSPC}, {@link #EIO}) to fail with.
     */
    default int beforeExtend(Path file, long newSize) throws IOException {
        return PROCEED;
    }

    /**
     * Called before {@code fallocate(PUNCH_HOLE)} gives {@code length} bytes at
     * {@code offset} of {@code file} back. Returns {@link #PROCEED}, or an errno to fail
     * with ({@link #EOPNOTSUPP}: a file system that cannot punch holes; the engine then
     * zeroes the range instead).
     */
    default int beforePunch(Path file, long offset, long length) throws IOException {
        return PROCEED;
    }

    /**
     * Called before {@code fallocate} reserves again {@code length} bytes at {@code offset}
     * of {@code file} (space punched earlier, about to be reused). Returns {@link #PROCEED},
     * or an errno ({@link #ENOSPC}) to fail with.
     */
    default int beforeReserve(Path file, long offset, long length) throws IOException {
        return PROCEED;
    }
}
