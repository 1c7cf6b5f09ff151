package org.qedkit.internal.hooks;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Sees the engine's calls that make a disk keep or find room for data: every
 * {@code fdatasync} and every {@code fallocate} of a writable image file. For tests and the
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
}
