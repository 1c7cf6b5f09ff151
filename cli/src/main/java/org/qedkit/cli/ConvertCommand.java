package org.qedkit.cli;

import org.qedkit.QedFiles;
import org.qedkit.CreateOptions;
import org.qedkit.MapEntry;
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
 * {@code qed convert}: copies the guest contents of a QED or raw image into a new QED or
 * raw image, as {@code qemu-img convert} does. Only data is copied: ranges that read as
 * zeros are left unwritten (sparse), and so are blocks of data that hold only zeros
 * ({@code -S}, 4 KiB by default, and at least a cluster for a QED target). A QED target is
 * therefore also a compaction: leaked and zeroed clusters of the source are gone. With
 * {@code -B}, the target gets a backing file that must hold what the source's backing
 * chain holds: only what the source image itself defines is copied (its zero clusters as
 * zero clusters), the rest is read through the new backing file.
 */
@Command(name = "convert", description = "Copy an image's guest contents into a new image (qed or raw), as qemu-img convert does.")
final class ConvertCommand implements Callable<Integer> {

    @Mixin SharedOptions.ForceShare forceShare;
    @Mixin SharedOptions.Quiet quiet;
    private static final int CHUNK = 1 << 20;

    @Option(names = "-f", paramLabel = "FMT", description = "Source format: qed or raw (probed if not given).") String sourceFormat;
    @Option(names = "-O", paramLabel = "OUTPUT_FMT", defaultValue = "raw", description = "Target format: raw (the default, as in qemu-img) or qed.")
    String targetFormat;

    @Option(names = "-o", paramLabel = "OPTIONS", description = "Target options for qed: cluster_size=…,table_size=…,backing_file=…,backing_fmt=….")
    List<String> options = new ArrayList<>();

    @Option(names = "-B", paramLabel = "BACKING_FILE", description = "Backing file of the target (stored as given).") String backingFile;
    @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of the target's backing file (raw or qed; probed if not given).")
    String backingFormat;

    @Option(names = "-S", paramLabel = "SPARSE_SIZE", defaultValue = "4k",
            description = "Blocks of this many zero bytes are not written (0: write everything, fully allocated).")
    String sparseSize;

    @Mixin SharedOptions.ShowProgress progress;
    @Parameters(index = "0", paramLabel = "SOURCE") Path source;
    @Parameters(index = "1", paramLabel = "TARGET") Path target;
    @Spec CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (!targetFormat.equals("qed") && !targetFormat.equals("raw")) {
            throw new CliException("convert: target format '" + targetFormat + "' is not supported; use qed or raw");
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
        SourceImage src;
        try {
            src = SourceImage.open(source, sourceFormat, forceShare.on);
        } catch (IOException e) {
            throw CliException.couldNotOpen(source, e);
        }
        try (src) {
            long size = src.size();
            int block;
            TargetImage out;
            if (targetFormat.equals("qed")) {
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
                out = qedTarget(create);
            } else {
                block = (int) Math.max(512, Math.min(sparse, CHUNK));
                out = TargetImage.raw(target, size, true);
            }
            try (out) {
                copy(src, out, size, sparse == 0 ? 0 : block, backing != null);
            }
        } catch (QedException e) {
            throw new CliException("convert: " + e.getMessage());
        }
        return 0;
    }

    private void copy(SourceImage src, TargetImage out, long size, int block, boolean targetHasBacking) throws IOException {
        Progress shown = new Progress(progress.on && !quiet.on ? spec.commandLine().getOut() : null, size);
        byte[] buffer = new byte[CHUNK];
        for (long pos = 0; pos < size; ) {
            MapEntry e = src.mapAt(pos);
            long end = pos + e.length();
            if (targetHasBacking && e.depth() > 0) {
                // Held by the source's backing chain, which the target's backing file matches.
            } else if (!e.data() && block == 0) {
                writeZeroData(out, pos, end, buffer); // -S 0: fully allocated, as qemu-img makes it
            } else if (!e.data()) {
                if (targetHasBacking && e.present()) {
                    out.writeZeroes(pos, end - pos); // zeros here must hide the new backing file
                }
            } else {
                copyData(src, out, pos, end, block, targetHasBacking, buffer);
            }
            pos = end;
            shown.at(pos);
        }
        shown.done();
    }

    /** Copies [from, end) piece by piece, each piece inside one sparse block; all-zero blocks stay unwritten. */
    private static void copyData(SourceImage src, TargetImage out, long from, long end, int block, boolean targetHasBacking,
                                 byte[] buffer) throws IOException {
        for (long p = from; p < end; ) {
            long limit = block == 0 ? end : Math.min(end, (p / block + 1) * block);
            int n = (int) Math.min(limit - p, buffer.length);
            src.read(p, buffer, n);
            if (block == 0 || targetHasBacking || !allZero(buffer, n)) {
                out.write(p, buffer, n);
            }
            p += n;
        }
    }

    private static void writeZeroData(TargetImage out, long from, long end, byte[] buffer) throws IOException {
        java.util.Arrays.fill(buffer, (byte) 0);
        for (long p = from; p < end; ) {
            int n = (int) Math.min(end - p, buffer.length);
            out.write(p, buffer, n);
            p += n;
        }
    }

    private static boolean allZero(byte[] b, int n) {
        for (int i = 0; i < n; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private TargetImage qedTarget(CreateOptions create) throws IOException {
        QedImage.create(target, create);
        return TargetImage.of(QedImage.open(target, OpenOptions.READ_WRITE));
    }
}
