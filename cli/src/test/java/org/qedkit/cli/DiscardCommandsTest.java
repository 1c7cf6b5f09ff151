package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.Extent;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Discards from the command line: qemu-io's {@code discard} and {@code write -z -u}, and what check says after. */
class DiscardCommandsTest {
    @TempDir
    Path dir;

    private Path image() throws IOException {
        Path p = dir.resolve("d.qed");
        QedImage.create(p, CreateOptions.ofSize(64 << 20));
        return p;
    }

    private static Extent.Kind kindAt(Path p, long offset) throws IOException {
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            return image.extentAt(offset).kind();
        }
    }

    @Test
    void discardFreesWholeClustersAsQemuIoSpellsIt() throws IOException {
        Path p = image();
        QedRun run = QedRun.of("io", "-c", "write -q -P 1 0 4M", "-c", "discard 1M 2M",
                "-c", "read -q -P 0 1M 2M", "-c", "read -q -P 1 0 1M", "-c", "read -q -P 1 3M 1M", p);
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(run.stdout()).startsWith("discard 2097152/2097152 bytes at offset 1048576\n")
                .doesNotContain("Pattern verification failed");
        assertThat(kindAt(p, 1 << 20)).isEqualTo(Extent.Kind.UNALLOCATED);
    }

    @Test
    void withDiscardIgnoredADiscardChangesNothing() throws IOException {
        Path p = image();
        QedRun run = QedRun.of("io", "-d", "ignore", "-c", "write -q -P 1 0 1M", "-c", "discard -q 0 1M",
                "-c", "read -q -P 1 0 1M", p);
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(run.stdout()).doesNotContain("Pattern verification failed");
        assertThat(kindAt(p, 0)).isEqualTo(Extent.Kind.DATA);
    }

    @Test
    void writeZeroesWithUnmapFreesAndWithoutKeepsTheClusters() throws IOException {
        Path p = image();
        QedRun run = QedRun.of("io", "-c", "write -q -P 1 0 2M", "-c", "write -q -z -u 0 1M",
                "-c", "write -q -z 1M 1M", "-c", "read -q -P 0 0 2M", p);
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(run.stdout()).doesNotContain("Pattern verification failed");
        assertThat(kindAt(p, 0)).isEqualTo(Extent.Kind.UNALLOCATED);
        assertThat(kindAt(p, 1 << 20)).isEqualTo(Extent.Kind.DATA);
    }

    @Test
    void checkCountsPunchedSpaceAsFreeClustersNotLeaks() throws IOException {
        Path p = image();
        QedRun.of("io", "-c", "write -q -P 1 0 4M", "-c", "write -q -P 2 8M 1M", "-c", "discard -q 0 4M", p);
        QedRun human = QedRun.of("check", p);
        assertThat(human.exitCode()).as(human.stdout()).isZero();
        assertThat(human.stdout()).startsWith("No errors were found on the image.\n")
                .contains("\n64 free clusters were found on the image");
        QedRun json = QedRun.of("check", "--output=json", p);
        assertThat(json.stdout()).contains("\"free-clusters\": 64").doesNotContain("\"leaks\"");
        assertThat(QedRun.of("info", p).stdout())
                .contains("\nfree space: 4 MiB (given back by discards; reused before the file grows)\n");
        assertThat(QedRun.of("info", "--output=json", p).stdout()).contains("\"free-space\": 4194304");
    }
}
