package org.qedkit;

/** Whether opening an image for a check takes the byte-range locks QEMU takes. */
public enum LockPolicy {
    /** Take QEMU's locks: refused while another process writes the image. */
    LOCK,
    /**
     * Take no lock, so an image in use can be inspected, as {@code qemu-img -U} does; only
     * for what changes nothing (a report-only check, a read-only open).
     */
    FORCE_SHARE
}
