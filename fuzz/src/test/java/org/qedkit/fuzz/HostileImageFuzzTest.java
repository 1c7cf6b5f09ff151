package org.qedkit.fuzz;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Structure-aware random fuzzing of hostile images (see {@link HostileImageScenario} for
 * what each case does and what must hold), one case per seed, each bounded in time so a
 * hang fails the test instead of stalling the build.
 *
 * <p>{@code -Dqedkit.fuzz.cases=N} runs more cases; {@code -Dqedkit.fuzz.seed=S} replays one.
 * {@link CoverageGuidedImageFuzzTest} runs the same scenario under Jazzer's coverage guidance.
 */
class HostileImageFuzzTest {
    @TempDir
    Path dir;

    static LongStream seeds() {
        String one = System.getProperty("qedkit.fuzz.seed");
        if (one != null) {
            return LongStream.of(Long.parseLong(one));
        }
        return new SplittableRandom(0xf022).longs(Integer.getInteger("qedkit.fuzz.cases", 300));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void everyOperationOnADamagedImageSucceedsOrThrowsAnIOException(long seed) {
        HostileImageScenario scenario = new HostileImageScenario(dir);
        assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> scenario.run(Choices.of(new SplittableRandom(seed)), "seed " + seed), "seed " + seed + " hung");
    }
}
