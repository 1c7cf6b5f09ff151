package org.qedkit.internal;

import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.Limits;
import org.qedkit.QedLimitException;
import org.qedkit.QedHeader;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Verifies every invariant of an image's tables, and repairs what it is allowed to.
 *
 * <h2>Scan</h2>
 * The L1 table is read once, and each L2 table once, in file order of their entries. A
 * bitmap of the file's clusters records every reference: a second reference to a cluster
 * is a corruption, as is an entry that is misaligned, points into the header or past the
 * end of the file, or maps guest bytes past the image size. Clusters past the header that
 * nothing references are leaks. The counts agree with {@code qemu-img check} on the same
 * image (allocated and fragmented clusters are counted as QEMU counts them, invalid
 * entries included), except that QEMU does not look for entries past the image size, and
 * reports phantom leaks on large files where this check does not (its defect 3).
 *
 * <h2>Repair</h2>
 * Every change goes in an order that a crash at any point leaves consistent:
 * <ol>
 *   <li>copies: a cluster (or L2 table) referenced twice is copied to new space at the end
 *       of the file for its second reference; {@code fdatasync};</li>
 *   <li>L2 entries: second references point at their copies, invalid entries become 0;
 *       {@code fdatasync}; then the L1 entries likewise; {@code fdatasync};</li>
 *   <li>compaction ({@code REPAIR_ALL}): while a leaked cluster lies below the last used
 *       one, the last used data cluster (or L2 table, into a run of free clusters) is
 *       copied down into it; {@code fdatasync}; the entries are pointed at the copies;
 *       {@code fdatasync}; the file is cut after its last used cluster. With
 *       {@code REPAIR_LEAKS} nothing moves: leaked clusters are punched (free space, which
 *       the next read-write open reuses) and the unused tail is cut.</li>
 * </ol>
 * Until an entry is switched, the old copy stays where it was; after, the new one is
 * durable. QEMU repairs only invalid entries; leaks and double references it leaves.
 */
public final class ImageChecker {
    /** {@link #refs} value of a cluster of the L1 table (never moved). */
    private static final long L1_TABLE = -1;

    private final MappedImageFile file;
    private QedHeader header;   // changes when compaction moves the L1 table
    private Geometry geometry;
    private final int clusterSize;
    private final int tableSize;
    private final long entries;
    private final boolean repairAll;
    private final long deadline;   // System.nanoTime() past which the check gives up
    private final Limits limits;

    private long clusters;     // whole clusters in the file
    private long[] used;       // bitmap over clusters
    /**
     * Per cluster, who references it (repair modes only): 0 nobody; {@code > 0} the file offset of
     * the L2 entry that maps it as data; {@link #L1_TABLE}; {@code < -1} part of the L2 table whose
     * first cluster is {@code -(value + 2)}.
     */
    private long[] refs;
    private final Map<Long, Long> tableOwner = new HashMap<>(); // table's first cluster -> L1 entry offset

    private long corruptions;
    private long corruptionsFixed;
    private long allocated;
    private long fragmented;
    private final List<String> problems = new ArrayList<>();

    // Repairs collected during the scan, applied in crash-safe order.
    private final List<long[]> l2Stores = new ArrayList<>(); // {entry offset, value}
    private final List<long[]> l1Stores = new ArrayList<>();
    private boolean copied;

    private ImageChecker(MappedImageFile file, QedHeader header, boolean trackOwners, boolean repairAll,
                         Limits limits, long deadline) {
        this.file = file;
        this.limits = limits;
        this.deadline = deadline;
        this.header = header;
        this.geometry = Geometry.of(header);
        this.clusterSize = header.clusterSize();
        this.tableSize = header.tableSize();
        this.entries = header.entriesPerTable();
        this.repairAll = repairAll;
        this.clusters = file.size() / clusterSize;
        this.used = new long[(int) ((clusters + 63) >>> 6) + 1];
        this.refs = trackOwners ? new long[(int) clusters] : null;
    }

    /**
     * Bytes of memory a check of {@code file} in {@code mode} needs beyond the mapping: a bit
     * per cluster for references, and in the repair modes eight bytes more per cluster for
     * who references it and another bit for what is free.
     */
    public static long memoryNeeded(MappedImageFile file, QedHeader header, CheckMode mode) {
        long clusters = file.size() / header.clusterSize();
        long bitmap = (clusters >>> 3) + 8;
        return mode == CheckMode.REPORT ? bitmap : 2 * bitmap + 8 * clusters;
    }

