package org.qedkit.internal;

import java.io.IOException;

/**
 * Sees every {@code fdatasync} the engine is about to make. For tests and the crash
 * campaigns only, never for production use: a storage simulation snapshots what the disk
 * must hold at each sync, fault injection throws to make a sync fail as a disk would.
 *
 * <p>One observer at a time, for the whole JVM ({@link SyncObservers#install}).
 */
@FunctionalInterface
public interface SyncObserver {
    /**
     * Called before {@code fdatasync} of {@code file}; throwing makes that sync fail with
     * the exception, as if the disk had reported it.
     */
    void beforeSync(MappedImageFile file) throws IOException;
}
