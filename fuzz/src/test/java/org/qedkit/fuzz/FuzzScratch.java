package org.qedkit.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The fuzz harnesses' working directory: one for the whole run, on tmpfs when there is one.
 * Every case syncs what it writes, and a sync there costs nothing, so a run spends its time in
 * the code under test.
 */
public final class FuzzScratch {
    private static Path dir;

    private FuzzScratch() {
    }

    /** {@return the run's working directory, made on first use and removed at exit when empty} */
    public static synchronized Path directory() {
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
