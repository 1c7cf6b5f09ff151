package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every rule of the header, broken once: the open fails with a {@link QedFormatException}
 * naming the field, the value and the rule, and never with anything worse.
 */
class HostileHeaderTest {
    private static final int CS = 4096;
    private static final int TS = 4;

    @TempDir
    Path dir;

    /** A valid 4 KiB-cluster image with one allocated cluster, then {@code damage} applied to its header. */
    private Path damaged(Consumer<ByteBuffer> damage) throws IOException {
        Path p = dir.resolve("hostile.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20).withClusterSize(CS).withTableSize(TS));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[]{1, 2, 3});
        }
        ByteBuffer header = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.read(header, 0);
            header.clear();
            damage.accept(header);
            header.clear();
            ch.write(header, 0);
        }
        return p;
    }

    static Stream<Arguments> brokenRules() {
        return Stream.of(
                Arguments.of("magic", "0x0", (Consumer<ByteBuffer>) h -> h.putInt(0, 0)),
                Arguments.of("magic", "0x34365751", (Consumer<ByteBuffer>) h -> h.putInt(0, 0x34365751)),
                Arguments.of("cluster_size", "3000", (Consumer<ByteBuffer>) h -> h.putInt(4, 3000)),
                Arguments.of("cluster_size", "2048", (Consumer<ByteBuffer>) h -> h.putInt(4, 2048)),
                Arguments.of("cluster_size", "134217728", (Consumer<ByteBuffer>) h -> h.putInt(4, 128 << 20)),
                Arguments.of("cluster_size", "0", (Consumer<ByteBuffer>) h -> h.putInt(4, 0)),
                Arguments.of("cluster_size", "4294967295", (Consumer<ByteBuffer>) h -> h.putInt(4, -1)),
                Arguments.of("table_size", "0", (Consumer<ByteBuffer>) h -> h.putInt(8, 0)),
                Arguments.of("table_size", "3", (Consumer<ByteBuffer>) h -> h.putInt(8, 3)),
                Arguments.of("table_size", "32", (Consumer<ByteBuffer>) h -> h.putInt(8, 32)),
                Arguments.of("header_size", "0", (Consumer<ByteBuffer>) h -> h.putInt(12, 0)),
                Arguments.of("header_size", "4294967295", (Consumer<ByteBuffer>) h -> h.putInt(12, -1)),
                Arguments.of("features", "0x8", (Consumer<ByteBuffer>) h -> h.putLong(16, 0x8)),
                Arguments.of("features", "0x8000000000000001",
                        (Consumer<ByteBuffer>) h -> h.putLong(16, 0x8000000000000001L)),
                Arguments.of("image_size", "1000", (Consumer<ByteBuffer>) h -> h.putLong(48, 1000)),
                Arguments.of("image_size", "1125899906842624", (Consumer<ByteBuffer>) h -> h.putLong(48, 1L << 50)),
                Arguments.of("image_size", "18446744073709551104", (Consumer<ByteBuffer>) h -> h.putLong(48, -512)),
                Arguments.of("l1_table_offset", "4097", (Consumer<ByteBuffer>) h -> h.putLong(40, 4097)),
                Arguments.of("l1_table_offset", "0", (Consumer<ByteBuffer>) h -> h.putLong(40, 0)),
                Arguments.of("l1_table_offset", "1073741824", (Consumer<ByteBuffer>) h -> h.putLong(40, 1L << 30)),
                Arguments.of("l1_table_offset", "18446744073709547520", (Consumer<ByteBuffer>) h -> h.putLong(40, -4096)),
                // The L1 table (4 clusters) would run past the end of the 10-cluster file.
                Arguments.of("l1_table_offset", "36864", (Consumer<ByteBuffer>) h -> h.putLong(40, 9 * 4096)),
                Arguments.of("backing_filename_offset", "4000 (+200 bytes)", (Consumer<ByteBuffer>) h -> {
                    h.putLong(16, QedHeader.FEATURE_BACKING_FILE);
                    h.putInt(56, 4000);
                    h.putInt(60, 200);
                }),
                Arguments.of("backing_filename_offset", "4294967295 (+1 bytes)", (Consumer<ByteBuffer>) h -> {
                    h.putLong(16, QedHeader.FEATURE_BACKING_FILE);
                    h.putInt(56, -1);
                    h.putInt(60, 1);
                }),
                // The backing-file bit with a name of 0 bytes is no broken rule: QEMU reads it as
                // no backing file, and so does qedkit (BackingFileTest).
                Arguments.of("backing_filename_size", "4294967295", (Consumer<ByteBuffer>) h -> {
                    h.putLong(16, QedHeader.FEATURE_BACKING_FILE);
                    h.putInt(56, 64);
                    h.putInt(60, -1);
                }));
    }

    @ParameterizedTest(name = "{0} = {1} is refused")
    @MethodSource("brokenRules")
    void aBrokenRuleIsReportedWithFieldValueAndRule(String field, String value,
                                                     Consumer<ByteBuffer> damage) throws IOException {
        Path p = damaged(damage);
        for (OpenOptions mode : new OpenOptions[]{OpenOptions.READ_ONLY, OpenOptions.READ_WRITE}) {
            assertThatThrownBy(() -> QedImage.open(p, mode).close())
                    .isInstanceOfSatisfying(QedFormatException.class, e -> {
                        assertThat(e.field()).isEqualTo(field);
                        assertThat(e.value()).isEqualTo(value);
                        assertThat(e.rule()).isNotBlank();
                        assertThat(e.getMessage()).startsWith(field + " is " + value + ": ");
                    });
        }
    }

    @Test
    void anEmptyOrTruncatedFileIsNotAnImage() throws IOException {
        Path empty = Files.createFile(dir.resolve("empty.qed"));
        assertThatThrownBy(() -> QedImage.open(empty, OpenOptions.READ_ONLY))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("file size"));

        Path p = damaged(h -> { });
        byte[] all = Files.readAllBytes(p);
        Path shortHeader = Files.write(dir.resolve("short.qed"), java.util.Arrays.copyOf(all, 40));
        assertThatThrownBy(() -> QedImage.open(shortHeader, OpenOptions.READ_ONLY))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("file size"));

        // Header intact, L1 table cut off half way.
        Path shortL1 = Files.write(dir.resolve("short-l1.qed"), java.util.Arrays.copyOf(all, 4096 + 2048));
        assertThatThrownBy(() -> QedImage.open(shortL1, OpenOptions.READ_ONLY))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("l1_table_offset"));
    }

    @Test
    void aMissingFileIsAnIoErrorNamingTheFile() {
        Path missing = dir.resolve("missing.qed");
        assertThatThrownBy(() -> QedImage.open(missing))
                .isInstanceOfSatisfying(QedIoException.class, e -> {
                    assertThat(e.errno()).isEqualTo(2);
                    assertThat(e.getMessage()).contains(missing.toString(), "No such file");
                });
    }

    @Test
    void unknownCompatBitsAreIgnored() throws IOException {
        Path p = damaged(h -> h.putLong(24, 0xf0));
        try (QedImage image = QedImage.open(p)) {
            assertThat(image.header().compatFeatures()).isEqualTo(0xf0);
            assertThat(readBytes(image, 0, 3)).containsExactly(1, 2, 3);
        }
    }

    @Test
    void unknownAutoclearBitsAreClearedByAReadWriteOpenOnly() throws IOException {
        Path p = damaged(h -> h.putLong(32, 0x5));
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.header().autoclearFeatures()).isEqualTo(0x5);
        }
        assertThat(autoclearOnDisk(p)).isEqualTo(0x5);
        try (QedImage image = QedImage.open(p)) {
            assertThat(image.header().autoclearFeatures()).isZero();
        }
        assertThat(autoclearOnDisk(p)).isZero();
    }

    @Test
    void corruptTableEntriesAreReportedWhenReached() throws IOException {
        Path p = damaged(h -> { });
        long l1 = 4096;
        long l2Table;
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            l2Table = readLong(ch, l1);
            assertThat(l2Table).isPositive();
            writeLong(ch, l2Table, 4096 * 3 + 17);            // L2[0][0] misaligned
            writeLong(ch, l2Table + 8, 0);                    // L2[0][1] fine
            writeLong(ch, l2Table + 16, 1L << 40);            // L2[0][2] past the end of the file
            writeLong(ch, l2Table + 24, 0x8000000000000000L); // L2[0][3] "negative"
            writeLong(ch, l1 + 8, 1L << 41);                  // L1[1] past the end of the file
        }
        try (QedImage image = QedImage.open(p, OpenOptions.READ_WRITE)) {
            assertCorrupt(image, 0, "L2[0][0]");
            assertThat(readBytes(image, 4096, 10)).containsOnly(0);
            assertCorrupt(image, 2 * 4096, "L2[0][2]");
            assertCorrupt(image, 3 * 4096, "L2[0][3]");
            long secondTable = 4096L * 512 * TS;
            assertCorrupt(image, secondTable, "L1[1]");
            assertThatThrownBy(() -> image.write(secondTable + 5, new byte[]{9}))
                    .isInstanceOfSatisfying(QedFormatException.class,
                            e -> assertThat(e.field()).isEqualTo("L1[1]"));
        }
    }

    private static void assertCorrupt(QedImage image, long offset, String field) {
        assertThatThrownBy(() -> readBytes(image, offset, 1))
                .isInstanceOfSatisfying(QedFormatException.class, e -> {
                    assertThat(e.field()).isEqualTo(field);
                    assertThat(e.rule()).contains("corrupt");
                });
    }

    private static byte[] readBytes(QedImage image, long offset, int n) throws IOException {
        byte[] b = new byte[n];
        image.read(offset, b);
        return b;
    }

    private static long autoclearOnDisk(Path p) throws IOException {
        try (FileChannel ch = FileChannel.open(p)) {
            return readLong(ch, 32);
        }
    }

    private static long readLong(FileChannel ch, long at) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(b, at);
        return b.getLong(0);
    }

    private static void writeLong(FileChannel ch, long at, long value) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value);
        ch.write(b, at);
    }
}
