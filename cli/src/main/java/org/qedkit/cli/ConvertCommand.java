package org.qedkit.cli;

import org.qedkit.QedFiles;
import org.qedkit.CreateOptions;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed convert}: copies the guest contents of a QED or raw image into a new QED or
 * raw image, as {@code qemu-img convert} does. Only data is copied: ranges that read as
 * zeros are left unwritten (sparse), and so are blocks of data that hold only zeros
 * ({@code -S}, 4 KiB by default, and at least a cluster for a QED target). A QED target is
 * therefore also a compaction: leaked and zeroed clusters of the source are gone. With
 * {@code -B}, the target gets a backing file that must hold what the source's backing
 * chain holds: only what the source image itself defines is copied (its zero clusters as
 * zero clusters), the rest is read through the new backing file.
 */
final class ConvertCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    /** qemu-img's copy buffer: data is read in pieces of at most this. */
    private static final int CHUNK = 2 << 20;
    private static final int SECTOR = 512;

    String sourceFormat;
    String targetFormat;
    List<String> options = new ArrayList<>();
    String backingFile;
    String backingFormat;
    String sparseSize;
    boolean noCreate;
    boolean compress;
    Integer coroutines;
    boolean outOfOrder;
    boolean salvage;
    final SharedOptions.ShowProgress progress = new SharedOptions.ShowProgress();
    String source;
    Path target;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("convert", this, "Copy an image's guest contents into a new "
                + "image (qed or raw), as qemu-img convert does.");
        forceShare.declare(b);
        quiet.declare(b);
        b.option("-f").label("FMT")
                .describe("Source format: qed or raw (probed if not given).")
                .text(() -> sourceFormat, v -> sourceFormat = v);
        b.option("-O").label("OUTPUT_FMT").defaultValue("raw")
                .describe("Target format: raw (the default, as in qemu-img) or qed.")
                .text(() -> targetFormat, v -> targetFormat = v);
        b.option("-o").label("OPTIONS")
                .describe("Target options for qed: cluster_size=…,table_size=…,backing_file=…,backing_fmt=….")
                .list(() -> options, v -> options = v);
        b.option("-B").label("BACKING_FILE")
                .describe("Backing file of the target (stored as given).")
                .text(() -> backingFile, v -> backingFile = v);
        b.option("-F").label("BACKING_FMT")
                .describe("Format of the target's backing file (raw or qed; probed if not given).")
                .text(() -> backingFormat, v -> backingFormat = v);
        b.option("-S").label("SPARSE_SIZE").defaultValue("4k")
                .describe("Blocks of this many zero bytes are not written (0: write everything, fully allocated).")
                .text(() -> sparseSize, v -> sparseSize = v);
        b.option("-n")
                .describe("Skip creating the target: write into the existing TARGET (which must be at least "
                        + "as large).")
                .flag(() -> noCreate, v -> noCreate = v);
        b.option("-c")
                .describe("Accepted, as qemu-img accepts it: QED stores no compressed clusters, so the data "
                        + "is written as is.")
                .flag(() -> compress, v -> compress = v);
        b.option("-m").label("COROUTINES")
                .describe("Accepted (1 to 16), as qemu-img accepts it: the copy is sequential.")
                .typed(Integer.class, () -> coroutines, v -> coroutines = v);
        b.option("-W")
                .describe("Accepted, as qemu-img accepts it (out-of-order writes): the copy is sequential.")
                .flag(() -> outOfOrder, v -> outOfOrder = v);
        b.option("--salvage")
                .describe("On a read error, write zeros for that block, warn, and go on.")
                .flag(() -> salvage, v -> salvage = v);
        progress.declare(b);
        b.positional("0").label("SOURCE")
                .describe("The source: a file name, file:NAME, or json:{…} as QEMU takes them.")
                .text(() -> source, v -> source = v);
        b.positional("1").label("TARGET")
                .typed(Path.class, () -> target, v -> target = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        if (!targetFormat.equals("qed") && !targetFormat.equals("raw")) {
            throw new CliException("convert: target format '" + targetFormat + "' is not supported; use qed or raw");
        }
        if (coroutines != null && (coroutines < 1 || coroutines > 16)) {
            throw new CliException("Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
        }
        if (noCreate && (!options.isEmpty() || backingFile != null)) {
            throw new CliException("-n and -o/-B cannot be used together: the target exists already");
        }
        QedImageOptions parsed = QedImageOptions.parse("convert", options);
        if (!targetFormat.equals("qed") && (!options.isEmpty() || backingFile != null)) {
            throw new CliException("convert: -o and -B are for a qed target; raw takes no options");
        }
        String backing = backingFile != null ? backingFile : parsed.backingFile();
        String backingFmt = backingFormat != null ? backingFormat : parsed.backingFormat();
        long sparse;
        try {
            sparse = Sizes.parse(sparseSize);
        } catch (IllegalArgumentException e) {
            throw new CliException("convert: -S: " + e.getMessage());
        }
        ImageNames.Named named = ImageNames.resolve(source, false);
        SourceImage src;
        try {
            src = SourceImage.injecting(SourceImage.open(named.file(),
                            sourceFormat != null ? sourceFormat : named.format(), forceShare.on),
                    source, named.injectedErrors());
        } catch (IOException e) {
            throw CliException.couldNotOpen(source, e);
        }
        try (src) {
            long size = src.size();
            int block;
            TargetImage out;
            if (noCreate) {
                out = existingTarget(size);
                block = (int) Math.max(512, Math.min(sparse, CHUNK));
            } else if (targetFormat.equals("qed")) {
                CreateOptions create = CreateOptions.ofSize(size);
                if (parsed.clusterSize() != null) {
                    create = create.withClusterSize(parsed.clusterSize());
                }
                if (parsed.tableSize() != null) {
                    create = create.withTableSize(parsed.tableSize());
                }
                if (backing != null) {
                    if (backingFmt == null) {
                        Path resolved = BackingFiles.resolve(target, backing);
                        backingFmt = QedFiles.isQedImage(resolved) ? "qed" : "raw";
                    }
                    create = create.withBackingFile(backing, backingFmt);
                }
                block = (int) Math.max(create.clusterSize(), Math.min(sparse, CHUNK));
                CreateOptions chosen = create;
                out = created(() -> qedTarget(chosen));
            } else {
                block = (int) Math.max(512, Math.min(sparse, CHUNK));
                out = created(() -> TargetImage.raw(target, size, true));
            }
            try (out) {
                copy(src, out, size, sparse == 0 ? 0 : block, backing != null, noCreate);
            }
        } catch (QedException e) {
            throw new CliException("convert: " + e.getMessage());
        }
        return 0;
    }

    /**
     * {@code existing}: the target was not made by this command ({@code -n}), so nothing in
     * it can be assumed to read as zeros: every range is written, zeros included.
     */
    private void copy(SourceImage src, TargetImage out, long size, int block, boolean targetHasBacking,
                      boolean existing) throws IOException {
        // Two passes over the map, as qemu-img makes them: the first sizes the copy (what
        // progress counts), the second copies. Each reports the map's failures on its own.
        long toCopy = 0;
        for (long pos = 0; pos < size; ) {
            MapEntry e = mapOrSalvage(src, pos);
            if (copies(e, block, targetHasBacking)) {
                toCopy += e.length();
            }
            pos += e.length();
        }
        Progress shown = new Progress(progress.on && !quiet.on ? spec.commandLine().getOut() : null, toCopy);
        long copied = 0;
        byte[] buffer = new byte[CHUNK];
        for (long pos = 0; pos < size; ) {
            MapEntry e = mapOrSalvage(src, pos);
            long end = pos + e.length();
            if (targetHasBacking && e.depth() > 0) {
                // Held by the source's backing chain, which the target's backing file matches.
            } else if (!e.data() && block == 0) {
                writeZeroData(out, pos, end, buffer); // -S 0: fully allocated, as qemu-img makes it
            } else if (!e.data()) {
                if (existing || (targetHasBacking && e.present())) {
                    out.writeZeroes(pos, end - pos); // zeros here must hide the new backing file
                }
            } else {
                copyData(src, out, pos, end, block, targetHasBacking || existing, buffer);
            }
            if (copies(e, block, targetHasBacking)) {
                copied += e.length();
                shown.at(copied);
            }
            pos = end;
        }
        shown.done();
    }

    /** Whether the second pass reads (or, with {@code -S 0}, writes) the run: what progress counts. */
    private static boolean copies(MapEntry e, int block, boolean targetHasBacking) {
        return !(targetHasBacking && e.depth() > 0) && (e.data() || block == 0);
    }

    /**
     * The run at {@code pos}, by a block-status query over the rest of the image, as
     * qemu-img asks it. With {@code --salvage}, a failed query is retried over a quarter of
     * its sectors (rounded up) until it succeeds or a single sector fails; that sector then
     * becomes one sector of data and a warning (the data is then read, or salvaged in its
     * turn). Without, the first failure ends the copy.
     */
    private MapEntry mapOrSalvage(SourceImage src, long pos) throws IOException {
        long sectors = (src.size() - pos + SECTOR - 1) / SECTOR;
        while (true) {
            try {
                return src.blockStatus(pos, Math.min(sectors * SECTOR, src.size() - pos));
            } catch (IOException e) {
                String line = "error while reading block status at offset " + pos + ": " + QemuIoText.strerror(e);
                if (!salvage) {
                    throw new CliException(line, e.getMessage());
                }
                if (sectors > 1) {
                    sectors = (sectors + 3) / 4;
                    continue;
                }
                warn(line, e);
                return MapEntry.data(pos, Math.min(SECTOR, src.size() - pos), 0, -1);
            }
        }
    }

    private void warn(String line, IOException e) {
        java.io.PrintWriter err = spec.commandLine().getErr();
        err.println("qemu-img: warning: " + line);
        Detail.print(err, line, e.getMessage());
        err.flush();
    }

    /**
     * Copies [from, end) as qemu-img does: read in pieces of up to {@link #CHUNK} from the
     * run's start (so a failed read is reported where qemu-img reports it), each written
     * sparse block by sparse block; all-zero blocks stay unwritten unless {@code keepZeros}.
     */
    private void copyData(SourceImage src, TargetImage out, long from, long end, int block, boolean keepZeros,
                          byte[] buffer) throws IOException {
        for (long p = from; p < end; ) {
            int n = (int) Math.min(end - p, buffer.length);
            readOrSalvage(src, p, buffer, n);
            for (int at = 0; at < n; ) {
                long q = p + at;
                int piece = (int) Math.min(n - at, block == 0 ? n : (q / block + 1) * block - q);
                if (block == 0 || keepZeros || !allZero(buffer, at, piece)) {
                    out.write(q, buffer, at, piece);
                }
                at += piece;
            }
            p += n;
        }
    }

    /**
     * Reads a block. With {@code --salvage}, as in qemu-img, a failed read is retried
     * sector by sector, and each sector that still fails becomes zeros and a warning.
     */
    private void readOrSalvage(SourceImage src, long offset, byte[] buffer, int n) throws IOException {
        try {
            src.read(offset, buffer, n);
        } catch (IOException e) {
            if (!salvage) {
                throw new CliException("error while reading at byte " + offset + ": " + QemuIoText.strerror(e),
                        e.getMessage());
            }
            byte[] sector = new byte[SECTOR];
            for (int at = 0; at < n; at += SECTOR) {
                int length = Math.min(SECTOR, n - at);
                try {
                    src.read(offset + at, sector, length);
                    System.arraycopy(sector, 0, buffer, at, length);
                } catch (IOException failed) {
                    warn("error while reading offset " + (offset + at) + ": " + QemuIoText.strerror(failed), failed);
                    java.util.Arrays.fill(buffer, at, at + length, (byte) 0);
                }
            }
        }
    }

    private static void writeZeroData(TargetImage out, long from, long end, byte[] buffer) throws IOException {
        java.util.Arrays.fill(buffer, (byte) 0);
        for (long p = from; p < end; ) {
            int n = (int) Math.min(end - p, buffer.length);
            out.write(p, buffer, 0, n);
            p += n;
        }
    }

    private static boolean allZero(byte[] b, int from, int n) {
        for (int i = from; i < from + n; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private interface TargetMaker {
        TargetImage make() throws IOException;
    }

    /** Makes the target; a file that cannot be made is reported in qemu-img's words. */
    private TargetImage created(TargetMaker maker) throws IOException {
        try {
            return maker.make();
        } catch (IOException e) {
            throw new CliException(target + ": error while converting " + targetFormat + ": "
                    + QemuMessages.createFailure(target, e), e.getMessage());
        }
    }

    /** {@code -n}: the target as it is, refused when it is smaller than the source. */
    private TargetImage existingTarget(long size) throws IOException {
        if (!java.nio.file.Files.exists(target)) {
            throw new CliException("Could not open '" + target + "': Could not open '" + target
                    + "': No such file or directory");
        }
        if (targetFormat.equals("raw")) {
            if (java.nio.file.Files.size(target) < size) {
                throw new CliException("Error: the target image is smaller than the source (-n never grows it)");
            }
            return TargetImage.raw(target, size, false);
        }
        QedImage image;
        try {
            image = QedImage.open(target, OpenOptions.READ_WRITE);
        } catch (IOException e) {
            throw CliException.couldNotOpen(target, e);
        }
        if (image.size() < size) {
            image.close();
            throw new CliException("Error: the target image is smaller than the source (-n never grows it)");
        }
        return TargetImage.of(image);
    }

    private TargetImage qedTarget(CreateOptions create) throws IOException {
        QedImage.create(target, create);
        return TargetImage.of(QedImage.open(target, OpenOptions.READ_WRITE));
    }
}
