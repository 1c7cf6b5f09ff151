package org.qedkit;

/**
 * The format an image records for its backing file. QED can record only one thing: that
 * the file is raw (the NO_PROBE feature bit); anything else is probed at open (QED if it
 * starts with QED's magic, raw if not).
 */
public enum BackingFormat {
    /** Raw: recorded, never probed. */
    RAW,
    /** QED: not recordable in QED, so probed, as QEMU does for {@code -F qed}. */
    QED,
    /** Nothing said: probed at open. */
    PROBE;

    /**
     * The format QEMU's tools name {@code name} ({@code "raw"}, {@code "qed"}), or
     * {@link #PROBE} for null.
     *
     * @param name a format name as {@code -F} takes it, or null
     * @return the format
     * @throws IllegalArgumentException for any other name
     */
    public static BackingFormat fromName(String name) {
        if (name == null) {
            return PROBE;
        }
        return switch (name) {
            case "raw" -> RAW;
            case "qed" -> QED;
            default -> throw new IllegalArgumentException("backing format must be raw or qed, not " + name);
        };
    }
}
