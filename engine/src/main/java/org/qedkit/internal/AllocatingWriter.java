package org.qedkit.internal;

import org.qedkit.QedException;
import org.qedkit.QedUnsupportedException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The slow path of a write: the part of a request that needs new clusters or new table
 * entries. One request at a time holds the allocation lock; overwrites of clusters that
 * already exist never come here.
 *
 * <h2>Order on disk</h2>
 * Dirty pages of a shared mapping reach the disk whenever the kernel likes, in any order,
 * so an entry stored into a mapped table could be on disk before the data it points to.
 * The only defence is not to store it yet. A request therefore runs in phases:
 * <ol>
 *   <li>reserve new clusters at the end of the file with {@code fallocate} (zeroed, real
 *       blocks: a full disk fails here, before any page is touched), then copy the data
 *       in; new L2 tables are reserved the same way;</li>
 *   <li>{@code fdatasync}: data and new (empty) tables are durable;</li>
 *   <li>store the new L2 entries; if new tables were made, {@code fdatasync} again so they
 *       are durable with their entries;</li>
 *   <li>store the new L1 entries.</li>
 * </ol>
 * The last stores become durable at the next {@code flush()} (write-back semantics). At
 * every instant a crash leaves entries that point only at durable data; the worst case is
 * a leaked cluster, which a check reclaims. If any phase before the stores fails, nothing
 * references the new space, and the file is cut back to where it was.
 *
 * <p>The whole request shares one sync per phase however many clusters it allocates. The
 * batched, multi-writer commit pipeline will replace this class.
 */
public final class AllocatingWriter {
    private final MappedImageFile file;
    private final ClusterMap map;
    private final Geometry g;
    private final boolean hasBackingFile;
    private final ReentrantLock lock = new ReentrantLock();

    public AllocatingWriter(MappedImageFile file, ClusterMap map, boolean hasBackingFile) {
        this.file = file;
        this.map = map;
        this.g = map.geometry();
        this.hasBackingFile = hasBackingFile;
    }

    /**
     * Writes {@code length} bytes at guest {@code offset}, from {@code src} at
     * {@code srcOffset}, or zeros when {@code src} is null, allocating what is missing.
     */
    public void write(long offset, long length, MemorySegment src, long srcOffset) throws IOException {
        lock.lock();
        try {
            new Request().run(offset, length, src, srcOffset);
        } finally {
            lock.unlock();
        }
    }

    /** One request's pending state; lives only while the lock is held. */
    private final class Request {
        private final long startSize = file.size();
        private final Map<Long, Long> newTables = new HashMap<>(); // L1 index -> table offset
        private long[] l2Stores = new long[8]; // pairs: entry file offset, value
        private int l2Count;

        void run(long offset, long length, MemorySegment src, long srcOffset) throws IOException {
            boolean stored = false;
            try {
                boolean newData = plan(offset, length, src, srcOffset);
                if (newData || !newTables.isEmpty()) {
                    file.sync(); // phase 2: data and empty tables durable
                }
                stored = true;
                for (int i = 0; i < l2Count; i++) {
                    file.setEntryRelease(l2Stores[2 * i], l2Stores[2 * i + 1]);
                }
                if (!newTables.isEmpty()) {
                    file.sync(); // phase 3: tables durable with their entries
                    for (Map.Entry<Long, Long> t : newTables.entrySet()) {
                        file.setEntryRelease(g.l1Offset() + (t.getKey() << 3), t.getValue());
                    }
                }
            } catch (IOException | RuntimeException e) {
                if (!stored && file.size() > startSize) {
                    releaseNewSpace(e);
                }
                throw e;
            }
        }

        /** Phase 1. Returns true when new data clusters were written. */
        private boolean plan(long offset, long length, MemorySegment src, long srcOffset)
                throws IOException {
            boolean newData = false;
            long done = 0;
            while (done < length) {
                long pos = offset + done;
                long inCluster = g.inCluster(pos);
                long n = Math.min(length - done, g.clusterSize() - inCluster);
                long table = tableFor(pos);
                long entry = table == 0 ? ClusterMap.UNALLOCATED : pendingOrStored(table, pos);
                if (entry > ClusterMap.ZERO) {
                    // Exists already (raced in, or part of a mixed request): in place.
                    if (src == null) {
                        file.fillZero(entry + inCluster, n);
                    } else {
                        file.copyIn(src, srcOffset + done, entry + inCluster, n);
                    }
                } else if (src == null && n == g.clusterSize()) {
                    // A whole cluster of zeros needs no data cluster: a zero entry says it.
                    if (entry == ClusterMap.UNALLOCATED) {
                        queueL2(ensureTable(pos, table), pos, ClusterMap.ZERO);
                    }
                } else {
                    // Data, or zeros over part of a cluster (real zeros, as QEMU writes them).
                    if (entry == ClusterMap.UNALLOCATED && hasBackingFile && n != g.clusterSize()) {
                        throw noBackingSupport();
                    }
                    long cluster = reserve(g.clusterSize());
                    // Fresh fallocate'd space reads as zeros: the rest of the cluster already
                    // holds what an unallocated or zero cluster reads as, and zeros need no copy.
                    if (src != null) {
                        file.copyIn(src, srcOffset + done, cluster + inCluster, n);
                    }
                    queueL2(ensureTable(pos, table), pos, cluster);
                    newData = true;
                }
                done += n;
            }
            return newData;
        }

        private long tableFor(long pos) throws QedException {
            Long pending = newTables.get(g.l1Index(pos));
            return pending != null ? pending : map.l2Table(pos);
        }

        private long pendingOrStored(long table, long pos) throws QedException {
            long entryOffset = map.l2EntryOffset(table, pos);
            for (int i = l2Count - 1; i >= 0; i--) {
                if (l2Stores[2 * i] == entryOffset) {
                    return l2Stores[2 * i + 1];
                }
            }
            return map.lookup(pos);
        }

        private long ensureTable(long pos, long table) throws IOException {
            if (table != 0) {
                return table;
            }
            long fresh = reserve(g.tableBytes());
            newTables.put(g.l1Index(pos), fresh);
            return fresh;
        }

        private void queueL2(long table, long pos, long value) {
            if (2 * l2Count == l2Stores.length) {
                l2Stores = Arrays.copyOf(l2Stores, l2Stores.length * 2);
            }
            l2Stores[2 * l2Count] = map.l2EntryOffset(table, pos);
            l2Stores[2 * l2Count + 1] = value;
            l2Count++;
        }

        private long reserve(long bytes) throws IOException {
            long at = file.size();
            file.extend(at + bytes);
            return at;
        }

        private void releaseNewSpace(Exception failure) {
            try {
                file.truncate(startSize);
            } catch (IOException | RuntimeException e) {
                failure.addSuppressed(e); // the space leaks; a check reclaims it
            }
        }
    }

    private static QedUnsupportedException noBackingSupport() {
        return new QedUnsupportedException("writing part of a cluster that the backing file "
                + "provides needs copy-on-write from the backing file, which this version does not do yet");
    }
}
