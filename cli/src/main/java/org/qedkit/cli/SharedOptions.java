package org.qedkit.cli;

import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;

/**
 * The options that the image commands share, declared once as picocli mixins: each command
 * says {@code @Mixin ImageFile image;} and so on, and its help shows them as its own.
 */
final class SharedOptions {
    private SharedOptions() {
    }

    /** {@code -f FMT} and the image {@code FILE}: every command that works on one QED image. */
    static final class ImageFile {
        @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format: qed.")
        String format;

        @Option(names = "--image-opts", description = "FILE is QEMU's option string (driver=qed,file.filename=…).")
        boolean imageOpts;

        @Parameters(index = "0", paramLabel = "FILE",
                description = "The image: a file name, file:NAME, or json:{…} as QEMU takes them.")
        String name;

        /** The image's file, once {@link #qed} has resolved the name. */
        Path file;

        /** The name resolved, once {@link #qed} has run: what QEMU shows for it, its blkdebug rules. */
        ImageNames.Named named;

        /**
         * The file the name stands for ({@link ImageNames}), after refusing any format but
         * qed (from {@code -f} or the name's {@code driver}), in {@code command}'s words.
         */
        Path qed(String command) {
            named = qedName(command, name, imageOpts, format);
            file = named.file();
            return file;
        }
    }

    /**
     * The file an image name stands for ({@link ImageNames}), after refusing any format but
     * qed (from {@code format}, the {@code -f} given, or the name's {@code driver}), in
     * {@code command}'s words. For commands whose image is not {@link ImageFile}'s required
     * FILE.
     */
    static Path qedFile(String command, String name, boolean imageOpts, String format) {
        return qedName(command, name, imageOpts, format).file();
    }

    /** As {@link #qedFile}, with everything the name said. */
    static ImageNames.Named qedName(String command, String name, boolean imageOpts, String format) {
        if (imageOpts && format != null) {
            throw new CliException("--image-opts and --format are mutually exclusive");
        }
        ImageNames.Named named = ImageNames.resolve(name, imageOpts);
        CliException.requireQed(command, format != null ? format
                : named.format() != null ? named.format() : "qed");
        return named;
    }

    /** {@code -U}: inspect an image another process uses, without taking a lock. */
    static final class ForceShare {
        @Option(names = {"-U", "--force-share"}, description = "Take no lock (reads only): use an image another process has open.")
        boolean on;
    }

    /** {@code -q}: print nothing but errors (the exit code says the rest). */
    static final class Quiet {
        @Option(names = "-q", description = "Quiet: print nothing but errors.")
        boolean on;
    }

    /** {@code --output human|json}, checked when asked. */
    static final class Output {
        @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "human", description = "human or json.")
        String format;

        /** True for json, false for human; anything else is refused. */
        boolean json() {
            if (!format.equals("human") && !format.equals("json")) {
                throw new CliException("--output must be human or json, not '" + format + "'");
            }
            return format.equals("json");
        }
    }

    /** {@code -p}: show progress while copying. */
    static final class ShowProgress {
        @Option(names = "-p", description = "Show progress.")
        boolean on;
    }
}
