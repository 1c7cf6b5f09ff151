package org.qedkit.internal;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** The L2 table cache: what it finds, what it keeps, what a hit costs, and concurrent use. */
class L2CacheTest {
    private static final MemorySegment VIEW = Arena.global().allocate(64);

    private static L2Cache.Table table(long l1Index) {
        return new L2Cache.Table(l1Index, 0x10000L * (l1Index + 1), VIEW, false);
    }

    @Test
    void aTableIsFoundUnderItsL1IndexOnceInstalledAndNotBefore() {
        L2Cache cache = new L2Cache(64);
        assertThat(cache.get(5)).isNull();
        L2Cache.Table t = table(5);
        cache.install(t);
        assertThat(cache.get(5)).isSameAs(t);
        assertThat(cache.get(6)).isNull();
    }

    @Test
    void capacityIsRoundedUpToWholeSetsOfAPowerOfTwo() {
        assertThat(new L2Cache(1).capacity()).isEqualTo(L2Cache.WAYS);
        assertThat(new L2Cache(4096).capacity()).isEqualTo(4096);
        assertThat(new L2Cache(5000).capacity()).isEqualTo(8192);
    }

    @Test
    void itHoldsNoMoreThanItsCapacityAndTheLatestInstallIsAlwaysThere() {
        L2Cache cache = new L2Cache(16);
        for (long i = 0; i < 1000; i++) {
            cache.install(table(i));
            assertThat(cache.get(i)).as("just installed").isNotNull();
        }
        Set<Long> held = new HashSet<>();
        for (long i = 0; i < 1000; i++) {
            L2Cache.Table t = cache.get(i);
            if (t != null) {
                assertThat(t.l1Index()).isEqualTo(i);
                held.add(i);
            }
        }
        assertThat(held).hasSizeBetween(1, cache.capacity());
    }

    @Test
    void aHitAllocatesNothing() {
        L2Cache cache = new L2Cache(64);
        for (long i = 0; i < 32; i++) {
            cache.install(table(i));
        }
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long found = 0;
        for (int round = 0; round < 3; round++) { // the last round after the JIT had its say
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 1_000_000; i++) {
                L2Cache.Table t = cache.get(i & 31);
                if (t != null) {
                    found++;
                }
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertThat(allocated).as("bytes allocated by a million lookups").isLessThan(1024);
        }
        assertThat(found).as("hits; four ways per set keep 32 tables in 16 sets").isPositive();
    }

    @Test
    void concurrentLookupsAndInstallsNeverReturnAnotherIndexTable() throws Exception {
        L2Cache cache = new L2Cache(32);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] workers = new Thread[4];
        for (int w = 0; w < workers.length; w++) {
            long seed = w;
            workers[w] = Thread.ofPlatform().start(() -> {
                SplittableRandom rnd = new SplittableRandom(seed);
                try {
                    for (int i = 0; i < 200_000; i++) {
                        long index = rnd.nextLong(256);
                        L2Cache.Table t = cache.get(index);
                        if (t == null) {
                            cache.install(table(index));
                        } else if (t.l1Index() != index || t.offset() != 0x10000L * (index + 1)) {
                            throw new AssertionError("asked for " + index + ", got " + t);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
        }
        for (Thread w : workers) {
            w.join();
        }
        assertThat(failure.get()).isNull();
    }
}
