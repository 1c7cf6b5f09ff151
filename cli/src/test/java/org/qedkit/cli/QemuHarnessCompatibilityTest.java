package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What QEMU's iotests harness does to {@code qemu-io} and {@code qemu-img} and so to
 * {@code qed}: {@code --cache MODE --aio MODE} in front of every {@code qemu-io} call,
 * commands on standard input, {@code -f} given twice, {@code SUBCMD --help}.
 */
class QemuHarnessCompatibilityTest {
    @TempDir
    Path dir;

    @Test
    void everyCommandAnswersHelpWithItsOwnUsageAndExitCode0() {
        for (String command : List.of("create", "info", "io", "check", "compare", "map", "convert", "resize",
                "rebase", "commit", "measure", "bench")) {
            QedRun run = QedRun.of(command, "--help");
            assertThat(run.exitCode()).as(command + " --help: " + run.stderr()).isZero();
            assertThat(run.stdout()).as(command).startsWith("Usage: qed " + command);
        }
    }

    @Test
    void ioTakesQemuIosCacheAndAioOptions() throws IOException {
        Path p = image();
        QedRun run = QedRun.of("io", "--cache", "writethrough", "--aio", "threads", "-f", "qed", "-f", "qed",
                "-c", "write -P 0x5a 0 4k", "-c", "read -P 0x5a 0 4k", p);
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(run.stdout()).contains("wrote 4096/4096 bytes at offset 0").contains("read 4096/4096 bytes at offset 0");
        for (String mode : List.of("none", "writeback", "unsafe", "directsync")) {
            assertThat(QedRun.of("io", "-t", mode, "-i", "native", "-c", "read 0 512", p).exitCode()).as(mode).isZero();
        }
        QedRun bad = QedRun.of("io", "--cache", "bogus", "-c", "read 0 512", p);
        assertThat(bad.exitCode()).isEqualTo(1);
        assertThat(bad.stderr()).isEqualTo("qemu-io: Invalid cache option: bogus\n");
        QedRun badAio = QedRun.of("io", "--aio", "bogus", "-c", "read 0 512", p);
        assertThat(badAio.exitCode()).isEqualTo(1);
        assertThat(badAio.stderr()).isEqualTo("qemu-io: Invalid aio option: bogus\n");
    }

    @Test
    void eachCacheModeMeansWhatItMeansForAMappedImage() {
        assertThat(IoSession.durabilityOf("writethrough")).isEqualTo(Durability.WRITE_THROUGH);
        assertThat(IoSession.durabilityOf("directsync")).isEqualTo(Durability.WRITE_THROUGH);
        assertThat(IoSession.durabilityOf("writeback")).isEqualTo(Durability.WRITE_BACK);
        assertThat(IoSession.durabilityOf("none")).isEqualTo(Durability.WRITE_BACK);
        assertThat(IoSession.durabilityOf("unsafe")).isEqualTo(Durability.WRITE_BACK);
        assertThatThrownBy(() -> IoSession.durabilityOf("sometimes")).hasMessage("Invalid cache option: sometimes");
    }

