package org.qedkit;

/** When a write counts as done. */
public enum Durability {
    /**
     * A write returns when its data is in the mapping and visible to every reader of this
     * process; it is durable after the next {@link QedImage#flush()}. New clusters are
     * committed in the background meanwhile, in batches, at the latest
     * {@link OpenOptions#commitInterval()} after they were written.
     */
    WRITE_BACK,
    /**
     * A write returns when it is durable: its data and every table entry it needed are on
     * stable storage. Concurrent writers share each {@code fdatasync} (group commit).
     */
    WRITE_THROUGH
}
