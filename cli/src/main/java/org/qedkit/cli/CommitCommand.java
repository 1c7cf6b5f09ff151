package org.qedkit.cli;

import org.qedkit.DataPastEnd;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import org.qedkit.QedIoException;
import org.qedkit.QemuImageName;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed commit}: as {@code qemu-img commit}, writes what the image (and, with
 * {@code -b}, every image between it and that base) defines into the base: its backing
 * file by default. The base grows to the image's size if it is smaller. As in QEMU for
 * QED, the image keeps its clusters; unlike QEMU, {@code --empty} then drops them, so
 * the image reads through to the base again ({@code -d} is accepted and keeps them).
 */
final class CommitCommand implements Callable<Integer>, DeclaredCommand {

    private static final int CHUNK = 1 << 20;

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    String base;
    boolean keep;
    boolean empty;
    final SharedOptions.ShowProgress progress = new SharedOptions.ShowProgress();
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("commit", this, "Write an image's own data into its backing "
                + "file, as qemu-img commit does.");
        image.declare(b);
        quiet.declare(b);
        b.option("-b").label("BASE")
                .describe("Commit into this image of the backing chain (default: the backing file); a "
                        + "relative name is relative to the image that names it, as QEMU matches it.")
                .text(() -> base, v -> base = v);
        b.option("-d")
                .describe("Keep the image's clusters after committing (what QEMU does for QED anyway).")
                .flag(() -> keep, v -> keep = v);
        b.option("--empty")
                .describe("Afterwards, drop the image's clusters: it reads through to the base again.")
                .flag(() -> empty, v -> empty = v);
        progress.declare(b);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("commit");
        if (keep && empty) {
            throw new CliException("commit: -d keeps the image's clusters and --empty drops them; choose one");
        }
        List<BackingFiles.Link> chain = BackingFiles.chain(file);
        if (chain.size() < 2) {
            throw new CliException("Image '" + file + "' does not have a backing file");
        }
        int depth = 1;
        if (base != null) {
            depth = findInChain(chain, base);
            if (depth < 0) {
                throw new CliException("Did not find '" + base + "' in the backing chain of '" + file + "'"); // QEMU's words
            }
        }
        if (empty && depth != 1) {
            throw new CliException("commit: --empty needs the base to be the image's own backing file: with images"
                    + " in between, emptying it would show their older data");
        }
        try {
            commitInto(chain.get(depth).path(), chain.get(depth).format(), depth, chain.get(depth).name());
            if (empty) {
                QedImage.makeEmpty(file);
            }
        } catch (QedIoException e) {
            // QEMU's line for a commit whose I/O failed; what failed where, below it.
            throw new CliException("Block job failed: " + e.description(), e.getMessage());
        } catch (QedException e) {
            throw new CliException("commit: " + e.getMessage());
        }
        if (!quiet.on) {
            spec.commandLine().getOut().println("Image committed.");
        }
        return 0;
    }

    /**
     * The depth of {@code name} in {@code chain} (1: the backing file), as QEMU finds a
     * commit base: for each image with a backing file, a relative name is taken relative
     * to that image's directory and compared, both resolved to real paths, with the
     * backing file it names; the first match wins; -1 when none does.
     */
    static int findInChain(List<BackingFiles.Link> chain, String name) throws IOException {
        Path named = Path.of(name);
        for (int i = 1; i < chain.size(); i++) {
            Path above = chain.get(i - 1).path().toAbsolutePath();
            Path candidate = named.isAbsolute() || above.getParent() == null ? named : above.getParent().resolve(named);
            if (!Files.exists(candidate) || !Files.exists(chain.get(i).path())) {
                continue; // QEMU: realpath fails, look further down
            }
            if (candidate.toRealPath().equals(chain.get(i).path().toRealPath())) {
                return i;
            }
        }
        return -1;
    }

    private void commitInto(Path target, String targetFormat, int depth, String targetName) throws IOException {
        // The chain is read without locks: this command is its only writer, and holds the base's write lock below.
        try (QedImage top = QedImage.open(image.file, OpenOptions.READ_ONLY.withForceShare(true)
                .withAccessPattern(org.qedkit.AccessPattern.SEQUENTIAL));
             TargetImage out = TargetImage.injecting(openBase(target, targetFormat, top.size()), target.toString(),
                     QemuImageName.parse(targetName).injectedErrors())) {
            long size = top.size();
            byte[] buffer = new byte[CHUNK];
            Progress shown = new Progress(progress.on && !quiet.on ? spec.commandLine().getOut() : null, size);
            for (long pos = 0; pos < size; ) {
                MapEntry e = top.mapEntryAt(pos);
                long end = pos + e.length();
                if (e.present() && e.depth() < depth) { // defined above the base
                    if (e.zero() && !e.data()) {
                        out.writeZeroes(pos, end - pos);
                    } else {
                        for (long p = pos; p < end; ) {
                            int n = (int) Math.min(end - p, CHUNK);
                            top.read(p, buffer, 0, n);
                            out.write(p, buffer, 0, n);
                            p += n;
                        }
                    }
                }
                pos = end;
                shown.at(pos);
            }
            shown.done();
        }
    }

    private static TargetImage openBase(Path target, String format, long size) throws IOException {
        if ("raw".equals(format)) {
            return TargetImage.raw(target, size, false);
        }
        try (QedImage probe = QedImage.open(target, OpenOptions.READ_ONLY.withBackingChain(false))) {
            if (probe.size() < size) {
                probe.close();
                QedImage.resize(target, (size + 511) / 512 * 512, DataPastEnd.REFUSE);
            }
        }
        return TargetImage.of(QedImage.open(target, OpenOptions.READ_WRITE));
    }
}
