package org.qedkit.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed io}: runs qemu-io commands against a QED image. Scripts written for
 * {@code qemu-io -c …} run unchanged with the program name changed: the same commands,
 * argument syntax, success lines and exit code (1 when any command failed, including a
 * pattern mismatch; later commands still run, as in qemu-io).
 */
@Command(name = "io", description = "Run qemu-io commands (read, readv, write, writev, aio_read, aio_write, "
        + "discard, flush, truncate, length, info, alloc, map, open, close, help, sleep, quit) on a QED image "
        + "(or a raw file with -f raw).")
final class IoCommand implements Callable<Integer> {

    @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format: qed (default) or raw.")
    String format;
    @Parameters(index = "0", arity = "0..1", paramLabel = "FILE",
            description = "The image; without it, commands run until 'open' opens one.")
    String file;
    @Option(names = "--image-opts", description = "FILE is QEMU's option string (driver=qed,file.filename=…).")
    boolean imageOpts;
    @Mixin SharedOptions.ForceShare forceShare;
    @Option(names = {"-r", "--read-only"}, description = "Open the image read-only.") boolean readOnly;
    @Option(names = {"-C", "--copy-on-read"}, description = "Copy what is read from the backing file into the image.") boolean copyOnRead;
    @Option(names = {"-c", "--cmd"}, paramLabel = "COMMAND", description = "A command to run; may repeat.")
    List<String> commands = new ArrayList<>();

    @Option(names = {"-t", "--cache"}, paramLabel = "MODE", defaultValue = "writeback",
            description = "Cache mode, as qemu-io: writeback (default), none, unsafe: write-back; writethrough, directsync: every write durable when it returns.")
    String cache;
    @Option(names = {"-i", "--aio"}, paramLabel = "MODE", defaultValue = "threads",
            description = "Accepted as qemu-io accepts it (threads, native, io_uring); the engine writes through its mappings.")
    String aio;
    @Option(names = {"-d", "--discard"}, paramLabel = "MODE", defaultValue = "unmap",
            description = "What discards do, as in qemu-io: unmap or on (the default: whole clusters are freed and "
                    + "their space reused), ignore or off (discards succeed and change nothing).")
    String discard;
    @Option(names = {"-n", "--nocache"}, description = "As --cache none.") boolean nocache;
    @Option(names = {"-k", "--native-aio"}, description = "As --aio native.") boolean nativeAio;
    @Option(names = {"-s", "--snapshot"}, description = "Snapshot mode: writes go to a temporary overlay, deleted at the end; the image is not changed.") boolean snapshot;
    @Option(names = {"-m", "--misalign"}, description = "Accepted: buffers have no alignment to miss.") boolean misalign;

    @Spec CommandSpec spec;

    private final InputStream input;

    /** Reads commands from the process's standard input when no {@code -c} is given. */
    IoCommand() {
        this(System.in);
    }

    IoCommand(InputStream input) {
        this.input = input;
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String mode = nocache ? "none" : cache;
        if (!IoSession.isCacheMode(mode)) {
            throw new CliException("Invalid cache option: " + mode);
        }
        if (!nativeAio && !IoSession.isAioMode(aio)) {
            throw new CliException("Invalid aio option: " + aio);
        }
        if (!List.of("ignore", "off", "unmap", "on").contains(discard)) {
            throw new CliException("Invalid discard option: " + discard);
        }
        if (imageOpts && format != null) {
            throw new CliException("--image-opts and -f are mutually exclusive");
        }
        if (copyOnRead && readOnly) {
            throw new CliException("can't open device " + file + ": Can't use copy-on-read on read-only device");
        }
        IoSession.Request defaults = new IoSession.Request(format == null ? "qed" : format, readOnly, copyOnRead,
                forceShare.on, mode, snapshot, "", true).discard(discard);
        boolean allOk = true;
        try (IoSession session = new IoSession(defaults, err)) {
            if (file != null) {
                boolean opened = imageOpts ? session.open(null, defaults.withOptions(file))
                        : session.open(file, defaults);
                if (!opened) {
                    return 1;
                }
            }
            IoInterpreter interpreter = new IoInterpreter(session, out, err);
            if (!commands.isEmpty()) {
                for (String command : commands) {
                    if (interpreter.quitRequested()) {
                        break;
                    }
                    allOk &= interpreter.execute(command);
                }
            } else {
                allOk = readCommands(interpreter, out);
            }
        }
        return allOk ? 0 : 1;
    }

    /**
     * Without {@code -c}, commands come from standard input, one a line, until its end or
     * {@code quit}. Like qemu-io, the {@code qemu-io> } prompt is printed before each line
     * whether or not a person is typing (QEMU's tests filter it out of piped output).
     */
    private boolean readCommands(IoInterpreter interpreter, PrintWriter out) throws IOException {
        BufferedReader lines = new BufferedReader(new InputStreamReader(input, StandardCharsets.UTF_8));
        boolean allOk = true;
        while (!interpreter.quitRequested()) {
            out.print("qemu-io> ");
            out.flush();
            String line = lines.readLine();
            if (line == null) {
                return allOk;
            }
            allOk &= interpreter.execute(line);
        }
        return allOk;
    }
}
