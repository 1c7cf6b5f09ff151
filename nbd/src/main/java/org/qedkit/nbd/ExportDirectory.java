package org.qedkit.nbd;

import org.qedkit.BackingPolicy;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Every QED image under a folder, served by its path relative to the folder ({@code
 * vm/disk.qed}) and opened on first use, with {@link BackingPolicy#untrusted(Path)}: a
 * client may name only files inside the folder, and an image's backing files must resolve
 * inside it too. Names with {@code ..}, absolute names, and names whose real path (symbolic
 * links followed) leaves the folder are unknown exports. Opened images stay open until the
 * server closes; every connection to one shares it.
 */
final class ExportDirectory implements AutoCloseable {
    private static final int MAX_DEPTH = 8;
    private static final byte[] QED_MAGIC = {'Q', 'E', 'D', 0};

    private final Path root;
    private final Path realRoot;
    private final OpenOptions options;
    private final boolean unmap;
    private final Map<String, NbdExport> opened = new ConcurrentHashMap<>();
    private volatile boolean closed;

    ExportDirectory(Path root, OpenOptions options, boolean unmap) throws IOException {
        this.root = root.toAbsolutePath().normalize();
        this.realRoot = this.root.toRealPath();
        this.options = options.withBackingPolicy(BackingPolicy.untrusted(this.realRoot));
        this.unmap = unmap;
    }

    /** The export for {@code name}, opened now if it was not; null when no such image is in the folder. */
    NbdExport find(String name) throws IOException {
        NbdExport export = opened.get(name);
        if (export != null) {
            return export;
        }
        Path file = resolve(name);
        if (file == null) {
            return null;
        }
        synchronized (this) {
            export = opened.get(name);
            if (export == null) {
                if (closed) {
                    throw new IOException("the server is closing");
                }
                QedImage image = QedImage.open(file, options);
                export = NbdExport.of(name, image).withUnmap(unmap);
                opened.put(name, export);
            }
            return export;
        }
    }

    /** The file {@code name} stands for, or null when it is not a QED image inside the folder. */
    private Path resolve(String name) throws IOException {
        if (name.isEmpty() || name.startsWith("/") || name.contains("\\")) {
            return null;
        }
        for (String part : name.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                return null;
            }
        }
        Path file = root.resolve(name).normalize();
        if (!file.startsWith(root) || !Files.isRegularFile(file)) {
            return null;
        }
        if (!file.toRealPath().startsWith(realRoot) || !isQed(file)) {
            return null;
        }
        return file;
    }

    /** The names of the QED images in the folder and its subfolders (up to eight deep), sorted. */
    List<String> names() throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root, MAX_DEPTH)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) && isQed(file)) {
                    names.add(root.relativize(file).toString().replace(file.getFileSystem().getSeparator(), "/"));
                }
            }
        }
        names.sort(null);
        return names;
    }

    private static boolean isQed(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] magic = in.readNBytes(4);
            return java.util.Arrays.equals(magic, QED_MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    /** Closes every image it opened. */
    @Override
    public synchronized void close() {
        closed = true;
        for (NbdExport export : opened.values()) {
            try {
                export.image().close();
            } catch (IOException ignored) {
                // closing at shutdown: the next open's check handles what is left
            }
        }
        opened.clear();
    }
}
