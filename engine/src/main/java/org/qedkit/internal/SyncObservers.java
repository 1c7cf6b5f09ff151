package org.qedkit.internal;

/** Where the one {@link SyncObserver} of the JVM is installed (tests and campaigns only). */
public final class SyncObservers {
    private static volatile SyncObserver current;

    private SyncObservers() {
    }

    /** Installs {@code observer} until the returned handle is closed. */
    public static AutoCloseable install(SyncObserver observer) {
        current = observer;
        return () -> current = null;
    }

    static SyncObserver current() {
        return current;
    }
}