    @Test
    void ioWithoutCReadsItsCommandsFromStandardInputUntilQuit() throws IOException {
        Path p = image();
        String script = "write -P 7 0 512\nread -P 7 0 512\n\nquit\nwrite -P 9 0 512\n";
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = QedCommand.execute(new String[]{"io", p.toString()},
                new ByteArrayInputStream(script.getBytes(StandardCharsets.UTF_8)),
                new PrintWriter(out, true), new PrintWriter(err, true));
        assertThat(code).as(err.toString()).isZero();
        assertThat(out.toString()).contains("wrote 512/512 bytes at offset 0").contains("read 512/512 bytes at offset 0")
                .startsWith("qemu-io> "); // qemu-io prompts on a pipe too (QEMU's tests filter it out)
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] back = new byte[1];
            image.read(0, back);
            assertThat(back[0]).as("the write after quit did not run").isEqualTo((byte) 7);
        }
    }

    @Test
    void aFailedCommandFromStandardInputMakesTheExitCode1() throws IOException {
        Path p = image();
        int code = QedCommand.execute(new String[]{"io", p.toString()},
                new ByteArrayInputStream("read -P 1 0 512\n".getBytes(StandardCharsets.UTF_8)),
                new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true));
        assertThat(code).as("a pattern mismatch").isEqualTo(1);
    }

    @Test
    void createSaysTheSizeAsTypedAndRoundsTheImageUpTo512AsQemuImgDoes() throws IOException {
        Path p = dir.resolve("odd.qed");
        QedRun run = QedRun.of("create", "-f", "qed", p, "1234");
        assertThat(run.stdout()).isEqualTo("Formatting '" + p + "', fmt=qed size=1234 cluster_size=65536\n");
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            assertThat(image.size()).isEqualTo(1536);
        }
    }

    @Test
    void infoJsonPutsFormatSpecificBeforeDirtyFlagAsQemuDoes() throws IOException {
        Path p = image();
        String json = QedRun.of("info", "--output=json", p).stdout();
        assertThat(json.indexOf("\"format-specific\"")).as(json).isPositive()
                .isLessThan(json.indexOf("\"dirty-flag\""));
        assertThat(json.strip()).as("dirty-flag is the last key").matches("(?s).*\"dirty-flag\": (true|false)\n}");
    }

    @Test
    void sizesInExponentNotationAreRefusedAsQemuImgRefusesThem() {
        for (String size : List.of("1e3", "1E3", "+5", "2.5e1k")) {
            Path p = dir.resolve("e.qed");
            QedRun run = QedRun.of("create", "-f", "qed", p, size);
            assertThat(run.exitCode()).as(size + ": " + run.stdout()).isEqualTo(1);
            assertThat(run.stderr()).as(size).contains("is not a size");
            assertThat(p).as(size).doesNotExist();
        }
        assertThat(Sizes.parse("1.5k")).isEqualTo(1536);
        assertThat(Sizes.parse("0x200")).isEqualTo(512);
    }

    @Test
    void benchTakesPatternsStepsSizesAndAioAsQemuImgBenchDoes() throws IOException {
        Path p = image();
        QedRun hex = QedRun.of("bench", "-w", "-c", "4", "-d", "1", "-s", "4k", "-S", "0", "--pattern", "0xab", "-i", "io_uring", p);
        assertThat(hex.exitCode()).as(hex.stderr()).isZero();
        assertThat(hex.stdout()).contains("4096 bytes each").contains("step size 4096");
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] back = new byte[1];
            image.read(3 * 4096, back);
            assertThat(back[0]).isEqualTo((byte) 0xab);
        }
        assertThat(QedRun.of("bench", "-c", "4", "-s", "0", p).exitCode()).as("a buffer of 0 bytes").isZero();
        assertThat(QedRun.of("bench", "-c", "1", "--pattern", "256", p).stderr()).isEqualTo("qemu-img: Invalid pattern byte specified\n");
        assertThat(QedRun.of("bench", "-c", "1", "-i", "bogus", p).stderr()).isEqualTo("qemu-img: Invalid aio option: bogus\n");
        assertThat(BenchCommand.patternByte("017")).as("octal, as strtoul reads it").isEqualTo(15);
    }

    @Test
    void aRebaseOrCreateThatWouldMakeTheChainLoopIsRefusedAndBothImagesStayUsable() throws IOException {
        Path base = dir.resolve("s.qed");
        Path overlay = dir.resolve("o.qed");
        assertThat(QedRun.of("create", "-q", "-f", "qed", base, "1M").exitCode()).isZero();
        assertThat(QedRun.of("create", "-q", "-f", "qed", "-b", "s.qed", "-F", "qed", overlay).exitCode()).isZero();
        for (String name : List.of("o.qed", "s.qed")) { // an overlay of S, and S itself
            QedRun run = QedRun.of("rebase", "-b", name, "-F", "qed", base);
            assertThat(run.exitCode()).as("rebase -b %s", name).isEqualTo(1);
            assertThat(run.stderr()).isEqualTo("qemu-img: Backing file '" + dir.resolve(name)
                    + "' creates an infinite loop.\n");
        }
        assertThat(QedRun.of("info", "--backing-chain", overlay).exitCode()).as("still openable").isZero();
        // -u is unsafe by QEMU's rule: nothing about the new backing file is checked, and
        // the loop is reported when the chain is next opened.
        assertThat(QedRun.of("rebase", "-u", "-b", "s.qed", "-F", "qed", base).exitCode()).isZero();
        QedRun looped = QedRun.of("info", "--backing-chain", base);
        assertThat(looped.exitCode()).isEqualTo(1);
        assertThat(looped.stderr()).contains("creates an infinite loop");
        assertThat(QedRun.of("rebase", "-u", "-b", "", base).exitCode()).as("undone the same way").isZero();
        QedRun self = QedRun.of("create", "-f", "qed", "-b", "s.qed", "-F", "qed", base, "1M");
        assertThat(self.exitCode()).isEqualTo(1);
        assertThat(self.stderr()).contains("creates an infinite loop");
        assertThat(QedRun.of("info", base).exitCode()).as("not replaced").isZero();
    }

    @Test
    void createWithAMissingBackingFileIsRefusedUnlessUnsafe() {
        Path p = dir.resolve("m.qed");
        QedRun refused = QedRun.of("create", "-f", "qed", "-b", "missing.raw", "-F", "raw", p, "1M");
        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.stderr()).contains("Could not open '" + dir.resolve("missing.raw") + "'");
        assertThat(p).doesNotExist();
        assertThat(QedRun.of("create", "-q", "-u", "-f", "qed", "-b", "missing.raw", "-F", "raw", p, "1M").exitCode()).isZero();
    }

    @Test
    void commitToABaseOutsideTheChainSaysSoInQemusWords() throws IOException {
        image(); // harness.qed, the base of top.qed
        Path top = dir.resolve("top.qed");
        QedImage.create(top, CreateOptions.ofSize(1 << 20).withBackingFile("harness.qed", "qed"));
        Path stranger = dir.resolve("stranger.qed");
        QedImage.create(stranger, CreateOptions.ofSize(1 << 20));
        QedRun run = QedRun.of("commit", "-b", stranger, top);
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.stderr()).isEqualTo("qemu-img: Did not find '" + stranger + "' in the backing chain of '" + top + "'\n");
    }

    private Path image() throws IOException {
        Path p = dir.resolve("harness.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        return p;
    }

    @Test
    void failuresAQemuScriptMatchesOnReadWordForWordAsQemusTools() throws IOException {
        Path missingFolder = dir.resolve("nowhere");
        Path source = image();
        Path overlay = dir.resolve("orphan.qed");
        assertThat(QedRun.of("create", "-q", "-f", "qed", "-u", "-b", "gone.qed", "-F", "qed", overlay, "1M").exitCode())
                .isZero();
        List<Object[]> cases = List.of(
                new Object[]{"convert", "-O", "qed", source, missingFolder.resolve("x.qed")},
                new Object[]{"convert", "-O", "raw", source, missingFolder.resolve("x.raw")},
                new Object[]{"create", "-f", "qed", missingFolder.resolve("y.qed"), "1M"},
                new Object[]{"info", dir.resolve("absent.qed")},
                new Object[]{"info", dir});
        for (Object[] args : cases) {
            org.qedkit.testing.QemuTools.Result qemu = org.qedkit.testing.QemuTools.qemuImg(args);
            QedRun qed = QedRun.of(args);
            assertThat(qed.exitCode()).as(java.util.Arrays.toString(args)).isEqualTo(qemu.exitCode());
            assertThat(qed.stderr()).as(java.util.Arrays.toString(args)).isEqualTo(qemu.stderr());
        }
        org.qedkit.testing.QemuTools.Result qemu = org.qedkit.testing.QemuTools.qemuIo("-c", "read 0 1", overlay);
        QedRun qed = QedRun.of("io", "-c", "read 0 1", overlay);
        assertThat(qed.stderr()).as("a missing backing file, with its cause").isEqualTo(qemu.stderr())
                .contains("Could not open backing file: Could not open '" + dir.resolve("gone.qed") + "'");
    }

    @Test
    void aQedImageInsideAnotherOpensReadsAndKeepsWhatIsWrittenToIt() throws IOException {
        Path inner = dir.resolve("inner.qed");
        Path outer = dir.resolve("outer.qed");
        assertThat(QedRun.of("create", "-q", "-f", "qed", inner, "4M").exitCode()).isZero();
        assertThat(QedRun.of("io", "-c", "write -P 42 0 512", inner).exitCode()).isZero();
        assertThat(QedRun.of("convert", "-f", "raw", "-O", "qed", inner, outer).exitCode()).isZero();
        String open = "open -o driver=qed,file.driver=qed,file.file.filename=" + outer;
        QedRun write = QedRun.of("io", "-c", open, "-c", "read -P 42 0 512", "-c", "write -P 7 4096 512");
        assertThat(write.exitCode()).as(write.stdout() + write.stderr()).isZero();
        QedRun read = QedRun.of("io", "-c", open.replace("open ", "open -r "), "-c", "read -P 7 4096 512");
        assertThat(read.exitCode()).as("the write reached the outer image: " + read.stdout()).isZero();
        assertThat(QedRun.of("io", "-c", "read -P 42 0 512", outer).exitCode())
                .as("without the nesting, the outer image's first bytes are the inner header").isEqualTo(1);
    }

    @Test
    void imagesNamedAsQemuNamesThemOpenInIoAndTheImageCommands() throws IOException {
        Path p = image();
        assertThat(QedRun.of("io", "-c", "write -P 5 0 4k", p).exitCode()).isZero();
        String json = "json:{'driver': 'qed', 'file': {'driver': 'file', 'filename': '" + p + "'}}";
        assertThat(QedRun.of("io", "-c", "read -P 5 0 4k", json).exitCode()).as("qed io json:{…}").isZero();
        assertThat(QedRun.of("io", "--image-opts", "-c", "read -P 5 0 4k", "driver=qed,file.filename=" + p)
                .exitCode()).as("qed io --image-opts").isZero();
        assertThat(QedRun.of("info", json).stdout()).startsWith("image: " + p + "\n");
        assertThat(QedRun.of("info", "file:" + p).exitCode()).as("file: prefix").isZero();
    }
}
