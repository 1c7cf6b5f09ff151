package org.qedkit;

import java.io.IOException;

/**
 * Base of every error the engine reports about an image. Catch this to handle any qedkit
 * failure; catch a subclass to react to one kind.
 */
public class QedException extends IOException {
    private static final long serialVersionUID = 1L;

    /**
     * An engine failure.
     *
     * @param message what went wrong, naming the file
     */
    public QedException(String message) {
        super(message);
    }

    /**
     * An engine failure with the failure behind it.
     *
     * @param message what went wrong, naming the file
     * @param cause   the failure behind it
     */
    public QedException(String message, Throwable cause) {
        super(message, cause);
    }
}
