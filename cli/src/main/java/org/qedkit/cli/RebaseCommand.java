package org.qedkit.cli;

import org.qedkit.BackingFormat;
import org.qedkit.QedFiles;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * {@code qed rebase}: as {@code qemu-img rebase}. Safe by default: wherever the image
 * reads through its backing file and the new backing file holds other bytes, the old
 * bytes are copied into the image first (whole clusters), so the guest sees no change;
 * then the header names the new backing file. {@code -b ""} removes the backing file
 * (everything it provided is copied in). {@code -u} only rewrites the header.
 */
final class RebaseCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    String backingFile;
    String backingFormat;
    boolean unsafe;
    final SharedOptions.ShowProgress progress = new SharedOptions.ShowProgress();
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("rebase", this, "Change the backing file of an image, keeping "
                + "its guest content (qemu-img rebase).");
        image.declare(b);
        quiet.declare(b);
        b.option("-b").label("BACKING_FILE").required()
                .describe("The new backing file, stored as given (relative to the image); \"\" for none.")
                .text(() -> backingFile, v -> backingFile = v);
        b.option("-F").label("BACKING_FMT")
                .describe("The new backing file's format: raw or qed (probed if not given).")
                .text(() -> backingFormat, v -> backingFormat = v);
        b.option("-u")
                .describe("Unsafe: rewrite the header only, copy nothing.")
                .flag(() -> unsafe, v -> unsafe = v);
        progress.declare(b);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("rebase");
        String name = backingFile.isEmpty() ? null : backingFile;
        Path resolved = name == null ? null : BackingFiles.resolve(file, name);
        String fmt = backingFormat;
        if (name != null && fmt == null) {
            fmt = java.nio.file.Files.exists(resolved) && QedFiles.isQedImage(resolved) ? "qed" : "raw";
        }
        if (fmt != null && !fmt.equals("raw") && !fmt.equals("qed")) {
            throw new CliException("rebase: backing format '" + fmt + "' is not supported; use raw or qed");
        }
        // -u is qemu-img's "unsafe": the new backing file is not opened, so a loop is not
        // looked for either (QEMU's rule; the images then refuse to open, naming the loop).
        if (resolved != null && !unsafe) {
            BackingFiles.refuseLoop(file, resolved);
        }
        try {
            if (!unsafe) {
                copyWhatDiffers(resolved, fmt);
            }
            QedImage.setBackingFile(file, name, BackingFormat.fromName(name == null ? null : fmt));
        } catch (QedException e) {
            throw new CliException("Could not change the backing file of '" + file + "': " + e.getMessage());
        }
        return 0;
    }

    /** qemu-img rebase's buffer: differing data is written in runs of at most this much. */
    private static final int RUN_BYTES = 2 << 20;

    /**
     * Copies what the image reads through its backing file and the new one would change,
     * compared cluster by cluster and written in runs of consecutive differing clusters (one
     * write each, as qemu-img rebase writes them, so the copied clusters lie together in the
     * file as they do in QEMU's result).
     */
    private void copyWhatDiffers(Path newBacking, String newFormat) throws IOException {
        SourceImage replacement = null;
        if (newBacking != null) {
            try {
                replacement = SourceImage.open(newBacking, newFormat, true);
            } catch (IOException e) {
                throw new CliException("Could not open new backing file '" + newBacking + "': " + e.getMessage());
            }
        }
        try (SourceImage next = replacement;
             QedImage image = QedImage.open(this.image.file, OpenOptions.READ_WRITE)) {
            int cs = image.header().clusterSize();
            long size = image.size();
            byte[] run = new byte[Math.max(cs, RUN_BYTES / cs * cs)];
            byte[] now = new byte[cs];
            Progress shown = new Progress(progress.on && !quiet.on ? spec.commandLine().getOut() : null, size);
            long runStart = -1;
            int runLength = 0;
            for (long pos = 0; pos < size; ) {
                MapEntry e = image.mapEntryAt(pos);
                long end = pos + e.length();
                if (e.depth() > 0 || !e.present()) { // read through the backing chain (or zeros past it)
                    for (long c = pos; c < end; c += cs) {
                        int n = (int) Math.min(cs, size - c);
                        if (runLength > 0 && (runStart + runLength != c || runLength + n > run.length)) {
                            image.write(runStart, run, 0, runLength);
                            runLength = 0;
                        }
                        image.read(c, run, runLength, n);
                        if (next == null || c >= next.size()) {
                            Arrays.fill(now, 0, n, (byte) 0);
                        } else {
                            int inNext = (int) Math.min(n, next.size() - c);
                            next.read(c, now, inNext);
                            Arrays.fill(now, inNext, n, (byte) 0);
                        }
                        if (Arrays.mismatch(run, runLength, runLength + n, now, 0, n) >= 0) {
                            runStart = runLength == 0 ? c : runStart;
                            runLength += n;
                        }
                    }
                }
                pos = end;
                shown.at(pos);
            }
            if (runLength > 0) {
                image.write(runStart, run, 0, runLength);
            }
            shown.done();
        }
    }
}