    /**
     * Refuses, before anything is read or written, a check that would need more memory than
     * {@code limits} allows (or more clusters than an array can index).
     */
    public static void requireWithinLimits(MappedImageFile file, QedHeader header, CheckMode mode, Limits limits)
            throws QedLimitException {
        long clusters = file.size() / header.clusterSize();
        long needed = memoryNeeded(file, header, mode);
        if (needed > limits.maxMetadataMemory() || clusters > Integer.MAX_VALUE - 64) {
            throw new QedLimitException("maxMetadataMemory", file.path() + ": a check of its " + clusters
                    + " clusters needs " + needed + " bytes of memory, over the limit of " + limits.maxMetadataMemory());
        }
    }

    /**
     * The header after a repair that {@code result} reports: read again (the repair may have
     * moved the L1 table), with NEED_CHECK cleared and synced when nothing corrupt is left.
     */
    static QedHeader headerAfterRepair(MappedImageFile file, CheckResult result) throws IOException {
        QedHeader header = HeaderCodec.read(file);
        if (result.corruptions() == 0 && header.needsCheck()) {
            header = header.withFeatures(header.features() & ~QedHeader.FEATURE_NEED_CHECK);
            HeaderCodec.write(header, file);
            file.sync();
        }
        return header;
    }

    /**
     * Checks the image in {@code file} and, unless {@code mode} is REPORT, repairs it,
     * within {@code limits} (memory refused up front, time checked as it goes).
     */
    public static CheckResult run(MappedImageFile file, QedHeader header, CheckMode mode, Limits limits)
            throws IOException {
        requireWithinLimits(file, header, mode, limits);
        long deadline = System.nanoTime() + Math.min(limits.maxCheckTime().toNanos(), Long.MAX_VALUE / 4);
        if (mode == CheckMode.REPORT) {
            return new ImageChecker(file, header, false, false, limits, deadline).scan().result(0, 0);
        }
        if (file.cutPartialCluster(header.clusterSize())) {
            file.sync(); // new space for copies starts cluster-aligned
        }
        ImageChecker repair = new ImageChecker(file, header, true, mode == CheckMode.REPAIR_ALL, limits, deadline);
        repair.scan();
        long fixed = repair.applyEntryRepairs();
        long leaksBefore = repair.unreferenced().leaks();
        if (mode == CheckMode.REPAIR_LEAKS) {
            // Leaks become free space: punched (the host gets the blocks back at once), and
            // reused by the next read-write open; nothing moves. QEMU counts them as leaks
            // still (it knows no free space); -r all compacts instead. While corruptions
            // remain, references cannot be trusted, and only the unused tail is cut.
            if (repair.corruptions == 0) {
                repair.punchLeaks();
            }
            repair.reclaimLeaks(false);
        } else {
            repair.reclaimLeaks(true);
        }

        // Double-check the repaired image, as qemu-img does, and report what remains.
        ImageChecker after = new ImageChecker(file, repair.header, false, false, limits, deadline).scan();
        Unreferenced left = after.unreferenced();
        long leaksFixed = Math.max(0, leaksBefore - left.leaks());
        List<String> all = new ArrayList<>(repair.problems);
        return new CheckResult(after.corruptions, left.leaks(), fixed, leaksFixed, 0,
                after.totalClusters(), after.allocated, after.fragmented, left.free(), all);
    }

    // ------------------------------------------------------------------ scan

    private ImageChecker scan() throws IOException {
        markTable(geometry.l1Offset(), L1_TABLE);
        long l1End = geometry.l1Offset() + geometry.tableBytes();
        for (long i = 0; i < entries; i++) {
            long entryOffset = file.skipZeroEntries(geometry.l1Offset() + (i << 3), l1End);
            if (entryOffset == l1End) {
                break;
            }
            i = (entryOffset - geometry.l1Offset()) >>> 3;
            checkTime();
            long table = file.getEntryAcquire(entryOffset);
            if (table == 0) {
                continue;
            }
            String field = "L1[" + i + "]";
            if (!isValid(table, geometry.tableBytes())) {
                corrupt(field, table, "not a cluster-aligned table inside the file, past the header");
                clearEntry(l1Stores, entryOffset);
                continue;
            }
            // A table past the image size is not corruption: QEMU's check walks every L1
            // entry alike, and a later grow brings those guest bytes back (issue 13, bug 5).
            int shared = referencedAlready(table, tableSize);
            if (shared > 0) {
                // Counted per shared cluster, as QEMU counts it.
                corrupt(field, table, "L2 table overlaps " + shared + " cluster(s) already referenced");
                corruptions += shared - 1;
                if (!repairAll) {
                    continue; // as QEMU: a shared table's entries are not examined
                }
                table = copyToNewSpace(table, geometry.tableBytes());
                l1Stores.add(new long[]{entryOffset, table});
            }
            markTable(table, entryOffset);
            scanL2(i, table);
        }
        return this;
    }

