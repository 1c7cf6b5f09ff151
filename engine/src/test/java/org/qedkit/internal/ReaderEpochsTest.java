package org.qedkit.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The grace period, as the reclaimer sees it: the epoch passes {@code retireEpoch() + 2}
 * only after every section that was open at the retirement has closed, on platform and
 * virtual threads alike; sections that open later never hold it up; a nested section does
 * not end its outer one.
 */
class ReaderEpochsTest {

    /** A thread that opens a section, and closes it (and ends) when closed. */
    static final class Reader implements AutoCloseable {
        private final CountDownLatch entered = new CountDownLatch(1);
        private final CountDownLatch release = new CountDownLatch(1);
        private final Thread thread;

        private Reader(ReaderEpochs epochs, boolean virtual) {
            Runnable body = () -> {
                int token = epochs.enter();
                entered.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    epochs.exit(token);
                }
            };
            thread = virtual ? Thread.ofVirtual().start(body) : Thread.ofPlatform().start(body);
        }

        /** Starts a reader and returns once its section is open. */
        static Reader inSection(ReaderEpochs epochs, boolean virtual) throws InterruptedException {
            Reader reader = new Reader(epochs, virtual);
            assertThat(reader.entered.await(10, TimeUnit.SECONDS)).as("reader entered").isTrue();
            return reader;
        }

        @Override
        public void close() throws InterruptedException {
            release.countDown();
            thread.join(10_000);
            assertThat(thread.isAlive()).as("reader ended").isFalse();
        }
    }

    private static void advanceAsFarAsPossible(ReaderEpochs epochs) {
        for (int i = 0; i < 8; i++) {
            epochs.tryAdvance();
        }
    }

    @ParameterizedTest(name = "virtual thread: {0}")
    @ValueSource(booleans = {false, true})
    void aSectionOpenAtRetirementHoldsTheGracePeriodUntilItCloses(boolean virtual) throws Exception {
        ReaderEpochs epochs = new ReaderEpochs();
        advanceAsFarAsPossible(epochs); // not at epoch 0: the reader reads a later epoch
        Reader reader = Reader.inSection(epochs, virtual);
        long retired = epochs.retireEpoch();
        advanceAsFarAsPossible(epochs);
        assertThat(epochs.isSafe(retired)).as("safe while a reader that may hold the old entry runs").isFalse();
        reader.close();
        advanceAsFarAsPossible(epochs);
        assertThat(epochs.isSafe(retired)).isTrue();
    }

    @ParameterizedTest(name = "virtual thread: {0}")
    @ValueSource(booleans = {false, true})
    void aSectionThatOpensAfterRetirementDoesNotHoldItUp(boolean virtual) throws Exception {
        ReaderEpochs epochs = new ReaderEpochs();
        long retired = epochs.retireEpoch();
        epochs.tryAdvance();
        try (Reader later = Reader.inSection(epochs, virtual)) {
            epochs.tryAdvance();
            assertThat(epochs.isSafe(retired)).isTrue();
            // It holds up only what is retired while it runs.
            long next = epochs.retireEpoch();
            advanceAsFarAsPossible(epochs);
            assertThat(epochs.isSafe(next)).isFalse();
        }
    }

    @Test
    void aNestedSectionDoesNotCloseTheOuterOne() {
        ReaderEpochs epochs = new ReaderEpochs();
        int outer = epochs.enter();
        long retired = epochs.retireEpoch();
        int inner = epochs.enter();
        epochs.exit(inner);
        advanceAsFarAsPossible(epochs);
        assertThat(epochs.isSafe(retired)).as("the outer section is still open").isFalse();
        epochs.exit(outer);
        advanceAsFarAsPossible(epochs);
        assertThat(epochs.isSafe(retired)).isTrue();
    }
}
