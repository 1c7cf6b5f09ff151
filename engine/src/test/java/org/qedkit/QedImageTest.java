package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What a user of the Java API can rely on. */
class QedImageTest {
    @TempDir
    Path dir;

    @Test
    void createLaysTheImageOutAsQemuImgDoes() throws IOException {
        Path p = dir.resolve("a.qed");
        QedImage.create(p, CreateOptions.ofSize(10L << 30));
        // header cluster + L1 table of 4 clusters, 64 KiB each
        assertThat(Files.size(p)).isEqualTo(5 * 65536);
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            QedHeader h = image.header();
            assertThat(h.clusterSize()).isEqualTo(65536);
            assertThat(h.tableSize()).isEqualTo(4);
            assertThat(h.headerSize()).isEqualTo(1);
            assertThat(h.l1TableOffset()).isEqualTo(65536);
            assertThat(h.features()).isZero();
            assertThat(image.size()).isEqualTo(10L << 30);
        }
    }

    @Test
    void sizeIsRoundedUpToWholeSectors() throws IOException {
        Path p = dir.resolve("odd.qed");
        QedImage.create(p, CreateOptions.ofSize(1000));
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.size()).isEqualTo(1024);
        }
    }

    @Test
    void backingFileNameAndRawFormatAreStoredInTheHeader() throws IOException {
        Path p = dir.resolve("overlay.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20).withBackingFile("base.raw", "raw"));
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY.withBackingChain(false))) {
            QedHeader h = image.header();
            assertThat(h.backingFilename()).isEqualTo("base.raw");
            assertThat(h.backingFormat()).isEqualTo("raw");
            assertThat(h.features()).isEqualTo(QedHeader.FEATURE_BACKING_FILE
                    | QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE);
            assertThat(h.backingFilenameOffset()).isEqualTo(64);
            assertThat(h.backingFilenameSize()).isEqualTo(8);
        }
        Path probed = dir.resolve("overlay2.qed");
        QedImage.create(probed, CreateOptions.ofSize(1 << 20).withBackingFile("base.qed", "qed"));
        try (QedImage image = QedImage.open(probed, OpenOptions.READ_ONLY.withBackingChain(false))) {
            assertThat(image.header().features()).isEqualTo(QedHeader.FEATURE_BACKING_FILE);
            assertThat(image.header().backingFormat()).isNull();
        }
    }

    @Test
    void aBackingNameLongerThanOneClusterGrowsTheHeaderArea() throws IOException {
        Path p = dir.resolve("long.qed");
        String name = "d/".repeat(2016) + "base.raw"; // 4040 bytes: 64 + 4040 > 4096
        QedImage.create(p, CreateOptions.ofSize(1 << 20).withClusterSize(4096)
                .withBackingFile(name, "raw"));
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY.withBackingChain(false))) {
            assertThatThrownBy(() -> image.read(0, new byte[1])).isInstanceOf(QedException.class)
                    .hasMessageContaining("which this open left closed");
            assertThat(image.header().headerSize()).isEqualTo(2);
            assertThat(image.header().l1TableOffset()).isEqualTo(8192);
            assertThat(image.header().backingFilename()).isEqualTo(name);
        }
    }

    @Test
    void badCreateOptionsAreRefusedBeforeTheFileIsTouched() throws IOException {
        Path p = dir.resolve("keep.qed");
        Files.writeString(p, "precious");
        assertThatThrownBy(() -> QedImage.create(p, CreateOptions.ofSize(1 << 20).withClusterSize(3000)))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("cluster_size"));
        assertThatThrownBy(() -> QedImage.create(p, CreateOptions.ofSize(1 << 20).withTableSize(32)))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("table_size"));
        assertThatThrownBy(() -> QedImage.create(p, CreateOptions.ofSize((1L << 30) + 512)
                .withClusterSize(4096).withTableSize(1)))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("image_size"));
        assertThat(Files.readString(p)).isEqualTo("precious");
    }

    static Stream<Arguments> everyClusterAndTableSize() {
        return IntStream.rangeClosed(12, 26).boxed().flatMap(bits ->
                IntStream.of(1, 2, 4, 8, 16).mapToObj(ts -> Arguments.of(1 << bits, ts)));
    }

    /**
     * Every legal geometry works end to end, including those QEMU cannot handle (table_size
     * 1, and clusters so big that its size arithmetic overflows).
     */
    @ParameterizedTest(name = "cluster_size={0} table_size={1}")
    @MethodSource("everyClusterAndTableSize")
    void everyGeometryWritesAndReadsBackAcrossClustersAndAtTheLastByte(int cs, int ts) throws IOException {
        Path p = dir.resolve("g.qed");
        long size = 3L * cs + 512;
        QedImage.create(p, CreateOptions.ofSize(size).withClusterSize(cs).withTableSize(ts));
        byte[] straddle = Bytes.random(cs + ts, 1000);
        try (QedImage image = QedImage.open(p)) {
            image.write(cs - 500, straddle);
            image.write(size - 1, new byte[]{0x5a});
            image.writeZeroes(2L * cs, cs);
        }
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] back = new byte[1000];
            image.read(cs - 500, back);
            assertThat(back).isEqualTo(straddle);
            byte[] last = new byte[2];
            image.read(size - 2, last);
            assertThat(last).containsExactly(0, 0x5a);
            assertThat(image.extentAt(2L * cs).kind()).isEqualTo(Extent.Kind.ZERO);
            // header + L1 + one L2 + three data clusters, nothing more
            assertThat(image.fileLength()).isEqualTo((1L + ts + ts + 3) * cs);
        }
    }

    @Test
    void theLastByteOfTheLargestImageIsReachable() throws IOException {
        // 4 KiB / table_size 1 addresses exactly 1 GiB.
        Path small = dir.resolve("max-small.qed");
        QedImage.create(small, CreateOptions.ofSize(1L << 30).withClusterSize(4096).withTableSize(1));
        assertLastByteRoundTrips(small, 1L << 30);

        // 8 MiB / table_size 2 overflows QEMU's arithmetic; here the limit is a long's range.
        Path huge = dir.resolve("max-huge.qed");
        long size = 1L << 62;
        QedImage.create(huge, CreateOptions.ofSize(size).withClusterSize(8 << 20).withTableSize(2));
        assertLastByteRoundTrips(huge, size);
    }

    private static void assertLastByteRoundTrips(Path p, long size) throws IOException {
        try (QedImage image = QedImage.open(p)) {
            assertThat(image.size()).isEqualTo(size);
            image.write(size - 1, new byte[]{(byte) 0xee});
        }
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] b = new byte[1];
            image.read(size - 1, b);
            assertThat(b[0]).isEqualTo((byte) 0xee);
            image.read(0, b);
            assertThat(b[0]).isZero();
        }
    }

    @Test
    void requestsOutsideTheImageAreRefusedWithARangeError() throws IOException {
        Path p = dir.resolve("r.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        try (QedImage image = QedImage.open(p)) {
            assertThatThrownBy(() -> image.read(1 << 20, new byte[1])).isInstanceOf(QedRangeException.class)
                    .hasMessageContaining("offset 1048576").hasMessageContaining("0..1048576");
            assertThatThrownBy(() -> image.read((1 << 20) - 1, new byte[2])).isInstanceOf(QedRangeException.class);
            assertThatThrownBy(() -> image.read(-1, new byte[1])).isInstanceOf(QedRangeException.class);
            assertThatThrownBy(() -> image.write(Long.MAX_VALUE, new byte[1])).isInstanceOf(QedRangeException.class);
            assertThatThrownBy(() -> image.writeZeroes(0, (1 << 20) + 1)).isInstanceOf(QedRangeException.class);
            image.read(1 << 20, new byte[0]); // an empty request at the very end is fine
            image.write((1 << 20) - 1, new byte[1]);
        }
    }

    @Test
    void everyBufferKindReadsAndWritesTheSameBytes() throws IOException {
        Path p = dir.resolve("b.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20).withClusterSize(4096));
        byte[] data = Bytes.random(7, 9000);
        try (QedImage image = QedImage.open(p); Arena arena = Arena.ofConfined()) {
            image.write(100, data, 0, 3000);
            image.write(3100, ByteBuffer.wrap(data, 3000, 3000));
            MemorySegment native3 = arena.allocate(3000);
            MemorySegment.copy(data, 6000, native3, ValueLayout.JAVA_BYTE, 0, 3000);
            image.write(6100, native3);

            byte[] viaArray = new byte[9000];
            image.read(100, viaArray);
            ByteBuffer viaDirect = ByteBuffer.allocateDirect(9000);
            image.read(100, viaDirect);
            assertThat(viaDirect.position()).isEqualTo(9000);
            MemorySegment viaSegment = arena.allocate(9000);
            image.read(100, viaSegment);

            assertThat(viaArray).isEqualTo(data);
            assertThat(MemorySegment.ofBuffer(viaDirect.flip()).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(data);
            assertThat(viaSegment.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(data);
        }
    }

    @Test
    void zeroWritesUseZeroEntriesForWholeFreeClustersAndRealZerosElsewhere() throws IOException {
        Path p = dir.resolve("z.qed");
        int cs = 4096;
        QedImage.create(p, CreateOptions.ofSize(1 << 20).withClusterSize(cs).withTableSize(1));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, Bytes.pattern(0x11, 2 * cs));

            image.writeZeroes(4L * cs, 3L * cs); // whole free clusters: zero entries, no data
            assertThat(image.extentAt(4L * cs)).isEqualTo(new Extent(4L * cs, 3L * cs, Extent.Kind.ZERO, -1));
            image.writeZeroes(cs / 2, cs); // over data: zeros in place, nothing new
            assertThat(image.extentAt(0).kind()).isEqualTo(Extent.Kind.DATA);
            assertThat(image.extentAt(cs).kind()).isEqualTo(Extent.Kind.DATA);
            image.writeZeroes(10L * cs + 7, 100); // part of a free cluster: real zeros, as QEMU
            assertThat(image.extentAt(10L * cs).kind()).isEqualTo(Extent.Kind.DATA);

            byte[] back = new byte[2 * cs];
            image.read(0, back);
            byte[] expected = Bytes.pattern(0x11, 2 * cs);
            java.util.Arrays.fill(expected, cs / 2, cs / 2 + cs, (byte) 0);
            assertThat(back).isEqualTo(expected);

            image.write(5L * cs + 1, new byte[]{7}); // a write into a zero cluster allocates it
            byte[] one = new byte[cs];
            image.read(5L * cs, one);
            byte[] expectOne = new byte[cs];
            expectOne[1] = 7;
            assertThat(one).isEqualTo(expectOne);
            assertThat(image.extentAt(4L * cs).length()).isEqualTo(cs);
        }
        // Closed cleanly, the file ends at its last used cluster: header, L1, one L2, and
        // four data clusters (two written, one partly zeroed, one written into a zero cluster).
        assertThat(Files.size(p)).isEqualTo(7L * cs);
    }

    @Test
    void aReadOnlyImageRefusesWritesAndNeverModifiesTheFile() throws IOException {
        Path p = dir.resolve("ro.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[]{1});
        }
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000_000L));
        byte[] before = Files.readAllBytes(p);
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.isReadOnly()).isTrue();
            assertThatThrownBy(() -> image.write(0, new byte[]{2})).isInstanceOf(QedReadOnlyException.class);
            assertThatThrownBy(() -> image.writeZeroes(0, 512)).isInstanceOf(QedReadOnlyException.class);
            image.flush();
        }
        assertThat(Files.readAllBytes(p)).isEqualTo(before);
        assertThat(Files.getLastModifiedTime(p).toMillis()).isEqualTo(1_000_000_000_000L);
    }

    @Test
    void aReadOnlyFileOpensReadOnly() throws IOException {
        Path p = dir.resolve("mode.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        p.toFile().setWritable(false);
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.size()).isEqualTo(1 << 20);
        }
    }

    @Test
    void aClosedImageRefusesUseAndClosingTwiceIsHarmless() throws IOException {
        Path p = dir.resolve("c.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        QedImage image = QedImage.open(p);
        image.close();
        image.close();
        assertThatThrownBy(() -> image.read(0, new byte[1])).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void manyThreadsReadAndWriteDisjointRangesConcurrently() throws Exception {
        Path p = dir.resolve("mt.qed");
        int cs = 4096;
        QedImage.create(p, CreateOptions.ofSize(16 << 20).withClusterSize(cs).withTableSize(1));
        int threads = 8;
        int perThread = 40;
        try (QedImage image = QedImage.open(p)) {
            Thread[] workers = new Thread[threads];
            Throwable[] failure = new Throwable[1];
            for (int t = 0; t < threads; t++) {
                int id = t;
                workers[t] = Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < perThread; i++) {
                            long off = ((long) i * threads + id) * (3L * cs) + id;
                            byte[] data = Bytes.random(off, 5000);
                            image.write(off, data);
                            byte[] back = new byte[5000];
                            image.read(off, back);
                            assertThat(back).isEqualTo(data);
                        }
                    } catch (Throwable e) {
                        synchronized (failure) {
                            failure[0] = e;
                        }
                    }
                });
            }
            for (Thread w : workers) {
                w.join();
            }
            assertThat(failure[0]).isNull();
        }
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            for (int id = 0; id < threads; id++) {
                for (int i = 0; i < perThread; i++) {
                    long off = ((long) i * threads + id) * (3L * cs) + id;
                    byte[] back = new byte[5000];
                    image.read(off, back);
                    assertThat(back).isEqualTo(Bytes.random(off, 5000));
                }
            }
        }
    }
}
