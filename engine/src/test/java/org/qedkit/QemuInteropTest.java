package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.QemuTools;
import org.qedkit.testing.QemuTools.Result;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The engine and QEMU's own tools agree on every image, in both directions, across a matrix
 * of cluster and table sizes. Needs {@code qemu-img} and {@code qemu-io} (Debian
 * {@code qemu-utils}).
 *
 * <p>The matrix stops where QEMU 7.2 stops: it cannot open table_size 1 images, and its size
 * arithmetic overflows for clusters of 8 MiB and more with larger tables. The engine handles
 * those too (see {@link QedImageTest}); here the partner must be able to take part.
 */
class QemuInteropTest {
    @TempDir
    Path dir;

    static Stream<Arguments> matrix() {
        return IntStream.of(4096, 65536, 1 << 20).boxed()
                .flatMap(cs -> IntStream.of(2, 4, 16).mapToObj(ts -> Arguments.of(cs, ts)));
    }

    /** Guest size for a case: crosses L2 tables where the geometry allows, ends mid-cluster. */
    private static long sizeFor(int cs, int ts) {
        long perL2 = (long) ts * cs / 8 * cs;
        return Math.min(perL2 + 8L * cs, 32L << 20) + 1536;
    }

    /** One pattern write, as qemu-io's {@code write -P} does it and as the model records it. */
    record PatternWrite(int pattern, long offset, int length) {
        String qemuIo() {
            return (pattern < 0 ? "write -z " : "write -P " + pattern + " ") + offset + " " + length;
        }

        void apply(byte[] model) {
            Arrays.fill(model, (int) offset, (int) offset + length, (byte) Math.max(pattern, 0));
        }
    }

    private static List<PatternWrite> writesFor(int cs, int ts, long size) {
        long perL2 = (long) ts * cs / 8 * cs;
        List<PatternWrite> w = new ArrayList<>();
        w.add(new PatternWrite(0x11, 0, 1));                       // first byte
        w.add(new PatternWrite(0x22, cs - 100, 200));              // straddles a cluster edge
        w.add(new PatternWrite(0x33, 3L * cs, 2 * cs));            // two whole clusters
        w.add(new PatternWrite(-1, 4L * cs, cs));                  // zero a whole data cluster
        w.add(new PatternWrite(-1, 6L * cs, cs));                  // zero a free cluster
        w.add(new PatternWrite(0x44, size - 512, 512));            // last sector
        if (perL2 + 8 < size) {
            w.add(new PatternWrite(0x55, perL2 - 3, 7));           // straddles an L2 table edge
        }
        return w;
    }

