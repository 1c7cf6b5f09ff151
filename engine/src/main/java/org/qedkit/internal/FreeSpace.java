package org.qedkit.internal;

import java.util.Map;
import java.util.TreeMap;

/**
 * The image's free space below its last used cluster: ranges of the file that no entry
 * references, that no operation can still be reading (see {@link SpaceReclaimer}), and that
 * read as zeros (punched, or zeroed where holes cannot be punched). The allocator takes from
 * here, lowest offset first, before it grows the file.
 *
 * <p>Ranges are kept merged, by start offset, in a {@link TreeMap}: adding and taking are
 * logarithmic in the number of separate ranges, which discards keep small by freeing runs,
 * not clusters. Thread-safe (the allocator takes under the plan lock, the reclaimer adds on
 * the commit thread); every method holds this object's monitor briefly and makes no system
 * call.
 */
final class FreeSpace {
    private final TreeMap<Long, Long> ranges = new TreeMap<>(); // start -> end (exclusive)
    private long bytes;

    /** Adds {@code [offset, offset + length)}, merging it with its neighbours. */
    synchronized void add(long offset, long length) {
        if (length <= 0) {
            return;
        }
        long start = offset;
        long end = offset + length;
        Map.Entry<Long, Long> before = ranges.floorEntry(start);
        if (before != null && before.getValue() > start) {
            throw new IllegalStateException("free space added twice at 0x" + Long.toHexString(start));
        }
        if (before != null && before.getValue() == start) {
            start = before.getKey();
            ranges.remove(start);
        }
        Map.Entry<Long, Long> after = ranges.ceilingEntry(offset);
        if (after != null && after.getKey() < end) {
            throw new IllegalStateException("free space added twice at 0x" + Long.toHexString(after.getKey()));
        }
        if (after != null && after.getKey() == end) {
            end = after.getValue();
            ranges.remove(after.getKey());
        }
        ranges.put(start, end);
        bytes += length;
    }

    /**
     * Takes a run from the lowest range that holds at least {@code minBytes}: up to
     * {@code maxBytes} of it, from its start. Returns {@code {offset, length}}, or null when
     * no range is long enough.
     */
    synchronized long[] takeLowest(long minBytes, long maxBytes) {
        for (Map.Entry<Long, Long> range : ranges.entrySet()) {
            long start = range.getKey();
            long length = range.getValue() - start;
            if (length >= minBytes) {
                long taken = Math.min(length, maxBytes);
                ranges.remove(start);
                if (taken < length) {
                    ranges.put(start + taken, range.getValue());
                }
                bytes -= taken;
                return new long[] {start, taken};
            }
        }
        return null;
    }

    /**
     * Removes the free range that ends at {@code end}, if any, and returns where the used
     * part of the file ends then: the start of that range, or {@code end}.
     */
    synchronized long cutTail(long end) {
        Map.Entry<Long, Long> last = ranges.lastEntry();
        if (last == null || last.getValue() != end) {
            return end;
        }
        ranges.remove(last.getKey());
        bytes -= end - last.getKey();
        return last.getKey();
    }

    /** Free bytes in all ranges. */
    synchronized long bytes() {
        return bytes;
    }

    /** Separate free ranges. */
    synchronized int rangeCount() {
        return ranges.size();
    }

    /** True when {@code [offset, offset + length)} overlaps free space (for tests and assertions). */
    synchronized boolean overlaps(long offset, long length) {
        Map.Entry<Long, Long> before = ranges.lowerEntry(offset + length);
        return before != null && before.getValue() > offset;
    }
}
