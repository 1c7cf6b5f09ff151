package org.qedkit;

/** A write, zero-write or header change was asked of an image opened read-only. */
public final class QedReadOnlyException extends QedException {
    private static final long serialVersionUID = 1L;

    public QedReadOnlyException(String operation) {
        super(operation + " refused: the image was opened read-only");
    }
}
