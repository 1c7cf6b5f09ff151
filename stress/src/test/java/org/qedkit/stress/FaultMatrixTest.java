package org.qedkit.stress;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The fault matrix, part of the default tests: for each workload, every {@code fdatasync}
 * of the image fails with EIO in one run (whatever step of a batch it is: data, L2
 * entries, L1 entries, or the header's NEED_CHECK), and every {@code fallocate} fails with
 * ENOSPC or EIO in another, and a workload that discards runs once where holes cannot be
 * punched (the engine zeroes instead, without an error); each run's crash states are verified as the power-cut campaign
 * does, plus what {@link PowerCutCampaign.Fault} requires of a failure: it is reported,
 * a failed sync is never followed by another, earlier flushed data reads back exactly.
 */
class FaultMatrixTest {
    @TempDir(factory = PowerCutCampaignTest.InMemory.class)
    Path dir;

    // One workload written back (seed 11) and one written through (seed 12); both allocate
    // across tables, so the matrix reaches every step of a batch.
    @ParameterizedTest(name = "workload seed {0}")
    @ValueSource(longs = {11, 12})
    void everyFailedSyncOrFallocateLeavesAConsistentImageAndReportsTheError(long seed) throws Exception {
        ByteArrayOutputStream report = new ByteArrayOutputStream();
        PowerCutCampaign campaign = new PowerCutCampaign(dir, new PrintStream(report, true, StandardCharsets.UTF_8));
        PowerCutCampaign.MatrixSummary s = campaign.faultMatrix(seed);
        String text = report.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        assertThat(s.problems()).as(text).isEmpty();
        assertThat(s.faultsInjected()).as("faults injected").isGreaterThanOrEqualTo(5);
        assertThat(s.states()).isPositive();
        if (seed == 12) { // its workload discards data: the matrix also runs it on a file system without hole punching
            assertThat(text).contains("punching unsupported        crash states");
        }
    }
}
