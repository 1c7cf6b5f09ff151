package org.qedkit.stress;

import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.internal.SyncObservers;

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
 * Beneath the engine, a {@link org.qedkit.internal.SyncObserver} sees every
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

    /** One workload, then every (or a sample of every) crash state it could have left. */
    long runOnce(long seed, List<String> problems) throws IOException {
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
        OpenOptions options = OpenOptions.READ_WRITE.withDurability(durability);

        Workload workload = new Workload(seed, 0, 0, GUEST, CLUSTER);
        int opCount = rnd.nextInt(10, 40);
        List<Workload.Op> ops = new ArrayList<>();
        List<Epoch> epochs = new ArrayList<>();
        int[] durable = {0};
        int[] started = {0};
        try (AutoCloseable hook = SyncObservers.install(file -> {
            if (file.path().equals(image)) {
                synchronized (epochs) {
                    epochs.add(new Epoch(Files.readAllBytes(image), durable[0], started[0]));
                }
            }
        })) {
            QedImage img = QedImage.open(image, options);
            try {
                for (int i = 0; i < opCount; i++) {
                    Workload.Op op = workload.next();
                    ops.add(op);
                    synchronized (epochs) {
                        started[0] = i + 1;
                    }
                    switch (op.kind()) {
                        case WRITE -> img.write(op.offset(), op.data());
                        case ZERO -> img.writeZeroes(op.offset(), op.length());
                        case FLUSH -> img.flush();
                        case REOPEN -> {
                            img.close();
                            img = QedImage.open(image, options);
                        }
                    }
                    if (op.kind() == Workload.Kind.FLUSH || op.kind() == Workload.Kind.REOPEN
                            || durability == Durability.WRITE_THROUGH) {
                        synchronized (epochs) {
                            durable[0] = i + 1; // every operation so far is on stable storage
                        }
                    }
                }
            } finally {
                img.close();
            }
        } catch (Exception e) {
            problems.add("the workload failed: " + e);
            return 0;
        }

        long verified = 0;
        byte[] base = initial;
        Path state = dir.resolve("powercut-" + seed + "-state.qed");
        for (int k = 0; k < epochs.size(); k++) {
            Epoch epoch = epochs.get(k);
            Expectation expect = Expectation.of(baseContent, ops, epoch.durableOps(), epoch.startedOps());
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
                    return verified;
                }
            }
            base = epoch.content();
        }
        Files.deleteIfExists(state);
        if (problems.isEmpty()) {
            Files.deleteIfExists(image);
            Files.deleteIfExists(backingFile);
        }
        return verified;
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

    /** What each guest byte may hold in a crash state: the flushed value, or a later write's. */
    private static final class Expectation {
        private final byte[] durable;
        private final java.util.Map<Integer, BitSet> alternatives = new java.util.HashMap<>();

        private Expectation(byte[] durable) {
            this.durable = durable;
        }

        static Expectation of(byte[] backing, List<Workload.Op> ops, int durableOps, int startedOps) {
            byte[] model = backing.clone();
            for (int i = 0; i < durableOps; i++) {
                apply(ops.get(i), model);
            }
            Expectation e = new Expectation(model);
            for (int i = durableOps; i < startedOps; i++) {
                Workload.Op op = ops.get(i);
                if (op.kind() != Workload.Kind.WRITE && op.kind() != Workload.Kind.ZERO) {
                    continue;
                }
                byte[] data = op.data();
                for (int b = 0; b < op.length(); b++) {
                    e.alternatives.computeIfAbsent((int) op.offset() + b, x -> new BitSet(256)).set(data[b] & 0xff);
                }
            }
            return e;
        }

        private static void apply(Workload.Op op, byte[] model) {
            if (op.kind() == Workload.Kind.WRITE || op.kind() == Workload.Kind.ZERO) {
                System.arraycopy(op.data(), 0, model, (int) op.offset(), op.length());
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
