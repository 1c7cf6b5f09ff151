package org.qedkit.cli;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed dd}: qemu-img's dd. Operands {@code if=}, {@code of=}, {@code bs=},
 * {@code count=} and {@code skip=} as dd(1) spells them; the output is a new image
 * (raw by default, or qed with {@code -O qed}) of the size that is copied: the input from
 * {@code skip} blocks on, at most {@code count} blocks. A skip past the input's end makes an
 * empty output and says so, as dd(1) and qemu-img do.
 */
final class DdCommand implements Callable<Integer>, DeclaredCommand {

    String sourceFormat;
    String targetFormat;
    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    List<String> operands = new ArrayList<>();
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("dd", this, "Copy an image's guest contents into a new image, "
                + "dd-style (if=, of=, bs=, count=, skip=), as qemu-img dd does.");
        b.option("-f --format").label("FMT")
                .describe("Input format: qed or raw (probed when absent).")
                .text(() -> sourceFormat, v -> sourceFormat = v);
        b.option("-O").label("OUTPUT_FMT").defaultValue("raw")
                .describe("Output format: raw (default) or qed.")
                .text(() -> targetFormat, v -> targetFormat = v);
        forceShare.declare(b);
        b.positional("0..*").label("OPERAND")
                .describe("if=FILE, of=FILE, bs=BYTES (512), count=BLOCKS, skip=BLOCKS.")
                .list(() -> operands, v -> operands = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        String in = null;
        String out = null;
        long blockSize = 512;
        Long count = null;
        Long skip = null;
        for (String operand : operands) {
            int eq = operand.indexOf('=');
            String key = eq < 0 ? operand : operand.substring(0, eq);
            String value = eq < 0 ? "" : operand.substring(eq + 1);
            switch (key) {
                case "if" -> in = value;
                case "of" -> out = value;
                case "bs" -> {
                    blockSize = number("bs", value);
                    if (blockSize < 1 || blockSize > Integer.MAX_VALUE) {
                        throw new CliException("Invalid bs specified. Must be between 1 and " + Integer.MAX_VALUE + ".");
                    }
                }
                case "count" -> count = number("count", value);
                case "skip" -> skip = number("skip", value);
                default -> throw new CliException("unrecognized operand " + operand);
            }
        }
        if (in == null || out == null) {
            throw new CliException("Must specify both input and output files");
        }
        if (!targetFormat.equals("raw") && !targetFormat.equals("qed")) {
            throw new CliException("Unknown file format");
        }
        SourceImage source;
        try {
            source = SourceImage.open(Path.of(in), sourceFormat, forceShare.on);
        } catch (IOException e) {
            throw CliException.couldNotOpen(in, e);
        }
        try (source) {
            long size = source.size();
            if (count != null && count <= Long.MAX_VALUE / blockSize && count * blockSize < size) {
                size = count * blockSize;
            }
            boolean skipsPastEnd = skip != null && (skip > Long.MAX_VALUE / blockSize || size < skip * blockSize);
            long from = skip == null || skipsPastEnd ? 0 : skip * blockSize;
            long outSize = skipsPastEnd ? 0 : size - from;
            TargetImage target = create(Path.of(out), outSize);
            try (target) {
                if (skipsPastEnd) {
                    spec.commandLine().getErr().println("qemu-img: " + in + ": cannot skip to specified offset");
                    return 0;
                }
                byte[] buffer = new byte[(int) blockSize];
                for (long at = from, written = 0; at < size; ) {
                    int n = (int) Math.min(blockSize, size - at);
                    try {
                        source.read(at, buffer, n);
                    } catch (IOException e) {
                        throw new CliException("error while reading from input image file: "
                                + QemuIoText.strerror(e), e.getMessage());
                    }
                    try {
                        target.write(written, buffer, 0, n);
                    } catch (IOException e) {
                        throw new CliException("error while writing to output image file: "
                                + QemuIoText.strerror(e), e.getMessage());
                    }
                    at += n;
                    written += n;
                }
            }
        }
        return 0;
    }

    private TargetImage create(Path file, long size) throws IOException {
        try {
            if (targetFormat.equals("raw")) {
                return TargetImage.raw(file, size, true);
            }
            QedImage.create(file, CreateOptions.ofSize(size));
            return TargetImage.of(QedImage.open(file, OpenOptions.READ_WRITE));
        } catch (IOException e) {
            throw new CliException(file + ": error while creating output image: " + QemuIoText.strerror(e),
                    e.getMessage());
        }
    }

    /** qemu-img's {@code cvtnum}, with its message naming the operand. */
    private static long number(String name, String value) {
        try {
            return Sizes.parse(value);
        } catch (IllegalArgumentException e) {
            throw new CliException("Invalid " + name + " specified. You may use k, M, G, T, P or E suffixes for "
                    + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
        }
    }
}
