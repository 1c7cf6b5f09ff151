package org.qedkit;

/** What {@link QedImage#check} may change. */
public enum CheckMode {
    /** Only look; the file is opened read-only and never written. */
    REPORT,
    /**
     * Reclaim leaked clusters without moving anything: they are punched out of the file (free
     * space, which the engine reuses; {@code qemu-img check} still counts them as leaked) and
     * the file is cut after its last used cluster. Only the cut while corruptions remain.
     */
    REPAIR_LEAKS,
    /**
     * Reclaim leaks, clear invalid entries, and give each of two entries that share a
     * cluster its own copy of it, so no guest data is lost.
     */
    REPAIR_ALL
}
