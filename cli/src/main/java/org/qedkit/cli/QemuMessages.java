package org.qedkit.cli;

import org.qedkit.QedException;
import org.qedkit.QedFormatException;
import org.qedkit.QedIoException;

import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/**
 * QEMU's words for failures the engine reports in its own: the text qemu-img and qemu-io
 * print for the same case, so that a script (or QEMU's test suite) matching on it keeps
 * working. The engine's message, which names the field, the value and the rule, is kept
 * for {@link Detail}.
 */
final class QemuMessages {
    private QemuMessages() {
    }

    /**
     * Why an image could not be opened, as QEMU's block layer puts it: the file protocol's
     * {@code Could not open 'NAME': <strerror>} for a file that cannot be opened, the QED
     * driver's sentence for a header it refuses.
     */
    static String openFailure(String name, Exception e) {
        if (e instanceof QedIoException io) {
            return "Could not open '" + name + "': " + io.description();
        }
        if (e instanceof NoSuchFileException) {
            return "Could not open '" + name + "': No such file or directory";
        }
        if (e instanceof FileSystemException fs && fs.getReason() != null) {
            return "Could not open '" + name + "': " + fs.getReason();
        }
        if (e instanceof QedException && e.getCause() instanceof FileSystemException missing
                && e.getMessage().startsWith("backing file")) {
            // The engine resolves the backing file before it opens it; QEMU's open says so.
            return "Could not open backing file: " + openFailure(missing.getFile(), missing);
        }
        if (e instanceof QedFormatException format) {
            String qemu = headerRule(format);
            if (qemu != null) {
                return qemu;
            }
        }
        return e.getMessage();
    }

    /**
     * The QED driver's sentence for a header field it refuses (block/qed.c, in the order it
     * checks them), or null for a rule QEMU does not have.
     */
    static String headerRule(QedFormatException e) {
        return switch (e.field()) {
            // A file shorter than the header reads as zeros there: no magic.
            case "magic", "file size" -> "Image not in QED format";
            case "cluster_size" -> "QED cluster size is invalid";
            case "table_size" -> "QED table size is invalid";
            case "image_size" -> "QED image size is invalid";
            // QEMU checks the L1 offset against the file first, so a header that does not
            // fit in the file is reported as a bad table offset there.
            case "header_size", "l1_table_offset" -> "QED table offset is invalid";
            case "backing_filename_offset", "backing_filename_size" -> "QED backing filename offset is invalid";
            case "features" -> "Unsupported QED features: " + unknownFeatures(e.value());
            default -> null;
        };
    }

    private static String unknownFeatures(String value) {
        try {
            long features = Long.parseUnsignedLong(value.replaceFirst("^0x", ""), 16);
            return Long.toHexString(features & ~org.qedkit.QedHeader.KNOWN_FEATURES);
        } catch (NumberFormatException notHex) {
            return value;
        }
    }
}
