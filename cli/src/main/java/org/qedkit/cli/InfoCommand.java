package org.qedkit.cli;

import org.qedkit.QedFiles;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedHeader;
import org.qedkit.QedImage;
import org.qedkit.QemuImageName;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code qed info}: as {@code qemu-img info}, plus QED's own header fields. */
final class InfoCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Output output = new SharedOptions.Output();
    private CommandSpec spec;
    boolean backingChain;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("info", this, "Show facts about a QED image, as qemu-img info does.");
        image.declare(b);
        forceShare.declare(b);
        output.declare(b);
        b.option("--backing-chain")
                .describe("Show every image of the backing chain, top first.")
                .flag(() -> backingChain, v -> backingChain = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("info");
        boolean json = output.json();
        List<Map<String, Object>> objects = new ArrayList<>();
        List<String> blocks = new ArrayList<>();
        List<Path> seen = new ArrayList<>();
        Path current = file;
        boolean qed = true;
        while (current != null) {
            Path real = current.toAbsolutePath().normalize();
            if (seen.contains(real)) {
                seen.add(real);
                throw new CliException("Backing file '" + current + "' creates an infinite loop.",
                        "the backing chain of " + file + " loops: "
                                + String.join(" -> ", seen.stream().map(Path::toString).toList()));
            }
            seen.add(real);
            Map<String, Object> o = Json.object();
            StringBuilder human = new StringBuilder();
            // The top image under its own name when that is not a path (QEMU shows a json: name).
            String shown = current == file && image.named.shown() != null ? image.named.shown() : null;
            boolean directoryKnown = current != file || image.named.directoryKnown();
            Path next = qed ? describeQed(current, shown, directoryKnown, o, human) : describeRaw(current, o, human);
            objects.add(o);
            blocks.add(human.toString());
            if (!backingChain || next == null) {
                break;
            }
            qed = !"raw".equals(o.get("backing-filename-format")) && QedFiles.isQedImage(next);
            current = next;
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.print(backingChain ? Json.writeArray(objects) : Json.write(objects.get(0)));
        } else {
            out.print(String.join("\n", blocks));
        }
        out.flush();
        return 0;
    }

    /** Describes a QED image; returns the path of its backing file, or null. */
    private Path describeQed(Path image, String shown, boolean directoryKnown, Map<String, Object> o,
                             StringBuilder human) throws IOException {
        QedHeader h;
        long actualSize;
        long virtualSize;
        long freeBytes;
        try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY.withForceShare(forceShare.on).withBackingChain(false))) {
            h = img.header();
            actualSize = img.actualSize();
            virtualSize = img.size();
            freeBytes = img.freeBytes();
        } catch (QedException e) {
            throw CliException.couldNotOpen(image, e);
        }
        // Under a quorum a relative backing name has no directory: QEMU cannot tell its path.
        boolean backingPathKnown = directoryKnown || QemuImageName.isJson(h.backingFilename())
                || (h.hasBackingFile() && Path.of(h.backingFilename()).isAbsolute());
        Path backing = h.hasBackingFile() && backingPathKnown ? BackingFiles.resolve(image, h.backingFilename()) : null;
        if (h.backingFormat() != null) {
            o.put("backing-filename-format", h.backingFormat());
        }
        o.put("virtual-size", virtualSize);
        o.put("filename", shown != null ? shown : image.toString());
        o.put("cluster-size", h.clusterSize());
        o.put("format", "qed");
        o.put("actual-size", actualSize);
        if (freeBytes > 0) { // qedkit's key: space discards gave back, reused before the file grows
            o.put("free-space", freeBytes);
        }
        if (backing != null) {
            o.put("full-backing-filename", backing.toString());
        }
        if (h.hasBackingFile()) {
            o.put("backing-filename", h.backingFilename());
        }
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
        // Where QEMU puts it for the formats that have format-specific data: last, after
        // them, so that filters which drop the format-specific lines leave valid JSON.
        o.put("dirty-flag", h.needsCheck());

        human.append("image: ").append(shown != null ? shown : image.toString()).append('\n')
                .append("file format: qed\n")
                .append("virtual size: ").append(Sizes.qemuImgHuman(virtualSize)).append(" (").append(virtualSize).append(" bytes)\n")
                .append("disk size: ").append(Sizes.qemuImgHuman(actualSize)).append('\n')
                .append("cluster_size: ").append(h.clusterSize()).append('\n');
        if (freeBytes > 0) {
            human.append("free space: ").append(Sizes.qemuImgHuman(freeBytes))
                    .append(" (given back by discards; reused before the file grows)\n");
        }
        if (h.hasBackingFile()) {
            String actual = backing == null ? " (cannot determine actual path)"
                    : backing.toString().equals(h.backingFilename()) ? "" : " (actual path: " + backing + ")";
            human.append("backing file: ").append(h.backingFilename()).append(actual).append('\n');
            if (h.backingFormat() != null) {
                human.append("backing file format: ").append(h.backingFormat()).append('\n');
            }
        }
        if (!backingChain) {
            human.append("Format specific information:\n")
                    .append("    table size: ").append(h.tableSize()).append('\n')
                    .append("    header size: ").append(h.headerSize()).append('\n')
                    .append("    l1 table offset: ").append(h.l1TableOffset()).append('\n')
                    .append("    features: 0x").append(Long.toHexString(h.features())).append('\n')
                    .append("    dirty: ").append(h.needsCheck()).append('\n');
        }
        return backing;
    }

    /** Describes a raw file at the end of a chain. */
    private static Path describeRaw(Path raw, Map<String, Object> o, StringBuilder human) throws IOException {
        if (!Files.exists(raw)) {
            throw new CliException("Could not open '" + raw + "': no such file");
        }
        long size = Files.size(raw);
        long actual = QedFiles.allocatedBytes(raw);
        o.put("virtual-size", size);
        o.put("filename", raw.toString());
        o.put("format", "raw");
        o.put("actual-size", actual);
        o.put("dirty-flag", false);
        human.append("image: ").append(raw).append('\n')
                .append("file format: raw\n")
                .append("virtual size: ").append(Sizes.qemuImgHuman(size)).append(" (").append(size).append(" bytes)\n")
                .append("disk size: ").append(Sizes.qemuImgHuman(actual)).append('\n');
        return null;
    }
}
