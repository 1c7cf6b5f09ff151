package org.qedkit.cli;

import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedHeader;
import org.qedkit.QedImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code qed info}: as {@code qemu-img info}, plus QED's own header fields. */
@Command(name = "info", description = "Show facts about a QED image, as qemu-img info does.")
final class InfoCommand implements Callable<Integer> {

    @Option(names = "-f", paramLabel = "FMT", description = "Image format: qed.", defaultValue = "qed")
    String format;

    @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "human",
            description = "human or json (qemu-img's keys, plus format-specific QED fields).")
    String output;

    @Option(names = {"-U", "--force-share"}, description = "Take no lock: inspect an image another process uses.")
    boolean forceShare;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (!"qed".equals(format)) {
            throw new CliException("info: format '" + format + "' is not supported; only qed is");
        }
        if (!output.equals("human") && !output.equals("json")) {
            throw new CliException("--output must be human or json, not '" + output + "'");
        }
        QedHeader h;
        long actualSize;
        long virtualSize;
        try (QedImage image = QedImage.open(file, OpenOptions.READ_ONLY.withForceShare(forceShare).withBackingChain(false))) {
            h = image.header();
            actualSize = image.actualSize();
            virtualSize = image.size();
        } catch (QedException e) {
            throw new CliException("Could not open '" + file + "': " + e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        String fullBacking = h.hasBackingFile()
                ? BackingFiles.resolve(file, h.backingFilename()).toString() : null;
        if (output.equals("json")) {
            Map<String, Object> o = Json.object();
            if (h.backingFormat() != null) {
                o.put("backing-filename-format", h.backingFormat());
            }
            o.put("virtual-size", virtualSize);
            o.put("filename", file.toString());
            o.put("cluster-size", h.clusterSize());
            o.put("format", "qed");
            o.put("actual-size", actualSize);
            if (h.hasBackingFile()) {
                o.put("full-backing-filename", fullBacking);
                o.put("backing-filename", h.backingFilename());
            }
            o.put("dirty-flag", h.needsCheck());
            Map<String, Object> data = Json.object();
            data.put("table-size", h.tableSize());
            data.put("header-size", h.headerSize());
            data.put("l1-table-offset", h.l1TableOffset());
            data.put("features", h.features());
            data.put("compat-features", h.compatFeatures());
            data.put("autoclear-features", h.autoclearFeatures());
            Map<String, Object> specific = Json.object();
            specific.put("type", "qed");
            specific.put("data", data);
            o.put("format-specific", specific);
            out.print(Json.write(o));
        } else {
            out.println("image: " + file);
            out.println("file format: qed");
            out.println("virtual size: " + Sizes.qemuImgHuman(virtualSize) + " (" + virtualSize + " bytes)");
            out.println("disk size: " + Sizes.qemuImgHuman(actualSize));
            out.println("cluster_size: " + h.clusterSize());
            if (h.hasBackingFile()) {
                String actual = fullBacking.equals(h.backingFilename()) ? ""
                        : " (actual path: " + fullBacking + ")";
                out.println("backing file: " + h.backingFilename() + actual);
                if (h.backingFormat() != null) {
                    out.println("backing file format: " + h.backingFormat());
                }
            }
            out.println("Format specific information:");
            out.println("    table size: " + h.tableSize());
            out.println("    header size: " + h.headerSize());
            out.println("    l1 table offset: " + h.l1TableOffset());
            out.println("    features: 0x" + Long.toHexString(h.features()));
            out.println("    dirty: " + h.needsCheck());
        }
        out.flush();
        return 0;
    }
}
