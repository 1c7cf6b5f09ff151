package org.qedkit.cli;

import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed io}: runs qemu-io commands against a QED image. Scripts written for
 * {@code qemu-io -c …} run unchanged with the program name changed: the same commands,
 * argument syntax, success lines and exit code (1 when any command failed, including a
 * pattern mismatch; later commands still run, as in qemu-io).
 */
@Command(name = "io", description = "Run qemu-io style commands (read, write, flush, map, info, "
        + "length, sleep) on a QED image.")
final class IoCommand implements Callable<Integer> {

    @Mixin SharedOptions.ImageFile image;
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
    @Option(names = {"-n", "--nocache"}, description = "As --cache none.") boolean nocache;
    @Option(names = {"-k", "--native-aio"}, description = "As --aio native.") boolean nativeAio;

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
        Path file = image.qed("io");
        if (forceShare.on && !readOnly) {
            throw new CliException("io: -U (force share) needs -r: only a read-only open may skip the locks");
        }
        Durability durability = durabilityOf(nocache ? "none" : cache);
        if (!nativeAio && !aio.equals("threads") && !aio.equals("native") && !aio.equals("io_uring")) {
            throw new CliException("Invalid aio option: " + aio);
        }
        QedImage image;
        try {
            image = QedImage.open(file, readOnly ? OpenOptions.READ_ONLY.withForceShare(forceShare.on)
                    : OpenOptions.READ_WRITE.toBuilder().copyOnRead(copyOnRead).durability(durability).build());
        } catch (QedException e) {
            throw new CliException("can't open device " + file + ": " + e.getMessage());
        }
        boolean allOk = true;
        try (image) {
            IoInterpreter interpreter = new IoInterpreter(image, spec.commandLine().getOut(),
                    spec.commandLine().getErr());
            if (!commands.isEmpty()) {
                for (String command : commands) {
                    allOk &= interpreter.execute(command);
                }
            } else {
                allOk = readCommands(interpreter);
            }
        }
        return allOk ? 0 : 1;
    }

    /**
     * Without {@code -c}, commands come from standard input, one a line, as qemu-io reads
     * them, until its end or {@code quit}; the {@code qemu-io> } prompt only when a person
     * is typing (a terminal).
     */
    private boolean readCommands(IoInterpreter interpreter) throws IOException {
        boolean prompt = input == System.in && System.console() != null;
        PrintWriter out = spec.commandLine().getOut();
        BufferedReader lines = new BufferedReader(new InputStreamReader(input, StandardCharsets.UTF_8));
        boolean allOk = true;
        while (true) {
            if (prompt) {
                out.print("qemu-io> ");
                out.flush();
            }
            String line = lines.readLine();
            if (line == null) {
                return allOk;
            }
            String command = line.strip();
            if (command.equals("quit") || command.equals("q")) {
                return allOk;
            }
            if (!command.isEmpty()) {
                allOk &= interpreter.execute(command);
            }
        }
    }

    /**
     * What each of qemu-io's cache modes means for a mapped image: {@code writethrough} and
     * {@code directsync} make every write durable before it returns (data and table
     * entries); {@code writeback}, {@code none} and {@code unsafe} return once the data is in
     * the mapping (durable at a flush, or within the engine's commit interval for new
     * clusters). There is no page cache to bypass: the mapping is the page cache, so
     * {@code none}'s O_DIRECT has nothing to skip, and {@code unsafe}'s ignored flushes are
     * not copied (a flush asked for is made).
     */
    static Durability durabilityOf(String cacheMode) {
        return switch (cacheMode) {
            case "writethrough", "directsync" -> Durability.WRITE_THROUGH;
            case "writeback", "none", "off", "unsafe" -> Durability.WRITE_BACK;
            default -> throw new CliException("Invalid cache option: " + cacheMode);
        };
    }
}
