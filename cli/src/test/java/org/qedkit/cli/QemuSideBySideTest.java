package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code qed} and QEMU's tools given the same input print the same thing: qemu-io scripts
 * run under {@code qed io} by changing the program name, and {@code qed info} has
 * qemu-img's JSON keys and values.
 */
class QemuSideBySideTest {
    /** qemu-io's timing line differs from run to run in both programs. */
    private static final Pattern TIMING = Pattern.compile("(?m)^.*, \\d+ ops; .*\\n");
    private static final Pattern TOP_LEVEL_JSON = Pattern.compile("(?m)^    \"([^\"]+)\": (.*?),?$");

    @TempDir
    Path dir;

    @Test
    void aQemuIoScriptPrintsTheSameUnderQedIo() throws IOException {
        Path forQemu = dir.resolve("qemu.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", forQemu, "16M").ok();
        Path forQed = Files.copy(forQemu, dir.resolve("qed.qed"));
        List<String> script = List.of(
                "write -P 0x12 0 5000", "read -P 0x12 0 5000", "read -P 0x13 0 10",
                "write -z 65536 65536", "write -z 200000 1000", "write 1M 64k", "write -q 300 10",
                "map", "length", "info", "read -v 0 40", "flush", "read -P 0 65536 65536",
                "read 1k 2k", "sleep 1", "bogus", "read 0");

        QemuTools.Result qemu = QemuTools.qemuIo(withCommands(script, forQemu));
        QemuTools.Result qed = asResult(QedRun.of(prepend("io", withCommands(script, forQed))));

        assertThat(qed.exitCode()).isEqualTo(qemu.exitCode()).isEqualTo(1);
        assertThat(TIMING.matcher(qed.stdout()).replaceAll(""))
                .isEqualTo(TIMING.matcher(qemu.stdout()).replaceAll(""));
        // Both images now hold the same guest bytes.
        QemuTools.qemuImg("compare", forQemu, forQed).ok();
    }

