package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@code ./qed} launcher, run as a user runs it, after {@code package} built the jar:
 * it finds the JDK 25 itself, needs no rebuild, prints no warning, and the README's
 * main-job line works exactly as written.
 */
class LauncherIT {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final String LAUNCHER = ROOT.resolve("qed").toString();

    @TempDir
    Path dir;

    @Test
    void theLauncherRunsTheCommandLineWithoutRebuildingOrWarnings() {
        Path image = dir.resolve("l.qed");
        QemuTools.Result create = QemuTools.run(List.of(LAUNCHER, "create", "-f", "qed", image.toString(), "64M")).ok();
        assertThat(create.stdout()).isEqualTo("Formatting '" + image + "', fmt=qed size=67108864 cluster_size=65536\n");
        assertThat(create.stderr()).as("no rebuild, no native-access warning").isEmpty();

        QemuTools.run(List.of(LAUNCHER, "io", "-c", "write -P 0xab 0 1M", image.toString())).ok();
        QemuTools.Result info = QemuTools.run(List.of(LAUNCHER, "info", "--output=json", image.toString())).ok();
        assertThat(info.stdout()).contains("\"virtual-size\": 67108864");
        QemuTools.qemuIo("-r", "-c", "read -P 0xab 0 1M", image).ok();

        QemuTools.Result failing = QemuTools.run(List.of(LAUNCHER, "info", dir.resolve("none.qed").toString()));
        assertThat(failing.exitCode()).isEqualTo(1);
        assertThat(failing.stderr()).startsWith("qemu-img: Could not open").hasLineCount(1);
    }

    @Test
    void theReadmeMainJobLineWorksAsWritten() throws IOException {
        String readme = Files.readString(ROOT.resolve("README.md"));
        String line = readme.lines().map(String::strip).filter(l -> l.startsWith("./qed create"))
                .findFirst().orElseThrow(() -> new AssertionError("README.md has no ./qed create line"));
        // Run where a user would, but in a folder of the test's own: a demo.qed the user made
        // by following the README in the project root is never touched (it used to be deleted).
        Path userDemo = ROOT.resolve("demo.qed");
        String before = Files.exists(userDemo) ? Files.size(userDemo) + "@" + Files.getLastModifiedTime(userDemo) : "none";
        Files.createSymbolicLink(dir.resolve("qed"), ROOT.resolve("qed"));
        QemuTools.Result run = QemuTools.run(List.of("bash", "-c", "cd " + dir + " && " + line)).ok();
        assertThat(run.stdout()).contains("wrote 1048576/1048576 bytes at offset 0")
                .contains("read 1048576/1048576 bytes at offset 0")
                .doesNotContain("Pattern verification failed")
                .contains("virtual size: 1 GiB (1073741824 bytes)");
        assertThat(dir.resolve("demo.qed")).exists();
        String after = Files.exists(userDemo) ? Files.size(userDemo) + "@" + Files.getLastModifiedTime(userDemo) : "none";
        assertThat(after).as("the project root's demo.qed").isEqualTo(before);
    }

    @Test
    void qedDetailAddsTheFieldTheValueAndTheRuleBelowQemusLine() throws Exception {
        Path p = dir.resolve("c.qed");
        QemuTools.run(List.of(LAUNCHER, "create", "-q", "-f", "qed", p.toString(), "1M")).ok();
        byte[] bytes = Files.readAllBytes(p);
        bytes[4] = 0x01; // cluster_size 65537
        Files.write(p, bytes);
        ProcessBuilder pb = new ProcessBuilder(LAUNCHER, "info", p.toString()).redirectErrorStream(true);
        pb.environment().put("QED_DETAIL", "1");
        Process process = pb.start();
        String output = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(process.waitFor()).isEqualTo(1);
        assertThat(output).isEqualTo("qemu-img: Could not open '" + p + "': QED cluster size is invalid\n"
                + "qed: detail: cluster_size is 65537: "
                + "must be a power of two from 4096 (4 KiB) to 67108864 (64 MiB)\n");
    }
}
