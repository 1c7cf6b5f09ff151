package org.qedkit.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The training run for the JVM's ahead-of-time cache (JEP 483/514): the {@code qed} launcher
 * runs this once after each build with {@code -XX:AOTCacheOutput}, and every later start
 * maps the classes it loaded and linked, already parsed and verified.
 *
 * <p>One JVM records one run, so this runs the commands that scripts call most, in-process,
 * on a scratch image in a temporary folder: create, info (human and JSON), io (write, read,
 * map), check, map and compare. Their output is discarded; a failure ends the run with
 * exit code 1 so the launcher keeps no cache from a broken run.
 *
 * <p>With the argument {@code engine}, it then runs the engine's own paths as well, through
 * {@code qed bench} on a fresh image: allocating write-through writes kept eight in flight
 * through the asynchronous API (the path {@code serve}'s writes take too), the same one at
 * a time, and cached reads. The launcher records that run into a second cache, which only
 * {@code bench} and {@code serve} map: their first requests then find the write path's
 * classes loaded and linked, where the short commands' cache stays as small as their start
 * wants it (docs/performance.md, section 13, "A fifteenth look").
 */
final class StartupTraining {
    private StartupTraining() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Files.createTempDirectory("qed-training-");
        PrintWriter sink = new PrintWriter(Writer.nullWriter());
        try {
            String image = dir.resolve("t.qed").toString();
            String copy = dir.resolve("u.qed").toString();
            String fresh = dir.resolve("w.qed").toString();
            run(sink, new String[][] {
                    {"create", "-f", "qed", image, "64M"},
                    {"info", image},
                    {"info", "--output=json", image},
                    {"io", "-c", "write -P 0x5a 0 64k", "-c", "read -P 0x5a 0 4k", "-c", "map", image},
                    {"io", "-r", "-c", "read 0 4k", image},
                    {"check", image},
                    {"map", "--output=json", image},
                    {"create", "-q", "-f", "qed", "-b", image, "-F", "qed", copy},
                    {"compare", image, copy},
            });
            if (List.of(args).contains("engine")) {
                run(sink, new String[][] {
                        {"bench", "-c", "20000", "-d", "1", image},
                        {"create", "-q", "-f", "qed", fresh, "1T"},
                        {"bench", "-w", "-t", "writethrough", "-d", "8", "-c", "300", "-S", "65536", fresh},
                        {"bench", "-w", "-t", "writethrough", "-d", "1", "-c", "100", "-S", "65536", "-o", "1G", fresh},
                });
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    /** Runs each command in turn; the first that fails ends the training with exit code 1. */
    private static void run(PrintWriter sink, String[][] commands) {
        for (String[] command : commands) {
            if (QedCommand.execute(command, sink, sink) != 0) {
                System.exit(1);
            }
        }
    }
}
