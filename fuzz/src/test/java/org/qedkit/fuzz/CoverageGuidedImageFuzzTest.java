package org.qedkit.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;

/**
 * Coverage-guided fuzzing of hostile images with Jazzer: the {@link HostileImageScenario}
 * takes every decision (image geometry, the damage, offsets and lengths of reads and
 * writes) from the fuzzer's input, so libFuzzer's mutations steer it toward engine code no
 * input has reached yet.
 *
 * <p>Two ways in. In the default tests, JUnit runs {@link #hostileImage} in Jazzer's
 * regression mode: once for every input kept under
 * {@code src/test/resources/org/qedkit/fuzz/CoverageGuidedImageFuzzTestInputs/hostileImage/} (the seed
 * corpus and every finding, which stay there as regression tests). For long runs,
 * {@code fuzz/run DURATION} starts Jazzer's own driver on {@link #fuzzerTestOneInput}
 * with the engine instrumented for coverage.
 */
public final class CoverageGuidedImageFuzzTest {
    /** The entry point Jazzer's standalone driver calls, once per input. */
    public static void fuzzerTestOneInput(FuzzedDataProvider data) throws IOException {
        new HostileImageScenario(FuzzScratch.directory()).run(Choices.of(data), "fuzzer input");
    }

    @FuzzTest(maxDuration = "60s")
    void hostileImage(FuzzedDataProvider data) throws IOException {
        fuzzerTestOneInput(data);
    }
}
