package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.HeaderBits;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * {@code close()} while other threads write and flush, as a daemon's shutdown under load
 * does it. The rule: every request that returned before close began is committed by it;
 * every request that races close either completes normally or fails with an exception,
 * never hangs, never reports success and then vanishes; a clean close leaves NEED_CHECK
 * clear and no leaked space.
 */
class CloseRaceTest {
    private static final int CLUSTER = 64 * 1024;
    private static final long HANG = TimeUnit.SECONDS.toNanos(20);

    @TempDir
    Path dir;

    /** One writer's successes: guest offset and the seed of the bytes written there. */
    private record Written(long offset, int seed) {
    }

    @Test
    void everyRequestRacingCloseCompletesOrFailsAndNothingThatSucceededIsLost() throws Exception {
        SplittableRandom random = new SplittableRandom(20261127);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(8);
        int iterations = 0;
        while (iterations < 300 && (iterations < 40 || System.nanoTime() < until)) {
            race(dir.resolve("race-" + iterations + ".qed"), random.split());
            iterations++;
        }
        System.out.printf("close races: %d iterations%n", iterations);
    }

    private void race(Path p, SplittableRandom random) throws Exception {
        QedImage.create(p, CreateOptions.ofSize(1L << 30));
        QedImage image = QedImage.open(p);
        Queue<Written> succeeded = new ConcurrentLinkedQueue<>();
        Queue<CompletableFuture<Void>> futures = new ConcurrentLinkedQueue<>();
        Queue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        // Four lanes of guest space, one per writer, so every write takes a new cluster.
        List<Thread> threads = new ArrayList<>();
        threads.add(writer(image, 0, Durability.WRITE_THROUGH, succeeded, unexpected));
        threads.add(writer(image, 1, Durability.WRITE_BACK, succeeded, unexpected));
        threads.add(Thread.ofPlatform().start(() -> {
            try {
                for (int i = 0; ; i++) {
                    long offset = lane(2, i);
                    int seed = seed(2, i);
                    futures.add(image.writeAsync(offset, MemorySegment.ofArray(Bytes.random(seed, 512)),
                            Durability.WRITE_THROUGH).thenRun(() -> succeeded.add(new Written(offset, seed))));
                    if (futures.size() > 64) {
                        LockSupport.parkNanos(10_000);
                    }
                    if (futures.stream().anyMatch(CompletableFuture::isCompletedExceptionally)) {
                        return; // closed under it
                    }
                }
            } catch (Throwable t) {
                unexpected.add(t);
            }
        }));
        threads.add(Thread.ofPlatform().start(() -> {
            while (true) {
                try {
                    image.flush();
                } catch (IllegalStateException | IOException closed) {
                    return;
                } catch (Throwable t) {
                    unexpected.add(t);
                    return;
                }
            }
        }));
        LockSupport.parkNanos(random.nextLong(0, 3_000_000));
        image.close();

        for (Thread t : threads) {
            t.join(TimeUnit.NANOSECONDS.toMillis(HANG));
            if (t.isAlive()) {
                fail("a request racing close() hung: " + stackOf(t));
            }
        }
        for (CompletableFuture<Void> f : futures) {
            try {
                f.handle((ok, error) -> null).get(HANG, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                fail("a writeAsync future racing close() never completed");
            }
        }
        assertThat(unexpected).as("failures other than 'closed'").isEmpty();
        assertThat(HeaderBits.features(p) & QedHeader.FEATURE_NEED_CHECK).as("NEED_CHECK after a clean close").isZero();
        CheckResult check = QedImage.check(p, CheckMode.REPORT);
        assertThat(check.isClean()).as("check after close: %s", check.problems()).isTrue();
        try (QedImage reopened = QedImage.open(p, OpenOptions.READ_ONLY)) {
            for (Written w : succeeded) {
                byte[] back = new byte[512];
                reopened.read(w.offset(), back);
                assertThat(back).as("a write that reported success at %d", w.offset()).isEqualTo(Bytes.random(w.seed(), 512));
            }
        }
    }

    private static Thread writer(QedImage image, int lane, Durability durability, Queue<Written> succeeded,
                                 Queue<Throwable> unexpected) {
        return Thread.ofPlatform().start(() -> {
            for (int i = 0; ; i++) {
                long offset = lane(lane, i);
                try {
                    image.write(offset, MemorySegment.ofArray(Bytes.random(seed(lane, i), 512)), durability);
                    succeeded.add(new Written(offset, seed(lane, i)));
                } catch (IllegalStateException | IOException closed) {
                    return;
                } catch (Throwable t) {
                    unexpected.add(t);
                    return;
                }
            }
        });
    }

    private static long lane(int lane, int i) {
        return ((long) i * 4 + lane) * CLUSTER;
    }

    private static int seed(int lane, int i) {
        return i * 4 + lane;
    }

    private static String stackOf(Thread t) {
        StringBuilder b = new StringBuilder(t.getName());
        for (StackTraceElement e : t.getStackTrace()) {
            b.append("\n  at ").append(e);
        }
        return b.toString();
    }
}
