package org.qedkit.internal.hooks;

import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;

import java.util.Objects;

/**
 * What an open of one image is given besides its {@link org.qedkit.OpenOptions}: the hooks
 * that tests and the crash campaigns attach to that image alone. Production opens use
 * {@link #DEFAULT}. Reachable only from the engine's own tests and the stress module (a
 * qualified export), never from the library's public API.
 *
 * @param storageObserver sees (and may fail) the image file's syncs and allocations; null for none
 * @param clock           the committer's clock for commit intervals and idle time
 */
public record OpenContext(StorageObserver storageObserver, NanoClock clock) {
    /** No observer, the system's clock. */
    public static final OpenContext DEFAULT = new OpenContext(null, SystemNanoClock.INSTANCE);

    /** Checks the clock is there (the observer may be null). */
    public OpenContext {
        Objects.requireNonNull(clock, "clock");
    }

    /** The default context with {@code observer} watching the image's file. */
    public static OpenContext observedBy(StorageObserver observer) {
        return new OpenContext(Objects.requireNonNull(observer, "observer"), SystemNanoClock.INSTANCE);
    }
}
