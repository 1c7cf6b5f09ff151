package org.qedkit.cli;

import java.nio.file.Path;

/**
 * The options that the image commands share, declared once: each command holds a group
 * ({@code final ImageFile image = new ImageFile();} and so on) and declares it into its
 * own options ({@code image.declare(b)}, {@link SpecBuilder}), so its help shows them as
 * its own.
 */
final class SharedOptions {
    private SharedOptions() {
    }

    /** {@code -f FMT} and the image {@code FILE}: every command that works on one QED image. */
    static final class ImageFile {
        String format;
        boolean imageOpts;
        String name;

        void declare(SpecBuilder b) {
            b.option("-f --format").label("FMT").describe("Image format: qed.")
                    .text(() -> format, v -> format = v);
            b.option("--image-opts").describe("FILE is QEMU's option string (driver=qed,file.filename=…).")
                    .flag(() -> imageOpts, v -> imageOpts = v);
            b.positional("0").label("FILE").describe("The image: a file name, file:NAME, or json:{…} as QEMU takes them.")
                    .text(() -> name, v -> name = v);
        }

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
        boolean on;

        void declare(SpecBuilder b) {
            b.option("-U --force-share").describe("Take no lock (reads only): use an image another process has open.")
                    .flag(() -> on, v -> on = v);
        }
    }

    /** {@code -q}: print nothing but errors (the exit code says the rest). */
    static final class Quiet {
        boolean on;

        void declare(SpecBuilder b) {
            b.option("-q").describe("Quiet: print nothing but errors.").flag(() -> on, v -> on = v);
        }
    }

    /** {@code --output human|json}, checked when asked. */
    static final class Output {
        String format;

        void declare(SpecBuilder b) {
            b.option("--output").label("FORMAT").defaultValue("human").describe("human or json.")
                    .text(() -> format, v -> format = v);
        }

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
        boolean on;

        void declare(SpecBuilder b) {
            b.option("-p").describe("Show progress.").flag(() -> on, v -> on = v);
        }
    }
}
