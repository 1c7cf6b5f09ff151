package org.qedkit;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Structure-aware fuzzing of every path a hostile image reaches: open (read-only and
 * read-write), reads, extents, writes, check and repair. Each case takes a small valid
 * image, damages it one to four times where it hurts (header fields and bits, L1 and L2
 * entries pointing at the header, at the tables themselves, at each other, past the end,
 * misaligned, huge; truncation and garbage; backing names), and requires every operation
 * to end in success or an {@link IOException}: never another exception, an error, a hang,
 * or a crash of the JVM. A repair that succeeds must leave a clean image.
 *
 * <p>{@code -Dqedkit.fuzz.cases=N} runs more cases; {@code -Dqedkit.fuzz.seed=S} replays one.
 */
class HostileImageFuzzTest {
    private static final int CS = 4096;

    @TempDir
    Path dir;

    static LongStream seeds() {
        String one = System.getProperty("qedkit.fuzz.seed");
        if (one != null) {
            return LongStream.of(Long.parseLong(one));
        }
        return new SplittableRandom(0xf022).longs(Integer.getInteger("qedkit.fuzz.cases", 300));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void everyOperationOnADamagedImageSucceedsOrThrowsAnIOException(long seed) {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> fuzzOnce(seed), "seed " + seed + " hung");
    }

