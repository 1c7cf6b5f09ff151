package org.qedkit.cli;

import org.qedkit.DataPastEnd;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedFormatException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code qed resize}: as {@code qemu-img resize}, with the same size syntax ({@code SIZE},
 * {@code +SIZE}, {@code -SIZE} after {@code --}), messages and exit codes. Unlike QEMU,
 * which cannot shrink a QED image at all, {@code --shrink} works: at once when nothing
 * but unallocated space lies past the new end, and with {@code --force} when data does
 * (it is discarded, and its clusters given back).
 */
final class ResizeCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    boolean shrink;
    boolean force;
    String size;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("resize", this, "Change the guest size of an image, as qemu-img "
                + "resize does (and shrink it, which QEMU cannot).");
        image.declare(b);
        quiet.declare(b);
        b.option("--shrink")
                .describe("Allow the image to get smaller.")
                .flag(() -> shrink, v -> shrink = v);
        b.option("--force")
                .describe("With --shrink: discard data that lies past the new end.")
                .flag(() -> force, v -> force = v);
        b.positional("1").label("[+|-]SIZE")
                .text(() -> size, v -> size = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("resize");
        long current;
        try (QedImage image = QedImage.open(file, OpenOptions.READ_ONLY)) {
            current = image.size();
        } catch (QedException e) {
            throw CliException.couldNotOpen(file, e);
        }
        boolean relative = size.startsWith("+") || size.startsWith("-");
        long amount;
        try {
            amount = Sizes.parse(relative ? size.substring(1) : size);
        } catch (IllegalArgumentException e) {
            throw new CliException("Parameter 'size' expects a non-negative number below 2^64" + System.lineSeparator()
                    + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-" + System.lineSeparator()
                    + "and exabytes, respectively.");
        }
        long target;
        if (size.startsWith("+")) {
            target = current + amount < current ? Long.MAX_VALUE : current + amount; // saturates: refused below
        } else if (size.startsWith("-")) {
            target = current - amount;
        } else {
            target = amount;
        }
        if (target < current && !shrink) {
            throw new CliException("Use the --shrink option to perform a shrink operation.");
        }
        if (target < 0) {
            throw new CliException("Invalid image size specified: " + size);
        }
        try {
            QedImage.resize(file, target, force ? DataPastEnd.DISCARD : DataPastEnd.REFUSE);
        } catch (QedFormatException e) {
            throw new CliException("Invalid image size specified: " + e.getMessage());
        } catch (QedException e) {
            throw new CliException("Failed to resize image: " + e.getMessage()
                    + (target < current && !force ? " (--force does)" : ""));
        }
        if (!quiet.on) {
            spec.commandLine().getOut().println("Image resized.");
        }
        return 0;
    }
}