    private void scanL2(long l1Index, long table) throws IOException {
        long last = 0;
        long end = table + geometry.tableBytes();
        for (long j = 0; j < entries; j++) {
            long entryOffset = file.skipZeroEntries(table + (j << 3), end); // most entries are empty
            if (entryOffset == end) {
                break;
            }
            j = (entryOffset - table) >>> 3;
            long value = file.getEntryAcquire(entryOffset);
            if (value == ClusterMap.UNALLOCATED || value == ClusterMap.ZERO) {
                continue;
            }
            allocated++;
            if (last != 0 && last + clusterSize != value) {
                fragmented++;
            }
            last = value;
            String field = "L2[" + l1Index + "][" + j + "]";
            if (!isValid(value, clusterSize)) {
                corrupt(field, value, "not a cluster-aligned data cluster inside the file, past the header");
                clearEntry(l2Stores, entryOffset);
            } else if (referencedAlready(value, 1) > 0) {
                corrupt(field, value, "cluster referenced twice");
                if (repairAll) {
                    long copy = copyToNewSpace(value, clusterSize);
                    l2Stores.add(new long[]{entryOffset, copy});
                    markData(copy, entryOffset);
                }
            } else {
                markData(value, entryOffset);
            }
        }
    }

    private boolean isValid(long offset, long extent) {
        return (offset & (clusterSize - 1)) == 0 && offset >= geometry.headerBytes() && offset <= file.size() - extent
                && offset + extent <= clusters * clusterSize;
    }

    private int referencedAlready(long offset, int n) {
        long c = offset / clusterSize;
        int shared = 0;
        for (int k = 0; k < n; k++) {
            if (testBit(c + k)) {
                shared++;
            }
        }
        return shared;
    }

    private void markTable(long offset, long owner) {
        long first = offset / clusterSize;
        for (int k = 0; k < tableSize; k++) {
            setBit(first + k);
            if (refs != null && first + k < refs.length) {
                refs[(int) (first + k)] = owner == L1_TABLE ? L1_TABLE : -(first + 2);
            }
        }
        if (owner != L1_TABLE) {
            tableOwner.put(first, owner);
        }
    }

    private void markData(long offset, long entryOffset) {
        long c = offset / clusterSize;
        setBit(c);
        if (refs != null && c < refs.length) {
            refs[(int) c] = entryOffset;
        }
    }

    private void corrupt(String field, long value, String rule) {
        corruptions++;
        problems.add(field + " = 0x" + Long.toHexString(value) + ": " + rule);
    }

    private void clearEntry(List<long[]> stores, long entryOffset) {
        if (repairAll) {
            stores.add(new long[]{entryOffset, 0});
        }
    }

    // ------------------------------------------------------------------ repair

