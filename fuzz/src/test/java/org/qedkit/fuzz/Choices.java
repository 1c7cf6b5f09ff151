package org.qedkit.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;

import java.util.SplittableRandom;

/**
 * Where a fuzz scenario takes its decisions from. The same scenario runs on seeded random
 * numbers (reproducible by seed, in the default tests) and on a fuzzer's input bytes
 * (coverage-guided: Jazzer learns which bytes steer it into new code). Bounds are exclusive,
 * as in {@link SplittableRandom}.
 */
interface Choices {
    int nextInt(int bound);

    int nextInt(int origin, int bound);

    long nextLong();

    long nextLong(long bound);

    boolean nextBoolean();

    static Choices of(SplittableRandom random) {
        return new Choices() {
            @Override
            public int nextInt(int bound) {
                return random.nextInt(bound);
            }

            @Override
            public int nextInt(int origin, int bound) {
                return random.nextInt(origin, bound);
            }

            @Override
            public long nextLong() {
                return random.nextLong();
            }

            @Override
            public long nextLong(long bound) {
                return random.nextLong(bound);
            }

            @Override
            public boolean nextBoolean() {
                return random.nextBoolean();
            }
        };
    }

    /** Decisions read from fuzzer input; once it runs out, every choice is its lowest value. */
    static Choices of(FuzzedDataProvider data) {
        return new Choices() {
            @Override
            public int nextInt(int bound) {
                return data.consumeInt(0, bound - 1);
            }

            @Override
            public int nextInt(int origin, int bound) {
                return data.consumeInt(origin, bound - 1);
            }

            @Override
            public long nextLong() {
                return data.consumeLong();
            }

            @Override
            public long nextLong(long bound) {
                return data.consumeLong(0, bound - 1);
            }

            @Override
            public boolean nextBoolean() {
                return data.consumeBoolean();
            }
        };
    }
}
