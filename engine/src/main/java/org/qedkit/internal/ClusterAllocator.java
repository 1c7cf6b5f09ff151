package org.qedkit.internal;

import java.io.IOException;
import java.util.Arrays;

/**
 * Hands out space for new clusters and tables: freed space first, lowest offset first
 * ({@link FreeSpace}), then fresh space at the end of the file. Either way the space reads
 * as zeros and is backed by real blocks before a page of it is touched. Space is taken in
 * large steps, so most allocations make no system call: at the end, the file grows with
 * {@code fallocate} by 8 MiB at a time; from the free space, a run of up to 8 MiB is
 * reserved again with {@code fallocate} (it was punched) and becomes the window that the
 * next allocations come from. At a clean close the unused window goes back to the free
 * space, free space at the end of the file is cut off, and the file ends at its last used
 * cluster, as a clean QED image must.
 *
 * <h2>Space the disk holds as zeros</h2>
 * The commit pipeline may store a new entry before its cluster is durable when a crash
 * could only expose zeros through it (docs/design.md, "One sync per batch"). That needs
 * more than "reads as zeros here": the disk must hold zeros there whatever a crash keeps.
 * Each change that could leave handed-out space holding something else on disk, or lying
 * past a file length a crash may undo, takes a sync ticket: growing the file (its new
 * length is not durable yet), reserving a window of punched space (the punch may not be
 * durable yet), taking allocations back (their zeros are stores not yet durable). Space
 * handed out once a sync that began after the latest such change has completed is
 * <em>settled</em>: {@link #settledSinceMark()} says whether every allocation since
 * {@link #mark()} was. A block device is never settled: what lies in its unused space is
 * whatever was there.
 *
 * <p>Not thread-safe: callers hold the pipeline's plan lock.
 */
final class ClusterAllocator {
    /** Reserve at least this much at a time, and at least {@link #MIN_STEP_CLUSTERS} clusters. */
    private static final long STEP_BYTES = 8L << 20;
    private static final long MIN_STEP_CLUSTERS = 16;

    private final MappedImageFile file;
    private final FreeSpace free; // null: no reuse (offline tools)
    private final long step;
    private long usedEnd;
    private long windowNext;      // the reuse window: [windowNext, windowEnd) is reserved, zeroed, unused
    private long windowEnd;
    // What was handed out since the last mark(), as offset/length pairs, for rollBack().
    private long[] log = new long[32];
    private int logged;
    /** The sync ticket of the latest change that unsettled the space handed out (see the class comment). */
    private long unsettledAt = -1;
    /** Some allocation since the last mark() was not in settled space. */
    private boolean unsettledSinceMark;

    ClusterAllocator(MappedImageFile file, int clusterSize) {
        this(file, clusterSize, null);
    }

    ClusterAllocator(MappedImageFile file, int clusterSize, FreeSpace free) {
        this.file = file;
        this.free = free;
        this.step = Math.max(STEP_BYTES, MIN_STEP_CLUSTERS * clusterSize);
        this.usedEnd = file.size();
    }

    /**
     * Returns the file offset of {@code bytes} of zeroed space. A full disk fails here with an
     * exception and allocates nothing; at the end of the file a smaller reservation is tried
     * first.
     */
    long allocate(long bytes) throws IOException {
        long at = windowNext + bytes <= windowEnd ? windowNext : refillWindow(bytes);
        if (at >= 0) {
            windowNext = at + bytes;
        } else {
            at = allocateAtEnd(bytes);
        }
        if (!settled()) {
            unsettledSinceMark = true;
        }
        if (logged + 2 > log.length) {
            log = Arrays.copyOf(log, log.length * 2); // grown, never shrunk: allocations allocate nothing
        }
        log[logged++] = at;
        log[logged++] = bytes;
        return at;
    }

    /** A new window of freed space holding {@code bytes}, reserved again; -1 when there is none. */
    private long refillWindow(long bytes) throws IOException {
        if (free == null) {
            return -1;
        }
        long[] run = free.takeLowest(bytes, Math.max(bytes, step));
        if (run == null) {
            return -1;
        }
        try {
            file.reserve(run[0], run[1]);
        } catch (IOException | RuntimeException e) {
            free.add(run[0], run[1]);
            throw e;
        }
        unsettledAt = file.syncTicket(); // a punch not yet durable could bring old bytes back
        returnWindow();
        windowNext = run[0];
        windowEnd = run[0] + run[1];
        return windowNext;
    }

    private long allocateAtEnd(long bytes) throws IOException {
        long end = usedEnd + bytes;
        if (end > file.size()) {
            try {
                file.extend(Math.max(end, file.size() + step));
            } catch (IOException stepTooBig) {
                file.extend(end); // a nearly full disk may still hold what is needed now
            }
            unsettledAt = file.syncTicket(); // until synced, a crash may keep the old length
        }
        long at = usedEnd;
        usedEnd = end;
        return at;
    }

    /** The rest of the window back to the free space (reserved, zeroed: still free). */
    private void returnWindow() {
        if (windowNext < windowEnd) {
            free.add(windowNext, windowEnd - windowNext);
        }
        windowNext = 0;
        windowEnd = 0;
    }

    /** End of the last cluster handed out at the end of the file. */
    long usedEnd() {
        return usedEnd;
    }

    /** True when space handed out now is settled: the disk holds zeros there, inside a durable length. */
    private boolean settled() {
        return !file.isBlockDevice() && file.durableSince(unsettledAt);
    }

    /** Starts a new record of what is handed out, for {@link #rollBack()} and {@link #settledSinceMark()}. */
    void mark() {
        logged = 0;
        unsettledSinceMark = false;
    }

    /**
     * True when everything handed out since {@link #mark()} lay in settled space (see the
     * class comment): a crash that keeps an entry pointing there, but not what was stored
     * there, reads zeros.
     */
    boolean settledSinceMark() {
        return !unsettledSinceMark;
    }

    /**
     * Takes back everything handed out since {@link #mark()}: for a piece of a write that
     * failed before anything referenced its new clusters, so they do not leak. The space is
     * zeroed again ({@link #allocate} promises zeroed space, and a partial write relies on it
     * for the rest of its cluster, else the failed write's bytes would show there) and stays
     * reserved for the next allocation.
     */
    void rollBack() {
        for (int i = logged - 2; i >= 0; i -= 2) {
            long at = log[i];
            long bytes = log[i + 1];
            file.fillZero(at, bytes);
            if (windowEnd > 0 && at + bytes == windowNext) {
                windowNext = at; // reserved and zeroed, just below the window: the window again
            } else if (at + bytes == usedEnd) {
                usedEnd = at;
            } else if (free != null) {
                free.add(at, bytes);
            }
        }
        logged = 0;
        unsettledAt = file.syncTicket(); // the zeros just stored are not durable yet
    }

    /**
     * Gives space back at a clean point: the unused window goes back to the free space and
     * is punched, free space at the end of the file is cut off, and reserved space past the
     * last used cluster is given back: the file ends at its last used cluster.
     */
    void trimToUsed() throws IOException {
        if (free != null) {
            long from = windowNext;
            long length = windowEnd - windowNext;
            windowNext = 0;
            windowEnd = 0;
            if (length > 0) {
                file.punchHole(from, length);
                free.add(from, length);
            }
            for (long cut = free.cutTail(usedEnd); cut != usedEnd; cut = free.cutTail(usedEnd)) {
                usedEnd = cut;
            }
        }
        if (file.size() > usedEnd) {
            file.truncate(usedEnd);
        }
        unsettledAt = file.syncTicket(); // punched and cut: settled again only after a sync
    }
}
