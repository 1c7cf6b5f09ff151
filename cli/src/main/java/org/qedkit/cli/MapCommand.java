package org.qedkit.cli;

import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed map}: where each guest range comes from through the backing chain, with
 * {@code qemu-img map}'s ranges, JSON keys and human columns. Raw backing files are mapped
 * by the file system's holes ({@code SEEK_HOLE}), as QEMU's file driver does.
 */
final class MapCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Output output = new SharedOptions.Output();
    String startOffset;
    String maxLength;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("map", this, "Show where the guest data of an image (and its "
                + "backing chain) lives, as qemu-img map does.");
        image.declare(b);
        forceShare.declare(b);
        output.declare(b);
        b.option("-s --start-offset").label("OFFSET")
                .describe("First guest byte to map.")
                .text(() -> startOffset, v -> startOffset = v);
        b.option("-l --max-length").label("LENGTH")
                .describe("How many guest bytes to map.")
                .text(() -> maxLength, v -> maxLength = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("map");
        boolean json = output.json();
        List<Path> names = BackingFiles.chain(file).stream().map(BackingFiles.Link::path).toList();
        PrintWriter out = spec.commandLine().getOut();
        try (QedImage image = QedImage.open(file, OpenOptions.READ_ONLY.withForceShare(forceShare.on))) {
            long size = image.size();
            long start = startOffset == null ? 0 : Math.min(size, Sizes.parse(startOffset));
            long end = maxLength == null ? size : Math.min(size, start + Sizes.parse(maxLength));
            if (json) {
                out.print('[');
            } else {
                out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
            }
            MapEntry pending = null;
            boolean first = true;
            for (long pos = start; pos < end; ) {
                MapEntry e = image.mapEntryAt(pos);
                e = new MapEntry(e.start(), Math.min(e.length(), end - pos), e.depth(), e.present(), e.zero(),
                        e.data(), e.offset());
                pos += e.length();
                if (pending != null && continues(pending, e)) {
                    pending = new MapEntry(pending.start(), pending.length() + e.length(), pending.depth(),
                            pending.present(), pending.zero(), pending.data(), pending.offset());
                    continue;
                }
                if (pending != null) {
                    print(out, pending, names, json, first);
                    first = false;
                }
                pending = e;
            }
            if (pending != null) {
                print(out, pending, names, json, first);
            }
            if (json) {
                out.println(']');
            }
        } catch (QedException e) {
            throw CliException.couldNotOpen(file, e);
        }
        out.flush();
        return 0;
    }

    /** qemu-img merges a run into the one before when every field agrees and the file offsets follow on. */
    private static boolean continues(MapEntry a, MapEntry b) {
        return a.depth() == b.depth() && a.present() == b.present() && a.zero() == b.zero() && a.data() == b.data()
                && a.hasOffset() == b.hasOffset() && (!a.hasOffset() || a.offset() + a.length() == b.offset());
    }

    private static void print(PrintWriter out, MapEntry e, List<Path> names, boolean json, boolean first) {
        if (json) {
            out.print((first ? "" : ",\n") + "{ \"start\": " + e.start() + ", \"length\": " + e.length()
                    + ", \"depth\": " + e.depth() + ", \"present\": " + e.present() + ", \"zero\": " + e.zero()
                    + ", \"data\": " + e.data() + (e.hasOffset() ? ", \"offset\": " + e.offset() : "") + "}");
        } else if (e.data() && !e.zero()) {
            // qemu-img's human form lists only stored data, with the file that holds it.
            Path name = e.depth() < names.size() ? names.get(e.depth()) : names.get(names.size() - 1);
            out.printf("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()), hex(e.hasOffset() ? e.offset() : 0), name);
        }
    }

    /** C's {@code %#x}: 0 alone, anything else with 0x. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
