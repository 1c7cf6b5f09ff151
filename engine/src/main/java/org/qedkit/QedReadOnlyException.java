package org.qedkit;

/** A write, zero-write or header change was asked of an image opened read-only. */
public final class QedReadOnlyException extends QedException {
    private static final long serialVersionUID = 1L;

    /**
     * A change refused by a read-only image.
     *
     * @param operation what was refused, e.g. {@code write}
     */
    public QedReadOnlyException(String operation) {
        super(operation + " refused: the image was opened read-only");
    }
}
