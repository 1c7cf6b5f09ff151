package org.qedkit.testing;

import org.qedkit.internal.hooks.OpenContext;
import org.qedkit.internal.hooks.StorageObserver;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A storage observer for one test's image: counts its syncs while asked to, and fails them
 * with an errno while asked to. Attached at open through {@link #context()}, so it sees that
 * image alone and tests that use probes can run in parallel.
 */
public final class StorageProbe implements StorageObserver {
    private final AtomicInteger syncs = new AtomicInteger();
    private volatile boolean counting;
    private volatile int syncErrno = PROCEED;

    /** The open context that attaches this probe to an image. */
    public OpenContext context() {
        return OpenContext.observedBy(this);
    }

    /** Counts syncs from zero until the returned handle is closed. */
    public AutoCloseable count() {
        syncs.set(0);
        counting = true;
        return () -> counting = false;
    }

    /** Fails every sync with {@code errno} until the returned handle is closed. */
    public AutoCloseable failSyncs(int errno) {
        syncErrno = errno;
        return () -> syncErrno = PROCEED;
    }

    /** Syncs counted so far. */
    public int syncs() {
        return syncs.get();
    }

    @Override
    public int beforeSync(Path file) {
        if (counting) {
            syncs.incrementAndGet();
        }
        return syncErrno;
    }
}
