package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The consistency check: it counts what {@code qemu-img check} counts on the same damaged
 * image, and its repair leaves an image QEMU finds clean, without losing guest data that
 * was reachable (a shared cluster keeps its content for both entries; an invalid entry
 * reads as zeros).
 */
class CheckTest {
    private static final int CS = 4096;
    private static final int TS = 2;
    private static final long SIZE = 16L << 20; // four L2 tables of 4 MiB
    private static final long PER_L2 = (long) TS * CS / 8 * CS;

    @TempDir
    Path dir;

    @Test
    void aCleanImageIsCleanForBothCheckers() throws IOException {
        Path p = dir.resolve("clean.qed");
        QedImage.create(p, CreateOptions.ofSize(SIZE).withClusterSize(CS).withTableSize(TS));
        try (QedImage image = QedImage.open(p)) {
            image.write(5, Bytes.random(1, 3 * CS));
            image.writeZeroes(8L * CS, CS);
        }
        CheckResult r = QedImage.check(p, CheckMode.REPORT);
        assertThat(r.isClean()).isTrue();
        assertThat(r.exitCode()).isZero();
        assertSameCountsAsQemu(p, r);
    }

    /**
     * QEMU counts a file's clusters by dividing by cluster_size - 1 (its defect 3), so past
     * 4095 clusters of 4 KiB it reports leaks that are not there. This check does not.
     */
    @Test
    void noPhantomLeaksWhereQemuReportsThem() throws IOException {
        Path p = dir.resolve("big.qed");
        QedImage.create(p, CreateOptions.ofSize(64L << 20).withClusterSize(CS).withTableSize(TS));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[40 << 20]); // 10240 data clusters
        }
        QemuTools.Result qemu = QemuTools.qemuImg("check", "--output=json", p);
        assertThat(qemu.exitCode()).as("QEMU 7.2 defect 3 still present").isEqualTo(3);
        assertThat(qemu.stdout()).contains("\"leaks\": 2");
        CheckResult ours = QedImage.check(p, CheckMode.REPORT);
        assertThat(ours.isClean()).isTrue();
        long size = Files.size(p);
        assertThat(QedImage.check(p, CheckMode.REPAIR_LEAKS).leaksFixed()).isZero();
        assertThat(Files.size(p)).as("nothing was cut").isEqualTo(size);
    }

    static LongStream seeds() {
        return new SplittableRandom(0xc4ec).longs(Integer.getInteger("qedkit.check.cases", 25));
    }

    /** What a damage did to the guest view, as the repair must leave it. */
    private record Damage(String what, boolean corruption) {
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void randomDamageIsCountedAsQemuCountsItAndRepairedWithoutLosingData(long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        Path p = dir.resolve("damaged.qed");
        QedImage.create(p, CreateOptions.ofSize(SIZE).withClusterSize(CS).withTableSize(TS));
        try (QedImage image = QedImage.open(p)) {
            for (int i = 0; i < 40; i++) {
                long cluster = rnd.nextLong(SIZE / CS);
                if (rnd.nextInt(5) == 0) {
                    image.writeZeroes(cluster * CS, CS);
                } else {
                    image.write(cluster * CS, Bytes.random(rnd.nextLong(), CS));
                }
            }
        }
        byte[] model = readAll(p);
        boolean leaksOnly = rnd.nextInt(3) == 0;
        List<Damage> damage = new ArrayList<>();
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            int count = rnd.nextInt(1, 5);
            List<Integer> kinds = new ArrayList<>();
            for (int d = 0; d < count; d++) {
                kinds.add(leaksOnly ? rnd.nextInt(2) : rnd.nextInt(7));
            }
            // Once two ranges share a table, damaging an entry of it changes both; the model
            // here follows one range per entry, so sharing comes last.
            kinds.sort((a, b) -> Boolean.compare(a == 5, b == 5));
            for (int kind : kinds) {
                damage.add(damage(ch, rnd, model, kind));
            }
            if (damage.stream().allMatch(d -> d.what().equals("no-op"))) {
                damage.add(damage(ch, rnd, model, 0)); // always damage something
            }
        }

        CheckResult report = QedImage.check(p, CheckMode.REPORT);
        assertSameCountsAsQemu(p, report);
        assertThat(report.isClean()).as("damage %s was found", damage).isFalse();

        byte[] before = Files.readAllBytes(p);
        long allocatedBefore = QedFiles.allocatedBytes(p);
        CheckResult repaired = QedImage.check(p, leaksOnly ? CheckMode.REPAIR_LEAKS : CheckMode.REPAIR_ALL);
        assertThat(repaired.isClean()).as("%s after %s", repaired, damage).isTrue();
        assertThat(repaired.exitCode()).isZero();
        if (leaksOnly) {
            // Punched, not moved: the blocks go back, the leaked clusters become free ones.
            assertThat(repaired.leaksFixed()).isEqualTo(report.leaks());
            assertThat(QedFiles.allocatedBytes(p)).isLessThan(allocatedBefore);
            assertThat(Files.size(p)).isLessThanOrEqualTo(before.length + 0L);
        } else {
            // Clearing and copying can only add to what leaked before; all of it goes back.
            assertThat(repaired.leaksFixed()).isGreaterThanOrEqualTo(report.leaks());
            // A shared table is copied, and each entry of the copy then needs its own cluster
            // too: those fixes come on top of what the report (like QEMU) counted.
            assertThat(repaired.corruptionsFixed()).isGreaterThanOrEqualTo(report.corruptions());
        }
        assertThat(Files.size(p) % CS).isZero();

        QemuTools.Result qemu = QemuTools.qemuImg("check", "--output=json", p);
        if (leaksOnly && repaired.freeClusters() > 0) {
            // QEMU knows no free space: it counts the punched clusters as leaks, and nothing else.
            assertThat(qemu.exitCode()).as(qemu.stdout() + qemu.stderr() + damage).isEqualTo(3);
            assertThat(qemu.stdout()).containsPattern("\"leaks\": " + repaired.freeClusters() + "\\b");
        } else {
            assertThat(qemu.exitCode()).as(qemu.stdout() + qemu.stderr() + damage).isZero();
        }
        assertThat(QedImage.check(p, CheckMode.REPORT).isClean()).isTrue();
        byte[] after = readAll(p);
        assertThat(Arrays.mismatch(after, model)).as("first guest byte that changed, after %s", damage).isEqualTo(-1);
    }

    /** Damages the image once and updates {@code model} to what the repaired image must read. */
    private static Damage damage(FileChannel ch, SplittableRandom rnd, byte[] model, int kind)
            throws IOException {
        long l1 = readLong(ch, 40);
        List<long[]> dataEntries = new ArrayList<>(); // {entry offset, value, guest cluster}
        List<Long> tables = new ArrayList<>();          // L1 index of each present table
        for (long i = 0; i < SIZE / PER_L2; i++) {
            long table = readLong(ch, l1 + 8 * i);
            if (table == 0 || table % CS != 0) {
                continue; // absent, or already damaged (its range reads as zeros after repair)
            }
            tables.add(i);
            for (long j = 0; j < PER_L2 / CS; j++) {
                long v = readLong(ch, table + 8 * j);
                if (v > 1) {
                    dataEntries.add(new long[]{table + 8 * j, v, (i * PER_L2 + j * CS) / CS});
                }
            }
        }
        if (dataEntries.isEmpty() && kind != 0) {
            return new Damage("no-op", false);
        }
        switch (kind) {
            case 0 -> { // garbage clusters appended: leaks at the end
                long size = ch.size();
                ch.write(ByteBuffer.wrap(Bytes.random(rnd.nextLong(), CS * rnd.nextInt(1, 4))), size);
                return new Damage("tail leak", false);
            }
            case 1 -> { // an entry dropped: its cluster leaks inside the file, the guest sees zeros
                long[] e = pick(dataEntries, rnd);
                writeLong(ch, e[0], 0);
                Arrays.fill(model, (int) (e[2] * CS), (int) (e[2] * CS + CS), (byte) 0);
                return new Damage("interior leak of guest cluster " + e[2], false);
            }
            case 2 -> { // two entries share a cluster: both must keep reading its content
                long[] a = pick(dataEntries, rnd);
                long[] b = pick(dataEntries, rnd);
                if (a[0] == b[0]) {
                    return new Damage("no-op", false);
                }
                writeLong(ch, b[0], a[1]);
                System.arraycopy(model, (int) (a[2] * CS), model, (int) (b[2] * CS), CS);
                return new Damage("guest cluster " + b[2] + " shares " + a[2], true);
            }
            case 3 -> { // misaligned entry: invalid, reads as zeros once cleared
                long[] e = pick(dataEntries, rnd);
                writeLong(ch, e[0], e[1] + 5);
                Arrays.fill(model, (int) (e[2] * CS), (int) (e[2] * CS + CS), (byte) 0);
                return new Damage("misaligned entry for guest cluster " + e[2], true);
            }
            case 4 -> { // entry past the end of the file
                long[] e = pick(dataEntries, rnd);
                writeLong(ch, e[0], 1L << 40);
                Arrays.fill(model, (int) (e[2] * CS), (int) (e[2] * CS + CS), (byte) 0);
                return new Damage("entry past EOF for guest cluster " + e[2], true);
            }
            case 5 -> { // two L1 entries share an L2 table: the second range reads like the first
                long from = tables.get(rnd.nextInt(tables.size()));
                long to = rnd.nextLong(SIZE / PER_L2);
                if (from == to) {
                    return new Damage("no-op", false);
                }
                writeLong(ch, l1 + 8 * to, readLong(ch, l1 + 8 * from));
                System.arraycopy(model, (int) (from * PER_L2), model, (int) (to * PER_L2), (int) PER_L2);
                return new Damage("L1[" + to + "] shares the table of L1[" + from + "]", true);
            }
            default -> { // L1 entry misaligned: its whole range reads as zeros once cleared
                long i = tables.get(rnd.nextInt(tables.size()));
                writeLong(ch, l1 + 8 * i, readLong(ch, l1 + 8 * i) + 8);
                Arrays.fill(model, (int) (i * PER_L2), (int) (i * PER_L2 + PER_L2), (byte) 0);
                return new Damage("misaligned L1[" + i + "]", true);
            }
        }
    }

    private static long[] pick(List<long[]> entries, SplittableRandom rnd) {
        return entries.get(rnd.nextInt(entries.size()));
    }

    private static final Pattern KEY = Pattern.compile("\"([a-z-]+)\": (\\d+)");

    private static void assertSameCountsAsQemu(Path p, CheckResult ours) {
        QemuTools.Result qemu = QemuTools.qemuImg("check", "--output=json", p);
        java.util.Map<String, Long> counts = new java.util.HashMap<>();
        Matcher m = KEY.matcher(qemu.stdout());
        while (m.find()) {
            counts.put(m.group(1), Long.parseLong(m.group(2)));
        }
        assertThat(ours.corruptions()).as("corruptions; qemu: " + qemu.stdout()).isEqualTo(counts.getOrDefault("corruptions", 0L));
        assertThat(ours.leaks()).as("leaks; qemu: " + qemu.stdout()).isEqualTo(counts.getOrDefault("leaks", 0L));
        assertThat(ours.allocatedClusters()).isEqualTo(counts.getOrDefault("allocated-clusters", 0L));
        assertThat(ours.fragmentedClusters()).isEqualTo(counts.getOrDefault("fragmented-clusters", 0L));
        assertThat(ours.totalClusters()).isEqualTo(counts.get("total-clusters"));
        assertThat(ours.exitCode()).isEqualTo(qemu.exitCode());
    }

    /** The guest view; an entry that is invalid (only before repair) would throw. */
    private static byte[] readAll(Path p) throws IOException {
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] all = new byte[(int) image.size()];
            image.read(0, all);
            return all;
        }
    }

    private static long readLong(FileChannel ch, long at) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(b, at);
        return b.getLong(0);
    }

    private static void writeLong(FileChannel ch, long at, long value) throws IOException {
        ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), at);
    }

    @Test
    void dataMappedPastTheImageSizeIsNotCorruptionAndRepairKeepsIt() throws IOException {
        // As QEMU: an image_size below mapped data (a header edited, a shrink by another tool)
        // is reported clean, and a later grow brings the data back (issue 13, bug 5).
        Path p = dir.resolve("past.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", p, "4M").ok();
        QemuTools.qemuIo("-f", "qed", "-c", "write -P 1 3M 64k", p).ok();
        try (FileChannel f = FileChannel.open(p, StandardOpenOption.WRITE)) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1 << 20), 48); // image_size
        }
        CheckResult found = QedImage.check(p, CheckMode.REPORT);
        assertThat(found.corruptions()).isZero();
        assertThat(found.leaks()).isZero();
        assertThat(QemuTools.qemuImg("check", p).exitCode()).as("QEMU agrees").isZero();
        QedImage.check(p, CheckMode.REPAIR_ALL);
        QemuTools.qemuImg("resize", "-f", "qed", p, "4M").ok();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 1 3M 64k", p).ok();
    }
}
