package org.qedkit.stress;

import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.QedIoException;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.internal.hooks.EngineHooks;
import org.qedkit.internal.hooks.OpenContext;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Power-cut campaign: the crash states a real disk may be left in, not just a killed
 * process (whose page cache survives).
 *
 * <h2>The storage model</h2>
 * Beneath the engine, a {@link org.qedkit.internal.StorageObserver} sees every
 * {@code fdatasync} and snapshots the file as the page cache holds it at that moment. The
 * snapshot before sync {@code k} is what the disk holds once sync {@code k} completes.
 * Between the end of sync {@code k-1} and the end of sync {@code k}, a power cut may leave
 * the disk holding the image as of sync {@code k-1} plus <em>any subset</em> of the 4 KiB
 * pages that changed since, each written whole or torn at 512-byte sectors, with the file
 * at its old or its new length. Short epochs are enumerated exhaustively; long ones are
 * sampled. (A page rewritten twice within one epoch is tried only in its last version, as
 * CrashMonkey and ALICE also do.)
 *
 * <p>Half the runs put the image on a raw backing file of random bytes. Without one, a
 * fresh cluster and an unallocated one both read as zeros, so an entry that reached the
 * disk before its data would go unseen; over a backing file it shows as zeros where the
 * backing file had data.
 *
 * <h2>What each crash state must satisfy</h2>
 * The engine opens it read-write (running its check at open when NEED_CHECK is set), a
 * check afterwards finds nothing, and every guest byte holds what the flushed model says,
 * or, if an operation not yet covered by a flush touched it, a value one such operation
 * wrote. A sample of states also goes through {@code qemu-img check} as the crash left
 * them: QEMU must find no corruption (leaks are allowed; they are what NEED_CHECK is for).
 *
 * <p>And NEED_CHECK is set in every crash state that holds leaked clusters: they are what
 * the flag tells the next open to reclaim.
 *
 * <h2>Faults</h2>
 * The same storage can also fail ({@link Fault}): the n-th {@code fdatasync} of the image
 * reports EIO, or the n-th {@code fallocate} reports ENOSPC or EIO, through the engine's real
 * error path. A failed sync is final: the workload stops, closing must report the error,
 * the engine must never sync the image again (Linux forgets a write-back error once
 * reported, so a retry would claim safety that does not exist), and the crash states run
 * from the last good sync to everything the page cache held at the end, in any subset.
 * A failed {@code fallocate} is not final. ENOSPC means the disk is full from then on: a
 * write that needs space reports it ({@link QedIoException#isNoSpace()}) and the workload
 * goes on; an EIO fails that one call. What a failed write put in place before it failed
 * may or may not show, before and after later flushes.
 * A file system that cannot punch holes ({@code PUNCH_EOPNOTSUPP}: every punch reports
 * EOPNOTSUPP) is no error: discarded space is zeroed instead, and nothing may fail.
 * {@link #faultMatrix} runs every sync and every {@code fallocate} of a workload as the
 * failing one, and the workload once without hole punching if it punched.
 *
 * <p>Usage: {@code PowerCutCampaign [--states N | --minutes M] [--seed S] [--dir D]}.
 */
public final class PowerCutCampaign {
    private static final int PAGE = 4096;
    private static final int SECTOR = 512;
    private static final int EXHAUSTIVE_PAGES = 8;
    private static final int SAMPLES_PER_EPOCH = 48;
    private static final int QEMU_EVERY = 64;
    private static final int CLUSTER = 4096;
    private static final int TABLE = 2;
    private static final long GUEST = 12L << 20; // three L2 tables

    /** Totals of a campaign. */
    public record Summary(int runs, int runsOnABackingFile, long states, long qemuChecks, long violations,
                          List<Long> failingSeeds) {
    }

    private record Epoch(byte[] content, int durableOps, int startedOps) {
    }

    /** A failure the storage injects in one run: the {@code nth} call of a kind fails. */
    public record Fault(Kind kind, int nth) {
        /** Which call fails, and how. */
        public enum Kind { NONE, SYNC_EIO, EXTEND_ENOSPC, EXTEND_EIO, PUNCH_EOPNOTSUPP }

        /** No failure: the plain power-cut campaign. */
        public static final Fault NONE = new Fault(Kind.NONE, 0);

        boolean onSync() {
            return kind == Kind.SYNC_EIO;
        }

        boolean onExtend() {
            return kind == Kind.EXTEND_ENOSPC || kind == Kind.EXTEND_EIO;
        }

        /** A file system that cannot punch holes: every punch from the first on; not an error. */
        boolean onPunch() {
            return kind == Kind.PUNCH_EOPNOTSUPP;
        }

        int errno() {
            return kind == Kind.EXTEND_ENOSPC ? StorageObserver.ENOSPC : StorageObserver.EIO;
        }

        @Override
        public String toString() {
            return kind == Kind.NONE ? "no fault" : kind == Kind.PUNCH_EOPNOTSUPP ? "punching unsupported"
                    : kind + " at call " + nth;
        }
    }

    /**
     * What one run did: crash states verified, the image's syncs and {@code fallocate} calls,
     * and whether its fault was injected (timing decides how many syncs group commit makes,
     * so a late call number may not be reached).
     */
    public record Run(long states, int syncs, int extensions, int punches, boolean faultInjected, boolean writeThrough,
                      boolean backed) {
    }

    /** Totals of a fault matrix. */
    public record MatrixSummary(int faultsInjected, int faultsNotReached, long states, List<String> problems) {
    }

    private final Path dir;
    private final PrintStream log;
    private long qemuChecks;
    private int backedRuns;

    public PowerCutCampaign(Path dir, PrintStream log) {
        this.dir = dir;
        this.log = log;
    }

    public static void main(String[] args) throws Exception {
        long states = 2_000;
        long minutes = 0;
        long seed = System.nanoTime();
        Path dir = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--states" -> states = Long.parseLong(args[++i]);
                case "--minutes" -> minutes = Long.parseLong(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--dir" -> dir = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: PowerCutCampaign [--states N | --minutes M] [--seed S] [--dir D]");
                    System.exit(2);
                }
            }
        }
        Path shm = Path.of("/dev/shm");
        Path work = dir != null ? Files.createDirectories(dir)
                : Files.createTempDirectory(Files.isDirectory(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir")), "qedkit-powercut");
        long deadline = minutes > 0 ? System.nanoTime() + TimeUnit.MINUTES.toNanos(minutes) : Long.MAX_VALUE;
        Summary s = new PowerCutCampaign(work, System.out).run(minutes > 0 ? Long.MAX_VALUE : states, deadline, seed);
        System.exit(s.violations() == 0 ? 0 : 1);
    }

    /** Runs workloads until {@code maxStates} crash states were verified or the deadline passed. */
    public Summary run(long maxStates, long deadlineNanos, long firstSeed) throws IOException {
        SplittableRandom seeds = new SplittableRandom(firstSeed);
        long states = 0;
        long violations = 0;
        int runs = 0;
        List<Long> failing = new ArrayList<>();
        log.printf("power-cut campaign: first seed %d, in %s%n", firstSeed, dir);
        while (states < maxStates && System.nanoTime() < deadlineNanos) {
            long seed = runs == 0 ? firstSeed : seeds.nextLong();
            runs++;
            List<String> problems = new ArrayList<>();
            long verified = runOnce(seed, problems);
            states += verified;
            log.printf("run %4d  seed %20d  crash states %6d  %s%n", runs, seed, verified,
                    problems.isEmpty() ? "ok" : "VIOLATION");
            if (!problems.isEmpty()) {
                violations++;
                failing.add(seed);
                problems.stream().limit(5).forEach(p -> log.println("    " + p));
            }
        }
        log.println();
        log.println("| runs | of them on a backing file | crash states verified | of them also by qemu-img check | violations | failing seeds |");
        log.println("|---:|---:|---:|---:|---:|---|");
        log.printf("| %d | %d | %d | %d | %d | %s |%n", runs, backedRuns, states, qemuChecks, violations,
                failing.isEmpty() ? "none" : failing);
        return new Summary(runs, backedRuns, states, qemuChecks, violations, failing);
    }

    /**
     * The fault matrix of one workload: a run without faults counts its syncs and
     * {@code fallocate} calls, then one run per call makes that call fail (EIO for a sync,
     * ENOSPC and EIO for {@code fallocate}), each verified as {@link Fault} says.
     */
    public MatrixSummary faultMatrix(long seed) throws IOException {
        List<String> problems = new ArrayList<>();
        Run clean = runOnce(seed, Fault.NONE, problems);
        int injected = 0;
        int notReached = 0;
        long states = clean.states();
        List<Fault> faults = new ArrayList<>();
        for (int n = 1; n <= clean.syncs(); n++) {
            faults.add(new Fault(Fault.Kind.SYNC_EIO, n));
        }
        for (int n = 1; n <= clean.extensions(); n++) {
            faults.add(new Fault(Fault.Kind.EXTEND_ENOSPC, n));
            faults.add(new Fault(Fault.Kind.EXTEND_EIO, n));
        }
        if (clean.punches() > 0) {
            faults.add(new Fault(Fault.Kind.PUNCH_EOPNOTSUPP, 1));
        }
        log.printf("seed %d  %s%s: %d syncs, %d fallocate calls, %d hole punches, %d faults to inject%n", seed,
                clean.writeThrough() ? "write-through" : "write-back", clean.backed() ? ", on a raw backing file" : "",
                clean.syncs(), clean.extensions(), clean.punches(), faults.size());
        for (Fault fault : faults) {
            List<String> found = new ArrayList<>();
            Run run = runOnce(seed, fault, found);
            states += run.states();
            if (run.faultInjected()) {
                injected++;
            } else {
                notReached++;
            }
            log.printf("seed %d  %-26s  crash states %5d  %s%n", seed, fault, run.states(),
                    found.isEmpty() ? (run.faultInjected() ? "ok" : "not reached") : "VIOLATION");
            found.stream().limit(5).forEach(p -> log.println("    " + p));
            found.forEach(p -> problems.add(fault + ": " + p));
        }
        return new MatrixSummary(injected, notReached, states, problems);
    }

    /** One workload, then every (or a sample of every) crash state it could have left. */
    long runOnce(long seed, List<String> problems) throws IOException {
        return runOnce(seed, Fault.NONE, problems).states();
    }

    /**
     * One workload with {@code fault} injected, then the crash states it could have left:
     * all of them without a fault, those from the fault on with one (the earlier ones are
     * those of a run without it).
     */
    Run runOnce(long seed, Fault fault, List<String> problems) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        Path image = dir.resolve("powercut-" + seed + ".qed");
        // Half the runs sit on a raw backing file of random bytes: then the order data before
        // L2 entry is visible to a crash (zeros where the backing file had data).
        byte[] baseContent = new byte[(int) GUEST];
        CreateOptions create = CreateOptions.ofSize(GUEST).withClusterSize(CLUSTER).withTableSize(TABLE);
        Path backingFile = dir.resolve("powercut-" + seed + "-base.raw");
        if (rnd.nextBoolean()) {
            backedRuns++;
            new SplittableRandom(~seed).nextBytes(baseContent);
            Files.write(backingFile, baseContent);
            create = create.withBackingFile(backingFile.getFileName().toString(), "raw");
        }
        QedImage.create(image, create);
        byte[] initial = Files.readAllBytes(image);
        Durability durability = rnd.nextBoolean() ? Durability.WRITE_BACK : Durability.WRITE_THROUGH;
        boolean writeThrough = durability == Durability.WRITE_THROUGH;
        boolean backed = create.backingFile() != null && !create.backingFile().isEmpty();
        // Half the runs commit write-back clusters as soon as they are written, so commits run
        // beside the writes; the others keep them for the default interval (mostly: to a flush).
        OpenOptions options = OpenOptions.READ_WRITE.withDurability(durability)
                .withCommitInterval(rnd.nextBoolean() ? java.time.Duration.ZERO : OpenOptions.DEFAULT_COMMIT_INTERVAL);

        Workload workload = new Workload(seed, 0, 0, GUEST, CLUSTER);
        int opCount = rnd.nextInt(10, 40);
        List<Workload.Op> ops = new ArrayList<>();
        BitSet failedOps = new BitSet();
        List<Epoch> epochs = new ArrayList<>();
        int[] durable = {0};
        int[] started = {0};
        int[] calls = {0, 0, 0};    // syncs, fallocates, hole punches of the image
        int[] injectedAt = {-1};    // epochs recorded when the fault was injected
        int[] syncsAfterFailure = {0};
        boolean closeFailed = false;
        int epochsFrom;
        StorageObserver storage = new StorageObserver() {
            @Override
            public int beforeSync(Path file) throws IOException {
                if (!file.equals(image)) {
                    return PROCEED;
                }
                synchronized (epochs) {
                    calls[0]++;
                    if (fault.onSync() && injectedAt[0] >= 0) {
                        syncsAfterFailure[0]++;
                        return EIO; // the disk stays failed; see the check below
                    }
                    if (fault.onSync() && calls[0] == fault.nth()) {
                        injectedAt[0] = epochs.size();
                        return fault.errno();
                    }
                    epochs.add(new Epoch(Files.readAllBytes(image), durable[0], started[0]));
                    return PROCEED;
                }
            }

            @Override
            public int beforeExtend(Path file, long newSize) {
                if (!file.equals(image)) {
                    return PROCEED;
                }
                synchronized (epochs) {
                    calls[1]++;
                    if (fault.onExtend() && calls[1] == fault.nth()) {
                        injectedAt[0] = epochs.size();
                        return fault.errno();
                    }
                    if (fault.kind() == Fault.Kind.EXTEND_ENOSPC && injectedAt[0] >= 0) {
                        return fault.errno(); // a full disk stays full
                    }
                    return PROCEED;
                }
            }

            @Override
            public int beforePunch(Path file, long offset, long length) {
                if (!file.equals(image)) {
                    return PROCEED;
                }
                synchronized (epochs) {
                    calls[2]++;
                    if (fault.onPunch()) {
                        if (injectedAt[0] < 0) {
                            injectedAt[0] = epochs.size();
                        }
                        return EOPNOTSUPP; // the engine zeroes the range instead, without an error
                    }
                    return PROCEED;
                }
            }
        };
        OpenContext context = OpenContext.observedBy(storage);
        try {
            QedImage img = EngineHooks.open(image, options, context);
            try {
                for (int i = 0; i < opCount; i++) {
                    Workload.Op op = workload.next();
                    ops.add(op);
                    synchronized (epochs) {
                        started[0] = i + 1;
                    }
                    try {
                        switch (op.kind()) {
                            case WRITE -> Workload.write(img, op.offset(), op.data());
                            case ZERO -> img.writeZeroes(op.offset(), op.length());
                            case DISCARD -> {
                                img.discard(op.requestOffset(), op.requestLength());
                                // A guest's pause: time for the committer to reclaim what it may, so
                                // the writes that follow reuse freed clusters between two syncs.
                                Thread.sleep(3);
                            }
                            case FLUSH -> img.flush();
                            case REOPEN -> {
                                try {
                                    img.close();
                                } catch (IOException e) {
                                    closeFailed = true; // a close that reports the failure counts as one
                                    throw e;
                                }
                                img = EngineHooks.open(image, options, context);
                            }
                        }
                    } catch (IOException e) {
                        if (fault == Fault.NONE) {
                            throw e;
                        }
                        failedOps.set(i);
                        checkReported(fault, e, problems);
                    }
                    if (!failedOps.get(i) && (op.kind() == Workload.Kind.FLUSH || op.kind() == Workload.Kind.REOPEN
                            || durability == Durability.WRITE_THROUGH)) {
                        synchronized (epochs) {
                            durable[0] = i + 1; // every operation so far is on stable storage
                        }
                    }
                    synchronized (epochs) {
                        if (fault.onSync() && injectedAt[0] >= 0) {
                            break; // a failed sync is final: nothing more can be made durable
                        }
                    }
                }
            } finally {
                try {
                    img.close();
                } catch (IOException e) {
                    if (fault == Fault.NONE) {
                        throw e;
                    }
                    closeFailed = true;
                }
            }
        } catch (Exception e) {
            problems.add("the workload failed: " + e);
            return new Run(0, calls[0], calls[1], calls[2], injectedAt[0] >= 0, writeThrough, backed);
        }
        boolean injected = injectedAt[0] >= 0;
        if (fault.onSync() && injected) {
            if (!closeFailed) {
                problems.add("the sync failed, yet closing the image reported nothing");
            }
            if (syncsAfterFailure[0] > 0) {
                problems.add(syncsAfterFailure[0] + " sync(s) of the image after the failed one");
            }
            // No sync completed after the failure: the disk may hold any part of what the
            // page cache held at the end.
            epochs.add(new Epoch(Files.readAllBytes(image), durable[0], ops.size()));
        }
        if (fault.onPunch() && !failedOps.isEmpty()) {
            problems.add("a file system without hole punching made " + failedOps.cardinality()
                    + " operation(s) fail; the engine must zero instead");
        }
        if (fault.onPunch() && closeFailed) {
            problems.add("a file system without hole punching made closing the image fail");
        }
        if (fault.onExtend() && injected) {
            // An EIO may pass: the engine may try a smaller reservation, which can succeed.
            if (fault.kind() == Fault.Kind.EXTEND_ENOSPC && failedOps.isEmpty()) {
                problems.add("the disk was full, yet no operation reported an error");
            }
            if (closeFailed) {
                problems.add("a failed fallocate made closing the image fail too; it is not final");
            }
        }
        if (injected) {
            epochsFrom = injectedAt[0];
        } else {
            epochsFrom = fault == Fault.NONE ? 0 : epochs.size(); // a fault not reached: a plain run, verified elsewhere
        }

        long verified = 0;
        byte[] base = initial;
        Path state = dir.resolve("powercut-" + seed + "-state.qed");
        for (int k = 0; k < epochs.size(); k++) {
            Epoch epoch = epochs.get(k);
            if (k < epochsFrom) {
                base = epoch.content();
                continue;
            }
            Expectation expect = Expectation.of(baseContent, ops, failedOps, epoch.durableOps(), epoch.startedOps());
            List<Integer> dirty = dirtyPages(base, epoch.content());
            List<Integer> baseData = nonZeroPages(base);
            for (BitSet subset : subsets(dirty.size(), rnd)) {
                boolean torn = rnd.nextInt(4) == 0;
                int length = base.length == epoch.content().length || rnd.nextBoolean()
                        ? epoch.content().length : base.length;
                writeCrashState(state, base, baseData, epoch.content(), dirty, subset, torn, length, rnd);
                verified++;
                verify(state, expect, "epoch " + k + " of " + epochs.size(), problems, verified % QEMU_EVERY == 0);
                if (problems.size() > 20) {
                    return new Run(verified, calls[0], calls[1], calls[2], injected, writeThrough, backed);
                }
            }
            base = epoch.content();
        }
        Files.deleteIfExists(state);
        if (problems.isEmpty()) {
            Files.deleteIfExists(image);
            Files.deleteIfExists(backingFile);
        }
        return new Run(verified, calls[0], calls[1], calls[2], injected, writeThrough, backed);
    }

    /** An operation's error in a run with a fault must be that fault, reported as such. */
    private static void checkReported(Fault fault, IOException e, List<String> problems) {
        String message = String.valueOf(e.getMessage());
        if (fault.kind() == Fault.Kind.EXTEND_ENOSPC) {
            if (!(e instanceof QedIoException io && io.isNoSpace())) {
                problems.add("a full disk was reported as " + e + ", not as a QedIoException with isNoSpace()");
            }
        } else if (!message.contains("Input/output error")) {
            problems.add("an operation failed with " + e + ", which does not name the injected EIO");
        }
    }

    private static List<Integer> dirtyPages(byte[] before, byte[] after) {
        List<Integer> pages = new ArrayList<>();
        int longest = Math.max(before.length, after.length);
        for (int p = 0; p * PAGE < longest; p++) {
            int from = p * PAGE;
            if (!Arrays.equals(before, Math.min(from, before.length), Math.min(from + PAGE, before.length),
                    after, Math.min(from, after.length), Math.min(from + PAGE, after.length))) {
                pages.add(p);
            }
        }
        return pages;
    }

    private static List<Integer> nonZeroPages(byte[] content) {
        List<Integer> pages = new ArrayList<>();
        byte[] zero = new byte[PAGE];
        for (int from = 0; from < content.length; from += PAGE) {
            int to = Math.min(from + PAGE, content.length);
            if (Arrays.mismatch(content, from, to, zero, 0, to - from) >= 0) {
                pages.add(from / PAGE);
            }
        }
        return pages;
    }

    /** Which dirty pages reach the disk: all subsets when there are few, a sample otherwise. */
    private static List<BitSet> subsets(int n, SplittableRandom rnd) {
        List<BitSet> subsets = new ArrayList<>();
        if (n <= EXHAUSTIVE_PAGES) {
            for (int mask = 0; mask < (1 << n); mask++) {
                subsets.add(BitSet.valueOf(new long[]{mask}));
            }
            return subsets;
        }
        subsets.add(new BitSet());
        BitSet all = new BitSet();
        all.set(0, n);
        subsets.add(all);
        for (int s = 0; s < SAMPLES_PER_EPOCH; s++) {
            BitSet b = new BitSet();
            for (int i = 0; i < n; i++) {
                if (rnd.nextBoolean()) {
                    b.set(i);
                }
            }
            subsets.add(b);
        }
        return subsets;
    }

    /**
     * Writes one crash state: the file as of the last sync, at {@code length} bytes, plus
     * the dirty pages in {@code subset} as the next sync would have left them, some
     * sectors of each missing when {@code torn}. Written sparsely: zero pages stay holes.
     */
    private static void writeCrashState(Path state, byte[] base, List<Integer> baseData, byte[] next,
                                        List<Integer> dirty, BitSet subset, boolean torn, int length,
                                        SplittableRandom rnd) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(state,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE,
                java.nio.file.StandardOpenOption.TRUNCATE_EXISTING)) {
            for (int page : baseData) {
                int from = page * PAGE;
                int n = Math.min(PAGE, Math.min(base.length, length) - from);
                if (n > 0) {
                    ch.write(java.nio.ByteBuffer.wrap(base, from, n), from);
                }
            }
            for (int i = subset.nextSetBit(0); i >= 0; i = subset.nextSetBit(i + 1)) {
                int page = dirty.get(i);
                for (int s = page * PAGE; s < (page + 1) * PAGE && s < length; s += SECTOR) {
                    if (torn && rnd.nextBoolean()) {
                        continue; // this sector of the page did not make it
                    }
                    int n = Math.min(SECTOR, length - s);
                    byte[] sector = new byte[n];
                    if (s < next.length) {
                        System.arraycopy(next, s, sector, 0, Math.min(n, next.length - s));
                    }
                    ch.write(java.nio.ByteBuffer.wrap(sector), s);
                }
            }
            ch.truncate(length);
            if (ch.size() < length) {
                // The last page is a zero page nobody wrote: extend the file sparsely.
                ch.write(java.nio.ByteBuffer.allocate(1), length - 1);
            }
        }
    }

    private void verify(Path state, Expectation expect, String where, List<String> problems,
                        boolean withQemu) throws IOException {
        if (withQemu) {
            qemuChecks++;
            List<String> qemuProblems = new ArrayList<>();
            try {
                QemuCheck.run(state, qemuProblems);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            qemuProblems.forEach(p -> problems.add(where + ": as the crash left it: " + p));
        }
        try {
            CheckResult asLeft = QedImage.check(state, CheckMode.REPORT);
            if (asLeft.leaks() > 0 && !needsCheckOnDisk(state)) {
                problems.add(where + ": " + asLeft.leaks() + " leaked cluster(s) on disk, but NEED_CHECK is not set");
            }
        } catch (IOException | RuntimeException e) {
            problems.add(where + ": the engine cannot check the crash state as it was left: " + e);
            return;
        }
        byte[] guest = new byte[(int) GUEST];
        try (QedImage image = QedImage.open(state, OpenOptions.READ_WRITE)) {
            image.read(0, guest);
        } catch (IOException | RuntimeException e) {
            problems.add(where + ": the engine cannot open or read the crash state: " + e);
            return;
        }
        CheckResult after = QedImage.check(state, CheckMode.REPORT);
        if (!after.isClean()) {
            problems.add(where + ": after the open, the check finds " + after);
        }
        String mismatch = expect.firstViolation(guest);
        if (mismatch != null) {
            problems.add(where + ": " + mismatch);
        }
    }

    private static boolean needsCheckOnDisk(Path state) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(state)) {
            java.nio.ByteBuffer features = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(features, 16);
            return (features.getLong(0) & org.qedkit.QedHeader.FEATURE_NEED_CHECK) != 0;
        }
    }

    /** What each guest byte may hold in a crash state: the flushed value, or a later write's. */
    private static final class Expectation {
        private final byte[] durable;
        private final java.util.Map<Integer, BitSet> alternatives = new java.util.HashMap<>();

        private Expectation(byte[] durable) {
            this.durable = durable;
        }

        /**
         * The first {@code durableOps} operations are on stable storage, those up to
         * {@code startedOps} may have reached it in part. An operation that failed may have
         * put any part of its data in place, flushed or not, until a later operation that
         * is durable overwrites it.
         */
        static Expectation of(byte[] backing, List<Workload.Op> ops, BitSet failed, int durableOps, int startedOps) {
            Expectation e = new Expectation(backing.clone());
            for (int i = 0; i < durableOps; i++) {
                Workload.Op op = ops.get(i);
                if (!writes(op)) {
                    continue;
                }
                if (failed.get(i)) {
                    e.allow(op);
                } else {
                    System.arraycopy(op.data(), 0, e.durable, (int) op.offset(), op.length());
                    for (int b = 0; b < op.length(); b++) {
                        e.alternatives.remove((int) op.offset() + b);
                    }
                }
            }
            for (int i = durableOps; i < startedOps; i++) {
                if (writes(ops.get(i))) {
                    e.allow(ops.get(i));
                }
            }
            return e;
        }

        private static boolean writes(Workload.Op op) {
            return op.changesBytes();
        }

        private void allow(Workload.Op op) {
            byte[] data = op.data();
            for (int b = 0; b < op.length(); b++) {
                alternatives.computeIfAbsent((int) op.offset() + b, x -> new BitSet(256)).set(data[b] & 0xff);
            }
        }

        String firstViolation(byte[] guest) {
            for (int i = 0; i < guest.length; i++) {
                int skip = Arrays.mismatch(guest, i, guest.length, durable, i, durable.length);
                if (skip < 0) {
                    return null; // the rest is equal
                }
                i += skip;
                BitSet alt = alternatives.get(i);
                if (alt == null || !alt.get(guest[i] & 0xff)) {
                    return "guest byte " + i + " holds 0x" + Integer.toHexString(guest[i] & 0xff)
                            + ", but the flushed value is 0x" + Integer.toHexString(durable[i] & 0xff)
                            + (alt == null ? " and nothing unflushed wrote there" : " and no unflushed write put that there");
                }
            }
            return null;
        }
    }
}
