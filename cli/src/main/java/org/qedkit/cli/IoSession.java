package org.qedkit.cli;

import org.qedkit.CreateOptions;
import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.QemuImageName;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The file {@code qed io} works on: at most one open at a time, opened from the command
 * line or by the {@code open} command, closed by {@code close} or at the end.
 *
 * <p>An open names a file and a driver, as QEMU's {@code -f FMT FILE} or
 * {@code open -o driver=…,filename=…} do. Drivers: {@code qed} (the engine), {@code raw}
 * and the {@code file}, {@code host_device} and {@code host_cdrom} protocols (a raw view
 * of the file, with QEMU's checks on what kind of file each accepts). A {@code blkdebug::}
 * prefix (QEMU's fault-injection layer with no rules) and {@code file.align} (its request
 * alignment) change nothing the caller can see and are accepted. A QED image stored inside
 * another QED image's guest data ({@code driver=qed,file.driver=qed,file.file.filename=…})
 * is opened through a private copy of the outer image's guest bytes ({@link Nested}).
 */
final class IoSession implements AutoCloseable {

    /** How to open: qemu-io's flags and options. Immutable; each {@code with…} returns a copy. */
    record Request(String format, boolean readOnly, boolean copyOnRead, boolean forceShare, String cache,
                   boolean snapshot, String options, boolean unmap) {
        Request readOnly(boolean on) {
            return new Request(format, on, copyOnRead, forceShare, cache, snapshot, options, unmap);
        }

        Request copyOnRead(boolean on) {
            return new Request(format, readOnly, on, forceShare, cache, snapshot, options, unmap);
        }

        Request forceShare(boolean on) {
            return new Request(format, readOnly, copyOnRead, on, cache, snapshot, options, unmap);
        }

        Request cache(String mode) {
            return new Request(format, readOnly, copyOnRead, forceShare, mode, snapshot, options, unmap);
        }

        Request snapshot(boolean on) {
            return new Request(format, readOnly, copyOnRead, forceShare, cache, on, options, unmap);
        }

        Request withOptions(String text) {
            return new Request(format, readOnly, copyOnRead, forceShare, cache, snapshot, text, unmap);
        }

        /** qemu-io's {@code -d}: {@code unmap}/{@code on} let discards free space, {@code ignore}/{@code off} drop them. */
        Request discard(String mode) {
            return new Request(format, readOnly, copyOnRead, forceShare, cache, snapshot, options,
                    mode.equals("unmap") || mode.equals("on"));
        }
    }

    private static final Set<String> CACHE_MODES = Set.of("writethrough", "directsync", "writeback", "none",
            "off", "unsafe");
    private static final Set<String> AIO_MODES = Set.of("threads", "native", "io_uring");
    private static final Set<String> FILE_PROTOCOLS = Set.of("file", "host_device", "host_cdrom");
    /** Filters between the format and the file that {@link QemuImageName} follows. */
    private static final Set<String> FILTERS = Set.of("blkdebug", "quorum");
    /** Option keys that change nothing for a mapped image or a raw file, accepted as QEMU accepts them. */
    private static final Set<String> NEUTRAL_KEYS = Set.of("file.align", "align", "locking", "file.locking",
            "file.aio", "aio", "cache.direct", "cache.no-flush", "file.cache.direct", "discard", "detect-zeroes",
            "file.driver");

    private final Request defaults;
    private final PrintWriter err;
    private IoTarget target;
    private Path path;
    private Request openedWith;
    private Path snapshotOverlay; // -s: the temporary overlay, deleted at close

    IoSession(Request defaults, PrintWriter err) {
        this.defaults = defaults;
        this.err = err;
    }

    static boolean isCacheMode(String mode) {
        return CACHE_MODES.contains(mode);
    }

    static boolean isAioMode(String mode) {
        return AIO_MODES.contains(mode);
    }

    /**
     * What each of qemu-io's cache modes means for a mapped image: {@code writethrough} and
     * {@code directsync} make every write durable before it returns (data and table
     * entries); {@code writeback}, {@code none} and {@code unsafe} return once the data is in
     * the mapping (durable at a flush, or within the engine's commit interval for new
     * clusters). There is no page cache to bypass: the mapping is the page cache, so
     * {@code none}'s O_DIRECT has nothing to skip, and {@code unsafe}'s ignored flushes are
     * not copied (a flush asked for is made).
     */
    static Durability durabilityOf(String cacheMode) {
        return switch (cacheMode) {
            case "writethrough", "directsync" -> Durability.WRITE_THROUGH;
            case "writeback", "none", "off", "unsafe" -> Durability.WRITE_BACK;
            default -> throw new CliException("Invalid cache option: " + cacheMode);
        };
    }

    /** The flags qed io was started with; the {@code open} command starts from these. */
    Request defaults() {
        return defaults;
    }

    /** The open target, or null. */
    IoTarget target() {
        return target;
    }

    /** The file of the open target, or null. */
    Path path() {
        return path;
    }

    /** How the open target was opened, or null. */
    Request openedWith() {
        return openedWith;
    }

    /**
     * Opens {@code name} (null: the file named in the options) as the request says; on
     * failure prints qemu-io's {@code can't open} line and returns false.
     */
    boolean open(String name, Request request) {
        String label = name == null ? "can't open: " : "can't open device " + name + ": ";
        if (target != null) {
            err.println("qemu-io: file open already, try 'help close'");
            return false;
        }
        Map<String, String> options;
        try {
            options = parseOptions(request.options());
            if (name != null && name.startsWith("json:")) { // QEMU's option tree as the file name
                options.putAll(ImageNames.jsonOptions(name));
                name = null;
            }
        } catch (IllegalArgumentException | CliException e) {
            err.println("qemu-io: " + label + e.getMessage());
            return false;
        }
        if (hasFilterLayer(options)) {
            return openThroughFilters(options, name != null ? name : request.options(), label, request);
        }
        String file = name != null ? name : options.getOrDefault("filename",
                options.getOrDefault("file.filename", options.get("file.file.filename")));
        if (file == null) {
            err.println("qemu-io: " + label + "A block device must be specified for \"file\"");
            return false;
        }
        if (file.startsWith("blkdebug::")) {
            file = file.substring("blkdebug::".length());
        } else if (file.startsWith("file:")) {
            file = file.substring("file:".length());
        }
        String driver = options.getOrDefault("driver", request.format());
        boolean nested = "qed".equals(options.get("file.driver"));
        if (nested && !"qed".equals(driver)) {
            err.println("qemu-io: " + label + "a nested image is opened as driver=qed,file.driver=qed,"
                    + "file.file.filename=OUTER");
            return false;
        }
        for (String key : options.keySet()) {
            if (!key.equals("driver") && !key.equals("filename") && !key.equals("file.filename")
                    && !key.equals("file.file.filename") && !NEUTRAL_KEYS.contains(key)) {
                err.println("qemu-io: " + label + "Block format '" + driver + "' does not support the option '"
                        + key + "'");
                return false;
            }
        }
        return openAs(label, file, driver, nested, List.of(), request);
    }

    /**
     * Opens {@code file} with {@code driver} (the layers of its name followed already), behind
     * blkdebug's {@code rules} when there are any; on failure prints qemu-io's line and
     * returns false.
     */
    private boolean openAs(String label, String file, String driver, boolean nested,
                           List<QemuImageName.InjectedError> rules, Request request) {
        if (request.forceShare() && !request.readOnly()) {
            err.println("qemu-io: " + label + "force-share=on can only be used with read-only images");
            return false;
        }
        Path at = Path.of(file);
        try {
            target = IoTarget.injecting(openTarget(at, file, driver, nested, request), file, rules);
        } catch (CliException e) {
            err.println("qemu-io: " + label + e.getMessage());
            return false;
        } catch (IOException e) {
            String qemuLine = "qemu-io: " + label + QemuMessages.openFailure(file, e, request.readOnly());
            err.println(qemuLine);
            Detail.print(err, qemuLine, e.getMessage());
            return false;
        }
        path = at;
        openedWith = request;
        return true;
    }

    /** Whether the options put a filter ({@code blkdebug}, {@code quorum}) between the format and the file. */
    private static boolean hasFilterLayer(Map<String, String> options) {
        for (Map.Entry<String, String> e : options.entrySet()) {
            if ((e.getKey().equals("driver") || e.getKey().endsWith(".driver")) && FILTERS.contains(e.getValue())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Opens an image named through filters, as {@link QemuImageName} follows them for every
     * command (the file under {@code blkdebug}'s {@code image} or {@code quorum}'s first
     * child). A blkdebug above the format fails the guest requests its {@code inject-error}
     * rules name ({@link IoTarget#injecting}); rules below the format are refused.
     */
    private boolean openThroughFilters(Map<String, String> options, String shown, String label, Request request) {
        for (String key : options.keySet()) {
            if (key.contains(".inject-error.")) {
                // Below the format, blkdebug fails the image file's own requests (header,
                // tables, data clusters, by file sector), which the engine's mapped I/O does
                // not pass through a filter: refused, not approximated (docs/compatibility.md).
                err.println("qemu-io: " + label + "'" + key + "': qed io honours blkdebug's inject-error rules "
                        + "above the format (json:{'driver': 'blkdebug', 'image': {'driver': 'qed', ...}}), "
                        + "where they fail guest requests; below it they would fail the file's own requests");
                return false;
            }
        }
        QemuImageName parsed;
        try {
            parsed = QemuImageName.fromOptions(options, shown);
        } catch (IllegalArgumentException e) {
            err.println("qemu-io: " + label + e.getMessage());
            return false;
        }
        // A filter at the top with no format under it shows the file's own bytes, as QEMU's does.
        String driver = parsed.format() != null ? parsed.format()
                : FILTERS.contains(options.get("driver")) ? "raw" : request.format();
        return openAs(label, parsed.file().toString(), driver, false, parsed.injectedErrors(), request);
    }

    private IoTarget openTarget(Path at, String file, String driver, boolean nested, Request request)
            throws IOException {
        if (nested) {
            return Nested.open(at, request.readOnly(), inner -> QedImage.open(inner, qedOptions(request)));
        }
        if (request.snapshot()) {
            return openSnapshot(at, driver, request);
        }
        return switch (driver) {
            case "qed" -> IoTarget.of(QedImage.open(at, qedOptions(request)));
            case "raw" -> new IoTarget.Raw(at, request.readOnly());
            default -> {
                if (!FILE_PROTOCOLS.contains(driver)) {
                    throw new CliException("Unknown driver '" + driver + "'");
                }
                yield openProtocol(driver, file, at, request.readOnly());
            }
        };
    }

    /** The engine's options for a QED open as qemu-io's flags ask for it. */
    private static OpenOptions qedOptions(Request request) {
        return request.readOnly() ? OpenOptions.READ_ONLY.withForceShare(request.forceShare())
                : OpenOptions.READ_WRITE.toBuilder().copyOnRead(request.copyOnRead())
                .durability(durabilityOf(request.cache())).build();
    }

    /**
     * QEMU's file protocol drivers, each with its rule on the kind of file: {@code file} a
     * regular file, {@code host_device} and {@code host_cdrom} a block or character device.
     * A read-write open tries the open first (a directory then fails with EISDIR), as
     * QEMU's does.
     */
    private IoTarget openProtocol(String driver, String name, Path file, boolean readOnly) throws IOException {
        if (!readOnly && Files.isDirectory(file)) {
            throw new CliException("Could not open '" + name + "': Is a directory");
        }
        boolean regular = Files.isRegularFile(file);
        if (driver.equals("file") && !regular) {
            throw new CliException("'file' driver requires '" + name + "' to be a regular file");
        }
        if (!driver.equals("file") && (regular || Files.isDirectory(file))) {
            throw new CliException("'" + driver + "' driver requires '" + name
                    + "' to be either a character or block device");
        }
        return new IoTarget.Raw(file, readOnly);
    }

    /**
     * qemu-io's {@code -s}: the image is opened read-only as the backing file of a
     * temporary QED overlay ({@link SnapshotOverlay}), which takes every write and is deleted
     * at close, so the image itself is never changed, as QEMU's snapshot mode does it.
     */
    private IoTarget openSnapshot(Path image, String driver, Request request) throws IOException {
        if (!driver.equals("qed") && !driver.equals("raw")) {
            throw new CliException("-s (snapshot) works on qed and raw images, not '" + driver + "'");
        }
        long size = driver.equals("raw") ? Files.size(image) : SnapshotOverlay.sizeOf(image, request.forceShare());
        Path overlay = SnapshotOverlay.create(image, driver, size);
        try {
            QedImage opened = QedImage.open(overlay, qedOptions(request.readOnly(false).copyOnRead(false)));
            snapshotOverlay = overlay;
            return IoTarget.of(opened);
        } catch (IOException | RuntimeException e) {
            SnapshotOverlay.delete(overlay);
            throw e;
        }
    }

    /** QEMU's {@code key=value,key=value} option syntax ({@code ,,} is a comma inside a value). */
    static Map<String, String> parseOptions(String text) {
        Map<String, String> options = new LinkedHashMap<>();
        if (text == null || text.isEmpty()) {
            return options;
        }
        for (String pair : text.replace(",,", "\u0000").split(",")) {
            String item = pair.replace('\u0000', ',');
            int eq = item.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("Invalid parameter '" + item + "'");
            }
            options.put(item.substring(0, eq), item.substring(eq + 1));
        }
        return options;
    }

    /** Closes the target, if one is open. */
    @Override
    public void close() throws IOException {
        IoTarget open = target;
        Path overlay = snapshotOverlay;
        target = null;
        path = null;
        openedWith = null;
        snapshotOverlay = null;
        try {
            if (open != null) {
                open.close();
            }
        } finally {
            if (overlay != null) {
                SnapshotOverlay.delete(overlay);
            }
        }
    }
}
