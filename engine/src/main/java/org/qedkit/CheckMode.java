package org.qedkit;

/** What {@link QedImage#check} may change. */
public enum CheckMode {
    /** Only look; the file is opened read-only and never written. */
    REPORT,
    /** Reclaim leaked clusters: the file shrinks to its last used cluster. */
    REPAIR_LEAKS,
    /**
     * Reclaim leaks, clear invalid entries, and give each of two entries that share a
     * cluster its own copy of it, so no guest data is lost.
     */
    REPAIR_ALL
}
