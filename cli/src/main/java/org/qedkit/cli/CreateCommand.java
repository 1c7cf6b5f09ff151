package org.qedkit.cli;

import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedIoException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code qed create}: as {@code qemu-img create -f qed}. */
final class CreateCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    java.util.List<String> options = new java.util.ArrayList<>();
    String backingFile;
    String backingFormat;
    boolean unsafe;
    String size;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("create", this, "Create a new QED image, as qemu-img create -f "
                + "qed does.");
        image.declare(b);
        quiet.declare(b);
        b.option("-o").label("OPTIONS")
                .describe("cluster_size=…,table_size=…,backing_file=…,backing_fmt=… (comma-separated, may repeat).")
                .list(() -> options, v -> options = v);
        b.option("-b").label("BACKING_FILE")
                .describe("Backing file name, stored as given.")
                .text(() -> backingFile, v -> backingFile = v);
        b.option("-F").label("BACKING_FMT")
                .describe("Backing file format (raw or qed).")
                .text(() -> backingFormat, v -> backingFormat = v);
        b.option("-u")
                .describe("Unsafe: create the image even when its backing file cannot be opened.")
                .flag(() -> unsafe, v -> unsafe = v);
        b.positional("1").label("SIZE").arity("0..1")
                .describe("Size with optional suffix k, M, G, T, P, E; defaults to the backing file's size.")
                .text(() -> size, v -> size = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("create");
        QedImageOptions parsed = QedImageOptions.parse("create", options);
        Integer clusterSize = parsed.clusterSize();
        Integer tableSize = parsed.tableSize();
        boolean tableSizeGiven = tableSize != null;
        if (parsed.backingFile() != null) {
            backingFile = parsed.backingFile();
        }
        if (parsed.backingFormat() != null) {
            backingFormat = parsed.backingFormat();
        }
        if (backingFile != null && !unsafe && !Files.exists(BackingFiles.resolve(file, backingFile))) {
            // qemu-img opens the backing file before it looks at its format: the same order.
            throw new CliException(file + ": Could not open '" + BackingFiles.resolve(file, backingFile)
                    + "': No such file or directory\nCould not open backing image.",
                    "-u creates the image anyway, as qemu-img's does");
        }
        if (backingFile != null && backingFormat == null) {
            throw new CliException(file + ": a backing file needs its format (-F raw or -F qed), as qemu-img 7.2 requires");
        }
        if (backingFormat != null && !backingFormat.equals("raw") && !backingFormat.equals("qed")) {
            throw new CliException(file + ": backing format '" + backingFormat + "' is not supported; use raw or qed");
        }
        if (backingFile != null) {
            BackingFiles.refuseLoop(file, BackingFiles.resolve(file, backingFile));
        }
        long bytes = size != null ? parseSize(size) : sizeOfBacking();
        CreateOptions create = CreateOptions.ofSize(bytes);
        if (clusterSize != null) {
            create = create.withClusterSize(clusterSize);
        }
        if (tableSize != null) {
            create = create.withTableSize(tableSize);
        }
        if (backingFile != null) {
            create = create.withBackingFile(backingFile, backingFormat);
        }
        if (!quiet.on) {
            StringBuilder line = new StringBuilder("Formatting '").append(image.name).append("', fmt=qed size=")
                    .append(bytes); // as typed, as qemu-img prints it (the image holds it rounded up to 512)
            if (backingFile != null) {
                // Option values as QEMU prints them: a comma doubled, as its option syntax escapes it.
                line.append(" backing_file=").append(backingFile.replace(",", ",,"))
                        .append(" backing_fmt=").append(backingFormat.replace(",", ",,"));
            }
            line.append(" cluster_size=").append(create.clusterSize());
            if (tableSizeGiven) {
                line.append(" table_size=").append(create.tableSize());
            }
            spec.commandLine().getOut().println(line);
        }
        try {
            QedImage.create(file, create);
        } catch (QedIoException e) {
            throw new CliException(file + ": " + QemuMessages.createFailure(file, e), e.getMessage());
        } catch (QedException e) {
            throw new CliException(file + ": " + e.getMessage());
        }
        return 0;
    }

    private static long parseSize(String text) {
        try {
            return Sizes.parse(text);
        } catch (IllegalArgumentException e) {
            throw new CliException("Invalid image size specified: " + e.getMessage());
        }
    }

    private long sizeOfBacking() throws IOException {
        if (backingFile == null) {
            throw new CliException("create: a size is needed when there is no backing file");
        }
        Path backing = BackingFiles.resolve(image.file, backingFile);
        if (!Files.exists(backing)) {
            throw new CliException(image.file + ": could not open backing file '" + backing
                    + "' to take its size: no such file");
        }
        if ("raw".equals(backingFormat)) {
            return Files.size(backing);
        }
        try (QedImage base = QedImage.open(backing, OpenOptions.READ_ONLY)) {
            return base.size();
        }
    }
}
