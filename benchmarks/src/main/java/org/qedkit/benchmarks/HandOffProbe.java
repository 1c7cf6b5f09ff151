package org.qedkit.benchmarks;

import java.util.concurrent.locks.LockSupport;

/**
 * What one hand-off between two threads costs on this machine (issue 16, docs/performance.md
 * §13, "A fifth look"): a write-through write at depth 1 passes from the writer to the commit
 * thread and back, each time a park and an unpark. Two threads bounce a counter back and
 * forth, parking between turns ({@code park}) or spinning ({@code spin}); prints the mean
 * round trip of each third of the run.
 *
 * <p>Usage: {@code HandOffProbe park|spin [ROUND_TRIPS]}.
 */
public final class HandOffProbe {
    private static volatile long ping;
    private static volatile long pong;

    private HandOffProbe() {
    }

    public static void main(String[] args) throws InterruptedException {
        boolean spin = args[0].equals("spin");
        int roundTrips = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
        int third = roundTrips / 3;
        Thread caller = Thread.currentThread();
        Thread answerer = Thread.ofPlatform().daemon().start(() -> {
            for (long i = 1; i <= 3L * third; i++) {
                while (ping < i) {
                    waitATurn(spin);
                }
                pong = i;
                if (!spin) {
                    LockSupport.unpark(caller);
                }
            }
        });
        for (int part = 0; part < 3; part++) {
            long begin = System.nanoTime();
            for (long i = (long) part * third + 1; i <= (long) (part + 1) * third; i++) {
                ping = i;
                if (!spin) {
                    LockSupport.unpark(answerer);
                }
                while (pong < i) {
                    waitATurn(spin);
                }
            }
            System.out.printf("%s: %.1f µs a round trip%n", args[0], (System.nanoTime() - begin) / 1e3 / third);
        }
        answerer.join();
    }

    private static void waitATurn(boolean spin) {
        if (spin) {
            Thread.onSpinWait();
        } else {
            LockSupport.park();
        }
    }
}
