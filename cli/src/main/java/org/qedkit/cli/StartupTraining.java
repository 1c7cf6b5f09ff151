package org.qedkit.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
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
            String[][] commands = {
                    {"create", "-f", "qed", image, "64M"},
                    {"info", image},
                    {"info", "--output=json", image},
                    {"io", "-c", "write -P 0x5a 0 64k", "-c", "read -P 0x5a 0 4k", "-c", "map", image},
                    {"io", "-r", "-c", "read 0 4k", image},
                    {"check", image},
                    {"map", "--output=json", image},
                    {"create", "-q", "-f", "qed", "-b", image, "-F", "qed", copy},
                    {"compare", image, copy},
            };
            for (String[] command : commands) {
                if (QedCommand.execute(command, sink, sink) != 0) {
                    System.exit(1);
                }
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
