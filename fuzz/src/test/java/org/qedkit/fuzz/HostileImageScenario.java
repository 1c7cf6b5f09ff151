package org.qedkit.fuzz;

import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedHeader;
import org.qedkit.QedImage;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * One fuzz case: a small valid image, damaged one to four times where it hurts (header
 * fields and bits, L1 and L2 entries pointing at the header, at the tables themselves, at
 * each other, past the end, misaligned, huge; truncation and garbage; backing names), then
 * every path a hostile image reaches: read-only open and reads, extents, check, read-write
 * open with writes, zero writes and a flush, repair.
 *
 * <p>What must hold: every operation ends in success or an {@link IOException} (never
 * another exception or an error); a repair that succeeds leaves a clean image; and nothing
 * outside the image being written changes: the damaged original (opened read-only and
 * checked without repair) and the raw backing file stay byte for byte as they were.
 * Any breach is thrown as an {@link AssertionError} naming the damage.
 */
final class HostileImageScenario {
    static final int CS = 4096;
    private static final String ORIGINAL = "fuzz.qed";
    private static final String READ_WRITE = "fuzz-rw.qed";
    private static final String REPAIR = "fuzz-repair.qed";
    private static final String BASE = "fuzz-base.raw";

    private final Path dir;

    HostileImageScenario(Path dir) {
        this.dir = dir;
    }

