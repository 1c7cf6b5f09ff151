package org.qedkit.cli;

import org.qedkit.CreateOptions;
import org.qedkit.MapEntry;
import org.qedkit.QedHeader;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed measure}: the file size a new image needs, in {@code qemu-img measure}'s words
 * and JSON keys: "required" for the data of a given image (or an empty image of
 * {@code --size}), "fully allocated" for every cluster. QEMU cannot measure QED targets
 * ("does not support size measurement"); this does, and raw ones as QEMU does.
 *
 * <p>For QED: the header area, the L1 table, an L2 table for each L1 range holding data,
 * and a cluster for each target cluster that source data touches (all of them, fully
 * allocated). Data is what the source's map calls data, through its backing chain, as
 * {@code convert} copies it (it may skip all-zero blocks still, so this is an upper bound).
 */
final class MeasureCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Output output = new SharedOptions.Output();
    String targetFormat;
    List<String> options = new ArrayList<>();
    String sourceFormat;
    String size;
    Path file;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("measure", this, "Show the size a new image needs (required and "
                + "fully allocated), as qemu-img measure does.");
        forceShare.declare(b);
        output.declare(b);
        b.option("-O").label("OUTPUT_FMT").defaultValue("raw")
                .describe("Target format: raw (default) or qed.")
                .text(() -> targetFormat, v -> targetFormat = v);
        b.option("-o").label("OPTIONS")
                .describe("Target options for qed: cluster_size=…,table_size=…,backing_file=….")
                .list(() -> options, v -> options = v);
        b.option("-f").label("FMT")
                .describe("Source format: qed or raw (probed if not given).")
                .text(() -> sourceFormat, v -> sourceFormat = v);
        b.option("--size").label("SIZE")
                .describe("Measure an empty image of this size instead of a source.")
                .text(() -> size, v -> size = v);
        b.positional("0").label("FILE").arity("0..1")
                .typed(Path.class, () -> file, v -> file = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        boolean json = output.json();
        if (size != null && file != null) {
            throw new CliException("--size N cannot be used together with a filename.");
        }
        if (size == null && file == null) {
            throw new CliException("Either --size N or one filename must be specified.");
        }
        if (!targetFormat.equals("raw") && !targetFormat.equals("qed")) {
            throw new CliException("measure: target format '" + targetFormat + "' is not supported; use qed or raw");
        }
        QedImageOptions parsed = QedImageOptions.parse("measure", options);
        long required;
        long fully;
        if (file == null) {
            long virtual;
            try {
                virtual = Sizes.parse(size);
            } catch (IllegalArgumentException e) {
                throw new CliException("Invalid image size specified: " + size);
            }
            Layout layout = layout(parsed, virtual);
            required = targetFormat.equals("raw") ? virtual : layout.metadata();
            fully = targetFormat.equals("raw") ? virtual : layout.fullyAllocated();
        } else {
            try (SourceImage src = SourceImage.open(file, sourceFormat, forceShare.on)) {
                long virtual = src.size();
                if (targetFormat.equals("raw")) {
                    required = virtual;
                    fully = virtual;
                } else {
                    Layout layout = layout(parsed, virtual);
                    required = layout.metadata() + dataBytes(src, layout);
                    fully = layout.fullyAllocated();
                }
            } catch (IOException e) {
                throw CliException.couldNotOpen(file, e);
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.print("{\n    \"required\": " + required + ",\n    \"fully-allocated\": " + fully + "\n}\n");
        } else {
            out.println("required size: " + required);
            out.println("fully allocated size: " + fully);
        }
        out.flush();
        return 0;
    }

    /** A QED target's geometry. */
    private record Layout(long virtual, long clusterSize, long tableBytes, long headerBytes) {
        long l2Tables() {
            long perTable = tableBytes / 8 * clusterSize;
            return (virtual + perTable - 1) / perTable;
        }

        /** An empty image: header area and L1 table. */
        long metadata() {
            return headerBytes + tableBytes;
        }

        long fullyAllocated() {
            return metadata() + l2Tables() * tableBytes + (virtual + clusterSize - 1) / clusterSize * clusterSize;
        }
    }

    private static Layout layout(QedImageOptions o, long virtual) {
        CreateOptions c = CreateOptions.ofSize(virtual);
        if (o.clusterSize() != null) {
            c = c.withClusterSize(o.clusterSize());
        }
        if (o.tableSize() != null) {
            c = c.withTableSize(o.tableSize());
        }
        long cs = c.clusterSize();
        int name = o.backingFile() == null ? 0 : o.backingFile().getBytes(StandardCharsets.UTF_8).length;
        long headerBytes = (QedHeader.HEADER_BYTES + name + cs - 1) / cs * cs;
        return new Layout(c.roundedSize(), cs, (long) c.tableSize() * cs, headerBytes);
    }

    /** Clusters and L2 tables the source's data touches in the target's geometry. */
    private static long dataBytes(SourceImage src, Layout layout) throws IOException {
        long cs = layout.clusterSize();
        long perTable = layout.tableBytes() / 8 * cs;
        long clusters = 0;
        long tables = 0;
        long lastCluster = -1;
        long lastTable = -1;
        for (long pos = 0; pos < src.size(); ) {
            MapEntry e = src.mapAt(pos);
            long end = pos + e.length();
            if (e.data()) {
                long first = Math.max(pos / cs, lastCluster + 1);
                long last = (end - 1) / cs;
                if (last >= first) {
                    clusters += last - first + 1;
                    lastCluster = last;
                }
                long firstTable = Math.max(pos / perTable, lastTable + 1);
                long lastT = (end - 1) / perTable;
                if (lastT >= firstTable) {
                    tables += lastT - firstTable + 1;
                    lastTable = lastT;
                }
            }
            pos = end;
        }
        return clusters * cs + tables * layout.tableBytes();
    }
}
