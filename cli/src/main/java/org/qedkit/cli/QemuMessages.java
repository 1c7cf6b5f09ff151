package org.qedkit.cli;

import org.qedkit.QedException;
import org.qedkit.QedFormatException;
import org.qedkit.QedIoException;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/**
 * QEMU's words for failures the engine reports in its own: the text qemu-img and qemu-io
 * print for the same case, so that a script (or QEMU's test suite) matching on it keeps
 * working. The engine's message, which names the field, the value and the rule, is kept
 * for {@link Detail}.
 */
final class QemuMessages {
    private static final int EISDIR = 21;

    private QemuMessages() {
    }

    /**
     * Why an image could not be opened, as QEMU's block layer puts it: the file protocol's
     * {@code Could not open 'NAME': <strerror>} for a file that cannot be opened, the QED
     * driver's sentence for a header it refuses.
     */
    static String openFailure(String name, Exception e) {
        return openFailure(name, e, false);
    }

    /**
     * As above, for an open that is read-only or not: QEMU's read-only open of a directory
     * succeeds and its file driver then refuses what is not a regular file, while a
     * read-write open fails in open(2) itself (EISDIR).
     */
    static String openFailure(String name, Exception e, boolean readOnly) {
        if (e instanceof QedIoException io && io.errno() == EISDIR && readOnly) {
            return "'file' driver requires '" + name + "' to be a regular file";
        }
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
     * qemu-img's words when a new image's file cannot be made: {@code Could not create
     * 'FILE': <strerror>}. Java's own texts ("(No such file or directory)") are reduced to
     * the C library's.
     */
    static String createFailure(Object file, IOException e) {
        String reason;
        if (e instanceof QedIoException io) {
            reason = io.description();
        } else if (e instanceof FileSystemException fs && fs.getReason() != null) {
            reason = fs.getReason();
        } else if (e instanceof NoSuchFileException) {
            reason = "No such file or directory";
        } else if (e instanceof java.io.FileNotFoundException && e.getMessage() != null
                && e.getMessage().endsWith(")") && e.getMessage().contains(" (")) {
            String m = e.getMessage(); // "NAME (REASON)", as java.io reports open failures
            reason = m.substring(m.lastIndexOf(" (") + 2, m.length() - 1);
        } else {
            return e.getMessage();
        }
        return "Could not create '" + file + "': " + reason;
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
