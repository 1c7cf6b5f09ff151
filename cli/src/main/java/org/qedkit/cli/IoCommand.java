package org.qedkit.cli;

import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

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

    @Mixin SharedOptions.ImageFile image;
    @Mixin SharedOptions.ForceShare forceShare;
    @Option(names = {"-r", "--read-only"}, description = "Open the image read-only.") boolean readOnly;
    @Option(names = {"-C", "--copy-on-read"}, description = "Copy what is read from the backing file into the image.") boolean copyOnRead;
    @Option(names = {"-c", "--cmd"}, paramLabel = "COMMAND", description = "A command to run; may repeat.")
    List<String> commands = new ArrayList<>();

    @Spec CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("io");
        if (forceShare.on && !readOnly) {
            throw new CliException("io: -U (force share) needs -r: only a read-only open may skip the locks");
        }
        QedImage image;
        try {
            image = QedImage.open(file, readOnly ? OpenOptions.READ_ONLY.withForceShare(forceShare.on)
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
