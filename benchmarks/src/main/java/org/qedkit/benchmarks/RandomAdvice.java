package org.qedkit.benchmarks;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * {@code madvise(MADV_RANDOM)} for the baselines' and probes' mappings, as the engine advises
 * the space it reserves: a fault there then brings in its own page, without reading around it.
 */
final class RandomAdvice {
    private static final int MADV_RANDOM = 1;

    private RandomAdvice() {
    }

    /** Advises the whole of {@code map}. */
    static void adviseRandom(MemorySegment map) throws IOException {
        Linker linker = Linker.nativeLinker();
        MethodHandle madvise = linker.downcallHandle(linker.defaultLookup().find("madvise").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        int rc;
        try {
            rc = (int) madvise.invokeExact(map, map.byteSize(), MADV_RANDOM);
        } catch (Throwable t) {
            throw new IOException("madvise(MADV_RANDOM) could not be called", t);
        }
        if (rc != 0) {
            throw new IOException("madvise(MADV_RANDOM) failed");
        }
    }
}