    private void fuzzOnce(long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        Path image = dir.resolve("fuzz.qed");
        buildValid(image, rnd);
        byte[] bytes = Files.readAllBytes(image);
        List<String> damage = new ArrayList<>();
        int count = rnd.nextInt(1, 5);
        for (int i = 0; i < count; i++) {
            bytes = damage(bytes, rnd, damage);
        }
        Files.write(image, bytes);
        String what = "seed " + seed + " after " + damage;

        attempt(what + ", read-only open", () -> {
            try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY)) {
                readSome(img, rnd);
            }
        });
        attempt(what + ", check", () -> QedImage.check(image, CheckMode.REPORT));
        Path copy = dir.resolve("fuzz-rw.qed");
        Files.write(copy, bytes);
        attempt(what + ", read-write open", () -> {
            try (QedImage img = QedImage.open(copy, OpenOptions.READ_WRITE)) {
                readSome(img, rnd);
                for (int w = 0; w < 6; w++) {
                    long off = img.size() == 0 ? 0 : rnd.nextLong(img.size());
                    int len = (int) Math.min(img.size() - off, rnd.nextInt(1, 3 * CS));
                    img.write(off, Bytes.random(rnd.nextLong(), len));
                }
                if (img.size() >= CS) {
                    img.writeZeroes(0, CS);
                }
                img.flush();
            }
        });
        Path repair = dir.resolve("fuzz-repair.qed");
        Files.write(repair, bytes);
        attempt(what + ", repair", () -> {
            CheckResult repaired = QedImage.check(repair, CheckMode.REPAIR_ALL);
            CheckResult after = QedImage.check(repair, CheckMode.REPORT);
            if (!after.isClean()) {
                fail(what + ": a repair that returned " + repaired + " left " + after);
            }
        });
    }

    private interface Action {
        void run() throws IOException;
    }

    private static void attempt(String what, Action action) {
        try {
            action.run();
        } catch (IOException expected) {
            // a typed, reported failure: what a hostile image may cause
        } catch (AssertionError e) {
            throw e;
        } catch (Throwable e) {
            throw new AssertionError(what + " threw " + e, e);
        }
    }

    private static void readSome(QedImage img, SplittableRandom rnd) throws IOException {
        long size = img.size();
        byte[] buffer = new byte[64 * 1024];
        for (int r = 0; r < 8 && size > 0; r++) {
            long off = rnd.nextLong(size);
            int len = (int) Math.min(size - off, rnd.nextInt(1, buffer.length));
            img.read(off, buffer, 0, len);
        }
        if (size > 0) {
            img.extentAt(rnd.nextLong(size));
            img.read(size - 1, new byte[1]);
        }
    }

    private void buildValid(Path image, SplittableRandom rnd) throws IOException {
        int ts = 1 << rnd.nextInt(3);
        long size = (rnd.nextInt(1, 64) << 20) + 512L * rnd.nextInt(8);
        CreateOptions options = CreateOptions.ofSize(size).withClusterSize(CS).withTableSize(ts);
        if (rnd.nextInt(4) == 0) {
            Files.write(dir.resolve("fuzz-base.raw"), Bytes.random(rnd.nextLong(), 1 << 20));
            options = options.withBackingFile("fuzz-base.raw", "raw");
        }
        QedImage.create(image, options);
        try (QedImage img = QedImage.open(image)) {
            for (int i = 0; i < 12; i++) {
                long off = rnd.nextLong(size / CS) * CS;
                if (rnd.nextInt(4) == 0) {
                    img.writeZeroes(off, CS);
                } else {
                    img.write(off, Bytes.random(rnd.nextLong(), (int) Math.min(CS, size - off)));
                }
            }
        }
    }

    // ------------------------------------------------------------------ damage

    private static byte[] damage(byte[] bytes, SplittableRandom rnd, List<String> log) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 64) {
            log.add("append");
            return Arrays.copyOf(bytes, bytes.length + rnd.nextInt(1, 200));
        }
        long l1 = b.getLong(40);
        List<Long> tables = new ArrayList<>();
        List<Long> entries = new ArrayList<>(); // file offsets of L1 and L2 entries
        long tableBytes = (long) Math.max(1, Math.min(16, b.getInt(8))) * CS;
        // Offsets come from damaged bytes: compare without adding to them (no overflow).
        for (long e = l1; e >= 0 && e <= bytes.length - 8 && e - l1 < tableBytes; e += 8) {
            entries.add(e);
            long t = b.getLong((int) e);
            if (t > 0 && t % CS == 0 && t <= bytes.length - tableBytes) {
                tables.add(t);
                for (long f = t; f < t + tableBytes; f += 8) {
                    if (b.getLong((int) f) != 0 || rnd.nextInt(64) == 0) {
                        entries.add(f);
                    }
                }
            }
        }
        switch (rnd.nextInt(9)) {
            case 0 -> { // one header field to an edge value
                int[] fields = {4, 8, 12, 16, 24, 32, 40, 48, 56, 60};
                int at = fields[rnd.nextInt(fields.length)];
                long v = edgeValue(rnd, bytes.length, l1, tables);
                if (at >= 16 && at <= 48) {
                    b.putLong(at, v);
                } else {
                    b.putInt(at, (int) v);
                }
                log.add("header@" + at + "=" + v);
            }
            case 1 -> { // flipped bits in the header
                int at = rnd.nextInt(64);
                bytes[at] ^= (byte) (1 << rnd.nextInt(8));
                log.add("bitflip@" + at);
            }
            case 2, 3, 4 -> { // a table entry pointing somewhere it must not
                if (entries.isEmpty()) {
                    log.add("no entries");
                    break;
                }
                long at = entries.get(rnd.nextInt(entries.size()));
                long v = edgeValue(rnd, bytes.length, l1, tables);
                b.putLong((int) at, v);
                log.add("entry@" + at + "=" + v);
            }
            case 5 -> { // truncated
                int length = rnd.nextInt(bytes.length);
                log.add("truncate to " + length);
                return Arrays.copyOf(bytes, length);
            }
            case 6 -> { // garbage appended
                int extra = rnd.nextInt(1, 3 * CS);
                byte[] longer = Arrays.copyOf(bytes, bytes.length + extra);
                byte[] garbage = Bytes.random(rnd.nextLong(), extra);
                System.arraycopy(garbage, 0, longer, bytes.length, extra);
                log.add("garbage " + extra);
                return longer;
            }
            case 7 -> { // a backing file name of its own choosing
                String[] names = {"fuzz.qed", "fuzz-rw.qed", "../" + "x".repeat(40), "/etc/hostname", "fuzz-base.raw", ""};
                byte[] name = names[rnd.nextInt(names.length)].getBytes(java.nio.charset.StandardCharsets.UTF_8);
                b.putLong(16, b.getLong(16) | QedHeader.FEATURE_BACKING_FILE | (rnd.nextBoolean() ? 0 : QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE));
                b.putInt(56, 64);
                b.putInt(60, name.length);
                System.arraycopy(name, 0, bytes, 64, Math.min(name.length, CS - 64));
                log.add("backing '" + new String(name, java.nio.charset.StandardCharsets.UTF_8) + "'");
            }
            default -> { // a whole table overwritten with garbage
                if (tables.isEmpty()) {
                    log.add("no tables");
                    break;
                }
                long t = tables.get(rnd.nextInt(tables.size()));
                byte[] garbage = Bytes.random(rnd.nextLong(), (int) Math.min(tableBytes, bytes.length - t));
                System.arraycopy(garbage, 0, bytes, (int) t, garbage.length);
                log.add("garbage table@" + t);
            }
        }
        return bytes;
    }

    private static long edgeValue(SplittableRandom rnd, long fileSize, long l1, List<Long> tables) {
        long[] fixed = {0, 1, 2, 3, 8, 511, 512, CS - 1, CS, CS + 1, 2 * CS, l1, l1 + 8, fileSize, fileSize - CS,
                fileSize + CS, fileSize - 8, 1L << 30, 1L << 40, 1L << 62, Long.MAX_VALUE, -1, -CS, Integer.MAX_VALUE,
                0xffffffffL, 64L << 20, 128L << 20};
        return switch (rnd.nextInt(4)) {
            case 0 -> fixed[rnd.nextInt(fixed.length)];
            case 1 -> tables.isEmpty() ? l1 : tables.get(rnd.nextInt(tables.size()));
            case 2 -> rnd.nextLong(Math.max(1, fileSize / CS)) * CS;
            default -> rnd.nextLong();
        };
    }
}
