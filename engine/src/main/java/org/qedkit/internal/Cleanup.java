package org.qedkit.internal;

import java.io.IOException;

/**
 * The engine's one idiom for giving resources back after a failure: every resource is
 * closed, in order, and whatever closing throws is kept as suppressed by the failure that
 * caused the clean-up, never lost and never in its place.
 */
public final class Cleanup {
    private Cleanup() {
    }

    /**
     * Closes each non-null resource in order; an exception from one is added to
     * {@code primary} as suppressed and the rest are still closed. The caller then throws
     * {@code primary}: {@code catch (IOException | RuntimeException e) { Cleanup.closeAfter(e, a, b); throw e; }}.
     */
    public static void closeAfter(Throwable primary, AutoCloseable... resources) {
        for (AutoCloseable resource : resources) {
            if (resource == null) {
                continue;
            }
            try {
                resource.close();
            } catch (Exception secondary) {
                primary.addSuppressed(secondary);
            }
        }
    }

    /**
     * Closes every non-null resource in order, even when one fails; throws the first
     * failure, with the later ones suppressed by it.
     */
    public static void closeAll(AutoCloseable... resources) throws IOException {
        Throwable first = null;
        for (AutoCloseable resource : resources) {
            if (resource == null) {
                continue;
            }
            try {
                resource.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first instanceof IOException io) {
            throw io;
        }
        if (first instanceof RuntimeException re) {
            throw re;
        }
        if (first != null) {
            throw new IOException(first);
        }
    }
}
