package org.qedkit.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
    private static Path dir;

    /** The entry point Jazzer's standalone driver calls, once per input. */
    public static void fuzzerTestOneInput(FuzzedDataProvider data) throws IOException {
        new HostileImageScenario(workDirectory()).run(Choices.of(data), "fuzzer input");
    }

    @FuzzTest(maxDuration = "60s")
    void hostileImage(FuzzedDataProvider data) throws IOException {
        fuzzerTestOneInput(data);
    }

    /**
     * One directory for the whole run, on tmpfs when there is one: every case syncs what it
     * writes, and a sync there costs nothing, so a run spends its time in the engine.
     */
    private static synchronized Path workDirectory() {
        if (dir == null) {
            try {
                Path shm = Path.of("/dev/shm");
                dir = Files.isDirectory(shm) && Files.isWritable(shm)
                        ? Files.createTempDirectory(shm, "qedkit-fuzz")
                        : Files.createTempDirectory("qedkit-fuzz");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            dir.toFile().deleteOnExit();
        }
        return dir;
    }
}
