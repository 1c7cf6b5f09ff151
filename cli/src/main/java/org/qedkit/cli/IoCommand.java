package org.qedkit.cli;

import picocli.CommandLine.Model.CommandSpec;

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
final class IoCommand implements Callable<Integer>, DeclaredCommand {

    String format;
    String file;
    boolean imageOpts;
    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    boolean readOnly;
    boolean copyOnRead;
    List<String> commands = new ArrayList<>();
    String cache;
    String aio;
    String discard;
    boolean nocache;
    boolean nativeAio;
    boolean snapshot;
    boolean misalign;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("io", this, "Run qemu-io commands (read, readv, write, writev, "
                + "aio_read, aio_write, discard, flush, truncate, length, info, alloc, map, open, close, help, "
                + "sleep, quit) on a QED image (or a raw file with -f raw).");
        b.option("-f --format").label("FMT")
                .describe("Image format: qed (default) or raw.")
                .text(() -> format, v -> format = v);
        b.positional("0").label("FILE").arity("0..1")
                .describe("The image; without it, commands run until 'open' opens one.")
                .text(() -> file, v -> file = v);
        b.option("--image-opts")
                .describe("FILE is QEMU's option string (driver=qed,file.filename=…).")
                .flag(() -> imageOpts, v -> imageOpts = v);
        forceShare.declare(b);
        b.option("-r --read-only")
                .describe("Open the image read-only.")
                .flag(() -> readOnly, v -> readOnly = v);
        b.option("-C --copy-on-read")
                .describe("Copy what is read from the backing file into the image.")
                .flag(() -> copyOnRead, v -> copyOnRead = v);
        b.option("-c --cmd").label("COMMAND")
                .describe("A command to run; may repeat.")
                .list(() -> commands, v -> commands = v);
        b.option("-t --cache").label("MODE").defaultValue("writeback")
                .describe("Cache mode, as qemu-io: writeback (default), none, unsafe: write-back; "
                        + "writethrough, directsync: every write durable when it returns.")
                .text(() -> cache, v -> cache = v);
        b.option("-i --aio").label("MODE").defaultValue("threads")
                .describe("Accepted as qemu-io accepts it (threads, native, io_uring); the engine writes "
                        + "through its mappings.")
                .text(() -> aio, v -> aio = v);
        b.option("-d --discard").label("MODE").defaultValue("unmap")
                .describe("What discards do, as in qemu-io: unmap or on (the default: whole clusters are "
                        + "freed and their space reused), ignore or off (discards succeed and change nothing).")
                .text(() -> discard, v -> discard = v);
        b.option("-n --nocache")
                .describe("As --cache none.")
                .flag(() -> nocache, v -> nocache = v);
        b.option("-k --native-aio")
                .describe("As --aio native.")
                .flag(() -> nativeAio, v -> nativeAio = v);
        b.option("-s --snapshot")
                .describe("Snapshot mode: writes go to a temporary overlay, deleted at the end; the image "
                        + "is not changed.")
                .flag(() -> snapshot, v -> snapshot = v);
        b.option("-m --misalign")
                .describe("Accepted: buffers have no alignment to miss.")
                .flag(() -> misalign, v -> misalign = v);
        spec = b.spec();
        return spec;
    }

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
