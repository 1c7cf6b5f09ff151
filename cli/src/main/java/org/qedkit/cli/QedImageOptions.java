package org.qedkit.cli;

import java.util.List;

/**
 * The {@code -o name=value,…} options qemu-img takes for a new QED image, parsed once for
 * {@code create} and {@code convert}: {@code cluster_size}, {@code table_size},
 * {@code backing_file}, {@code backing_fmt}. Sizes take qemu-img's suffixes.
 */
record QedImageOptions(Integer clusterSize, Integer tableSize, String backingFile, String backingFormat) {

    static QedImageOptions parse(String command, List<String> groups) {
        Integer clusterSize = null;
        Integer tableSize = null;
        String backingFile = null;
        String backingFormat = null;
        for (String group : groups) {
            for (String option : group.split(",")) {
                int eq = option.indexOf('=');
                if (eq < 0) {
                    throw new CliException(command + ": option '" + option + "' needs a value (name=value)");
                }
                String name = option.substring(0, eq);
                String value = option.substring(eq + 1);
                switch (name) {
                    case "cluster_size" -> clusterSize = toInt(command, name, value);
                    case "table_size" -> tableSize = toInt(command, name, value);
                    case "backing_file" -> backingFile = value;
                    case "backing_fmt" -> backingFormat = value;
                    default -> throw new CliException(command + ": unknown option '" + name
                            + "'; qed takes cluster_size, table_size, backing_file and backing_fmt");
                }
            }
        }
        return new QedImageOptions(clusterSize, tableSize, backingFile, backingFormat);
    }

    private static int toInt(String command, String name, String value) {
        long v;
        try {
            v = Sizes.parse(value);
        } catch (IllegalArgumentException e) {
            throw new CliException(command + ": " + name + ": " + e.getMessage());
        }
        if (v > Integer.MAX_VALUE) {
            throw new CliException(command + ": " + name + " is " + v + ": too large for the format");
        }
        return (int) v;
    }
}
