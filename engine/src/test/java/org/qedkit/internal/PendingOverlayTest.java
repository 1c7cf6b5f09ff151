package org.qedkit.internal;

import com.sun.management.ThreadMXBean;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** The overlay of entries written but not yet committed, on its own. */
class PendingOverlayTest {

    @Test
    void anEntryIsVisibleFromPutUntilTheCommitDropsThatSameEntry() {
        PendingOverlay overlay = new PendingOverlay();
        assertThat(overlay.isEmpty()).isTrue();
        assertThat(overlay.entry(5)).isEqualTo(PendingOverlay.MISSING);
        overlay.put(5, 0x30000);
        overlay.putNewTable(0, 0x40000);
        assertThat(overlay.entry(5)).isEqualTo(0x30000);
        assertThat(overlay.newTable(0)).isEqualTo(0x40000);
        assertThat(overlay.size()).isOne();

        overlay.put(5, 0x50000); // rewritten before the commit dropped the first one
        drop(overlay, 5, 0x30000, 0x40000);
        assertThat(overlay.entry(5)).as("a later entry survives the drop of an earlier one").isEqualTo(0x50000);
        assertThat(overlay.newTable(0)).as("the table was committed").isZero();
        drop(overlay, 5, 0x50000, 0);
        assertThat(overlay.entry(5)).isEqualTo(PendingOverlay.MISSING);
        assertThat(overlay.isEmpty()).isTrue();
    }

    @Test
    void aLookupWhileEntriesArePendingAllocatesNothing() {
        PendingOverlay overlay = new PendingOverlay();
        for (long cluster = 0; cluster < 1000; cluster += 2) {
            overlay.put(cluster, 0x10000 * (cluster + 1));
        }
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long found = 0;
        for (int round = 0; round < 3; round++) { // the last round runs compiled
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 1_000_000; i++) {
                found += overlay.entry(i % 1000) != PendingOverlay.MISSING ? 1 : 0;
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            if (round == 2) {
                assertThat(allocated).as("bytes allocated by a million lookups, hits and misses").isLessThan(1024);
            }
        }
        assertThat(found).isEqualTo(3 * 500_000L);
    }

    /**
     * The count covers an entry before any reader can see it: a reader that has seen an
     * entry never finds the overlay empty while that entry is pending, however other entries
     * come and go. (With the count raised after the entry became visible, as before, a reader
     * could see the entry, then find the count at zero while another writer's entry left,
     * and skip the overlay: its reads of one offset went backwards.)
     */
    @Test
    void aReaderThatSawAnEntryNeverFindsTheOverlayEmptyWhileItIsPending() throws Exception {
        PendingOverlay overlay = new PendingOverlay();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong published = new AtomicLong(-1); // the key the writer has put and not yet dropped
        AtomicLong violations = new AtomicLong();
        Thread churn = Thread.ofPlatform().start(() -> { // another writer's entry, coming and going
            while (!stop.get()) {
                overlay.put(0, 1);
                drop(overlay, 0, 1, 0);
            }
        });
        Thread reader = Thread.ofPlatform().start(() -> {
            while (!stop.get()) {
                long key = published.get();
                if (key > 0 && overlay.entry(key) != PendingOverlay.MISSING && overlay.isEmpty()
                        && published.get() == key) {
                    violations.incrementAndGet();
                }
            }
        });
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        for (long key = 1; System.nanoTime() < until; key++) {
            published.set(key);
            overlay.put(key, key << 16);
            published.set(-1); // before the drop: a reader that still reads `key` after isEmpty() read it pending
            drop(overlay, key, key << 16, 0);
        }
        stop.set(true);
        churn.join();
        reader.join();
        assertThat(violations.get()).as("times a seen entry was skipped while pending").isZero();
    }

    /** Geometry of 64 KiB clusters: guest offset = cluster index << 16. */
    private static final Geometry GEOMETRY = new Geometry(65536, 16, 4 * 65536, 15, 65536, 65536, 1L << 40);

    /** The commit dropping one entry (and its new table, if not 0) from the overlay. */
    private static void drop(PendingOverlay overlay, long clusterIndex, long value, long table) {
        overlay.dropCommitted(java.util.List.of(new PendingEntry(clusterIndex << 16, value, table, true, true)), 0, 1, GEOMETRY);
    }
}
