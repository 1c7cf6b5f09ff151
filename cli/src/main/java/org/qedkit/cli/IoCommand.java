package org.qedkit.cli;

import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
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

    @Option(names = {"-r", "--read-only"}, description = "Open the image read-only.")
    boolean readOnly;

    @Option(names = {"-f", "--format"}, paramLabel = "FMT", defaultValue = "qed",
            description = "Image format: qed.")
    String format;

    @Option(names = {"-U", "--force-share"}, description = "Take no lock (needs -r): read an image another process uses.")
    boolean forceShare;

    @Option(names = {"-C", "--copy-on-read"}, description = "Copy what is read from the backing file into the image.")
    boolean copyOnRead;

    @Option(names = {"-c", "--cmd"}, paramLabel = "COMMAND", description = "A command to run; may repeat.")
    List<String> commands = new ArrayList<>();

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        CliException.requireQed("io", format);
        if (forceShare && !readOnly) {
            throw new CliException("io: -U (force share) needs -r: only a read-only open may skip the locks");
        }
        QedImage image;
        try {
            image = QedImage.open(file, readOnly ? OpenOptions.READ_ONLY.withForceShare(forceShare)
                    : OpenOptions.READ_WRITE.withCopyOnRead(copyOnRead));
        } catch (QedException e) {
            throw new CliException("can't open device " + file + ": " + e.getMessage());
        }
        boolean allOk = true;
        try (image) {
            IoInterpreter interpreter = new IoInterpreter(image, spec.commandLine().getOut(),
                    spec.commandLine().getErr());
            for (String command : commands) {
                allOk &= interpreter.execute(command);
            }
        }
        return allOk ? 0 : 1;
    }
}
