package org.qedkit.internal;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A bounded, lock-free, set-associative cache of the L2 tables an image's lookups found,
 * keyed by L1 index: a hit gives a view of the table in the mapping, so a lookup skips the
 * L1 entry, its validation and the chunk arithmetic and reads the L2 entry straight off
 * the view.
 *
 * <h2>Algorithm</h2>
 * The slots form sets of {@value #WAYS} neighbouring array elements; an L1 index belongs
 * to one set, picked by a multiplicative hash. Each slot holds an immutable {@link Table}
 * record or null, and is only ever changed by compare-and-set.
 * <ul>
 *   <li><b>Hit</b>: acquire-load the set's slots (one or two cache lines), compare each
 *       record's L1 index. No lock, no write, no allocation.</li>
 *   <li><b>Miss</b>: the caller walks the L1 table (validating the entry), makes one record
 *       and {@link #install}s it: CAS into an empty slot of the set, or, when the set is
 *       full, CAS over a slot picked at random. A CAS that loses to another thread is not
 *       retried: the cache is a shortcut, and the next miss tries again. Two threads missing
 *       on the same table at once may both install it; the copies are identical, and one
 *       ages out.</li>
 * </ul>
 * Random replacement needs no per-slot bookkeeping on hits (an LRU would write on every
 * read); with four ways, a hot table survives a while against a stream of cold ones.
 *
 * <h2>Why a cached table does not go stale</h2>
 * While an image is open, its L1 entries change from 0 to a new table (a commit links it)
 * and, since discard, from a table whose entries are all free back to 0. An L1 entry of 0
 * is never cached. The discard that unlinks a table then {@link #forget}s it, and the table's
 * space is reused only after the grace periods of {@link SpaceReclaimer}: a lookup that
 * still holds the old view reads the table's free entries, never another table's or a data
 * cluster's bytes. An installer that raced the unlinking (it read the L1 entry before, and
 * installs after the forget) re-reads the L1 entry after installing and
 * {@link #withdraw}s its record when it changed (see {@link ClusterMap}). A view stays valid
 * as long as the mapping, which outlives the image's use; after close, touching it throws.
 *
 * <h2>What the cache does not hold</h2>
 * Uncommitted entries: a new L2 entry must not be stored into the mapped table before its
 * data is durable, so until its commit it lives in the commit pipeline's overlay, which
 * keeps it until it is in the table (so nothing uncommitted can be evicted). The cache holds
 * views, never copies: the tables' bytes are the page cache's, and its own memory is the
 * slots (4 bytes each) and their records (about 70 bytes each).
 */
final class L2Cache {
    /** Slots per set. */
    static final int WAYS = 4;
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Table[].class);

    /**
     * One cached table.
     *
     * @param l1Index the L1 index it serves
     * @param offset  its validated file offset
     * @param entries a view of its entries in the mapping
     * @param suspect  true when, as found on disk, one of its entries points into the
     *                 image's metadata: lookups through it check each entry they return
     */
    record Table(long l1Index, long offset, MemorySegment entries, boolean suspect) {
    }

    private final Table[] slots;
    private final int setMask;

    /** A cache of at least {@code capacity} tables (rounded up to a power of two, at least one set). */
    L2Cache(int capacity) {
        int sets = Integer.highestOneBit(Math.max(1, (capacity + WAYS - 1) / WAYS));
        if (sets * WAYS < capacity) {
            sets <<= 1;
        }
        this.slots = new Table[sets * WAYS];
        this.setMask = sets - 1;
    }

    /** Tables it can hold. */
    int capacity() {
        return slots.length;
    }

    /** The cached table for {@code l1Index}, or null. Lock-free and allocation-free. */
    Table get(long l1Index) {
        int base = setOf(l1Index);
        for (int way = 0; way < WAYS; way++) {
            Table t = (Table) SLOT.getAcquire(slots, base + way);
            if (t != null && t.l1Index == l1Index) {
                return t;
            }
        }
        return null;
    }

    /** Installs {@code table}, in an empty slot of its set if there is one, else over a random one. */
    void install(Table table) {
        int base = setOf(table.l1Index);
        for (int way = 0; way < WAYS; way++) {
            if (SLOT.getAcquire(slots, base + way) == null
                    && SLOT.compareAndSet(slots, base + way, null, table)) {
                return;
            }
        }
        int victim = base + ThreadLocalRandom.current().nextInt(WAYS);
        Table old = (Table) SLOT.getAcquire(slots, victim);
        SLOT.compareAndSet(slots, victim, old, table); // lost to another install: fine
    }

    /** Removes every record of {@code l1Index}: its table was unlinked. */
    void forget(long l1Index) {
        int base = setOf(l1Index);
        for (int way = 0; way < WAYS; way++) {
            Table t = (Table) SLOT.getAcquire(slots, base + way);
            if (t != null && t.l1Index == l1Index) {
                SLOT.compareAndSet(slots, base + way, t, null);
            }
        }
    }

    /** Removes {@code table} if it is still cached: its installer found it unlinked meanwhile. */
    void withdraw(Table table) {
        int base = setOf(table.l1Index);
        for (int way = 0; way < WAYS; way++) {
            SLOT.compareAndSet(slots, base + way, table, null);
        }
    }

    private int setOf(long l1Index) {
        // Fibonacci hashing: neighbouring L1 indexes land in different sets.
        long h = l1Index * 0x9E3779B97F4A7C15L;
        return ((int) (h >>> 32) & setMask) * WAYS;
    }
}
