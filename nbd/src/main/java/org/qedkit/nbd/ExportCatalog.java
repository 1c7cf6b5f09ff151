package org.qedkit.nbd;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Where a connection finds the export a client names: the exports given to the builder, and
 * the images of an export directory ({@link ExportDirectory}), in that order.
 */
final class ExportCatalog implements AutoCloseable {
    /** One line of {@code NBD_OPT_LIST}: a name and its description. */
    record Listing(String name, String description) {
    }

    private final Map<String, NbdExport> fixed;
    private final ExportDirectory directory; // null: none

    ExportCatalog(Map<String, NbdExport> fixed, ExportDirectory directory) {
        this.fixed = fixed;
        this.directory = directory;
    }

    /** A catalog of the given exports only. */
    static ExportCatalog of(Map<String, NbdExport> exports) {
        return new ExportCatalog(exports, null);
    }

    /**
     * The export named {@code name}, opened if it is an image of the directory not opened yet;
     * null when there is none. Throws when it exists but cannot be served (its message says why).
     */
    NbdExport find(String name) throws IOException {
        NbdExport export = fixed.get(name);
        if (export != null || directory == null) {
            return export;
        }
        return directory.find(name);
    }

    /** Every export a client may name, without opening any. */
    List<Listing> list() throws IOException {
        List<Listing> all = new ArrayList<>();
        for (NbdExport e : fixed.values()) {
            all.add(new Listing(e.name(), e.description()));
        }
        if (directory != null) {
            for (String name : directory.names()) {
                if (!fixed.containsKey(name)) {
                    all.add(new Listing(name, ""));
                }
            }
        }
        return all;
    }

    /** Closes the images the directory opened (the builder's exports belong to their owner). */
    @Override
    public void close() {
        if (directory != null) {
            directory.close();
        }
    }
}
