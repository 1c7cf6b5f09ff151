package org.qedkit.stress;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Process-crash campaign: a child JVM ({@link CrashChild}) runs a random multi-threaded
 * workload on an image; this process kills it with SIGKILL at a random moment, then opens
 * the image and checks what a crash may and may not do:
 * <ul>
 *   <li>the engine opens the image, and {@code qemu-img check} finds no corruption (leaked
 *       clusters are allowed: they are the price of never pointing at unwritten data);</li>
 *   <li>every byte written by an operation that a completed flush covers reads back
 *       exactly, unless a later operation wrote it too;</li>
 *   <li>every other byte holds its old content or a value one of the later operations
 *       wrote to it: nothing else, byte by byte (a kill can cut a copy anywhere).</li>
 * </ul>
 * Each run prints its seed; {@code --seed N --runs 1} replays it.
 *
 * <p>Usage: {@code CrashCampaign [--runs N | --minutes M] [--workers W] [--seed S] [--dir D] [--nbd]}
 * ({@code --nbd}: every operation goes through the NBD server, see the constructor).
 * Exits 1 when any run found a violation.
 */
public final class CrashCampaign {
    static final int OPS_PER_WORKER = 1_000_000;

    /**
     * Every run is also checked by qemu-img, which cannot open table_size 1 images (QEMU
     * 7.2 defect 1), so the campaign uses table sizes QEMU can check.
     */
    private static final int[][] GEOMETRIES = {{4096, 2}, {4096, 4}, {65536, 2}, {65536, 4}};

    /** What one run saw. */
    public record Outcome(long seed, int clusterSize, int tableSize, boolean backingFile, long killedAfterMs,
                          int flushedOps, int unflushedOps, long leaks, List<String> violations) {
        public boolean ok() {
            return violations.isEmpty();
        }
    }

    /** Totals of a campaign. */
    public record Summary(int runs, int runsOnABackingFile, int violations, long flushedOpsVerified,
                          long unflushedOpsSeen, long leaks, List<Long> failingSeeds) {
    }

    private final Path dir;
    private final int workers;
    private final PrintStream log;
    private final boolean overNbd;

    public CrashCampaign(Path dir, int workers, PrintStream log) {
        this(dir, workers, log, false);
    }

    /**
     * A campaign whose children, with {@code overNbd}, serve the image over NBD in-process
     * and do every operation through a connection of each worker ({@code qed serve}'s
     * server, with trims freeing space): the same oracle then holds for what the server
     * answered.
     */
    public CrashCampaign(Path dir, int workers, PrintStream log, boolean overNbd) {
        this.dir = dir;
        this.workers = workers;
        this.log = log;
        this.overNbd = overNbd;
    }

