package org.qedkit.stress;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A short power-cut campaign, part of the default tests: a few workloads, every crash
 * state of their short epochs, samples of the long ones. Long campaigns:
 * {@code stress/run powercut --minutes N} (docs/crash-consistency.md).
 */
class PowerCutCampaignTest {
    @TempDir(factory = PowerCutCampaignTest.InMemory.class)
    Path dir;

    /**
     * Crash states are made in memory, so the disk's real syncs only cost time: the
     * campaign runs on tmpfs where there is one.
     */
    static final class InMemory implements org.junit.jupiter.api.io.TempDirFactory {
        @Override
        public Path createTempDirectory(org.junit.jupiter.api.extension.AnnotatedElementContext element,
                                        org.junit.jupiter.api.extension.ExtensionContext context) throws Exception {
            Path shm = Path.of("/dev/shm");
            return java.nio.file.Files.isDirectory(shm)
                    ? java.nio.file.Files.createTempDirectory(shm, "qedkit-powercut")
                    : java.nio.file.Files.createTempDirectory("qedkit-powercut");
        }
    }

    @Test
    void everyCrashStateOpensCleanWithEveryFlushedWriteIntact() throws Exception {
        QemuTools.require("qemu-img");
        ByteArrayOutputStream report = new ByteArrayOutputStream();
        PowerCutCampaign campaign = new PowerCutCampaign(dir, new PrintStream(report, true, StandardCharsets.UTF_8));
        PowerCutCampaign.Summary s = campaign.run(600, Long.MAX_VALUE, 7L);
        String text = report.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        assertThat(s.violations()).as(text).isZero();
        assertThat(s.states()).isGreaterThanOrEqualTo(600);
        assertThat(s.qemuChecks()).isPositive();
        // Only over a backing file can a crash show an entry that reached the disk before
        // its data; the seed is chosen so that some runs are.
        assertThat(s.runsOnABackingFile()).isPositive();
    }
}
