package org.qedkit.testing;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real QEMU tools (and any other external program) for interop tests.
 *
 * <p>A test that needs a tool calls {@link #require}. Where the tool is missing the test
 * fails under {@code CI=true} (CI must have installed it) and is reported as skipped,
 * with the reason, on a developer's machine.
 */
public final class QemuTools {
    private static final long TIMEOUT_SECONDS = 120;

    private QemuTools() {
    }

    /** What a finished program printed and returned. */
    public record Result(int exitCode, String stdout, String stderr) {
        /** Fails the test unless the program exited 0. */
        public Result ok() {
            Assertions.assertEquals(0, exitCode, () -> "exit code " + exitCode + "\nstdout:\n"
                    + stdout + "\nstderr:\n" + stderr);
            return this;
        }
    }

    /** Makes sure {@code tool} is on the PATH (see the class comment for what happens if not). */
    public static void require(String tool) {
        if (onPath(tool)) {
            return;
        }
        String message = tool + " is not installed (Debian: apt-get install -y qemu-utils libnbd-bin)";
        if ("true".equals(System.getenv("CI"))) {
            Assertions.fail(message + "; CI must install it");
        }
        Assumptions.abort(message);
    }

    public static boolean onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    public static Result qemuImg(Object... args) {
        require("qemu-img");
        return run(prepend("qemu-img", args));
    }

    public static Result qemuIo(Object... args) {
        require("qemu-io");
        return run(prepend("qemu-io", args));
    }

    private static List<String> prepend(String tool, Object... args) {
        List<String> command = new ArrayList<>();
        command.add(tool);
        for (Object a : args) {
            command.add(String.valueOf(a));
        }
        return command;
    }

    /** Runs {@code command} to completion, with no standard input. */
    public static Result run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(
                    new java.io.File("/dev/null"))).start();
            CompletableFuture<String> out = drain(p.getInputStream());
            CompletableFuture<String> err = drain(p.getErrorStream());
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                Assertions.fail(command + " did not finish within " + TIMEOUT_SECONDS + " s");
            }
            return new Result(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static CompletableFuture<String> drain(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }
}
