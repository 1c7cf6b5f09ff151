package org.qedkit.cli;

import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * {@code qed compare}: as {@code qemu-img compare}, for QED and raw images: exit 0 when the
 * guest contents are equal, 1 when they differ (naming the first differing 512-byte
 * sector, as qemu-img does), 2 when an image cannot be opened, 3 when reading fails.
 * Images of different sizes compare equal when the larger one holds only zeros past the
 * smaller one's end, unless {@code -s} asks for equal sizes too.
 */
final class CompareCommand implements Callable<Integer>, DeclaredCommand {

    private static final int SECTOR = 512;
    private static final int CHUNK = 1 << 20;

    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    String format1;
    String format2;
    boolean strict;
    Path file1;
    Path file2;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("compare", this, "Compare the guest contents of two images, as "
                + "qemu-img compare does.");
        forceShare.declare(b);
        quiet.declare(b);
        b.option("-f").label("FMT")
                .describe("Format of the first image: qed or raw (probed if not given).")
                .text(() -> format1, v -> format1 = v);
        b.option("-F").label("FMT")
                .describe("Format of the second image: qed or raw (probed if not given).")
                .text(() -> format2, v -> format2 = v);
        b.option("-s")
                .describe("Strict: images of different sizes are different.")
                .flag(() -> strict, v -> strict = v);
        b.positional("0").label("FILE1")
                .typed(Path.class, () -> file1, v -> file1 = v);
        b.positional("1").label("FILE2")
                .typed(Path.class, () -> file2, v -> file2 = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        SourceImage a;
        SourceImage b;
        try {
            a = open(file1, format1);
        } catch (IOException e) {
            return cannotOpen(err, file1, e);
        } catch (CliException e) {
            err.println("qemu-img: Could not open '" + file1 + "': " + e.getMessage());
            return 2;
        }
        try {
            b = open(file2, format2);
        } catch (IOException e) {
            closeQuietly(a);
            return cannotOpen(err, file2, e);
        } catch (CliException e) {
            closeQuietly(a);
            err.println("qemu-img: Could not open '" + file2 + "': " + e.getMessage());
            return 2;
        }
        try (a; b) {
            if (a.size() != b.size() && strict) {
                say(out, "Strict mode: Image size mismatch!");
                return 1;
            }
            long common = Math.min(a.size(), b.size());
            byte[] x = new byte[CHUNK];
            byte[] y = new byte[CHUNK];
            for (long off = 0; off < common; off += CHUNK) {
                int n = (int) Math.min(CHUNK, common - off);
                a.read(off, x, n);
                b.read(off, y, n);
                int at = Arrays.mismatch(x, 0, n, y, 0, n);
                if (at >= 0) {
                    return mismatch(out, off + at);
                }
            }
            if (a.size() != b.size()) {
                // Only once the common part matched, as qemu-img says it.
                say(out, "Warning: Image size mismatch!");
            }
            SourceImage larger = a.size() > b.size() ? a : b;
            for (long off = common; off < larger.size(); off += CHUNK) {
                int n = (int) Math.min(CHUNK, larger.size() - off);
                larger.read(off, x, n);
                for (int i = 0; i < n; i++) {
                    if (x[i] != 0) {
                        return mismatch(out, off + i);
                    }
                }
            }
            say(out, "Images are identical.");
            return 0;
        } catch (IOException e) {
            String line = "qemu-img: Error while reading: " + QemuIoText.strerror(e);
            err.println(line);
            Detail.print(err, line, e.getMessage());
            return 3;
        }
    }

    private static int cannotOpen(PrintWriter err, Object file, IOException e) {
        CliException failure = CliException.couldNotOpen(file, e);
        String line = "qemu-img: " + failure.getMessage();
        err.println(line);
        Detail.print(err, line, failure.detail());
        return 2;
    }

    private int mismatch(PrintWriter out, long offset) {
        say(out, "Content mismatch at offset " + (offset / SECTOR * SECTOR) + "!");
        return 1;
    }

    private void say(PrintWriter out, String line) {
        if (!quiet.on) {
            out.println(line);
            out.flush();
        }
    }

    private SourceImage open(Path file, String format) throws IOException {
        return SourceImage.open(file, format, forceShare.on);
    }

    private static void closeQuietly(SourceImage g) {
        try {
            g.close();
        } catch (IOException ignored) {
            // already failing; the open error is what the user needs
        }
    }
}
