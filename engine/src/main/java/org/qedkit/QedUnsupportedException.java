package org.qedkit;

/**
 * The image is valid but asks for something this version of the engine does not do yet,
 * such as reading through a backing file. Nothing was changed.
 */
public final class QedUnsupportedException extends QedException {
    private static final long serialVersionUID = 1L;

    public QedUnsupportedException(String message) {
        super(message);
    }
}
