package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The {@code qed} command's contract: outputs, errors and exit codes. */
class QedCommandTest {
    @TempDir
    Path dir;

    @Test
    void createTakesQemuImgOptionsAndSizeSuffixes() throws IOException {
        Path p = dir.resolve("a.qed");
        QedRun run = QedRun.of("create", "-f", "qed", "-o", "cluster_size=4k,table_size=2", p, "1.5G");
        assertThat(run.exitCode()).isZero();
        assertThat(run.stdout()).isEqualTo("Formatting '" + p + "', fmt=qed size=1610612736 "
                + "cluster_size=4096 table_size=2\n");
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.size()).isEqualTo(1610612736L);
            assertThat(image.header().clusterSize()).isEqualTo(4096);
            assertThat(image.header().tableSize()).isEqualTo(2);
        }
    }

    @Test
    void serveRefusesQemuNbdOptionsItDoesNotHaveWithWhatToDoInstead() throws IOException {
        Path p = dir.resolve("a.qed");
        QedImage.create(p, org.qedkit.CreateOptions.ofSize(1 << 20));
        Object[][] cases = {
                {"-c", "/dev/nbd0", "with nbd-client, or use nbdfuse"},
                {"-l", "snap", "QED images have no internal snapshots"},
                {"--bitmap", "b0", "QED images have no dirty bitmaps"},
                {"--tls-creds", "tls0", "TLS (--tls-creds"},
                {"-s", "-r", "-s/--snapshot serves a writable overlay of one FILE: not with -r"},
        };
        for (Object[] c : cases) {
            java.util.List<Object> args = new java.util.ArrayList<>(java.util.List.of("serve"));
            args.addAll(java.util.List.of(c).subList(0, c.length - 1));
            args.addAll(java.util.List.of("-k", dir.resolve("x.sock"), p));
            QedRun run = QedRun.of(args.toArray());
            assertThat(run.exitCode()).as("%s", args).isEqualTo(1);
            assertThat(run.stderr()).as("%s", args).startsWith("qemu-nbd: ").contains((String) c[c.length - 1]);
            assertThat(dir.resolve("x.sock")).doesNotExist();
        }
    }

    @Test
    void createWithABackingFileTakesItsSizeWhenNoneIsGiven() throws IOException {
        Path base = dir.resolve("base.raw");
        Files.write(base, new byte[3 << 20]);
        Path p = dir.resolve("o.qed");
        QedRun run = QedRun.of("create", "-q", "-f", "qed", "-b", "base.raw", "-F", "raw", p);
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(run.stdout()).isEmpty();
        QedRun info = QedRun.of("info", p);
        assertThat(info.stdout()).contains("virtual size: 3 MiB (3145728 bytes)")
                .contains("backing file: base.raw (actual path: " + base + ")")
                .contains("backing file format: raw");
    }

    @Test
    void aBackingFileWithoutItsFormatIsRefusedAsQemuImg72RefusesIt() throws IOException {
        Files.write(dir.resolve("base.raw"), new byte[4096]);
        QedRun run = QedRun.of("create", "-b", "base.raw", dir.resolve("o.qed"), "1M");
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.stderr()).startsWith("qemu-img: ").contains("-F raw");
        assertThat(dir.resolve("o.qed")).doesNotExist();
    }

    @Test
    void badSizesAndOptionsAreOneLineErrorsWithExitCode1() {
        Path p = dir.resolve("bad.qed");
        for (Object[] args : new Object[][]{
                {"create", p, "1Q"},
                {"create", p, "-5"},
                {"create", "-o", "cluster_size=3000", p, "1M"},
                {"create", "-o", "table_size=3", p, "1M"},
                {"create", "-o", "colour=blue", p, "1M"},
                {"create", "-f", "vmdk", p, "1M"},
                {"info", "--output=xml", p},
                {"info", dir.resolve("missing.qed")},
                {"frobnicate"},
                {}}) {
            QedRun run = QedRun.of(args);
            assertThat(run.exitCode()).as(String.join(" ", java.util.Arrays.stream(args).map(String::valueOf).toList()))
                    .isEqualTo(1);
            assertThat(run.stderr().lines().filter(l -> l.startsWith("qemu-img: ")).count()).isEqualTo(1);
        }
    }

    @Test
    void infoNamesTheBrokenFieldOfACorruptHeader() throws IOException {
        Path p = dir.resolve("c.qed");
        QedRun.of("create", "-q", p, "1M");
        byte[] bytes = Files.readAllBytes(p);
        bytes[4] = 0x01; // cluster_size 65537
        Files.write(p, bytes);
        QedRun run = QedRun.of("info", p);
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.stderr()).as("QEMU's line, word for word; no detail when nobody is at a terminal")
                .isEqualTo("qemu-img: Could not open '" + p + "': QED cluster size is invalid\n");
        // The detail line (QED_DETAIL=1) is LauncherIT's: it needs an environment of its own.
    }

    @Test
    void ioRunsEveryCommandAndFailsTheRunWhenAPatternDoesNotMatch() throws IOException {
        Path p = dir.resolve("io.qed");
        QedRun.of("create", "-q", "-o", "cluster_size=4096", p, "1M");
        QedRun ok = QedRun.of("io", "-c", "write -P 0x5a 100 5000", "-c", "read -P 0x5a 100 5000",
                "-c", "write -z 8192 4096", "-c", "flush", "-c", "length", p);
        assertThat(ok.exitCode()).isZero();
        assertThat(ok.stdout()).contains("wrote 5000/5000 bytes at offset 100\n")
                .contains("read 5000/5000 bytes at offset 100\n")
                .contains("wrote 4096/4096 bytes at offset 8192\n")
                .endsWith("1 MiB\n");

        QedRun mismatch = QedRun.of("io", "-r", "-c", "read -P 0x11 100 10", "-c", "read -q 0 1", p);
        assertThat(mismatch.exitCode()).isEqualTo(1);
        assertThat(mismatch.stdout()).startsWith("Pattern verification failed at offset 100, 10 bytes\n");
    }

    @Test
    void ioReportsFailuresPerCommand() throws IOException {
        Path p = dir.resolve("f.qed");
        QedRun.of("create", "-q", p, "1M");
        QedRun run = QedRun.of("io", "-r", "-c", "write 0 1", "-c", "read 1M 1", "-c", "read 0 x",
                "-c", "nonsense", p);
        assertThat(run.exitCode()).isEqualTo(1);
        // qemu-io's words and streams: results and failed requests on standard output, the
        // command-level refusals on standard error.
        assertThat(run.stdout()).isEqualTo("read failed: Input/output error\n"
                + "Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- x\n");
        assertThat(run.stderr()).isEqualTo("qemu-io: Block node is read-only\ncommand \"nonsense\" not found\n");
    }

    @Test
    void anImageInUseIsRefusedUnlessForceShareInspectsIt() throws IOException {
        Path p = dir.resolve("busy.qed");
        QedRun.of("create", "-q", p, "1M");
        try (QedImage writer = QedImage.open(p)) {
            QedRun info = QedRun.of("info", p);
            assertThat(info.exitCode()).isEqualTo(1);
            assertThat(info.stderr()).contains("is in use").contains("\"write\"");
            assertThat(QedRun.of("info", "-U", p).exitCode()).isZero();
            assertThat(QedRun.of("check", "-U", p).exitCode()).isZero();
            assertThat(QedRun.of("io", "-r", "-U", "-c", "read 0 1", p).exitCode()).isZero();
            assertThat(QedRun.of("io", "-U", "-c", "read 0 1", p).stderr())
                    .contains("force-share=on can only be used with read-only images");
            assertThat(QedRun.of("check", "-U", "-r", "leaks", p).exitCode()).isEqualTo(1);
        }
    }

    @Test
    void humanSizesFollowQemuImgAndQemuIo() {
        assertThat(Sizes.qemuImgHuman(659456)).isEqualTo("644 KiB");
        assertThat(Sizes.qemuImgHuman(10485760)).isEqualTo("10 MiB");
        assertThat(Sizes.qemuImgHuman(512)).isEqualTo("512 B");
        assertThat(Sizes.qemuImgHuman(1610612736L)).isEqualTo("1.5 GiB");
        assertThat(Sizes.qemuImgHuman(0)).isEqualTo("0 B");
        assertThat(Sizes.qemuIoHuman(512)).isEqualTo("512 bytes");
        assertThat(Sizes.qemuIoHuman(10000)).isEqualTo("9.766 KiB");
        assertThat(Sizes.qemuIoHuman(0x9e0000)).isEqualTo("9.875 MiB");
        assertThat(Sizes.parse("64k")).isEqualTo(65536);
        assertThat(Sizes.parse("1.5G")).isEqualTo(1610612736L);
        assertThat(Sizes.parse("0x1000")).isEqualTo(4096);
        assertThat(Sizes.parse("512B")).isEqualTo(512);
    }

    @Test
    void ioSnapshotModeWritesIntoATemporaryOverlayAndLeavesTheImageAndNoOverlayBehind() throws IOException {
        String tmp = System.getenv("TMPDIR");
        Path overlays = Path.of(tmp != null && !tmp.isEmpty() ? tmp : "/var/tmp"); // where QEMU puts them too
        java.util.Set<Path> before = snapshotDirectories(overlays);
        Path qed = dir.resolve("s.qed");
        QedImage.create(qed, org.qedkit.CreateOptions.ofSize(1 << 20));
        Path raw = dir.resolve("s.raw");
        Files.write(raw, new byte[1 << 20]);
        for (Object[] c : new Object[][]{{"qed", qed}, {"raw", raw}}) {
            QedRun run = QedRun.of("io", "-f", c[0], "-s", "-c", "write -P 7 0 4k", "-c", "read -P 7 0 4k", c[1]);
            assertThat(run.exitCode()).as("%s: %s", c[0], run.stderr()).isZero();
            assertThat(run.stdout()).as("%s", c[0]).contains("read 4096/4096 bytes at offset 0");
            QedRun after = QedRun.of("io", "-f", c[0], "-r", "-c", "read -P 0 0 4k", c[1]);
            assertThat(after.exitCode()).as("%s left unchanged: %s", c[0], after.stdout()).isZero();
        }
        assertThat(snapshotDirectories(overlays)).as("overlays left in " + overlays).isEqualTo(before);
    }

    private static java.util.Set<Path> snapshotDirectories(Path parent) throws IOException {
        try (var list = Files.list(parent)) {
            return list.filter(p -> p.getFileName().toString().startsWith("qed-snapshot-"))
                    .collect(java.util.stream.Collectors.toSet());
        }
    }
}
