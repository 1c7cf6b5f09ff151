package org.qedkit;

/**
 * Another process holds the image in a way this open conflicts with: QEMU (or another
 * qedkit) writing it, or reading it and refusing to let anyone write. The same byte-range
 * locks QEMU's file driver uses are honoured both ways. A read-only open with
 * {@link OpenOptions#withForceShare(boolean) force-share} inspects an image in use anyway.
 */
public final class QedLockedException extends QedException {
    private static final long serialVersionUID = 1L;

    /**
     * An image another user holds.
     *
     * @param message which lock is held, and by what kind of user, naming the file
     */
    public QedLockedException(String message) {
        super(message);
    }
}