    @ParameterizedTest(name = "cluster_size={0} table_size={1}")
    @MethodSource("matrix")
    void imagesQemuWritesReadBackInTheEngine(int cs, int ts) throws IOException {
        long size = sizeFor(cs, ts);
        Path p = dir.resolve("qemu-made.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "cluster_size=" + cs + ",table_size=" + ts,
                p, size).ok();
        byte[] model = new byte[(int) size];
        List<Object> args = new ArrayList<>();
        for (PatternWrite w : writesFor(cs, ts, size)) {
            args.add("-c");
            args.add(w.qemuIo());
            w.apply(model);
        }
        args.add(p);
        QemuTools.qemuIo(args.toArray()).ok();

        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.size()).isEqualTo(size);
            assertThat(image.header().clusterSize()).isEqualTo(cs);
            assertThat(image.header().tableSize()).isEqualTo(ts);
            assertSameContent(image, model);
            assertThat(image.extentAt(6L * cs).kind()).isEqualTo(Extent.Kind.ZERO);
        }

        // The engine then extends QEMU's image; QEMU must still find it clean and equal.
        try (QedImage image = QedImage.open(p)) {
            byte[] more = Bytes.random(cs, 3 * cs / 2);
            image.write(5L * cs + 17, more);
            System.arraycopy(more, 0, model, 5 * cs + 17, more.length);
        }
        assertQemuAgrees(p, model);
    }

    @ParameterizedTest(name = "cluster_size={0} table_size={1}")
    @MethodSource("matrix")
    void imagesTheEngineWritesAreCleanAndEqualInQemu(int cs, int ts) throws IOException {
        long size = sizeFor(cs, ts);
        Path p = dir.resolve("engine-made.qed");
        QedImage.create(p, CreateOptions.ofSize(size).withClusterSize(cs).withTableSize(ts));
        byte[] model = new byte[(int) size];
        List<PatternWrite> writes = writesFor(cs, ts, size);
        try (QedImage image = QedImage.open(p)) {
            for (PatternWrite w : writes) {
                if (w.pattern() < 0) {
                    image.writeZeroes(w.offset(), w.length());
                } else {
                    image.write(w.offset(), Bytes.pattern(w.pattern(), w.length()));
                }
                w.apply(model);
            }
        }
        // qemu-io checks every byte the writes touched against what the model says is there
        // now (later writes overlap earlier ones), one uniform run at a time.
        List<Object> args = new ArrayList<>(List.of("-r"));
        for (PatternWrite w : writes) {
            int end = (int) w.offset() + w.length();
            for (int start = (int) w.offset(); start < end; ) {
                int runEnd = start;
                while (runEnd < end && model[runEnd] == model[start]) {
                    runEnd++;
                }
                args.add("-c");
                args.add("read -P " + (model[start] & 0xff) + " " + start + " " + (runEnd - start));
                start = runEnd;
            }
        }
        args.add(p);
        Result read = QemuTools.qemuIo(args.toArray()).ok();
        assertThat(read.stdout()).doesNotContain("Pattern verification failed");
        assertQemuAgrees(p, model);
    }

    @Test
    void theEngineOpensTableSizeOneImagesThatQemuCreatesButCannotOpen() throws IOException {
        Path p = dir.resolve("ts1.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "table_size=1", p, "1M").ok();
        Result qemuOpen = QemuTools.qemuImg("info", p);
        assertThat(qemuOpen.exitCode()).as("QEMU 7.2 defect 1 still present").isNotZero();
        try (QedImage image = QedImage.open(p)) {
            image.write(65536 + 5, Bytes.pattern(0x66, 100));
            byte[] back = new byte[100];
            image.read(65536 + 5, back);
            assertThat(back).isEqualTo(Bytes.pattern(0x66, 100));
        }
    }

    @Test
    void aRawBackingFileNameWrittenByTheEngineReadsBackInQemu() throws IOException {
        Path base = dir.resolve("base.raw");
        Files.write(base, new byte[1 << 20]);
        Path p = dir.resolve("overlay.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20).withBackingFile("base.raw", "raw"));
        Result info = QemuTools.qemuImg("info", "--output=json", p).ok();
        assertThat(info.stdout()).contains("\"backing-filename\": \"base.raw\"")
                .contains("\"backing-filename-format\": \"raw\"");
        QemuTools.qemuImg("check", p).ok();
    }

    private void assertQemuAgrees(Path p, byte[] model) throws IOException {
        Path raw = dir.resolve("model.raw");
        Files.write(raw, model);
        Result compare = QemuTools.qemuImg("compare", "-f", "qed", "-F", "raw", p, raw);
        assertThat(compare.exitCode()).as(compare.stdout() + compare.stderr()).isZero();
        Result check = QemuTools.qemuImg("check", "--output=json", p);
        assertThat(check.exitCode()).as(check.stdout() + check.stderr()).isZero();
        assertThat(check.stdout()).contains("\"check-errors\": 0")
                .doesNotContain("\"corruptions\"").doesNotContain("\"leaks\"");
    }

    private static void assertSameContent(QedImage image, byte[] model) throws IOException {
        byte[] all = new byte[model.length];
        image.read(0, all);
        assertThat(Arrays.mismatch(all, model)).as("first differing byte").isEqualTo(-1);
    }
}
