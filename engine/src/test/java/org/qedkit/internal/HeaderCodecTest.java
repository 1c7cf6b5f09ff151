package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.QedFormatException;
import org.qedkit.QedHeader;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The header codec on its own: the bytes it writes, what it reads back, and each rule it names. */
class HeaderCodecTest {
    @TempDir
    Path dir;

    private static final QedHeader PLAIN = new QedHeader(65536, 4, 1, 0, 0, 0, 65536, 1L << 30, 0, 0, null);

    @Test
    void aHeaderWrittenReadsBackTheSameAndSitsWhereTheFormatSays() throws IOException {
        Path p = dir.resolve("h.qed");
        QedHeader named = new QedHeader(65536, 4, 1, QedHeader.FEATURE_BACKING_FILE | QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE,
                0, 0, 65536, 1L << 30, QedHeader.HEADER_BYTES, 8, "base.raw");
        try (MappedImageFile file = fileOf(p, 65536 + 4 * 65536)) {
            HeaderCodec.write(named, file);
            file.copyIn("base.raw".getBytes(), 0, QedHeader.HEADER_BYTES, 8);
            assertThat(HeaderCodec.read(file)).isEqualTo(named);
        }
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(raw.getInt(0)).as("magic").isEqualTo(QedHeader.MAGIC);
        assertThat(raw.getInt(4)).as("cluster_size").isEqualTo(65536);
        assertThat(raw.getInt(8)).as("table_size").isEqualTo(4);
        assertThat(raw.getLong(16)).as("features").isEqualTo(5);
        assertThat(raw.getLong(40)).as("l1_table_offset").isEqualTo(65536);
        assertThat(raw.getLong(48)).as("image_size").isEqualTo(1L << 30);
        assertThat(raw.getInt(56)).as("backing_filename_offset").isEqualTo(64);
        assertThat(raw.getInt(60)).as("backing_filename_size").isEqualTo(8);
    }

    @Test
    void eachBrokenRuleIsNamedByItsField() throws QedFormatException {
        long fileSize = 5 * 65536;
        HeaderCodec.validate(PLAIN, fileSize); // the baseline passes
        assertRule(new QedHeader(65535, 4, 1, 0, 0, 0, 65536, 1L << 30, 0, 0, null), fileSize, "cluster_size");
        assertRule(new QedHeader(65536, 3, 1, 0, 0, 0, 65536, 1L << 30, 0, 0, null), fileSize, "table_size");
        assertRule(new QedHeader(65536, 4, 1, 0, 0, 0, 65537, 1L << 30, 0, 0, null), fileSize, "l1_table_offset");
        assertRule(new QedHeader(65536, 4, 1, 1L << 40, 0, 0, 65536, 1L << 30, 0, 0, null), fileSize, "features");
        assertRule(PLAIN, 65536, "l1_table_offset"); // the L1 table past the end of the file
    }

    @Test
    void aFileThatIsNotQedIsRefusedByItsMagic() throws IOException {
        Path p = dir.resolve("raw.img");
        try (MappedImageFile file = fileOf(p, 65536)) {
            assertThatThrownBy(() -> HeaderCodec.read(file)).isInstanceOfSatisfying(QedFormatException.class,
                    e -> assertThat(e.field()).isEqualTo("magic"));
        }
    }

    private static void assertRule(QedHeader h, long fileSize, String field) {
        assertThatThrownBy(() -> HeaderCodec.validate(h, fileSize)).as(field)
                .isInstanceOfSatisfying(QedFormatException.class, e -> assertThat(e.field()).isEqualTo(field));
    }

    private static MappedImageFile fileOf(Path p, long size) throws IOException {
        Files.write(p, new byte[0]);
        MappedImageFile file = MappedImageFile.open(p, true);
        file.extend(size);
        return file;
    }
}
