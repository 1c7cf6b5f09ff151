package org.qedkit.internal;

/** Where the one {@link StorageObserver} of the JVM is installed (tests and campaigns only). */
public final class StorageObservers {
    private static volatile StorageObserver current;

    private StorageObservers() {
    }

    /** Installs {@code observer} until the returned handle is closed. */
    public static AutoCloseable install(StorageObserver observer) {
        current = observer;
        return () -> current = null;
    }

    static StorageObserver current() {
        return current;
    }
}
