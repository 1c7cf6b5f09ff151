package org.qedkit.internal;

import java.io.IOException;
import java.util.Arrays;

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
        for (int i = 0; i < resources.length; i++) {
            try {
                if (resources[i] != null) {
                    resources[i].close();
                }
            } catch (Exception first) {
                closeAfter(first, Arrays.copyOfRange(resources, i + 1, resources.length));
                if (first instanceof IOException io) {
                    throw io;
                }
                if (first instanceof RuntimeException re) {
                    throw re;
                }
                throw new IOException(first);
            }
        }
    }
}