    public static void main(String[] args) throws Exception {
        int runs = 20;
        long minutes = 0;
        int workers = 4;
        long seed = System.nanoTime();
        Path dir = null;
        boolean overNbd = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--nbd" -> overNbd = true;
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--minutes" -> minutes = Long.parseLong(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--dir" -> dir = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: CrashCampaign [--runs N | --minutes M] [--workers W] [--seed S] [--dir D] [--nbd]");
                    System.exit(2);
                }
            }
        }
        Path work = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("qedkit-crash");
        CrashCampaign campaign = new CrashCampaign(work, workers, System.out, overNbd);
        long deadline = minutes > 0 ? System.nanoTime() + TimeUnit.MINUTES.toNanos(minutes) : Long.MAX_VALUE;
        Summary s = campaign.run(minutes > 0 ? Integer.MAX_VALUE : runs, deadline, seed);
        System.exit(s.violations() == 0 ? 0 : 1);
    }

    /** Runs until {@code maxRuns} runs or the deadline (System.nanoTime), printing as it goes. */
    public Summary run(int maxRuns, long deadlineNanos, long firstSeed) throws IOException, InterruptedException {
        SplittableRandom seeds = new SplittableRandom(firstSeed);
        int runs = 0;
        int bad = 0;
        long flushed = 0;
        long unflushed = 0;
        long leaks = 0;
        int backed = 0;
        List<Long> failing = new ArrayList<>();
        log.printf("process-crash campaign%s: %d workers per child, first seed %d, in %s%n",
                overNbd ? " over NBD (qed serve's server in the child, a connection per worker)" : "", workers, firstSeed, dir);
        while (runs < maxRuns && System.nanoTime() < deadlineNanos) {
            long seed = runs == 0 ? firstSeed : seeds.nextLong();
            Outcome o = runOnce(seed);
            runs++;
            flushed += o.flushedOps();
            unflushed += o.unflushedOps();
            leaks += o.leaks();
            backed += o.backingFile() ? 1 : 0;
            log.printf("run %4d  seed %20d  cluster %6d  table %2d  %-7s  killed at %4d ms  flushed ops %5d  unflushed %4d  leaks %3d  %s%n",
                    runs, seed, o.clusterSize(), o.tableSize(), o.backingFile() ? "backed" : "alone",
                    o.killedAfterMs(), o.flushedOps(),
                    o.unflushedOps(), o.leaks(), o.ok() ? "ok" : "VIOLATION");
            if (!o.ok()) {
                bad++;
                failing.add(seed);
                o.violations().forEach(v -> log.println("    " + v));
            }
        }
        log.println();
        log.println("| runs | of them on a backing file | violations | flushed ops verified | unflushed ops checked | leaked clusters | failing seeds |");
        log.println("|---:|---:|---:|---:|---:|---:|---|");
        log.printf("| %d | %d | %d | %d | %d | %d | %s |%n", runs, backed, bad, flushed, unflushed, leaks,
                failing.isEmpty() ? "none" : failing);
        return new Summary(runs, backed, bad, flushed, unflushed, leaks, failing);
    }

    /** One run: create, start the child, kill it, verify. */
    public Outcome runOnce(long seed) throws IOException, InterruptedException {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] g = GEOMETRIES[rnd.nextInt(GEOMETRIES.length)];
        int cs = g[0];
        int ts = g[1];
        long size = cs == 4096 ? 8L << 20 : 32L << 20;
        Path image = dir.resolve("crash-" + seed + ".qed");
        Path journal = dir.resolve("crash-" + seed + ".journal");
        Files.deleteIfExists(journal);
        // Half the runs sit on a raw backing file of random bytes, so partial writes copy
        // the rest of their cluster from it while the child may be killed at any moment.
        byte[] base = new byte[(int) size];
        Path backing = dir.resolve("crash-" + seed + "-base.raw");
        CreateOptions create = CreateOptions.ofSize(size).withClusterSize(cs).withTableSize(ts);
        boolean backed = rnd.nextBoolean();
        if (backed) {
            new SplittableRandom(~seed).nextBytes(base);
            Files.write(backing, base);
            create = create.withBackingFile(backing.getFileName().toString(), "raw");
        }
        QedImage.create(image, create);

        List<String> violations = new ArrayList<>();
        long killDelay = rnd.nextLong(20, 600);
        Path childErr = dir.resolve("crash-" + seed + ".stderr");
        Process child = startChild(image, journal, seed, childErr);
        try {
            awaitReady(child);
            Thread.sleep(killDelay);
        } finally {
            child.destroyForcibly(); // SIGKILL
            child.waitFor(30, TimeUnit.SECONDS);
        }
        String childErrors = Files.readString(childErr);
        if (!childErrors.isBlank()) {
            violations.add("the child reported errors before it was killed: " + childErrors.strip());
        }

        Journal j = Journal.read(journal, workers);
        Verdict v = verify(image, seed, base, cs, j, violations);
        long leaks = QemuCheck.run(image, violations);
        if (violations.isEmpty()) {
            Files.deleteIfExists(image);
            Files.deleteIfExists(journal);
            Files.deleteIfExists(childErr);
            Files.deleteIfExists(backing);
            Files.deleteIfExists(journal.resolveSibling(journal.getFileName() + ".sock"));
        }
        return new Outcome(seed, cs, ts, backed, killDelay, v.flushed, v.unflushed, leaks, violations);
    }

    private Process startChild(Path image, Path journal, long seed, Path stderr) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), CrashChild.class.getName(),
                image.toString(), journal.toString(), Long.toString(seed), Integer.toString(workers)));
        if (overNbd) {
            cmd.add("nbd");
        }
        // stderr to a file: the JDK closes a process's pipes when it is destroyed.
        return new ProcessBuilder(cmd).redirectError(stderr.toFile()).start();
    }

    private static void awaitReady(Process child) throws IOException {
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (!"READY".equals(line)) {
            throw new IOException("crash child did not start (its stderr is kept beside the image): " + line);
        }
    }

    private record Verdict(int flushed, int unflushed) {
    }

    /**
     * Replays each worker's operations: those a completed flush covers make the expected
     * image; bytes touched by any later started operation may hold any value written to
     * them since, or the expected one.
     */
    private Verdict verify(Path image, long seed, byte[] base, int cs, Journal j, List<String> violations)
            throws IOException {
        long size = base.length;
        byte[] expected = base.clone(); // what the image reads before any write: the backing file or zeros
        Map<Integer, long[]> allowed = new HashMap<>(); // byte index -> 256-bit set of extra values
        long region = size / workers;
        int flushed = 0;
        int unflushed = 0;
        for (int t = 0; t < workers; t++) {
            Workload w = new Workload(seed, t, t * region, region, cs);
            for (int k = 0; k <= j.started[t]; k++) {
                Workload.Op op = w.next();
                if (!op.changesBytes()) {
                    continue;
                }
                byte[] data = op.data();
                if (k <= j.durable[t]) {
                    flushed++;
                    System.arraycopy(data, 0, expected, (int) op.offset(), op.length());
                    for (int b = 0; b < op.length(); b++) {
                        allowed.remove((int) op.offset() + b); // later durable write settles the byte
                    }
                } else {
                    unflushed++;
                    for (int b = 0; b < op.length(); b++) {
                        int at = (int) op.offset() + b;
                        long[] set = allowed.computeIfAbsent(at, x -> new long[4]);
                        int value = data[b] & 0xff;
                        set[value >>> 6] |= 1L << (value & 63);
                    }
                }
            }
        }
        byte[] actual = new byte[(int) size];
        try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY)) {
            img.read(0, actual);
        } catch (IOException | RuntimeException e) {
            violations.add("the image does not open or read after the crash: " + e);
            return new Verdict(flushed, unflushed);
        }
        int reported = 0;
        for (int i = 0; i < actual.length && reported < 5; i++) {
            if (actual[i] == expected[i]) {
                continue;
            }
            long[] set = allowed.get(i);
            int value = actual[i] & 0xff;
            if (set == null || (set[value >>> 6] & (1L << (value & 63))) == 0) {
                violations.add("byte " + i + " holds 0x" + Integer.toHexString(value) + ", expected 0x"
                        + Integer.toHexString(expected[i] & 0xff)
                        + (set == null ? " (flushed, never rewritten)" : " or a value an unflushed write put there"));
                reported++;
            }
        }
        return new Verdict(flushed, unflushed);
    }

    /** The child's journal, reduced to what the verification needs per worker. */
    private static final class Journal {
        final int[] started;
        final int[] durable;

        private Journal(int workers) {
            started = new int[workers];
            durable = new int[workers];
            Arrays.fill(started, -1);
            Arrays.fill(durable, -1);
        }

        static Journal read(Path path, int workers) throws IOException {
            Journal j = new Journal(workers);
            int[] done = new int[workers];
            Arrays.fill(done, -1);
            Map<String, int[]> flushStarts = new HashMap<>();
            if (!Files.exists(path)) {
                return j;
            }
            for (String line : Files.readAllLines(path, StandardCharsets.US_ASCII)) {
                String[] f = line.split(" ");
                if (f.length != 3) {
                    continue; // the kill cut the last line short
                }
                int t = Integer.parseInt(f[1]);
                int k = Integer.parseInt(f[2]);
                switch (f[0]) {
                    case "S" -> j.started[t] = Math.max(j.started[t], k);
                    case "D" -> done[t] = Math.max(done[t], k);
                    case "F" -> flushStarts.put(t + " " + k, done.clone());
                    case "E" -> {
                        int[] covered = flushStarts.get(t + " " + k);
                        for (int u = 0; u < workers; u++) {
                            j.durable[u] = Math.max(j.durable[u], covered[u]);
                        }
                    }
                    default -> { }
                }
            }
            return j;
        }
    }
}
