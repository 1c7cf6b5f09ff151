package org.qedkit.internal;

import org.agrona.concurrent.NanoClock;

import java.time.Duration;
import java.util.Objects;

/**
 * What the commit pipeline is told at construction instead of reading it from elsewhere.
 *
 * @param commitInterval   the longest write-back entries wait before a commit starts on its own
 * @param maxQueuedEntries a backlog of this many entries starts a commit whatever the interval
 * @param clock            the committer's clock for intervals and idle time (tests pass one they move by hand)
 */
record CommitSettings(Duration commitInterval, int maxQueuedEntries, NanoClock clock) {
    CommitSettings {
        Objects.requireNonNull(commitInterval, "commitInterval");
        Objects.requireNonNull(clock, "clock");
        if (maxQueuedEntries < 1) {
            throw new IllegalArgumentException("maxQueuedEntries must be positive: " + maxQueuedEntries);
        }
    }

    /** The interval in nanoseconds, saturated so that adding it to a clock reading cannot overflow. */
    long commitIntervalNanos() {
        try {
            return commitInterval.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE / 4; // centuries
        }
    }
}
