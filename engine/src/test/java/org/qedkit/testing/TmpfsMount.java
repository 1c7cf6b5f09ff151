package org.qedkit.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A small tmpfs mounted for one test: a disk that fills up, or one remounted read-only.
 * Mounting needs root; under {@code CI=true} a failed mount fails the test, elsewhere the
 * test is skipped with the reason.
 */
public final class TmpfsMount implements AutoCloseable {
    private final Path path;

    private TmpfsMount(Path path) {
        this.path = path;
    }

    /** Mounts a tmpfs of {@code size} (as mount's {@code size=} option, e.g. "2m") at a new directory in {@code parent}. */
    public static TmpfsMount mount(Path parent, String size) throws IOException {
        Path at = Files.createDirectory(parent.resolve("tmpfs"));
        QemuTools.Result r = QemuTools.run(List.of("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", at.toString()));
        if (r.exitCode() != 0) {
            String why = "cannot mount a tmpfs (needs root): " + r.stderr().strip();
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(why);
            }
            org.junit.jupiter.api.Assumptions.abort(why);
        }
        return new TmpfsMount(at);
    }

    public Path path() {
        return path;
    }

    /** Remounts it read-only ({@code false}) or read-write again ({@code true}). */
    public void remount(boolean writable) {
        QemuTools.Result r = QemuTools.run(List.of("mount", "-o", "remount," + (writable ? "rw" : "ro"), path.toString()));
        if (r.exitCode() != 0) {
            throw new AssertionError("remount of " + path + " failed: " + r.stderr().strip());
        }
    }

    @Override
    public void close() {
        QemuTools.run(List.of("umount", "-l", path.toString()));
    }
}
