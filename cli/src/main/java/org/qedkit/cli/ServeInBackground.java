package org.qedkit.cli;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code qed serve --fork}: the server goes on in the background and the command returns
 * once it listens, as {@code qemu-nbd --fork} does, so a script can start a server and use
 * its socket on the next line.
 *
 * <p>A JVM cannot {@code fork(2)} itself, so this starts a second one: the same Java, the
 * same JVM options and class path, {@code serve} with the same arguments but
 * {@code --fork}, and {@link ServeCommand#NOTIFY_READY} (hidden: the new server prints one
 * line on its standard error once it listens, after anything else it printed there). The new server runs in a session of its own
 * ({@code setsid}, when the system has it), as qemu-nbd's daemon does, so the terminal's
 * signals do not reach it; its standard input and output are {@code /dev/null}. What it
 * writes to standard error before it is ready is copied to this command's, and then, as
 * qemu-nbd's parent does, this command exits 1 if anything was written (but the JVM's
 * "Picked up JAVA_TOOL_OPTIONS" notice), 0 otherwise; if the
 * server ends before it is ready, with its exit code. After that the server's standard
 * error leads nowhere (qemu-nbd's goes to {@code /dev/null}).
 */
final class ServeInBackground {
    private static final Path SETSID = Path.of("/usr/bin/setsid");

    private ServeInBackground() {
    }

    /** Starts the server for {@code serveArgs} ({@code serve …}, as given) and waits until it listens. */
    static int start(List<String> serveArgs, PrintWriter err) throws IOException, InterruptedException {
        Process server = new ProcessBuilder(command(serveArgs))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        // One stream, in order: what the server says before it is ready, then the ready line.
        boolean wroteErrors = false;
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(server.getErrorStream(),
                StandardCharsets.UTF_8))) {
            for (String line; (line = lines.readLine()) != null; ) {
                if (line.equals(ServeCommand.READY_LINE)) {
                    return wroteErrors ? 1 : 0;
                }
                // The JVM's own notice of JAVA_TOOL_OPTIONS (or _JAVA_OPTIONS) is passed on
                // but is not the server's error.
                wroteErrors |= !line.startsWith("Picked up ");
                err.println(line);
                err.flush();
            }
        }
        int code = server.waitFor(); // it ended before it was ready
        return code != 0 ? code : 1;
    }

    private static List<String> command(List<String> serveArgs) {
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(SETSID)) {
            command.add(SETSID.toString());
        }
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(QedCommand.class.getName());
        command.add(serveArgs.get(0)); // "serve"
        command.add(ServeCommand.NOTIFY_READY); // before the rest: after a "--" it would be a file name
        for (String arg : serveArgs.subList(1, serveArgs.size())) {
            if (!arg.equals("--fork")) {
                command.add(arg);
            }
        }
        return command;
    }
}
