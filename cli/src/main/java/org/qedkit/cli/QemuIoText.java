package org.qedkit.cli;

import org.qedkit.QedIoException;
import org.qedkit.QedReadOnlyException;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * What qemu-io prints, byte for byte: the two report lines after each request (or the
 * {@code -C} one), the {@code -v} hex dump, and the C library's name for a failure. Scripts
 * and QEMU's own tests compare these lines, so they follow qemu-io's format strings, not
 * our taste.
 */
final class QemuIoText {
    private QemuIoText() {
    }

    /** qemu-io's report: what was done and where, then size, ops, time and rates. */
    static void report(PrintWriter out, String op, long nanos, long offset, long count, long total,
                       int ops, boolean machine) {
        double seconds = Math.max(nanos, 1) / 1e9;
        if (machine) {
            out.printf(Locale.ROOT, "%d,%d,%s,%.3f,%.3f%n", total, ops, time(nanos, true),
                    total / seconds, ops / seconds);
            return;
        }
        out.printf("%s %d/%d bytes at offset %d%n", op, total, count, offset);
        out.printf(Locale.ROOT, "%s, %d ops; %s (%s/sec and %.4f ops/sec)%n",
                Sizes.qemuIoHuman(total), ops, time(nanos, false),
                Sizes.qemuIoHuman(total / seconds), ops / seconds);
    }

    /** qemu-io's {@code timestr}: {@code 00.01 sec} under a second, else {@code h:mm:ss.ss}. */
    static String time(long nanos, boolean alwaysClock) {
        long whole = nanos / 1_000_000_000L;
        double fraction = (nanos % 1_000_000_000L) / 1e9;
        if (whole == 0 && !alwaysClock) {
            return String.format(Locale.ROOT, "%05.2f sec", fraction);
        }
        return String.format(Locale.ROOT, "%d:%02d:%05.2f", whole / 3600, (whole / 60) % 60,
                (whole % 60) + fraction);
    }

    /** qemu-io's {@code -v} dump: offset, sixteen hex bytes, and the letters and digits among them. */
    static void dump(PrintWriter out, byte[] buffer, long offset) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < buffer.length; i += 16) {
            line.setLength(0);
            line.append(String.format("%08x:  ", offset + i));
            int end = Math.min(buffer.length, i + 16);
            for (int j = i; j < end; j++) {
                line.append(String.format("%02x ", buffer[j] & 0xff));
            }
            line.append(' ');
            for (int j = i; j < end; j++) {
                char c = (char) (buffer[j] & 0xff);
                line.append(c < 128 && Character.isLetterOrDigit(c) ? c : '.');
            }
            out.println(line);
        }
    }

    /**
     * The C library's text for the error QEMU's block layer returns for the same failure:
     * a request outside the image is EIO there, a write to a read-only image EPERM, a
     * failed system call its own errno.
     */
    static String strerror(Exception e) {
        if (e instanceof QedIoException io && io.description() != null) {
            return io.description();
        }
        if (e instanceof QedReadOnlyException) {
            return "Operation not permitted";
        }
        return "Input/output error"; // QedRangeException included: QEMU's request check says EIO
    }
}