    /** Copies {@code bytes} at {@code from} to new space at the end of the file. */
    private long copyToNewSpace(long from, long bytes) throws IOException {
        long to = file.size();
        file.extend(to + bytes);
        growTo(file.size() / clusterSize);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(Math.min(bytes, 1 << 20));
            for (long done = 0; done < bytes; done += buffer.byteSize()) {
                long n = Math.min(buffer.byteSize(), bytes - done);
                file.copyOut(from + done, buffer, 0, n);
                file.copyIn(buffer, 0, to + done, n);
            }
        }
        copied = true;
        return to;
    }

    private void growTo(long newClusters) {
        clusters = newClusters;
        int words = (int) ((clusters + 63) >>> 6) + 1;
        if (words > used.length) {
            used = Arrays.copyOf(used, Math.max(words, used.length * 2));
        }
        if (refs != null && clusters > refs.length) {
            refs = Arrays.copyOf(refs, (int) Math.max(clusters, refs.length * 2L));
        }
    }

    /** Steps 1 and 2: copies durable, then L2 stores, then L1 stores. Returns corruptions fixed. */
    private long applyEntryRepairs() throws IOException {
        if (!repairAll) {
            return 0;
        }
        if (copied) {
            file.sync();
        }
        for (long[] s : l2Stores) {
            file.setEntryRelease(s[0], s[1]);
        }
        if (!l2Stores.isEmpty()) {
            file.sync();
        }
        for (long[] s : l1Stores) {
            file.setEntryRelease(s[0], s[1]);
        }
        if (!l1Stores.isEmpty()) {
            file.sync();
        }
        corruptionsFixed = corruptions;
        return corruptionsFixed;
    }

    /** Clusters past the header that nothing references: those that hold data (leaks) and those that are holes (free). */
    private record Unreferenced(long leaks, long free) {
    }

    /** A run of clusters {@code [from, to)} that nothing references. */
    private interface RunVisitor {
        void visit(long from, long to) throws IOException;
    }

    /** Calls {@code visitor} for each maximal run of unreferenced clusters past the header. */
    private void forEachUnreferencedRun(RunVisitor visitor) throws IOException {
        long c = Integer.toUnsignedLong(header.headerSize());
        while (c < clusters) {
            if (testBit(c)) {
                c++;
                continue;
            }
            long runEnd = c;
            while (runEnd < clusters && !testBit(runEnd)) {
                runEnd++;
            }
            visitor.visit(c, runEnd);
            c = runEnd;
        }
    }

    /**
     * Leaks (unreferenced clusters that hold data) and free clusters (unreferenced holes in the
     * file: space a discard punched, which the engine hands out again; QEMU counts them as
     * leaks), in one walk.
     */
    private Unreferenced unreferenced() throws IOException {
        long[] counts = new long[2]; // leaks, free
        forEachUnreferencedRun((from, to) -> {
            long holes = file.holeClusters(from, to, clusterSize);
            counts[0] += (to - from) - holes;
            counts[1] += holes;
        });
        return new Unreferenced(counts[0], counts[1]);
    }

    /** Punches every run of unreferenced clusters that still holds data: leaks become free clusters. */
    private void punchLeaks() throws IOException {
        forEachUnreferencedRun((from, to) -> {
            if (file.holeClusters(from, to, clusterSize) < to - from) {
                file.punchHole(from * clusterSize, (to - from) * clusterSize);
            }
        });
        file.sync();
    }

    /** Gives up once the check has run longer than its limit (called per table or pass). */
    private void checkTime() throws QedLimitException {
        if (System.nanoTime() - deadline > 0) {
            throw new QedLimitException("maxCheckTime", file.path() + ": the check did not finish within the limit of "
                    + limits.maxCheckTime().toMillis() + " ms");
        }
    }

    /**
     * Step 3. With {@code compact}, moves the last used clusters down into leaked ones, in
     * passes, until no leak lies below the last used cluster; without (corruptions remain,
     * so references cannot be trusted to be unique), only cuts the unused tail.
     *
     * <p>An L2 table (or the L1 table) needs a run of free clusters below it. When no pass
     * can move anything, the table right above the lowest hole moves once to new space at
     * the end; its old place and the hole are then a free run, what lies above comes down,
     * and the table follows. Each table moves to the end at most once, so this ends.
     */
    private void reclaimLeaks(boolean compact) throws IOException {
        Set<Long> bounced = new HashSet<>();
        int passes = 0;
        int passBudget = 4 * (tableOwner.size() + 4); // a backstop; each table bounces once
        while (compact) {
            checkTime();
            BitSet free = freeClusters();
            long high = highestUsed(clusters - 1);
            List<long[]> moves = planMoves(free, high);
            if (moves.isEmpty()) {
                moves = planAscending(free, high);
            }
            if (moves.isEmpty()) {
                boolean leaksBelow = !free.isEmpty() && free.nextSetBit(0) < high;
                if (!leaksBelow || ++passes > passBudget) {
                    break;
                }
                // Stuck: the table right above the lowest hole has no room below it. Move it
                // once to the end; its old place and the hole then make room for what is
                // above to come down, and it follows them.
                long blocker = free.nextSetBit(0) + 1;
                while (!testBit(blocker)) {
                    blocker++;
                }
                long ref = refs[(int) blocker];
                if (ref > 0) {
                    break; // data would have moved down already; nothing more to gain
                }
                boolean l1 = ref == L1_TABLE;
                long first = l1 ? geometry.l1Offset() / clusterSize : -(ref + 2);
                long owner = l1 ? L1_TABLE : tableOwner.get(first);
                if (!bounced.add(owner)) {
                    break;
                }
                long to = file.size() / clusterSize;
                file.extend((to + tableSize) * clusterSize);
                growTo(to + tableSize);
                if (l1) {
                    moves.add(new long[]{first, to, tableSize, L1_TABLE, 2});
                    relocateL1(first, to);
                } else {
                    moves.add(new long[]{first, to, tableSize, owner, 1});
                    relocateTable(first, to, owner);
                }
            }
            execute(moves);
        }
        long end = (highestUsed(clusters - 1) + 1) * clusterSize;
        if (end < file.size()) {
            file.truncate(end);
            file.sync();
            clusters = end / clusterSize;
        }
    }

    /** Free clusters as a bitmap: a bit each, however many there are (the limit bounds it). */
    private BitSet freeClusters() {
        BitSet free = new BitSet((int) clusters);
        for (long c = Integer.toUnsignedLong(header.headerSize()); c < clusters; c++) {
            if (!testBit(c)) {
                free.set((int) c);
            }
        }
        return free;
    }

    /**
     * One pass: from the last used cluster down, each data cluster to the lowest leak, each
     * L2 table to the lowest run of free clusters, while such a place lies below it.
     * Returns moves as {from, to, count, owner entry offset, 1 if a table}.
     */
    private List<long[]> planMoves(BitSet free, long high) {
        List<long[]> moves = new ArrayList<>();
        while (!free.isEmpty() && free.nextSetBit(0) < high) {
            long ref = refs[(int) high];
            if (ref > 0) {
                moveDataDown(moves, free, high, ref);
            } else if (ref < L1_TABLE) {
                long first = -(ref + 2);
                long run = findRun(free, tableSize, first);
                if (run < 0) {
                    break;
                }
                moveTableDown(moves, free, first, run);
            } else {
                // The L1 table moves in a pass of its own: L1 entries stored by this pass
                // would otherwise go to a table that is being copied away.
                long first = geometry.l1Offset() / clusterSize;
                long run = findRun(free, tableSize, first);
                if (moves.isEmpty() && run >= 0) {
                    moves.add(new long[]{first, run, tableSize, L1_TABLE, 2});
                    relocateL1(first, run);
                }
                break;
            }
            high = highestUsed(high);
        }
        return moves;
    }

    /** The L1 table moves: its clusters, the header's offset, and where its entries are. */
    private void relocateL1(long first, long to) {
        move(first, to, tableSize, 0);
        for (long k = 0; k < tableSize; k++) {
            refs[(int) (to + k)] = L1_TABLE;
        }
        long delta = (to - first) * clusterSize;
        long from = first * clusterSize;
        long until = from + (long) tableSize * clusterSize;
        tableOwner.replaceAll((table, entry) -> entry >= from && entry < until ? entry + delta : entry);
        header = new QedHeader(header.clusterSize(), header.tableSize(), header.headerSize(), header.features(),
                header.compatFeatures(), header.autoclearFeatures(), to * clusterSize, header.imageSize(),
                header.backingFilenameOffset(), header.backingFilenameSize(), header.backingFilename());
        geometry = Geometry.of(header);
    }

    /**
     * A pass from the bottom up, for when the last used cluster is a table with no room
     * below it: every data cluster and table above the lowest leak moves to the lowest
     * place that fits below it, so the holes rise to the top. Moves more than
     * {@link #planMoves}, so it runs only when that one is stuck.
     */
    private List<long[]> planAscending(BitSet free, long high) {
        List<long[]> moves = new ArrayList<>();
        if (free.isEmpty()) {
            return moves;
        }
        for (long c = free.nextSetBit(0) + 1; c <= high; c++) {
            long ref = refs[(int) c];
            if (ref > 0 && free.nextSetBit(0) < c) {
                moveDataDown(moves, free, c, ref);
            } else if (ref < L1_TABLE && -(ref + 2) == c) {
                long run = findRun(free, tableSize, c);
                if (run >= 0) {
                    moveTableDown(moves, free, c, run);
                }
            }
        }
        return moves;
    }

    /** Plans moving the data cluster {@code from} (mapped by entry {@code ref}) to the lowest free cluster. */
    private void moveDataDown(List<long[]> moves, BitSet free, long from, long ref) {
        int to = free.nextSetBit(0);
        free.clear(to);
        moves.add(new long[]{from, to, 1, ref, 0});
        move(from, to, 1, ref);
        free.set((int) from);
    }

    /** Plans moving the L2 table starting at cluster {@code first} to the free run at {@code run}. */
    private void moveTableDown(List<long[]> moves, BitSet free, long first, long run) {
        long owner = tableOwner.get(first);
        moves.add(new long[]{first, run, tableSize, owner, 1});
        relocateTable(first, run, owner);
        for (long k = 0; k < tableSize; k++) {
            free.clear((int) (run + k));
            free.set((int) (first + k));
        }
    }

    private void relocateTable(long first, long to, long owner) {
        move(first, to, tableSize, 0);
        for (long k = 0; k < tableSize; k++) {
            refs[(int) (to + k)] = -(to + 2);
        }
        tableOwner.remove(first);
        tableOwner.put(to, owner);
        // Data clusters this table maps now have their entries at the table's new place.
        long delta = (to - first) * clusterSize;
        long from = first * clusterSize;
        long until = from + (long) tableSize * clusterSize;
        for (int c = 0; c < refs.length; c++) {
            if (refs[c] >= from && refs[c] < until) {
                refs[c] += delta;
            }
        }
    }

    /** Copies durable first, then L2 entries, then L1 entries, each step synced. */
    private void execute(List<long[]> moves) throws IOException {
        for (long[] m : moves) {
            copyClusters(m[0], m[1], m[2]);
        }
        file.sync();
        boolean tables = false;
        for (long[] m : moves) {
            if (m[4] == 0) {
                // The owner as it is now: its table may have moved after this move was planned.
                file.setEntryRelease(refs[(int) m[1]], m[1] * clusterSize);
            } else if (m[4] == 1) {
                tables = true;
            }
        }
        file.sync();
        if (tables) {
            for (long[] m : moves) {
                if (m[4] == 1) {
                    file.setEntryRelease(m[3], m[1] * clusterSize);
                }
            }
            file.sync();
        }
        for (long[] m : moves) {
            if (m[4] == 2) { // the L1 table's copy is durable: point the header at it
                HeaderCodec.write(header, file);
                file.sync();
            }
        }
    }

    private void move(long from, long to, long n, long ref) {
        for (long k = 0; k < n; k++) {
            clearBit(from + k);
            setBit(to + k);
            if (ref > 0) {
                refs[(int) (to + k)] = ref;
            }
            refs[(int) (from + k)] = 0;
        }
    }

    private void copyClusters(long from, long to, long n) throws IOException {
        // The destination may be a punched hole: it gets real blocks before a page is touched.
        file.reserve(to * clusterSize, n * clusterSize);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(clusterSize);
            for (long k = 0; k < n; k++) {
                file.copyOut((from + k) * clusterSize, buffer, 0, clusterSize);
                file.copyIn(buffer, 0, (to + k) * clusterSize, clusterSize);
            }
        }
    }

    /** First cluster of the lowest run of {@code length} free clusters that ends below {@code below}, or -1. */
    private static long findRun(BitSet free, int length, long below) {
        for (int start = free.nextSetBit(0); start >= 0 && start + (long) length <= below;
             start = free.nextSetBit(free.nextClearBit(start))) {
            if (free.nextClearBit(start) - start >= length) {
                return start;
            }
        }
        return -1;
    }

    private long highestUsed(long from) {
        for (long c = from; c >= 0; c--) {
            if (testBit(c)) {
                return c;
            }
        }
        return Integer.toUnsignedLong(header.headerSize()) - 1;
    }

    private CheckResult result(long corruptionsFixed, long leaksFixed) throws IOException {
        Unreferenced left = unreferenced();
        return new CheckResult(corruptions, left.leaks(), corruptionsFixed, leaksFixed, 0,
                totalClusters(), allocated, fragmented, left.free(), problems);
    }

    private long totalClusters() {
        return (geometry.imageSize() + clusterSize - 1) / clusterSize;
    }

    private boolean testBit(long c) {
        return c >= 0 && (c >>> 6) < used.length && (used[(int) (c >>> 6)] & (1L << c)) != 0;
    }

    private void setBit(long c) {
        if ((c >>> 6) >= used.length) {
            used = Arrays.copyOf(used, (int) (c >>> 6) + 1);
        }
        used[(int) (c >>> 6)] |= 1L << c;
    }

    private void clearBit(long c) {
        used[(int) (c >>> 6)] &= ~(1L << c);
    }
}
