package org.qedkit.cli;

/** An error the command reports as one line and exit code 1. */
final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    CliException(String message) {
        super(message);
    }

    /** Refuses any {@code -f} format but qed, naming the command. */
    static void requireQed(String command, String format) {
        if (!"qed".equals(format)) {
            throw new CliException(command + ": format '" + format + "' is not supported; only qed is");
        }
    }
}
