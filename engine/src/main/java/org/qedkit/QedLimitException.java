package org.qedkit;

/**
 * The image is past one of the {@link Limits} the caller set (or their defaults): too big,
 * too deep a chain, too much metadata to hold, too long to check. The image may well be
 * valid; {@link #limit()} names the limit to raise if it is trusted.
 */
public final class QedLimitException extends QedException {
    private static final long serialVersionUID = 1L;

    private final String limit;

    /**
     * A refusal by one of the {@link Limits}.
     *
     * @param limit   the name of the {@link Limits} component that refused, e.g. {@code maxVirtualSize}
     * @param message what was refused, naming the file
     */
    public QedLimitException(String limit, String message) {
        super(message + " (Limits." + limit + ")");
        this.limit = limit;
    }

    /** {@return the name of the {@link Limits} component that was exceeded, e.g. {@code maxVirtualSize}} */
    public String limit() {
        return limit;
    }
}