    /** Runs one case whose every decision comes from {@code choices}; {@code name} labels failures. */
    void run(Choices choices, String name) throws IOException {
        clear();
        Path image = dir.resolve(ORIGINAL);
        buildValid(image, choices);
        byte[] bytes = Files.readAllBytes(image);
        List<String> damage = new ArrayList<>();
        int count = choices.nextInt(1, 5);
        for (int i = 0; i < count; i++) {
            bytes = damage(bytes, choices, damage);
        }
        Files.write(image, bytes);
        byte[] base = Files.exists(dir.resolve(BASE)) ? Files.readAllBytes(dir.resolve(BASE)) : null;
        String what = name + " after " + damage;

        attempt(what + ", read-only open", () -> {
            try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY)) {
                readSome(img, choices);
            }
        });
        attempt(what + ", check", () -> QedImage.check(image, CheckMode.REPORT));
        Path copy = dir.resolve(READ_WRITE);
        Files.write(copy, bytes);
        attempt(what + ", read-write open", () -> {
            try (QedImage img = QedImage.open(copy, OpenOptions.READ_WRITE)) {
                readSome(img, choices);
                for (int w = 0; w < 6; w++) {
                    long off = img.size() == 0 ? 0 : choices.nextLong(img.size());
                    int len = (int) Math.min(img.size() - off, choices.nextInt(1, 3 * CS));
                    img.write(off, Bytes.random(choices.nextLong(), len));
                }
                if (img.size() >= CS) {
                    img.writeZeroes(0, CS);
                }
                img.flush();
            }
        });
        Path repair = dir.resolve(REPAIR);
        Files.write(repair, bytes);
        attempt(what + ", repair", () -> {
            CheckResult repaired = QedImage.check(repair, CheckMode.REPAIR_ALL);
            CheckResult after = QedImage.check(repair, CheckMode.REPORT);
            if (!after.isClean()) {
                throw new AssertionError(what + ": a repair that returned " + repaired + " left " + after);
            }
        });
        if (!Arrays.equals(bytes, Files.readAllBytes(image))) {
            throw new AssertionError(what + ": the image opened read-only and checked without repair changed");
        }
        if (base != null && !Arrays.equals(base, Files.readAllBytes(dir.resolve(BASE)))) {
            throw new AssertionError(what + ": the raw backing file changed");
        }
    }

    private void clear() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.delete(f);
            }
        }
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

    private static void readSome(QedImage img, Choices choices) throws IOException {
        long size = img.size();
        byte[] buffer = new byte[64 * 1024];
        for (int r = 0; r < 8 && size > 0; r++) {
            long off = choices.nextLong(size);
            int len = (int) Math.min(size - off, choices.nextInt(1, buffer.length));
            img.read(off, buffer, 0, len);
        }
        if (size > 0) {
            img.extentAt(choices.nextLong(size));
            img.read(size - 1, new byte[1]);
        }
    }

    private void buildValid(Path image, Choices choices) throws IOException {
        int ts = 1 << choices.nextInt(3);
        long size = (choices.nextInt(1, 64) << 20) + 512L * choices.nextInt(8);
        CreateOptions options = CreateOptions.ofSize(size).withClusterSize(CS).withTableSize(ts);
        if (choices.nextInt(4) == 0) {
            Files.write(dir.resolve(BASE), Bytes.random(choices.nextLong(), 1 << 20));
            options = options.withBackingFile(BASE, "raw");
        }
        QedImage.create(image, options);
        try (QedImage img = QedImage.open(image)) {
            for (int i = 0; i < 12; i++) {
                long off = choices.nextLong(size / CS) * CS;
                if (choices.nextInt(4) == 0) {
                    img.writeZeroes(off, CS);
                } else {
                    img.write(off, Bytes.random(choices.nextLong(), (int) Math.min(CS, size - off)));
                }
            }
        }
    }

    // ------------------------------------------------------------------ damage

    private static byte[] damage(byte[] bytes, Choices choices, List<String> log) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 64) {
            log.add("append");
            return Arrays.copyOf(bytes, bytes.length + choices.nextInt(1, 200));
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
                    if (b.getLong((int) f) != 0 || choices.nextInt(64) == 0) {
                        entries.add(f);
                    }
                }
            }
        }
        switch (choices.nextInt(9)) {
            case 0 -> { // one header field to an edge value
                int[] fields = {4, 8, 12, 16, 24, 32, 40, 48, 56, 60};
                int at = fields[choices.nextInt(fields.length)];
                long v = edgeValue(choices, bytes.length, l1, tables);
                if (at >= 16 && at <= 48) {
                    b.putLong(at, v);
                } else {
                    b.putInt(at, (int) v);
                }
                log.add("header@" + at + "=" + v);
            }
            case 1 -> { // flipped bits in the header
                int at = choices.nextInt(64);
                bytes[at] ^= (byte) (1 << choices.nextInt(8));
                log.add("bitflip@" + at);
            }
            case 2, 3, 4 -> { // a table entry pointing somewhere it must not
                if (entries.isEmpty()) {
                    log.add("no entries");
                    break;
                }
                long at = entries.get(choices.nextInt(entries.size()));
                long v = edgeValue(choices, bytes.length, l1, tables);
                b.putLong((int) at, v);
                log.add("entry@" + at + "=" + v);
            }
            case 5 -> { // truncated
                int length = choices.nextInt(bytes.length);
                log.add("truncate to " + length);
                return Arrays.copyOf(bytes, length);
            }
            case 6 -> { // garbage appended
                int extra = choices.nextInt(1, 3 * CS);
                byte[] longer = Arrays.copyOf(bytes, bytes.length + extra);
                byte[] garbage = Bytes.random(choices.nextLong(), extra);
                System.arraycopy(garbage, 0, longer, bytes.length, extra);
                log.add("garbage " + extra);
                return longer;
            }
            case 7 -> { // a backing file name of its own choosing
                String[] names = {ORIGINAL, READ_WRITE, "../" + "x".repeat(40), "/etc/hostname", BASE, ""};
                byte[] name = names[choices.nextInt(names.length)].getBytes(StandardCharsets.UTF_8);
                b.putLong(16, b.getLong(16) | QedHeader.FEATURE_BACKING_FILE
                        | (choices.nextBoolean() ? 0 : QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE));
                b.putInt(56, 64);
                b.putInt(60, name.length);
                System.arraycopy(name, 0, bytes, 64, Math.min(name.length, CS - 64));
                log.add("backing '" + new String(name, StandardCharsets.UTF_8) + "'");
            }
            default -> { // a whole table overwritten with garbage
                if (tables.isEmpty()) {
                    log.add("no tables");
                    break;
                }
                long t = tables.get(choices.nextInt(tables.size()));
                byte[] garbage = Bytes.random(choices.nextLong(), (int) Math.min(tableBytes, bytes.length - t));
                System.arraycopy(garbage, 0, bytes, (int) t, garbage.length);
                log.add("garbage table@" + t);
            }
        }
        return bytes;
    }

    private static long edgeValue(Choices choices, long fileSize, long l1, List<Long> tables) {
        long[] fixed = {0, 1, 2, 3, 8, 511, 512, CS - 1, CS, CS + 1, 2 * CS, l1, l1 + 8, fileSize, fileSize - CS,
                fileSize + CS, fileSize - 8, 1L << 30, 1L << 40, 1L << 62, Long.MAX_VALUE, -1, -CS, Integer.MAX_VALUE,
                0xffffffffL, 64L << 20, 128L << 20};
        return switch (choices.nextInt(4)) {
            case 0 -> fixed[choices.nextInt(fixed.length)];
            case 1 -> tables.isEmpty() ? l1 : tables.get(choices.nextInt(tables.size()));
            case 2 -> choices.nextLong(Math.max(1, fileSize / CS)) * CS;
            default -> choices.nextLong();
        };
    }
}
