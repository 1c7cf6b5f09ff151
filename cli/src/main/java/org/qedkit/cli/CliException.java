package org.qedkit.cli;

/**
 * An error the command reports as one line and exit code 1: QEMU's line where QEMU has one,
 * with qedkit's own reason kept as the {@link #detail()} (printed by the rule in {@link Detail}).
 */
final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String detail;

    CliException(String message) {
        this(message, null);
    }

    CliException(String message, String detail) {
        super(message);
        this.detail = detail;
    }

    /** qedkit's reason beside QEMU's line, or null. */
    String detail() {
        return detail;
    }

    /**
     * qemu-img's {@code Could not open 'FILE': …} for a read-only open (what the image
     * commands make of their input), with QEMU's reason and ours as the detail.
     */
    static CliException couldNotOpen(Object file, Exception e) {
        return new CliException("Could not open '" + file + "': "
                + QemuMessages.openFailure(String.valueOf(file), e, true), e.getMessage());
    }

    /** Refuses any {@code -f} format but qed, naming the command. */
    static void requireQed(String command, String format) {
        if (!"qed".equals(format)) {
            throw new CliException(command + ": format '" + format + "' is not supported; only qed is");
        }
    }
}
