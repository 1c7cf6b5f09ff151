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
 * A short process-crash campaign, part of the default tests: a few children killed with
 * SIGKILL mid-workload, every image verified byte by byte and by {@code qemu-img check}.
 * Long campaigns: {@code stress/run --minutes N} (see docs/crash-consistency.md).
 */
class CrashCampaignTest {
    @TempDir
    Path dir;

    /** Runs a short campaign, echoes its report, and checks what every campaign must show. */
    private CrashCampaign.Summary run(boolean overNbd, int runs, long seed) throws Exception {
        QemuTools.require("qemu-img");
        ByteArrayOutputStream report = new ByteArrayOutputStream();
        CrashCampaign campaign = new CrashCampaign(dir, 3, new PrintStream(report, true, StandardCharsets.UTF_8), overNbd);
        CrashCampaign.Summary s = campaign.run(runs, Long.MAX_VALUE, seed);
        String text = report.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        assertThat(s.runs()).isEqualTo(runs);
        assertThat(s.violations()).as(text).isZero();
        // The campaign must have exercised something: flushed writes to verify, and writes
        // in flight that the kill cut off.
        assertThat(s.flushedOpsVerified()).as(text).isPositive();
        assertThat(s.unflushedOpsSeen()).as(text).isPositive();
        return s;
    }

    @Test
    void imagesKilledMidWorkloadKeepEveryFlushedWriteAndHaveNoCorruption() throws Exception {
        CrashCampaign.Summary s = run(false, 6, 20261125L);
        assertThat(s.runsOnABackingFile()).as("some runs copy-on-write from a backing file").isPositive();
    }

    @Test
    void imagesServedOverNbdAndKilledMidWorkloadKeepEveryWriteWhoseFlushWasAnswered() throws Exception {
        run(true, 4, 20261128L);
    }
}
