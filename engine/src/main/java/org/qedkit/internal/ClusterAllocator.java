package org.qedkit.internal;

import java.io.IOException;

/**
 * Hands out new clusters at the end of the file. Space is reserved with {@code fallocate}
 * in large steps (so most allocations make no system call), and given back at a clean
 * close, when the file is cut to the last used cluster, as a clean QED image must end.
 *
 * <p>Not thread-safe: callers hold the pipeline's plan lock.
 */
final class ClusterAllocator {
    /** Reserve at least this much at a time, and at least {@link #MIN_STEP_CLUSTERS} clusters. */
    private static final long STEP_BYTES = 8L << 20;
    private static final long MIN_STEP_CLUSTERS = 16;

    private final MappedImageFile file;
    private final long step;
    private long usedEnd;

    ClusterAllocator(MappedImageFile file, int clusterSize) {
        this.file = file;
        this.step = Math.max(STEP_BYTES, MIN_STEP_CLUSTERS * clusterSize);
        this.usedEnd = file.size();
    }

    /**
     * Returns the file offset of {@code bytes} of fresh, zeroed space. A full disk fails
     * here with an exception and allocates nothing; a smaller reservation is tried first.
     */
    long allocate(long bytes) throws IOException {
        long end = usedEnd + bytes;
        if (end > file.size()) {
            try {
                file.extend(Math.max(end, file.size() + step));
            } catch (IOException stepTooBig) {
                file.extend(end); // a nearly full disk may still hold what is needed now
            }
        }
        long at = usedEnd;
        usedEnd = end;
        return at;
    }

    /** End of the last cluster handed out. */
    long usedEnd() {
        return usedEnd;
    }

    /**
     * Takes back everything handed out since {@code mark} (an earlier {@link #usedEnd()}):
     * for a piece of a write that failed before anything referenced its new clusters, so
     * they do not leak. The space stays reserved for the next allocation, zeroed again:
     * {@link #allocate} promises zeroed space, and a partial write relies on it for the
     * rest of its cluster (else the failed write's bytes would show there).
     */
    void rollBackTo(long mark) {
        if (mark < usedEnd) {
            file.fillZero(mark, usedEnd - mark);
            usedEnd = mark;
        }
    }

    /** Gives reserved but unused space back: the file ends at its last used cluster. */
    void trimToUsed() throws IOException {
        if (file.size() > usedEnd) {
            file.truncate(usedEnd);
        }
    }
}