    @Test
    void qemuIoThroughABlkdebugFilterAboveTheFormatFailsTheSameRequestsAsQemuIo() throws IOException {
        Path forQemu = dir.resolve("qemu.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", forQemu, "1M").ok();
        QemuTools.qemuIo("-c", "write -P 1 0 64k", forQemu).ok();
        Path forQed = Files.copy(forQemu, dir.resolve("qed.qed"));
        List<String> script = List.of("read 0 4k", "write 0 4k", "write 4k 4k", "read 4k 4k", "write -z 8k 4k",
                "discard 0 64k", "read 4k 1k");
        String[] ruleSets = {
                "[{'event': 'none', 'iotype': 'write', 'errno': 28, 'sector': 8}]",
                "[{'event': 'none', 'errno': 5, 'once': true}]",
                "[{'event': 'none', 'errno': 5, 'sector': 9}]",
                "[{'event': 'read_aio', 'errno': 5}]", // fired below the format: never reaches a filter above it
                "[{'event': 'none', 'iotype': 'discard', 'errno': 5}]",
                "[{'event': 'none', 'iotype': 'write-zeroes', 'errno': 5}]",
                "[{'event': 'none', 'iotype': 'read', 'errno': 28, 'sector': 0, 'once': true},"
                        + " {'event': 'none', 'iotype': 'read', 'errno': 5}]"};
        for (String rules : ruleSets) {
            QemuTools.Result qemu = QemuTools.qemuIo(withCommands(script, blkdebugAbove(forQemu, rules)));
            QemuTools.Result qed = asResult(QedRun.of(prepend("io", withCommands(script, blkdebugAbove(forQed, rules)))));
            assertThat(qed.exitCode()).as(rules).isEqualTo(qemu.exitCode());
            assertThat(TIMING.matcher(qed.stdout()).replaceAll("")).as(rules)
                    .isEqualTo(TIMING.matcher(qemu.stdout()).replaceAll(""));
        }
        // (The images are not compared: qed io's discard frees clusters, QEMU's QED driver ignores it.)

        // A filter straight over the file, no format under it: the file's own bytes.
        String overFile = "json:{'driver': 'blkdebug', 'inject-error': [{'event': 'none', 'iotype': 'read',"
                + " 'sector': 1}], 'image': {'driver': 'file', 'filename': '%s'}}";
        List<String> raw = List.of("read -v 0 16", "read 0 4k");
        QemuTools.Result qemuRaw = QemuTools.qemuIo(withCommands(raw, String.format(overFile, forQemu)));
        QemuTools.Result qedRaw = asResult(QedRun.of(prepend("io", withCommands(raw, String.format(overFile, forQed)))));
        assertThat(qedRaw.exitCode()).isEqualTo(qemuRaw.exitCode());
        assertThat(TIMING.matcher(qedRaw.stdout()).replaceAll("")).isEqualTo(TIMING.matcher(qemuRaw.stdout()).replaceAll(""))
                .contains("QED.", "read failed: Input/output error");

        // Below the format, blkdebug's rules fail the file's own requests: refused, not approximated.
        String below = "json:{'driver': 'qed', 'file': {'driver': 'blkdebug', 'inject-error': [{'event': 'read_aio'}],"
                + " 'image': {'driver': 'file', 'filename': '" + forQed + "'}}}";
        QedRun refused = QedRun.of("io", "-c", "read 0 4k", below);
        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.stderr()).startsWith("qemu-io: can't open device json:")
                .contains("'file.inject-error.0.event'", "above the format");
    }

    private static String blkdebugAbove(Path image, String rules) {
        return "json:{'driver': 'blkdebug', 'inject-error': " + rules + ", 'image': {'driver': 'qed',"
                + " 'file': {'driver': 'file', 'filename': '" + image + "'}}}";
    }

    @Test
    void infoJsonHasQemuImgsKeysAndValues() throws IOException {
        Path base = dir.resolve("base.raw");
        Files.write(base, new byte[1 << 20]);
        Path plain = dir.resolve("plain.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "cluster_size=4096", plain, "10M").ok();
        QemuTools.qemuIo("-c", "write -P 1 0 100k", plain).ok();
        Path overlay = dir.resolve("overlay.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", base, "-F", "raw", overlay).ok();

        for (Path image : new Path[]{plain, overlay}) {
            Map<String, String> qemu = topLevel(QemuTools.qemuImg("info", "--output=json", image).ok().stdout());
            QedRun qed = QedRun.of("info", "--output=json", image);
            assertThat(qed.exitCode()).isZero();
            Map<String, String> ours = topLevel(qed.stdout());
            assertThat(ours.remove("format-specific")).isEqualTo("{");
            assertThat(ours).isEqualTo(qemu);
        }
    }

    @Test
    void checkPrintsWhatQemuImgCheckPrintsAndRepairsWhatItCannot() throws IOException {
        Path qemuCopy = dir.resolve("damaged.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "cluster_size=4096,table_size=2", qemuCopy, "16M").ok();
        QemuTools.qemuIo("-c", "write -P 1 0 16k", "-c", "write -z 32k 4k", qemuCopy).ok();
        // Damage: one entry shares another's cluster, one is misaligned, two clusters leak.
        try (var ch = java.nio.channels.FileChannel.open(qemuCopy, java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 4096);
            long l2 = b.getLong(0);
            b.clear();
            ch.read(b, l2);
            long first = b.getLong(0);
            ch.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, first), l2 + 8);
            ch.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, first + 5), l2 + 16);
            ch.write(java.nio.ByteBuffer.allocate(8192), ch.size());
        }
        Path ourCopy = Files.copy(qemuCopy, dir.resolve("ours.qed"));

        for (String output : new String[]{"human", "json"}) {
            QemuTools.Result qemu = QemuTools.qemuImg("check", "--output=" + output, qemuCopy);
            QedRun qed = QedRun.of("check", "--output=" + output, ourCopy);
            assertThat(qed.exitCode()).isEqualTo(qemu.exitCode()).isEqualTo(2);
            assertThat(qed.stdout().replace(ourCopy.toString(), "X"))
                    .isEqualTo(qemu.stdout().replace(qemuCopy.toString(), "X"));
            assertThat(qed.stderr()).contains("ERROR L2[0][1] = 0x3000: cluster referenced twice");
        }

        // QEMU's repair leaves the shared cluster and the leaks; ours leaves nothing.
        assertThat(QemuTools.qemuImg("check", "-r", "all", qemuCopy).exitCode()).isEqualTo(2);
        QedRun repaired = QedRun.of("check", "-r", "all", ourCopy);
        assertThat(repaired.exitCode()).isZero();
        assertThat(repaired.stdout()).startsWith("The following inconsistencies were found and repaired:")
                .contains("No errors were found on the image.");
        QemuTools.qemuImg("check", ourCopy).ok();
        QemuTools.qemuIo("-r", "-c", "read -P 1 0 8k", "-c", "read -P 0 8k 4k", "-c", "read -P 1 12k 4k", ourCopy).ok();
    }

    @Test
    void infoBackingChainMatchesQemuImgForAChainQemuBuilt() throws IOException {
        Path base = dir.resolve("cb.raw");
        QemuTools.qemuImg("create", "-q", "-f", "raw", base, "1M").ok();
        Path mid = dir.resolve("cm.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", "cb.raw", "-F", "raw", mid).ok();
        Path top = dir.resolve("ct.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", "cm.qed", "-F", "qed", top).ok();

        QedRun human = QedRun.of("info", "--backing-chain", top);
        assertThat(human.exitCode()).isZero();
        assertThat(human.stdout()).isEqualTo(QemuTools.qemuImg("info", "--backing-chain", top).ok().stdout());

        String ours = QedRun.of("info", "--backing-chain", "--output=json", top).stdout();
        String theirs = QemuTools.qemuImg("info", "--backing-chain", "--output=json", top).ok().stdout();
        String[] ourImages = ours.split("\n    \\},?\n");
        String[] theirImages = theirs.split("\n    \\},?\n");
        assertThat(ourImages).hasSameSizeAs(theirImages).hasSize(3 + 1);
        for (int i = 0; i < 3; i++) {
            Map<String, String> o = topLevelOf(ourImages[i]);
            o.remove("format-specific");
            assertThat(o).isEqualTo(topLevelOf(theirImages[i]));
        }
    }

    @Test
    void compareGivesQemuImgsAnswersAndExitCodes() throws IOException {
        Path a = dir.resolve("a.qed");
        Path same = dir.resolve("same.qed");
        Path other = dir.resolve("other.qed");
        Path bigger = dir.resolve("bigger.qed");
        Path raw = dir.resolve("a.raw");
        for (Path p : new Path[]{a, same, other}) {
            QemuTools.qemuImg("create", "-q", "-f", "qed", p, "1M").ok();
        }
        QemuTools.qemuImg("create", "-q", "-f", "qed", bigger, "2M").ok();
        QemuTools.qemuImg("create", "-q", "-f", "raw", raw, "1M").ok();
        QemuTools.qemuIo("-c", "write -P 3 100000 5", a).ok();
        QemuTools.qemuIo("-c", "write -P 3 100000 5", same).ok();
        QemuTools.qemuIo("-c", "write -P 4 100002 1", other).ok();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 3 100000 5", raw).ok();
        QemuTools.qemuIo("-c", "write -P 3 100000 5", "-c", "write -P 9 1536k 1", bigger).ok();
        Object[][] cases = {
                {a, same}, {a, other}, {a, bigger}, {"-s", a, bigger}, {"-f", "qed", "-F", "raw", a, raw},
                {a, raw}, {"-q", a, other}, {a, dir.resolve("missing.qed")}};
        for (Object[] args : cases) {
            QemuTools.Result qemu = QemuTools.qemuImg(prepend("compare", args));
            QedRun qed = QedRun.of(prepend("compare", args));
            assertThat(qed.exitCode()).as(java.util.Arrays.toString(args)).isEqualTo(qemu.exitCode());
            assertThat(qed.stdout()).as(java.util.Arrays.toString(args)).isEqualTo(qemu.stdout());
        }
    }

    private static Map<String, String> topLevelOf(String object) {
        return topLevel(object.replaceAll("(?m)^    ", ""));
    }

    private static Map<String, String> topLevel(String json) {
        Map<String, String> keys = new LinkedHashMap<>();
        Matcher m = TOP_LEVEL_JSON.matcher(json);
        while (m.find()) {
            keys.put(m.group(1), m.group(2));
        }
        return new java.util.TreeMap<>(keys);
    }

    private static Object[] withCommands(List<String> script, Object image) {
        List<Object> args = new ArrayList<>();
        for (String c : script) {
            args.add("-c");
            args.add(c);
        }
        args.add(image);
        return args.toArray();
    }

    private static Object[] prepend(String first, Object[] rest) {
        Object[] all = new Object[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    private static QemuTools.Result asResult(QedRun run) {
        return new QemuTools.Result(run.exitCode(), run.stdout(), run.stderr());
    }
}
